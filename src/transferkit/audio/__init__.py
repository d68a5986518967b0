"""Audio: sound files read once as 16 kHz mono waves, and pretrained speech encoders with a head.

| module | what |
| --- | --- |
| `files.py` | audio sources: a folder per class, tables of paths, arrays; the split reader |
| `decode.py` | every clip decoded once: float32 mono at the model's rate (soxr), bad files skipped or named |
| `models.py` | a Whisper or Wav2Vec2-style encoder with a new head; feature extraction; pooled features |
| `tiny.py` | tiny learnable clips and a tiny random Whisper, for the contract tests |

Decoding needs the audio extra (soundfile, soxr): pip install 'transferkit[audio]'.
Importing this package loads no torch.
"""
