"""Detection: COCO / VOC / YOLO layouts and their errors, box augmentation, FCOS targets and NMS,
COCO mAP, learning, boxes written back, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from crash import assert_resumes_bit_identically
from transferkit.errors import DataError
from transferkit.methods.finetune import finetune
from transferkit.runs import load_run
from transferkit.vision.boxes import BoxReader, load_box_splits, load_boxed
from transferkit.vision.tiny import box_scenes, write_coco_folder

pytestmark = pytest.mark.usefixtures("ft_env")
Image = pytest.importorskip("PIL.Image")
pytest.importorskip("pycocotools")
FAST = {"batch_size": 8, "lr": 3e-3, "pretrained": False, "precision": "fp32", "progress": False, "image_size": 64}


def _voc(folder, images, targets, names=("yellow", "cyan")):
    for sub in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for i, (image, boxes) in enumerate(zip(images, targets)):
        Image.fromarray(image).save(folder / "JPEGImages" / f"{i:06d}.jpg")
        objects = "".join(f"<object><name>{names[int(c)]}</name><bndbox><xmin>{x1:g}</xmin><ymin>{y1:g}</ymin>"
                          f"<xmax>{x2:g}</xmax><ymax>{y2:g}</ymax></bndbox></object>" for x1, y1, x2, y2, c in boxes)
        (folder / "Annotations" / f"{i:06d}.xml").write_text(
            f"<annotation><filename>{i:06d}.jpg</filename>{objects}</annotation>")
    return folder


def _yolo(folder, images, targets, names=("yellow", "cyan")):
    for sub in ("images", "labels"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for i, (image, boxes) in enumerate(zip(images, targets)):
        Image.fromarray(image).save(folder / "images" / f"{i}.png")
        side = image.shape[0]
        (folder / "labels" / f"{i}.txt").write_text("".join(
            f"{int(c)} {(x1 + x2) / 2 / side} {(y1 + y2) / 2 / side} {(x2 - x1) / side} {(y2 - y1) / side}\n"
            for x1, y1, x2, y2, c in boxes))
    (folder / "classes.txt").write_text("\n".join(names) + "\n")
    return folder


def test_coco_voc_yolo_and_memory_read_the_same_boxes(tmp_path):
    images, targets = box_scenes(10, 0)
    coco = load_boxed(write_coco_folder(tmp_path / "coco", images, targets))
    voc = load_boxed(str(_voc(tmp_path / "voc", images, targets)))
    yolo = load_boxed(str(_yolo(tmp_path / "yolo", images, targets)))
    memory = BoxReader().read((images, targets), source="train")
    assert coco.class_names == yolo.class_names == ["yellow", "cyan"] and memory.class_names == ["class_0", "class_1"]
    assert voc.class_names is None  # VOC declares no list: the names seen in training, sorted
    for i in range(10):
        expected = targets[i][:, :4]
        for examples in (coco, voc, memory):
            np.testing.assert_allclose(examples.boxes[i].corners, expected, atol=1e-4)
        np.testing.assert_allclose(yolo.boxes[i].corners * 64, expected, atol=1e-3)  # fractions until decoded
        assert coco.boxes[i].names == voc.boxes[i].names == yolo.boxes[i].names
    splits = load_box_splits(write_coco_folder(tmp_path / "one", images, targets))
    assert sum(len(getattr(splits, s)) for s in ("train", "validation", "test")) == 10  # one source: 80/10/10

    (tmp_path / "voc" / "ImageSets/Main/train.txt").write_text("".join(f"{i:06d}\n" for i in range(7)))
    (tmp_path / "voc" / "ImageSets/Main/val.txt").write_text("".join(f"{i:06d}\n" for i in range(7, 10)))
    splits = load_box_splits(str(tmp_path / "voc"))
    assert (len(splits.train), len(splits.validation)) == (7, 3)


def test_bad_boxes_get_one_line_errors_naming_file_and_object_or_are_repaired(tmp_path):
    images, targets = box_scenes(12, 0)
    targets[3] = np.vstack([targets[3], [50, 50, 80, 60, 0]])  # leaves the 64 px image
    folder = write_coco_folder(tmp_path / "scenes", images, targets)
    settings = {**FAST, "max_steps": 1}
    with pytest.raises(DataError, match=r"images/3\.png: object \d \(yellow at \[50\.0, 50\.0, 80\.0, 60\.0\]\): the box "
                                        r"leaves the 64x64 image; fix it, or pass --fix-annotations") as e:
        finetune("mobilenet-v2", folder, folder, task="detection", output=tmp_path / "a", **settings)
    assert "\n" not in str(e.value)
    with pytest.warns(UserWarning, match=r"--fix-annotations: 1 boxes clipped"):
        finetune("mobilenet-v2", folder, folder, task="detection", output=tmp_path / "b", fix_annotations=True,
                 **settings)

    targets[3] = targets[3][:-1]
    targets[5] = np.vstack([targets[5], [10, 10, 10, 30, 1]])  # no area
    folder = write_coco_folder(tmp_path / "empty", images, targets)
    with pytest.raises(DataError, match=r"images/5\.png: object \d \(cyan .*\): the box has no area"):
        finetune("mobilenet-v2", folder, folder, task="detection", output=tmp_path / "c", **settings)

    yolo = _yolo(tmp_path / "yolo", images[:4], box_scenes(4, 0)[1])
    (yolo / "labels" / "2.txt").write_text("0 0.5 0.5 0.2\n")
    with pytest.raises(DataError, match=r"labels/2\.txt:1: expected 'class cx cy w h'"):
        load_boxed(str(yolo))
    (yolo / "labels" / "2.txt").write_text("7 0.5 0.5 0.2 0.2\n")  # class 7 of 2
    with pytest.raises(DataError, match=r"object 1 \(class_7 .*\): class 'class_7' is not one of the training classes"):
        finetune("mobilenet-v2", str(yolo), str(yolo), task="detection", output=tmp_path / "d", **settings)

    doc = json.loads((tmp_path / "scenes" / "annotations.json").read_text())
    doc["images"][0]["file_name"] = "missing.png"
    (tmp_path / "scenes" / "annotations.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"annotations\.json: image 1 is missing\.png, which is not in"):
        load_boxed(folder.replace("empty", "scenes"))


def test_box_augmentation_moves_boxes_with_the_pixels():
    from transferkit.vision.augment import box_batch

    images, targets = box_scenes(16, 0)
    boxes, labels = [t[:, :4] for t in targets], [t[:, 4].astype(np.int64) for t in targets]
    x, moved, kept = box_batch(torch.from_numpy(images), boxes, labels, 0.5, True, np.random.default_rng(0))
    assert x.shape == (16, 3, 64, 64) and sum(len(b) for b in moved) > 0
    changed = 0
    for image, b, before in zip(x, moved, boxes):
        bright = image.max(0).values > 0.6  # the squares' colours
        for x1, y1, x2, y2 in b:
            inner = bright[int(y1) + 1:int(y2) - 1, int(x1) + 1:int(x2) - 1]
            assert inner.float().mean() > 0.8  # the box still covers its square
            assert 0 <= x1 < x2 <= 64 and 0 <= y1 < y2 <= 64
        changed += len(b) != len(before) or not np.allclose(b, before[:len(b)])
    assert changed > 8


def test_fcos_targets_nms_and_coco_map():
    from transferkit.vision import fcos
    from transferkit.vision.coco import coco_map

    centres, strides, ranges = fcos.points([(8, 8), (4, 4), (2, 2)], [8, 16, 32])
    boxes = torch.tensor([[[8.0, 8.0, 40.0, 40.0], [0, 0, 0, 0]]])
    cls, box = fcos.targets(centres, strides, ranges, boxes, torch.tensor([[1, 0]]), torch.tensor([[True, False]]))
    positive = cls[0] >= 0
    assert positive.sum() > 0 and (cls[0][positive] == 1).all() and (box[0][positive] == boxes[0, 0]).all()
    assert (strides[positive] == 8).all()  # a 32 px object: the stride-8 level's range (0-64)

    b = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [20, 20, 30, 30]], dtype=torch.float)
    kept = fcos.batched_nms(b, torch.tensor([0.9, 0.8, 0.7, 0.6]), torch.tensor([0, 0, 1, 0]))
    assert kept.tolist() == [0, 2, 3]  # 1 overlaps 0 (same class); 2 is another class

    truth = [(np.array([[10, 10, 30, 30.0]]), np.array([0])), (np.array([[5, 5, 20, 25.0]]), np.array([1]))]
    perfect = [np.array([[10, 10, 30, 30, 0.9, 0]]), np.array([[5, 5, 20, 25, 0.8, 1]])]
    assert coco_map(truth, perfect, [(64, 64)] * 2, ["a", "b"])["map"] == pytest.approx(1.0)
    shifted = [np.array([[14, 14, 34, 34, 0.9, 0]]), np.array([[5, 5, 20, 25, 0.8, 0]])]  # IoU 0.47, wrong class
    scores = coco_map(truth, shifted, [(64, 64)] * 2, ["a", "b"])
    assert scores["map_50"] == 0.0 and scores["map"] < 0.2


def test_a_detector_learns_the_squares_and_writes_boxes_back(tmp_path):
    train = write_coco_folder(tmp_path / "train", *box_scenes(64, 1))
    validation = write_coco_folder(tmp_path / "validation", *box_scenes(16, 2))
    run = finetune("mobilenet-v2", train, validation, task="detection", output=tmp_path / "run", epochs=16, **FAST)
    metrics = run.metrics["validation"]
    assert metrics["map_50"] > 0.5 and set(metrics["per_class_ap50"]) == {"yellow", "cyan"}

    loaded = load_run(tmp_path / "run")
    image, target = box_scenes(1, 9)
    big = np.asarray(Image.fromarray(image[0]).resize((96, 80)))  # not square, not 64 px
    found = loaded.predict([big])[0]
    assert found and all(set(d) == {"label", "score", "box"} and d["score"] >= 0.3 for d in found)
    best = found[0]["box"]
    truth = [target[0][:, :4] * [96 / 64, 80 / 64, 96 / 64, 80 / 64]][0]
    assert min(np.abs(np.array(best) - t).max() for t in truth) < 12  # in the image's own pixels
    out, count = loaded.predict_file(validation, tmp_path / "pred.boxes")
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert count == len(rows) == 16 and (out / rows[0]["drawn"]).is_file()
    assert np.asarray(Image.open(out / rows[0]["drawn"])).shape == (64, 64, 3)
    assert loaded.evaluate(validation)["map"] == pytest.approx(metrics["map"])


def test_a_detection_run_resumes_bit_identically_with_augmentation(tmp_path):
    train = write_coco_folder(tmp_path / "train", *box_scenes(16, 1))
    assert_resumes_bit_identically("mobilenet-v2", train, "detection", tmp_path,
                                   **{**FAST, "batch_size": 4, "epochs": 2, "save_every": 2})


# ------------------------------------------------------------------------------ CRAFT, the packaged text detector


def test_craft_post_processing_joins_characters_into_words():
    from transferkit.vision.craft import text_boxes

    region, link = np.zeros((40, 80), np.float32), np.zeros((40, 80), np.float32)
    for x in (10, 20, 30):  # three characters of one word, linked
        region[15:25, x:x + 6] = 0.9
    link[17:23, 16:30] = 0.8
    region[15:25, 60:66] = 0.9  # a word of one character, alone
    region[2:6, 2:6] = 0.5  # too faint to be text (peak below 0.7)
    boxes = text_boxes(region, link)
    assert len(boxes) == 2
    word = boxes[np.argmin(boxes[:, 0])]
    assert word[0] <= 10 and word[2] >= 36 and word[1] <= 15 and word[3] >= 25 and word[4] == pytest.approx(0.9)


def test_craft_loads_its_published_key_layout_strictly(tmp_path):
    from transferkit.sources.catalog import load_torch_state_dict
    from transferkit.vision.craft import CRAFT

    source = CRAFT().state_dict()
    torch.save({f"module.{k}": v for k, v in source.items()}, tmp_path / "craft.pth")  # saved from DataParallel
    model = CRAFT()
    model.load_state_dict(load_torch_state_dict(tmp_path / "craft.pth"), strict=True)
    assert sum(p.numel() for p in model.parameters()) == 20_770_466
    out = model.eval().detect(torch.zeros(1, 3, 64, 96), 10)
    assert out.shape == (1, 10, 6) and model(torch.zeros(1, 3, 64, 96)).shape == (1, 2, 32, 48)


def _text_scene(words):
    from PIL import ImageDraw, ImageFont

    image = Image.new("RGB", (480, 320), (236, 232, 220))
    pen = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=36)
    boxes = []
    for text, xy in words:
        pen.text(xy, text, fill=(25, 25, 30), font=font)
        boxes.append(pen.textbbox(xy, text, font=font))
    return np.asarray(image), np.asarray(boxes, dtype=np.float64)


@pytest.mark.slow
def test_craft_mlt_finds_the_words_of_an_image(pulled_home, tmp_path, monkeypatch):
    from transferkit.vision import fcos

    monkeypatch.setenv("TRANSFERKIT_HOME", str(pulled_home))
    monkeypatch.delenv("TRANSFERKIT_OFFLINE", raising=False)
    image, words = _text_scene([("HELLO", (30, 40)), ("transfer", (200, 160)), ("2026", (60, 240))])
    predictor = load_run("craft-mlt")  # a registry name: pulled, its folder is a ready run
    found = predictor.predict([image])[0]
    assert {d["label"] for d in found} == {"text"} and len(found) == 3
    iou = fcos.box_iou(torch.tensor(words), torch.tensor([d["box"] for d in found], dtype=torch.float64))
    assert (iou.max(1).values > 0.5).all()  # every word boxed
    folder = tmp_path / "words"
    write_coco_folder(folder, image[None], [np.hstack([words, np.zeros((3, 1))])], names=("text",))
    assert predictor.evaluate(str(folder))["map_50"] == pytest.approx(1.0)


def test_a_ready_detector_is_refused_for_training_in_one_line(tmp_path):
    from transferkit.errors import ConfigError

    train = write_coco_folder(tmp_path / "train", *box_scenes(4, 1))
    with pytest.raises(ConfigError, match=r"craft-mlt is a ready image-detector, not a model to train; predict with "
                                          r"it as it is: transferkit predict craft-mlt --input IMAGES"):
        finetune("craft-mlt", train, task="detection", output=tmp_path / "run", **FAST)
