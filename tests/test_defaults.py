"""Defaults by task, model family, strategy and data size (methods/defaults.py), and the LR range
test behind `--lr auto` / `transferkit lr-find` (engine/lr_find.py, methods/lr_find.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from transferkit.methods.config import FinetuneConfig
from transferkit.methods.defaults import ENGINE_LR, FAMILY_DEFAULTS, MAX_EPOCHS, MIN_STEPS, choose_defaults
from transferkit.strategies import STRATEGIES
from transferkit.tasks import TASKS

pytestmark = pytest.mark.usefixtures("ft_env")


class _Split:
    """A training split of n examples; `items` are a few of its images (large ones by default)."""

    def __init__(self, n, items=None):
        self.items = items if items is not None else np.zeros((4, 300, 300), dtype=np.uint8)
        self.n = n

    def __len__(self):
        return self.n


def _choose(task: str, model: str, n: int = 5000, items=None, strategy: str = "full", **given):
    cfg = FinetuneConfig.build({"model": model, "task": task, "strategy": strategy, **given})
    task_obj, strategy_obj = TASKS.get(task)(cfg), STRATEGIES.get(strategy)(cfg)
    chosen = choose_defaults(cfg, task_obj, strategy_obj, SimpleNamespace(train=_Split(n, items)))
    return cfg, {c.setting: c for c in chosen}


def test_cnn_defaults_differ_from_a_transformers_and_say_why():
    cfg, chosen = _choose("image-classification", "mobilenet-v2")
    for name, value in FAMILY_DEFAULTS["image-backbone"].items():
        assert getattr(cfg, name) == value and name in chosen
    assert cfg.lr == 2e-3 and "image backbones" in chosen["lr"].reason
    assert chosen["lr"].line().startswith("lr 0.002: default for image backbones")
    assert cfg.precision == "fp32" and "slower" in chosen["precision"].reason  # bf16 autocast on CPU: slower CNNs
    text_cfg, text_chosen = _choose("text-classification", "minilm-l6")
    text_lr = TASKS.get("text-classification").recommended["text-encoder"]["lr"]
    assert text_cfg.lr == text_lr and "task text-classification" in text_chosen["lr"].reason
    assert text_cfg.lr != cfg.lr and text_cfg.schedule == "linear" and text_cfg.precision == "auto"


def test_explicit_settings_are_never_changed():
    cfg, chosen = _choose("image-classification", "mobilenet-v2", lr=1e-4, batch_size=16, image_size=224, epochs=1)
    assert (cfg.lr, cfg.batch_size, cfg.image_size, cfg.epochs) == (1e-4, 16, 224, 1)
    assert not {"lr", "batch_size", "image_size", "epochs"} & set(chosen)
    assert cfg.schedule == "cosine"  # not given: still the family's


def test_token_classification_has_its_own_learning_rate():
    cfg, chosen = _choose("token-classification", "minilm-l6")
    recommended = TASKS.get("token-classification").recommended["text-encoder"]["lr"]
    assert cfg.lr == recommended != ENGINE_LR and "task token-classification" in chosen["lr"].reason


@pytest.mark.parametrize("strategy", ["head-only", "lora"])
def test_strategies_that_train_few_weights_scale_the_default_lr(strategy):
    cfg, chosen = _choose("text-classification", "minilm-l6", strategy=strategy)
    scale = STRATEGIES.get(strategy).default_lr_scale
    base = TASKS.get("text-classification").recommended["text-encoder"]["lr"]
    assert scale > 1 and cfg.lr == pytest.approx(base * scale) and f"strategy {strategy}" in chosen["lr"].reason


def test_small_data_trains_for_a_minimum_number_of_steps():
    cfg, chosen = _choose("text-classification", "minilm-l6", n=500)
    per_epoch = -(-500 // cfg.batch_size)
    assert cfg.epochs * per_epoch >= MIN_STEPS > 3 * per_epoch and "500 examples" in chosen["epochs"].reason
    big, big_chosen = _choose("text-classification", "minilm-l6", n=50_000)
    assert big.epochs == 3 and "epochs" not in big_chosen
    for given in ({"epochs": 2}, {"max_steps": 40}):  # the user's budget wins
        cfg, chosen = _choose("text-classification", "minilm-l6", n=500, **given)
        assert "epochs" not in chosen and cfg.epochs == given.get("epochs", 3)


def test_small_images_are_not_blown_up_to_224_px():
    small, chosen = _choose("image-classification", "mobilenet-v2", items=np.zeros((40, 28, 28), dtype=np.uint8))
    assert small.image_size == 64 and "28 px" in chosen["image_size"].reason
    large, chosen = _choose("image-classification", "mobilenet-v2", items=np.zeros((4, 320, 240, 3), dtype=np.uint8))
    assert large.image_size is None and "image_size" not in chosen  # the backbone's own size


def test_upsampled_thumbnails_are_read_whole_and_trained_on_flips_only(tmp_path):
    from transferkit.methods.finetune import finetune
    from transferkit.vision.tiny import colour_images, write_image_folder

    thumbs = np.zeros((40, 28, 28), dtype=np.uint8)
    cfg, chosen = _choose("image-classification", "mobilenet-v2", items=thumbs)
    assert (cfg.crop_scale, cfg.color_jitter) == (1.0, 0.0) and "upsampled to 64 px" in chosen["crop_scale"].reason
    given, chosen = _choose("image-classification", "mobilenet-v2", items=thumbs, image_size=96, crop_scale=0.5)
    assert (given.crop_scale, given.color_jitter) == (0.5, 0.0) and "crop_scale" not in chosen  # the user's wins
    large, chosen = _choose("image-classification", "mobilenet-v2", items=np.zeros((4, 320, 240, 3), dtype=np.uint8))
    assert large.crop_scale == 0.35 and "crop_scale" not in chosen  # photos keep ImageNet-style crops
    # The saved run reads thumbnails whole (no 87.5 % centre crop), at training and at prediction.
    train = write_image_folder(tmp_path / "images", *colour_images(16, 1))  # 32 px images -> 64 px
    finetune("mobilenet-v2", train, output=tmp_path / "run", max_steps=1, pretrained=False, progress=False)
    spec = json.loads((tmp_path / "run" / "model" / "backbone.json").read_text())["input_spec"]
    assert spec["image_size"] == spec["resize_size"] == 64


def test_a_resumed_runs_settings_are_all_explicit():
    first, _ = _choose("image-classification", "mobilenet-v2", n=500)
    resumed = FinetuneConfig.build(first.to_json())  # what --resume reads back
    cfg = resumed.model_copy()
    task, strategy = TASKS.get(cfg.task)(cfg), STRATEGIES.get(cfg.strategy)(cfg)
    assert choose_defaults(cfg, task, strategy, SimpleNamespace(train=_Split(10))) == []
    assert cfg.to_json() == first.to_json()


@pytest.mark.slow
def test_cli_prints_the_chosen_defaults_and_the_run_records_them(tiny_bert, tiny_csvs, tmp_path):
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "transferkit", "finetune", "-m", str(tiny_bert), "--train",
                           str(tiny_csvs["train"]), "--validation", str(tiny_csvs["validation"]), "-o", str(out),
                           "--batch-size", "8", "--max-length", "16", "--lr", "3e-3", "--no-progress"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    saved = json.loads((out / "config.json").read_text())
    assert saved["epochs"] == -(-MIN_STEPS // 8) < MAX_EPOCHS  # 64 examples at 8 a batch: 8 steps an epoch
    assert f"note: epochs {saved['epochs']}: 64 examples make 8 steps an epoch" in done.stderr
    assert set(saved["run_info"]["defaults"]) == {"epochs"}


# ------------------------------------------------------------------ the LR range test

def test_valley_lands_on_the_falling_part_of_the_curve():
    from transferkit.engine.lr_find import steepest, valley

    lrs = np.logspace(-6, 0, 61)
    losses = list(np.r_[np.full(20, 2.0), np.linspace(2.0, 0.5, 25), np.linspace(0.5, 3.0, 16)])
    i = valley(losses)
    assert 20 <= i < 45 and losses[i] < 2.0 and losses[i] > 0.5  # on the slope, before the minimum
    assert 20 <= steepest(list(lrs[:45]), losses[:45]) < 45


def _tiny_setup(tiny_bert, tiny_texts, **settings):
    from transferkit.methods.finetune import make_engine, setup

    cfg = FinetuneConfig.build({"model": str(tiny_bert), "batch_size": 8, "max_length": 16, "progress": False,
                                "lr": 3e-3, **settings})
    task, strategy = setup(cfg)
    accelerator, dtype = make_engine(cfg, strategy)
    data = task.load_data(tiny_texts["train"], tiny_texts["validation"])
    network = strategy.prepare(task.build_model(cfg.model, data))
    return cfg, task, strategy, accelerator, network, task.encode(data.train, training=True)


def test_range_test_restores_the_weights_and_suggests_a_rate_in_range(tiny_bert, tiny_texts):
    from transferkit.engine.lr_find import find_lr

    cfg, task, strategy, accelerator, network, train_set = _tiny_setup(tiny_bert, tiny_texts)
    before = {k: v.clone() for k, v in network.state_dict().items()}
    trainable = {n for n, p in network.named_parameters() if p.requires_grad}
    result = find_lr(task, network, train_set, strategy, cfg, accelerator.device, steps=40, start_lr=1e-6, end_lr=1e3)
    after = network.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert trainable == {n for n, p in network.named_parameters() if p.requires_grad}
    assert 1e-6 <= result.suggestion <= 1e3 and result.lrs == sorted(result.lrs)
    assert len(result.lrs) == len(result.losses) == len(result.raw_losses) <= 40
    assert result.stopped in ("diverged", "end of range")
    # An LR of 1000 diverges: the test stops early and the suggestion is below the blow-up.
    assert result.stopped == "diverged" and result.suggestion < result.lrs[-1]


def test_range_test_keeps_per_group_ratios(tiny_bert, tiny_texts):
    from transferkit.engine.lr_find import find_lr

    cfg, task, strategy, accelerator, network, train_set = _tiny_setup(tiny_bert, tiny_texts, head_lr=3e-2)
    seen = []

    class Spy(torch.optim.AdamW):
        def step(self, closure=None):
            seen.append(sorted({round(g["lr"] / self.param_groups[0]["lr"], 6) for g in self.param_groups}))
            return super().step(closure)

    import transferkit.engine.lr_find as module

    original = module.build_optimizer
    module.build_optimizer = lambda groups, lr: Spy(groups, lr=lr)
    try:
        find_lr(task, network, train_set, strategy, cfg, accelerator.device, steps=5)
    finally:
        module.build_optimizer = original
    assert seen and all(ratios == seen[0] for ratios in seen) and max(seen[0]) / min(seen[0]) == pytest.approx(10)


@pytest.mark.slow
def test_lr_find_cli_writes_the_curve_and_plot(tiny_bert, tiny_csvs, tmp_path):
    out = tmp_path / "lr"
    done = subprocess.run([sys.executable, "-m", "transferkit", "lr-find", "-m", str(tiny_bert), "--train",
                           str(tiny_csvs["train"]), "-o", str(out), "--batch-size", "8", "--max-length", "16",
                           "--lr-find-steps", "30"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    curve = json.loads((out / "lr_find.json").read_text())
    assert len(curve["lrs"]) <= 30 and curve["suggestion"] in curve["lrs"]
    assert (out / "lr_find.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"suggested learning rate: {curve['suggestion']:.2e}" in done.stdout


@pytest.mark.slow
def test_finetune_lr_auto_trains_at_the_suggestion_and_records_it(tiny_bert, tiny_texts, tmp_path):
    import transferkit as tk

    run = tk.finetune(str(tiny_bert), tiny_texts["train"], tiny_texts["validation"], output=tmp_path / "run",
                      lr="auto", lr_find_steps=30, epochs=2, batch_size=8, max_length=16, progress=False)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    found = json.loads((tmp_path / "run" / "lr_find.json").read_text())
    assert isinstance(saved["lr"], float) and saved["lr"] == pytest.approx(found["suggestion"], rel=1e-2)
    assert saved["run_info"]["lr_find"]["steps"] == len(found["lrs"]) and "LR range test" in \
        saved["run_info"]["defaults"]["lr"]
    logged = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    peak = max(r["lr"] for r in logged if "lr" in r)
    assert peak <= saved["lr"] * 1.0001 and run.config.lr == saved["lr"]


def test_lr_auto_is_refused_for_distill(tmp_path):
    import transferkit as tk
    from transferkit.errors import ConfigError

    with pytest.raises(ConfigError, match="invalid lr: auto is for finetune"):
        tk.distill(str(tmp_path / "teacher"), "minilm-l6", "train.csv", lr="auto")
