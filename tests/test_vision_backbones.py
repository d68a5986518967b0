"""Image backbones: packaged ImageNet weights load strictly and classify a real photo; pinned
logits; the one interface (features, head, reset_head, layer groups) over the whole registry;
head-only and top-k strategies on a backbone; timm is optional."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from transferkit.errors import ModelSourceError
from transferkit.vision import create_backbone, list_backbones

BACKBONES = ("mobilenet-v2", "efficientnet-lite0", "efficientnet-lite2")
# ImageNet ids of what china.jpg (a Chinese palace roof among trees) can sensibly be.
BUILDINGS = {698: "palace", 663: "monastery", 442: "bell cote", 483: "castle", 832: "stupa", 858: "tile roof",
             497: "church", 668: "mosque", 449: "boathouse", 538: "dome", 975: "lakeside", 687: "pipe organ"}
# First four logits and sum of |logits| of the fixed input below (computed once; TF "SAME" padding,
# BatchNorm eps and key names all show up here if they change).
PINNED = {"mobilenet-v2": ([-0.1083, 0.4550, -1.9317, -2.2697], 1429.48),
          "efficientnet-lite0": ([-1.1408, 3.7911, 1.9943, -4.8372], 3009.72),
          "efficientnet-lite2": ([-0.4410, 2.8563, -5.3516, -2.6691], 2468.943)}


@pytest.fixture(scope="module")
def weights(pulled_home):
    from transferkit.sources import pull

    return {name: pull(name) for name in BACKBONES}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", BACKBONES)
def test_packaged_weights_load_strict_and_recognise_a_photo(weights, name):
    from sklearn.datasets import load_sample_image

    from transferkit.vision.augment import center_crop, normalise
    from transferkit.vision.decode import decode
    from transferkit.vision.images import ImageExamples

    model = create_backbone(name, weights=weights[name])  # load_state_dict(strict=True) inside
    assert model.num_classes == 1000 and not model.training
    spec = model.input_spec
    photo = ImageExamples([load_sample_image("china.jpg")], None, np.array([1]), "china.jpg")
    pixels = decode(photo, spec.resize_size, spec.interpolation).pixels
    x = normalise(center_crop(torch.from_numpy(pixels), spec.image_size), spec.mean, spec.std)
    with torch.no_grad():
        top5 = model(x)[0].softmax(-1).topk(5).indices.tolist()
    print(name, [BUILDINGS.get(i, i) for i in top5])
    assert top5[0] == 698  # palace
    assert sum(i in BUILDINGS for i in top5) >= 4


def test_pinned_logits(weights):
    x = torch.sin(torch.arange(3 * 64 * 64, dtype=torch.float32) * 0.37).reshape(1, 3, 64, 64)
    for name, (first, total) in PINNED.items():
        with torch.no_grad():
            logits = create_backbone(name, weights=weights[name])(x)[0]
        np.testing.assert_allclose(logits[:4].numpy(), first, atol=2e-3, err_msg=name)
        assert logits.abs().sum().item() == pytest.approx(total, rel=1e-4), name


def test_a_wrong_state_dict_is_refused(weights, tmp_path):
    from safetensors.torch import load_file, save_file

    state = load_file(str(weights["mobilenet-v2"] / "model.safetensors"))
    state.pop("features.0.0.weight")
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(ModelSourceError, match="do not fit mobilenet-v2"):
        create_backbone("mobilenet-v2", weights=tmp_path)


@pytest.mark.parametrize("name", list_backbones())
def test_one_interface_for_every_backbone(name):
    from transferkit.strategies.layers import layer_groups

    model = create_backbone(name, pretrained=False)
    side = max(32, model.min_input_size)
    x = torch.rand(2, 3, side, side)
    with torch.no_grad():
        feats = model.forward_features(x)
    assert feats.shape == (2, model.num_features)
    head = model.reset_head(5)
    assert isinstance(head, torch.nn.Linear) and model.head is head and head.out_features == 5
    with torch.no_grad():
        assert model(x).shape == (2, 5)
    groups = model.layer_group_names()
    names = [n for group in groups for n in group]
    assert sorted(names) == sorted(n for n, _ in model.named_parameters())  # each parameter exactly once
    assert model.layer_groups()[0].name == "stem" and model.layer_groups()[-1].name == "head"
    assert set(groups[-1]) == {n for n, _ in model.named_parameters() if n.startswith(model._head_path)}
    split = layer_groups(model)  # what top-k, gradual unfreezing and LLRD use
    assert split.embeddings == groups[0] and split.head == groups[-1] and len(split.layers) == len(groups) - 2
    cfg = model.default_cfg
    assert cfg["num_classes"] == 5 and cfg["classifier"] == model._head_path
    model.reset_head(0)
    with torch.no_grad():
        assert model(x).shape == (2, model.num_features)  # identity head: logits are the features


def test_strategies_on_a_backbone():
    from transferkit.methods.config import FinetuneConfig
    from transferkit.strategies import get_strategy

    model = create_backbone("mobilenet-v2", pretrained=False, num_classes=3)
    groups = model.layer_group_names()
    get_strategy("head-only")(FinetuneConfig(strategy="head-only")).prepare(model)
    assert {n for n, p in model.named_parameters() if p.requires_grad} == set(groups[-1])
    model.train()
    assert not model.features[0][1].training  # frozen BatchNorm keeps its ImageNet statistics
    get_strategy("top-k")(FinetuneConfig(strategy="top-k", top_k=2)).prepare(model)
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {*groups[-1], *groups[-2], *groups[-3]}
    model.train()
    assert model.features[-1][1].training and not model.features[1].conv[0][1].training
    scales = get_strategy("llrd")(FinetuneConfig(strategy="llrd", llrd=0.5)).lr_scales(model)
    assert scales[groups[-1][0]] == 1 and scales["features.0.0.weight"] == 0.5 ** (len(groups) - 1)
    unfreeze = get_strategy("gradual-unfreeze")(FinetuneConfig(strategy="gradual-unfreeze"))
    unfreeze.prepare(model)
    unfreeze.update(model, epoch=1, step=0)  # second epoch: the head and the top group
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {*groups[-1], *groups[-2]}


def test_timm_models_are_optional():
    try:
        import timm  # noqa: F401
    except Exception:  # noqa: BLE001 - timm or its torchvision may fail to import in any way
        with pytest.raises(ModelSourceError, match="timm"):
            create_backbone("timm:resnet18", pretrained=False)
    else:  # pragma: no cover - only where timm is installed
        model = create_backbone("timm:resnet18", pretrained=False, num_classes=3)
        assert model(torch.rand(1, 3, 32, 32)).shape == (1, 3)
    with pytest.raises(ModelSourceError, match="unknown image backbone"):
        create_backbone("resnet-9000")


# torchvision's parameter counts (its documentation's model tables): the architectures match exactly.
TORCHVISION_PARAMS = {"resnet-18": 11_689_512, "resnet-34": 21_797_672, "resnet-50": 25_557_032,
                      "vgg-16": 138_357_544, "vgg-16-bn": 138_365_992, "inception-v3": 27_161_264}
TORCHVISION_KEYS = {"resnet-18": ["conv1.weight", "bn1.running_mean", "layer2.0.downsample.0.weight", "fc.bias"],
                    "resnet-50": ["layer1.0.conv3.weight", "layer1.0.downsample.1.num_batches_tracked",
                                  "layer4.2.bn3.bias", "fc.weight"],
                    "vgg-16": ["features.0.weight", "features.28.bias", "classifier.0.weight", "classifier.6.weight"],
                    "vgg-16-bn": ["features.1.running_var", "features.40.weight", "features.41.bias",
                                  "classifier.3.bias"],
                    "inception-v3": ["Conv2d_1a_3x3.conv.weight", "Mixed_6e.branch7x7dbl_5.bn.running_var",
                                     "Mixed_7c.branch3x3dbl_3b.conv.weight", "AuxLogits.conv1.conv.weight",
                                     "AuxLogits.fc.bias", "fc.weight"]}


@pytest.mark.parametrize("name", sorted(TORCHVISION_PARAMS))
def test_architectures_have_torchvisions_names_and_sizes(name, tmp_path):
    """Saved with torchvision's names, a state dict (safetensors, or a .pth read weights_only) loads strictly."""
    from safetensors.torch import save_file

    model = create_backbone(name, pretrained=False)
    assert sum(p.numel() for p in model.parameters()) == TORCHVISION_PARAMS[name]
    state = model.state_dict()
    assert set(TORCHVISION_KEYS.get(name, [])) <= set(state)
    side = max(64, model.min_input_size)
    x = torch.rand(1, 3, side, side)
    with torch.no_grad():
        reference = model(x)
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "w.pth")  # a checkpoint
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "w.safetensors"))
    for file in ("w.pth", "w.safetensors"):
        loaded = create_backbone(name, weights=tmp_path / file)
        with torch.no_grad():
            torch.testing.assert_close(loaded(x), reference)


