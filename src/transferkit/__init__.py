"""transferkit: transfer learning with pretrained models.

    import transferkit as tk
    run = tk.probe("minilm-l6", "rotten_tomatoes", output="runs/probe")
    run.predict(["a gorgeous, witty film"])
    tk.load("runs/probe").evaluate("rotten_tomatoes:test")

Names resolve lazily so `import transferkit` (and the CLI's --help) does not import torch.
The layers, from the bottom: core (errors, settings, registry) -> data -> sources -> outputs ->
engine -> strategies -> text / vision -> tasks -> runs -> methods -> cli; see docs/architecture.md.
"""

from importlib import import_module

from .version import __version__

_LAZY = {
    "probe": ("transferkit.methods.probe", "probe"),
    "finetune": ("transferkit.methods.finetune", "finetune"),
    "pretrain": ("transferkit.methods.pretrain", "pretrain"),
    "distill": ("transferkit.methods.distill", "distill"),
    "lr_find": ("transferkit.methods.lr_find", "lr_find"),
    "tune": ("transferkit.methods.tune", "tune"),
    "export": ("transferkit.methods.export", "export"),
    "compare": ("transferkit.methods.compare", "compare"),
    "report": ("transferkit.methods.report", "report"),
    "bench": ("transferkit.methods.bench", "bench"),
    "load": ("transferkit.runs", "load_run"),
    "load_run": ("transferkit.runs", "load_run"),
    "Predictor": ("transferkit.runs", "Predictor"),
    "TextClassifier": ("transferkit.methods.estimator", "TextClassifier"),
    "FinetuneConfig": ("transferkit.methods.config", "FinetuneConfig"),
    "TextEncoder": ("transferkit.text", "TextEncoder"),
    "resolve_model": ("transferkit.sources", "resolve_model"),
    "load_text_splits": ("transferkit.text", "load_text_splits"),
    "load_texts": ("transferkit.text", "load_texts"),
    "TASKS": ("transferkit.tasks", "TASKS"),
    "STRATEGIES": ("transferkit.strategies", "STRATEGIES"),
}
_PACKAGES = {"data", "sources", "text", "vision", "tasks", "strategies", "engine", "runs", "methods", "outputs"}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(import_module(module), attr)
    if name in _PACKAGES:
        return import_module(f"transferkit.{name}")
    raise AttributeError(f"module 'transferkit' has no attribute {name!r}")
