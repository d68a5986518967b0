"""transferkit: transfer learning with pretrained models.

    import transferkit as tk
    run = tk.probe("minilm-l6", "rotten_tomatoes", output="runs/probe")
    run.predict(["a gorgeous, witty film"])
    tk.load("runs/probe").evaluate(tk.data.load_texts("reviews.csv", labels=...))

Names resolve lazily so `import transferkit` (and the CLI's --help) does not import torch.
"""

from importlib import import_module

__version__ = "0.1.0"

_LAZY = {
    "probe": ("transferkit.probing", "probe"),
    "load": ("transferkit.runs", "load_run"),
    "load_run": ("transferkit.runs", "load_run"),
    "finetune": ("transferkit.finetuning", "finetune"),
    "distill": ("transferkit.distillation", "distill"),
    "TextClassifier": ("transferkit.finetuning", "TextClassifier"),
    "TextEncoder": ("transferkit.features", "TextEncoder"),
    "resolve_model": ("transferkit.sources", "resolve_model"),
    "load_text_splits": ("transferkit.data", "load_text_splits"),
    "load_texts": ("transferkit.data", "load_texts"),
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(import_module(module), attr)
    if name in {"data", "sources", "metrics", "runs"}:
        return import_module(f"transferkit.{name}")
    raise AttributeError(f"module 'transferkit' has no attribute {name!r}")
