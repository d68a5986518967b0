"""Segmentation: data layouts and their errors, joint augmentation, learning, masks written back."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest

from transferkit.errors import DataError
from transferkit.methods.finetune import finetune
from transferkit.runs import load_run
from transferkit.vision.masks import MaskReader, load_mask_splits, load_masked
from transferkit.vision.tiny import square_scenes, write_mask_folder

pytestmark = pytest.mark.usefixtures("ft_env")
Image = pytest.importorskip("PIL.Image")
FAST = {"batch_size": 8, "lr": 3e-3, "pretrained": False, "precision": "fp32", "progress": False}


def test_layouts_folder_table_voc_and_memory(tmp_path):
    images, masks = square_scenes(10, 0)
    folder = write_mask_folder(tmp_path / "scenes", images, masks)
    splits = load_mask_splits(folder)
    assert sum(len(getattr(splits, s)) for s in ("train", "validation", "test")) == 10
    assert splits.train.class_names == ["background", "square"]

    table = tmp_path / "scenes" / "pairs.csv"
    table.write_text("image,mask\n" + "".join(f"images/{i}.png,masks/{i}.png\n" for i in range(10)), encoding="utf-8")
    examples = load_masked(table)
    assert examples.masks[2] == str(tmp_path / "scenes" / "masks" / "2.png")

    voc = tmp_path / "VOC"
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (voc / sub).mkdir(parents=True)
    for i in range(6):
        Image.fromarray(images[i]).save(voc / "JPEGImages" / f"2007_{i:06d}.jpg")
        Image.fromarray(masks[i]).save(voc / "SegmentationClass" / f"2007_{i:06d}.png")
    (voc / "ImageSets/Segmentation/train.txt").write_text("".join(f"2007_{i:06d}\n" for i in range(4)))
    (voc / "ImageSets/Segmentation/val.txt").write_text("".join(f"2007_{i:06d}\n" for i in range(4, 6)))
    splits = load_mask_splits(str(voc))
    assert (len(splits.train), len(splits.validation)) == (4, 2) and splits.train.class_names[15] == "person"

    in_memory = MaskReader().read((images, masks), source="train")
    assert len(in_memory) == 10 and in_memory.masks[0].shape == (32, 32)


def test_bad_masks_get_one_line_errors_or_are_repaired(tmp_path):
    images, masks = square_scenes(12, 0)
    folder = tmp_path / "scenes"
    write_mask_folder(folder, images, masks)
    (folder / "masks" / "3.png").unlink()
    with pytest.raises(DataError, match=r"masks/3\.png: no mask for .*images/3\.png"):
        load_masked(str(folder))
    Image.fromarray(masks[3]).save(folder / "masks" / "3.png")
    Image.fromarray(masks[4][:16]).save(folder / "masks" / "4.png")  # half the height of its image
    bad = masks[5].copy()
    bad[0, 0] = 7  # no class 7 among background, square
    Image.fromarray(bad).save(folder / "masks" / "5.png")
    settings = {**FAST, "max_steps": 1, "image_size": 32, "bad_images": "error"}
    with pytest.raises(DataError, match=r"4\.png: cannot read this image or mask \(the mask is 32x16 but its image "
                                        r"32x32"):
        finetune("mobilenet-v2", str(folder), str(folder), task="segmentation", output=tmp_path / "a", **settings)
    Image.fromarray(masks[4]).save(folder / "masks" / "4.png")
    with pytest.raises(DataError, match=r"5\.png: cannot read .*class index 7 is not one of the 2 classes"):
        finetune("mobilenet-v2", str(folder), str(folder), task="segmentation", output=tmp_path / "b", **settings)
    with pytest.warns(UserWarning, match=r"--fix-annotations repaired 1 mask\(s\) \(unknown classes ignored\)"):
        finetune("mobilenet-v2", str(folder), str(folder), task="segmentation", output=tmp_path / "c",
                 fix_annotations=True, **settings)


def test_joint_augmentation_moves_masks_with_pixels():
    import torch

    from transferkit.vision.augment import joint_batch

    images, masks = square_scenes(8, 0)
    x, m = joint_batch(torch.from_numpy(images), torch.from_numpy(masks), 0.35, True, np.random.default_rng(0))
    assert x.shape == (8, 3, 32, 32) and m.shape == (8, 32, 32) and set(m.unique().tolist()) <= {0, 1}
    square = (x[:, 0] > 0.7) & (x[:, 2] < 0.3)  # the square's colour, where the augmented image shows it
    agree = (square == m.bool()).float().mean()
    assert agree > 0.95 and not torch.equal(m, torch.from_numpy(masks).long())  # moved, and together


def test_a_segmenter_learns_the_squares_and_writes_masks_back(tmp_path):
    train = write_mask_folder(tmp_path / "train", *square_scenes(64, 1))
    validation = write_mask_folder(tmp_path / "validation", *square_scenes(16, 2))
    run = finetune("mobilenet-v2", train, validation, task="segmentation", output=tmp_path / "run", epochs=8, **FAST)
    metrics = run.metrics["validation"]
    assert metrics["miou"] > 0.6 and set(metrics["per_class_iou"]) == {"background", "square"}
    assert run.config.image_size == 64  # the 32 px images, within the 64-512 px default bounds

    loaded = load_run(tmp_path / "run")
    big = np.asarray(Image.fromarray(square_scenes(1, 9)[0][0]).resize((48, 40)))  # not square, not 64 px
    mask = loaded.predict([big])[0]
    assert mask.shape == (40, 48) and mask.dtype == np.uint8
    record = loaded.predict_json([big])[0]
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(record["mask_png"]))))
    np.testing.assert_array_equal(decoded, mask)
    assert abs(sum(record["classes"].values()) - 1) < 1e-4

    out, count = loaded.predict_file(validation + "/images", tmp_path / "pred.masks")
    assert count == 16 and (out / "0.png").is_file() and (out / "0.overlay.png").is_file()
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 16 and rows[0]["mask"] == "0.png"
    assert np.asarray(Image.open(out / "0.png")).shape == (32, 32)
    assert loaded.evaluate(validation)["miou"] == pytest.approx(metrics["miou"])


@pytest.mark.parametrize("decoder", ["aspp", "unet"])
def test_every_decoder_trains_saves_and_reloads(tmp_path, decoder):
    train = write_mask_folder(tmp_path / "train", *square_scenes(16, 1))
    run = finetune("mobilenet-v2", train, task="segmentation", output=tmp_path / "run", max_steps=3, decoder=decoder,
                   image_size=64, **FAST)
    assert json.loads((tmp_path / "run" / "model" / "segmentation.json").read_text())["decoder"] == decoder
    images = list(square_scenes(2, 5)[0])
    loaded = load_run(tmp_path / "run")
    np.testing.assert_allclose(loaded.predict_proba(images), run.predict_proba(images), atol=1e-5)
    assert loaded.predict(images)[0].shape == (32, 32)


def test_a_segmentation_run_resumes_bit_identically_with_augmentation(tmp_path):
    from crash import assert_resumes_bit_identically

    train = write_mask_folder(tmp_path / "train", *square_scenes(16, 1))
    assert_resumes_bit_identically("mobilenet-v2", train, "segmentation", tmp_path,
                                   **{**FAST, "batch_size": 4, "epochs": 2, "save_every": 2, "image_size": 32})
