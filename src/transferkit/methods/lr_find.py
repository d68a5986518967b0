"""`transferkit lr-find` / `transferkit.lr_find`: the learning-rate range test, before training.

    result = transferkit.lr_find("minilm-l6", "train.csv", output="runs/lr")   # lr_find.json + lr_find.png
    result.suggestion                                                          # then finetune(lr=...)
    transferkit.finetune("minilm-l6", "train.csv", lr="auto")                  # the same test, then training

The test (engine/lr_find.py) runs on the model exactly as fine-tuning would build it (task head,
strategy, the defaults for batch size and precision), then its weights are put back.
"""

from __future__ import annotations


def lr_find(model: str | None = None, train=None, output=None, *, config=None, **settings):
    """The LR range test for fine-tuning `model` on `train` with these settings (any FinetuneConfig
    field: strategy, batch_size, lr_find_steps, ...). Writes lr_find.json/.png into `output` when
    given; returns the engine's LRFinderResult (lrs, smoothed losses, suggestion, steep)."""
    from accelerate.utils import set_seed

    from ..engine.lr_find import write_lr_find
    from .config import resolve_config
    from .defaults import announce
    from .finetune import choose_auto_lr, load_checked_data, make_engine, resolve_defaults, setup

    settings.pop("lr", None)
    cfg = resolve_config(model, train, None, None, None, config=config, **settings)
    cfg.lr = "auto"
    task, strategy = setup(cfg)
    accelerator, dtype = make_engine(cfg, strategy)
    data = load_checked_data(task, cfg, train, None, None)
    chosen, dtype = resolve_defaults(cfg, task, strategy, data, accelerator)
    set_seed(cfg.seed)
    network = strategy.prepare(task.build_model(cfg.model, data))
    with accelerator.main_process_first():
        train_set = task.encode(data.train, training=True)
    announce([c for c in chosen if c.setting != "epochs"])  # what shapes the test; epochs do not
    result = choose_auto_lr(cfg, task, strategy, network, train_set, accelerator, dtype, [])
    result.settings.update(model=cfg.model, task=cfg.task, strategy=cfg.strategy, batch_size=cfg.batch_size,
                           precision=cfg.precision, examples=len(data.train))
    if output is not None and accelerator.is_main_process:
        write_lr_find(output, result)
    return result
