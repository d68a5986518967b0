"""Which parameters each strategy really trains: requires_grad, and frozen ones bit-identical."""

from __future__ import annotations

import pytest
import torch

from transferkit.engine.callbacks import Callback
from transferkit.engine.device import make_accelerator
from transferkit.engine.loop import TrainLoop
from transferkit.errors import ConfigError
from transferkit.methods.config import FinetuneConfig
from transferkit.strategies import STRATEGIES, get_strategy
from transferkit.strategies.layers import layer_groups
from transferkit.tasks import get_task

pytestmark = pytest.mark.usefixtures("ft_env")


class TrainableByEpoch(Callback):
    def __init__(self):
        self.by_epoch: dict[int, set[str]] = {}

    def on_step_end(self, state, model):
        self.by_epoch.setdefault(state.epoch, {n for n, p in model.named_parameters() if p.requires_grad})


def train(tiny_bert, tiny_texts, tmp_path, strategy: str, **settings):
    """Train the tiny model with one strategy; return what a test needs to inspect."""
    from accelerate.utils import set_seed

    cfg = FinetuneConfig(model=str(tiny_bert), task="text-classification", strategy=strategy, lr=3e-3, batch_size=16,
                         precision="fp32", progress=False, **{"epochs": 2, **settings})
    task = get_task(cfg.task)(cfg)
    data = task.load_data(tiny_texts["train"])
    set_seed(cfg.seed)
    chosen = get_strategy(strategy)(cfg)
    model = chosen.prepare(task.build_model(tiny_bert, data))
    chosen.update(model, 0, 0)  # as finetune does before building the loop (and its optimizer)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    recorder = TrainableByEpoch()
    loop = TrainLoop(task, model, task.encode(data.train), None, chosen, cfg, tmp_path, make_accelerator("cpu"),
                     None, [recorder])
    loop.run()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    return model, changed, trainable, recorder.by_epoch, loop


def test_all_strategies_registered():
    get_strategy("full")
    assert set(STRATEGIES) >= {"full", "head-only", "top-k", "gradual-unfreeze", "llrd", "lora"}
    with pytest.raises(ConfigError, match="strategy"):
        get_strategy("nope")


def test_layer_groups_of_bert(tiny_bert, tiny_texts, tmp_path):
    model, *_ = train(tiny_bert, tiny_texts, tmp_path, "full", max_steps=1)
    groups = layer_groups(model)
    assert len(groups.layers) == 2
    assert all(".layer.1." in n for n in groups.layers[1])
    assert set(groups.head) == {"bert.pooler.dense.weight", "bert.pooler.dense.bias", "classifier.weight",
                                "classifier.bias"}
    assert all(n.startswith("bert.embeddings.") for n in groups.embeddings)


def test_full_trains_everything(tiny_bert, tiny_texts, tmp_path):
    model, changed, trainable, _, _ = train(tiny_bert, tiny_texts, tmp_path, "full")
    everything = {n for n, _ in model.named_parameters()}
    assert trainable == everything
    assert changed == everything


def test_head_only_freezes_the_encoder(tiny_bert, tiny_texts, tmp_path):
    model, changed, trainable, _, _ = train(tiny_bert, tiny_texts, tmp_path, "head-only")
    head = set(layer_groups(model).head)
    assert trainable == head
    assert changed == head  # every encoder weight bit-identical


def test_top_k_trains_head_and_top_layers(tiny_bert, tiny_texts, tmp_path):
    model, changed, trainable, _, _ = train(tiny_bert, tiny_texts, tmp_path, "top-k", top_k=1)
    groups = layer_groups(model)
    expected = set(groups.head) | set(groups.layers[1])
    assert trainable == expected
    assert changed == expected


def test_top_k_larger_than_model_is_a_config_error(tiny_bert, tiny_texts, tmp_path):
    with pytest.raises(ConfigError, match="top_k"):
        train(tiny_bert, tiny_texts, tmp_path, "top-k", top_k=5)


def test_gradual_unfreeze_adds_one_group_per_epoch(tiny_bert, tiny_texts, tmp_path):
    model, changed, _, by_epoch, _ = train(tiny_bert, tiny_texts, tmp_path, "gradual-unfreeze", epochs=3)
    groups = layer_groups(model)
    head, top, bottom = set(groups.head), set(groups.layers[1]), set(groups.layers[0])
    assert by_epoch[0] == head
    assert by_epoch[1] == head | top
    assert by_epoch[2] == head | top | bottom
    assert changed == head | top | bottom  # the embeddings never unfroze in 3 epochs


def test_gradual_unfreeze_trains_the_lower_layers_through_finetune(tiny_bert, tiny_texts, tmp_path):
    # The run path freezes all but the head before the optimizer is built; the groups unfrozen
    # later must be in it, or they get gradients and never move.
    from transformers import AutoModelForSequenceClassification

    import transferkit as tk

    run = tk.finetune(str(tiny_bert), tiny_texts["train"], validation=tiny_texts["validation"], output=tmp_path / "run",
                      strategy="gradual-unfreeze", epochs=3, lr=3e-3, batch_size=16, precision="fp32")
    assert run.metrics
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "run" / "model")
    start = dict(AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2).named_parameters())
    groups, trained = layer_groups(model), dict(model.named_parameters())
    moved = {n for n, p in trained.items() if n in start and not torch.equal(p, start[n])}
    assert set(groups.layers[0]) <= moved and set(groups.layers[1]) <= moved
    assert not set(groups.embeddings) & moved  # the embeddings' turn comes in epoch 4


