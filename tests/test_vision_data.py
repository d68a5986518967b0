"""Image data: ImageFolder, CSV/JSONL tables, IDX (gz or not), NumPy arrays, named datasets;
corrupt images skipped or named; grayscale to 3 channels; seeded, reproducible augmentation."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from transferkit.data.idx import read_idx, write_idx
from transferkit.data.labels import DataWarning
from transferkit.errors import DataError
from transferkit.vision.augment import AugmentSettings, center_crop, mix, train_batch
from transferkit.vision.decode import decode
from transferkit.vision.images import load_image_splits, load_images


def save_png(path, array):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


@pytest.fixture
def image_folder(tmp_path):
    """cats/ (reddish) and dogs/ (bluish), 10 small RGB images each, sizes vary."""
    rng = np.random.default_rng(0)
    for cls, channel in (("cats", 0), ("dogs", 2)):
        for i in range(10):
            img = rng.integers(0, 60, size=(10 + i, 14, 3), dtype=np.uint8)
            img[..., channel] = 220
            save_png(tmp_path / "photos" / cls / f"{i}.png", img)
    return tmp_path / "photos"


def test_image_folder_split_by_seed_and_decoded(image_folder):
    splits = load_image_splits(image_folder, seed=1)
    assert splits.labels.names == ["cats", "dogs"]
    assert splits.split_info["sizes"] == {"train": 16, "validation": 2, "test": 2}
    decoded = decode(splits.train, 12)
    assert decoded.pixels.shape == (16, 12, 12, 3) and decoded.pixels.dtype == np.uint8
    assert len(decoded.lengths) == 16 and decoded.labels.tolist() == splits.train.labels.tolist()
    again = load_image_splits(image_folder, seed=1)
    assert again.train.items == splits.train.items


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_tables_with_relative_paths(image_folder, tmp_path, fmt):
    rows = [{"path": f"photos/{c}/{i}.png", "label": c} for c in ("cats", "dogs") for i in range(10)]
    table = tmp_path / f"labels.{fmt}"
    if fmt == "csv":
        table.write_text("path,label\n" + "".join(f"{r['path']},{r['label']}\n" for r in rows))
    else:
        table.write_text("".join(json.dumps(r) + "\n" for r in rows))
    splits = load_image_splits(table, validation=table)
    assert len(splits.train) == 20 and len(splits.validation) == 20 and splits.test is None
    assert decode(splits.train, 8).pixels.shape == (20, 8, 8, 3)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_files(tmp_path, suffix):
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 255, size=(30, 28, 28), dtype=np.uint8), np.arange(30) % 3
    write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", images)
    write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", labels)
    write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", images[:6])
    write_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", labels[:6])
    np.testing.assert_array_equal(read_idx(tmp_path / f"train-images-idx3-ubyte{suffix}"), images)
    one = load_image_splits(tmp_path / f"train-images-idx3-ubyte{suffix}")  # a file: split by seed
    assert one.labels.names == ["0", "1", "2"] and sum(one.split_info["sizes"].values()) == 30
    folder = load_image_splits(tmp_path)  # a folder: train + t10k as train/test
    assert (len(folder.train), folder.validation, len(folder.test)) == (30, None, 6)
    decoded = decode(folder.test, 32)
    assert decoded.pixels.shape == (6, 32, 32, 1)  # grayscale stays one channel in memory
    (tmp_path / "bad-images-idx3-ubyte").write_bytes(b"\x01\x02garbage")
    with pytest.raises(DataError, match="bad-images-idx3-ubyte: not a readable IDX"):
        load_image_splits(tmp_path / "bad-images-idx3-ubyte")


def test_numpy_arrays_uint8_and_float():
    rng = np.random.default_rng(0)
    X = rng.random((40, 9, 9, 3)).astype(np.float32)  # floats in [0, 1]
    y = np.array(["a", "b"] * 20)
    splits = load_image_splits((X, y))
    decoded = decode(splits.train, 9)
    assert decoded.pixels.shape == (40, 9, 9, 3) and splits.validation is None  # in memory: used as given
    first = splits.train.subset([0]).items[0]
    np.testing.assert_allclose(decoded.pixels[0] / 255, first, atol=1 / 255 + 1e-6)
    with pytest.raises(DataError, match="40 images but 3 labels"):
        load_image_splits((X, y[:3]))


def test_corrupt_images_skipped_with_a_count_or_an_error(image_folder):
    (image_folder / "cats" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    save_png(image_folder / "dogs" / "truncated.png", np.zeros((20, 20, 3), np.uint8))
    data = (image_folder / "dogs" / "truncated.png").read_bytes()
    (image_folder / "dogs" / "truncated.png").write_bytes(data[:len(data) // 2])
    examples = load_images(image_folder)
    with pytest.warns(DataWarning, match="skipped 2 unreadable image") as record:
        decoded = decode(examples, 8)
    assert "broken.png" in str(record[0].message)
    assert len(decoded) == 20 and len(decoded.labels) == 20 and not any("broken" in n for n in decoded.names)
    with pytest.raises(DataError, match=r"broken\.png: cannot read this image"):
        decode(examples, 8, bad_images="error")


def test_grayscale_becomes_three_channels(tmp_path):
    gray = save_png(tmp_path / "g" / "a" / "0.png", np.full((6, 6), 100, np.uint8))
    save_png(tmp_path / "g" / "b" / "0.png", np.full((6, 6), 30, np.uint8))
    decoded = decode(load_images(tmp_path / "g"), 6)
    assert decoded.pixels.shape[-1] == 1
    x = center_crop(torch.from_numpy(decoded.pixels), 4)
    assert x.shape == (2, 3, 4, 4) and torch.equal(x[:, 0], x[:, 2])
    save_png(tmp_path / "g" / "b" / "1.png", np.zeros((6, 6, 3), np.uint8))  # a colour image joins
    mixed = decode(load_images(tmp_path / "g"), 6)
    assert mixed.pixels.shape[-1] == 3 and (mixed.pixels[mixed.names.index(str(gray))] == 100).all()


def test_augmentation_is_reproducible_from_the_seeded_generator():
    pixels = torch.from_numpy(np.random.default_rng(0).integers(0, 255, (6, 20, 20, 3), dtype=np.uint8))
    settings = AugmentSettings(crop_scale=0.3, hflip=True, color_jitter=0.3, randaugment=2, mixup=0.2, cutmix=1.0)
    labels = torch.arange(6) % 3

    def run(seed):
        rng = np.random.default_rng([seed, 0, 3, 0])  # what the loop passes: (seed, epoch, batch, rank)
        x = train_batch(pixels, 16, settings, rng)
        return mix(x, labels, 3, settings, rng)

    (a, ta), (b, tb), (c, _) = run(1), run(1), run(2)
    assert a.shape == (6, 3, 16, 16) and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, b) and torch.equal(ta, tb) and not torch.equal(a, c)
    np.testing.assert_allclose(ta.sum(1).numpy(), 1.0, atol=1e-6)  # soft targets are distributions
    plain = train_batch(pixels, 20, AugmentSettings(crop_scale=1.0, hflip=False, color_jitter=0.0),
                        np.random.default_rng(0))
    torch.testing.assert_close(plain, center_crop(pixels, 20), atol=1e-5, rtol=0)  # identity when all off


def test_named_datasets(monkeypatch, tmp_path):
    import transferkit.data.catalog as catalog
    from transferkit.data import LABELLED_IMAGES, dataset_info

    monkeypatch.setenv("TRANSFERKIT_HOME", str(tmp_path / "home"))
    digits = load_image_splits("digits")
    assert digits.labels.names == list("0123456789") and sum(digits.split_info["sizes"].values()) == 1797
    test = load_images("digits:test")
    assert len(test) == digits.split_info["sizes"]["test"] and test.labels.tolist() == digits.test.labels.tolist()
    assert dataset_info("fashion_mnist")["kind"] == LABELLED_IMAGES
    monkeypatch.setattr(catalog, "FASHION_MNIST_DIR", tmp_path / "missing")
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_image_splits("fashion_mnist")


@pytest.mark.skipif(not (__import__("pathlib").Path("/usr/share/datasets/fashion-mnist").is_dir()),
                    reason="dataset-fashion-mnist is not installed")
def test_fashion_mnist_test_split():
    test = load_images("fashion_mnist:test")
    assert len(test) == 10000 and test.items.shape == (10000, 28, 28)
    assert test.label_map.names[0] == "T-shirt/top" and np.bincount(test.labels).tolist() == [1000] * 10
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert decode(test.subset(range(4)), 32).pixels.shape == (4, 32, 32, 1)