def test_a_weights_file_that_is_not_safe_or_does_not_fit_is_one_line(tmp_path):
    import argparse

    torch.save({"config": argparse.Namespace(a=1)}, tmp_path / "unsafe.pth")  # a pickle referencing a class
    with pytest.raises(ModelSourceError, match="unsafe pickle refused"):
        create_backbone("resnet-18", weights=tmp_path / "unsafe.pth")
    torch.save(create_backbone("resnet-18", pretrained=False).state_dict(), tmp_path / "r18.pth")
    with pytest.raises(ModelSourceError, match="weights do not fit resnet-34"):
        create_backbone("resnet-34", weights=tmp_path / "r18.pth")
    with pytest.raises(ModelSourceError, match="no pretrained weights ship for it; pass --no-pretrained"):
        create_backbone("vgg-16")


@pytest.mark.parametrize("name", list_backbones())
def test_multi_scale_maps_at_strides_8_16_32(name):
    model = create_backbone(name, pretrained=False)
    side = 32 * -(-max(64, model.min_input_size) // 32)
    x = torch.rand(2, 3, side, side)
    with torch.no_grad():
        maps = model.forward_maps(x)
        final = model.forward_map(x)
    sizes = [m.shape[-1] for m in maps]
    assert sizes == [side // 8, side // 16, side // 32] if model.map_steps() is None else sizes == sorted(sizes)[::-1]
    assert [m.shape[1] for m in maps] == model.map_channels()
    torch.testing.assert_close(maps[-1], final)  # the deepest stride-32 map is the one the head pools
    assert maps[0].shape[1] <= maps[2].shape[1]  # VGG: conv4_3 (512) at stride 8, as SSD uses it