def test_gradual_unfreeze_by_steps(tiny_bert, tiny_texts, tmp_path):
    # 64 examples / 16 = 4 steps per epoch; one more group every 2 steps: stage = step // 2.
    model, changed, _, by_epoch, _ = train(tiny_bert, tiny_texts, tmp_path, "gradual-unfreeze", epochs=2,
                                           unfreeze_unit="step", unfreeze_every=2)
    groups = layer_groups(model)
    assert by_epoch[0] == set(groups.head)  # step 0
    assert by_epoch[1] == set(groups.head) | set(groups.layers[1]) | set(groups.layers[0])  # step 4
    assert changed == {n for n, _ in model.named_parameters()}  # embeddings joined at step 6


@pytest.mark.parametrize("strategy,settings", [("llrd", {"llrd": 0.5}), ("full", {"llrd": 0.5})])
def test_layerwise_lr_decay(tiny_bert, tiny_texts, tmp_path, strategy, settings):
    model, changed, _, _, loop = train(tiny_bert, tiny_texts, tmp_path, strategy, max_steps=1, warmup_ratio=0.0,
                                       schedule="constant", **settings)
    assert changed == {n for n, _ in model.named_parameters()}
    lr_of = {name: group["lr"] for group in loop.optimizer.param_groups for name in group["names"]}
    assert lr_of["classifier.weight"] == pytest.approx(3e-3)
    assert lr_of["bert.encoder.layer.1.output.dense.weight"] == pytest.approx(3e-3 * 0.5)
    assert lr_of["bert.encoder.layer.0.output.dense.weight"] == pytest.approx(3e-3 * 0.25)
    assert lr_of["bert.embeddings.word_embeddings.weight"] == pytest.approx(3e-3 * 0.125)


def test_llrd_strategy_has_a_default_factor(tiny_bert, tiny_texts, tmp_path):
    *_, loop = train(tiny_bert, tiny_texts, tmp_path, "llrd", max_steps=1, warmup_ratio=0.0, schedule="constant")
    lr_of = {name: group["lr"] for group in loop.optimizer.param_groups for name in group["names"]}
    assert lr_of["bert.encoder.layer.1.output.dense.weight"] == pytest.approx(3e-3 * 0.9)


def test_lora_trains_adapters_and_head_only(tiny_bert, tiny_texts, tmp_path):
    model, changed, trainable, _, _ = train(tiny_bert, tiny_texts, tmp_path, "lora", lora_r=4)
    assert trainable, "nothing trainable"
    for name in trainable:
        assert "lora_" in name or "modules_to_save" in name, name
    assert any(".query.lora_A." in n for n in trainable) and any(".value.lora_B." in n for n in trainable)
    assert not any(".key.lora_" in n for n in trainable)  # default targets for BERT: query, value
    assert any("classifier.modules_to_save" in n for n in trainable)
    assert any("pooler.modules_to_save" in n for n in trainable)
    assert changed <= trainable  # base weights (and the original head copies) bit-identical
    assert any("lora_B" in n for n in changed)


def test_lora_export_is_a_plain_model_with_the_same_outputs(tiny_bert, tiny_texts, tmp_path):
    model, *_ = train(tiny_bert, tiny_texts, tmp_path, "lora", lora_r=4, max_steps=3)
    batch = {"input_ids": torch.tensor([[2, 5, 20, 3]]), "attention_mask": torch.ones(1, 4, dtype=torch.long)}
    model.eval()
    with torch.inference_mode():
        adapted = model(**batch).logits
    plain = get_strategy("lora")(None).export(model)
    assert type(plain).__name__ == "BertForSequenceClassification"
    assert not any("lora" in n for n, _ in plain.named_parameters())
    with torch.inference_mode():
        torch.testing.assert_close(plain(**batch).logits, adapted, rtol=1e-5, atol=1e-5)


def test_weight_decay_skips_norms_and_biases(tiny_bert, tiny_texts, tmp_path):
    *_, loop = train(tiny_bert, tiny_texts, tmp_path, "full", max_steps=1)
    decay_of = {name: group["weight_decay"] for group in loop.optimizer.param_groups for name in group["names"]}
    assert decay_of["bert.encoder.layer.0.output.dense.weight"] > 0
    assert decay_of["bert.encoder.layer.0.output.dense.bias"] == 0
    assert decay_of["bert.encoder.layer.0.output.LayerNorm.weight"] == 0
    assert decay_of["bert.embeddings.LayerNorm.weight"] == 0
    assert decay_of["classifier.weight"] > 0


@pytest.mark.parametrize("strategy", ["full", "gradual-unfreeze"])
def test_freeze_embeddings_keeps_the_token_table_whatever_the_strategy(tiny_bert, tiny_texts, tmp_path, strategy):
    settings = {"unfreeze_unit": "step", "unfreeze_every": 1} if strategy == "gradual-unfreeze" else {}
    model, changed, trainable, _, loop = train(tiny_bert, tiny_texts, tmp_path, strategy, freeze_embeddings=True,
                                               **settings)
    table = "bert.embeddings.word_embeddings.weight"
    assert table not in changed and table not in trainable
    assert set(layer_groups(model).layers[0]) <= changed  # the rest trains as the strategy says
    assert not any(p is model.get_input_embeddings().weight for g in loop.optimizer.param_groups
                   for p in g["params"] if p.grad is not None)
