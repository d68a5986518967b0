"""Image classification end to end: `finetune --task image-classification` through the CLI,
predict/evaluate on the run, the image probe (text probe untouched), reproducible training."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from transferkit.methods.finetune import finetune
from transferkit.runs import load_run
from transferkit.vision.tiny import colour_images

pytestmark = pytest.mark.usefixtures("ft_env")
METRIC_KEYS = {"accuracy", "macro_f1", "per_class", "confusion_matrix"}


@pytest.fixture
def folder(tmp_path):
    from PIL import Image

    X, y = colour_images(40, 0)
    for i, (img, label) in enumerate(zip(X, y)):
        (tmp_path / "imgs" / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(tmp_path / "imgs" / label / f"{i}.png")
    return tmp_path / "imgs"


def test_cli_finetune_then_predict_and_evaluate(mobilenet, folder, tmp_path):
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "transferkit", "finetune", "--task", "image-classification",
                           "--model", str(mobilenet), "--train", str(folder), "--output", str(out),
                           "--image-size", "32", "--epochs", "2", "--batch-size", "8", "--lr", "0.003",
                           "--strategy", "top-k", "--top-k", "1", "--randaugment", "1", "--no-progress"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    config = json.loads((out / "config.json").read_text())
    assert config["task"] == "image-classification" and config["image_size"] == 32
    metrics = json.loads((out / "metrics.json").read_text())
    assert METRIC_KEYS <= set(metrics) and metrics["split"] == "test"
    backbone = json.loads((out / "model" / "backbone.json").read_text())
    assert backbone["backbone"] == "mobilenet-v2" and backbone["input_spec"]["image_size"] == 32

    run = load_run(out)
    one = str(next((folder / "red").iterdir()))
    assert run.predict([one]) == ["red"] and run.predict_proba(one).shape == (1, 2)
    written, count = run.predict_file(one, tmp_path / "one.csv")
    assert count == 1
    import pandas as pd

    assert pd.read_csv(written)["prediction"].tolist() == ["red"]
    frame = pd.read_csv(run.predict_file(str(folder / "blue"), tmp_path / "blue.csv")[0])
    assert len(frame) == 20 and (frame["prediction"] == "blue").mean() >= 0.9
    result, path = run.evaluate_file(str(folder))
    assert METRIC_KEYS <= set(result) and result["accuracy"] >= 0.9 and path.is_file()
    assert result["confusion_matrix"]["labels"] == ["blue", "red"]
    cli = [sys.executable, "-m", "transferkit"]
    done = subprocess.run([*cli, "predict", str(out), "--input", one, "--output", str(tmp_path / "cli.csv")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert pd.read_csv(tmp_path / "cli.csv")["prediction"].tolist() == ["red"]


def test_python_api_with_arrays_is_reproducible(mobilenet):
    X, y = colour_images(48, 1)
    settings = dict(task="image-classification", image_size=32, epochs=1, batch_size=8, lr=3e-3, progress=False,
                    strategy="head-only", mixup=0.2, cutmix=1.0, hflip=False, precision="fp32")
    a = finetune(str(mobilenet), (X, y), **settings)
    b = finetune(str(mobilenet), (X, y), **settings)
    assert a.info["trainable_parameters"] == 1280 * 2 + 2  # head-only: the new linear head
    np.testing.assert_array_equal(a.predict_proba(X[:6]), b.predict_proba(X[:6]))
    fresh, truth = colour_images(40, 7)
    assert np.mean(np.array(a.predict(fresh)) == truth) >= 0.8  # learnt red vs blue (chance: 0.5)


def test_image_probe_and_its_reload(mobilenet, folder, tmp_path):
    from transferkit.methods.probe import probe

    run = probe(str(mobilenet), str(folder), output=tmp_path / "probe", image_size=32, Cs=(0.1, 1.0))
    assert run.config["task"] == "image-classification" and METRIC_KEYS <= set(run.metrics["test"])
    reloaded = load_run(tmp_path / "probe")
    images = [str(p) for p in sorted((folder / "blue").iterdir())[:3]]
    np.testing.assert_allclose(reloaded.predict_proba(images), run.predict_proba(images), atol=1e-5)
    assert reloaded.predict(images) == ["blue"] * 3
    assert reloaded.evaluate_file(str(folder))[0]["accuracy"] >= 0.9


def test_image_settings_are_checked(mobilenet, folder):
    from transferkit.errors import ConfigError

    with pytest.raises(ConfigError, match="lora adapts transformer"):
        finetune(str(mobilenet), str(folder), task="image-classification", strategy="lora", progress=False)
    with pytest.raises(ConfigError, match="invalid image_size"):
        finetune(str(mobilenet), str(folder), task="image-classification", image_size=8, progress=False)


def test_progressive_resizing_grows_the_training_crop_each_epoch():
    from transferkit.methods.config import FinetuneConfig
    from transferkit.tasks import TASKS
    from transferkit.vision.backbone import InputSpec
    from transferkit.vision.decode import DecodedImages

    cfg = FinetuneConfig.build({"task": "image-classification", "image_size": 64, "progressive_resize": 0.5})
    task = TASKS.get("image-classification")(cfg)
    task.input_spec, task.label_names = InputSpec(image_size=64, resize_size=73), ["a", "b"]
    data = DecodedImages(np.zeros((4, 73, 73, 3), dtype=np.uint8), np.array([0, 1, 0, 1]), ["x"] * 4)
    sizes = []
    for epoch in range(3):
        task.start_epoch(epoch, 3)
        sizes.append(task.collate(data, [0, 1], rng=np.random.default_rng(epoch))["pixel_values"].shape[-1])
        assert task.collate(data, [0, 1])["pixel_values"].shape[-1] == 64  # evaluation: always the full size
    assert sizes == [32, 48, 64]


def test_an_architecture_without_packaged_weights_trains_from_a_file_or_from_scratch(folder, tmp_path):
    """resnet-18 has no packaged weights: a torchvision-named state dict (--weights) or --no-pretrained;
    neither is one line saying so."""
    import torch

    from transferkit.errors import ModelSourceError
    from transferkit.vision import create_backbone

    start = create_backbone("resnet-18", pretrained=False)
    torch.save(start.state_dict(), tmp_path / "r18.pth")
    run = finetune("resnet-18", str(folder), output=tmp_path / "from-file", weights=str(tmp_path / "r18.pth"),
                   max_steps=1, lr=1e-12, image_size=32, precision="fp32", progress=False)
    assert run.config.task == "image-classification"  # the family of an architecture name, without a registry entry
    trained = load_run(tmp_path / "from-file").model
    # one step at lr 1e-12: the convolutions are still the file's
    torch.testing.assert_close(trained.conv1.weight, start.conv1.weight)
    finetune("resnet-18", str(folder), output=tmp_path / "scratch", pretrained=False, max_steps=1, image_size=32,
             progress=False)
    with pytest.raises(ModelSourceError, match="resnet-18: no pretrained weights ship for it"):
        finetune("resnet-18", str(folder), output=tmp_path / "none", max_steps=1, progress=False)


def test_small_images_are_raised_to_what_inception_reads(folder, tmp_path):
    from transferkit.errors import ConfigError

    run = finetune("inception-v3", str(folder), output=tmp_path / "inc", pretrained=False, max_steps=1, progress=False)
    assert run.config.image_size == 96  # 24 px images: 2x would be 64, below Inception-v3's 75 px
    with pytest.raises(ConfigError, match="inception-v3 reads images of at least 75 px; pass --image-size 96"):
        finetune("inception-v3", str(folder), output=tmp_path / "inc64", pretrained=False, max_steps=1, image_size=64,
                 progress=False)
