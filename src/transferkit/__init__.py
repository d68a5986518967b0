"""transferkit: transfer learning with pretrained models."""
__version__ = "0.1.0"
