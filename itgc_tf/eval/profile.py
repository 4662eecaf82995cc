"""MACs and parameter counts of Keras models, as the GAN-compression literature
counts them.

Convention (that of ``torchprofile``, used by GAN Compression, CAT, OMGD and
VEM for their MAC tables), batch 1:

  convolution            H_out·W_out·C_out · k_h·k_w·C_in/groups
  depthwise convolution  H_out·W_out·C_out · k_h·k_w
  transposed convolution H_out·W_out·C_out · k_h·k_w·C_in   (OUTPUT size: for a
                         stride-s layer this is s² times the multiply-adds
                         actually performed; the literature's tables use it)
  dense / matmul         M·N·K
  residual output add    H·W·C: the image-level ``x + G(x)`` of residual
                         generators (``ResidualOutput``), one add per output value

Other adds (biases, residual blocks), normalisation, activations, clipping,
padding and pooling are not counted.
The model is traced (not run) at the given input size with ``training=False``,
so nested models and wrapped layers (e.g. ``SpectralNormalization``) count as
the ops they lower to; layers with a faster kernel trace their portable one
(``kernel_choice("portable")``: a `PixelBlockConv2D` counts as its k×k convolution,
not as the 1.31× larger convolution on pixel blocks it runs on a CPU).

Parameters: ``params`` counts every weight (= ``model.count_params()``),
including batch-norm moving statistics and spectral-norm vectors;
``trainable_params`` counts trainable weights only, which is what PyTorch's
``sum(p.numel() for p in model.parameters())`` reports for these networks.
"""
import dataclasses
import math
import re

import tensorflow as tf

from itgc_tf.models.layers import ResidualOutput, kernel_choice

_SUFFIX = re.compile(r"_\d+$")
_CALLS = ("PartitionedCall", "StatefulPartitionedCall")
_COUNTED = ("Conv2D", "DepthwiseConv2dNative", "Conv2DBackpropInput", "MatMul",
            "BatchMatMulV2", "BatchMatMulV3")


@dataclasses.dataclass(frozen=True)
class LayerProfile:
    """MACs of one counted op: ``name`` is its layer path inside the model."""
    name: str
    op: str
    output_shape: tuple
    macs: int


@dataclasses.dataclass(frozen=True)
class Profile:
    """Parameters and MACs of a model at one input size (batch 1)."""
    params: int
    trainable_params: int
    macs: int
    per_layer: list

    def human(self):
        """E.g. ``"56.8G MACs / 11.38M params"``."""
        return (f"{_human(self.macs, '.3g')} MACs / "
                f"{_human(self.params, '.2f')} params")


def _human(value, spec):
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if value >= scale:
            return f"{format(value / scale, spec)}{unit}"
    return str(value)


def _op_macs(op):
    """(kind, output shape, MACs) of a counted op."""
    out = op.outputs[0].shape
    if op.type == "Conv2D":
        kh, kw, cin_per_group, _ = op.inputs[1].shape
        return "conv", out, out.num_elements() * kh * kw * cin_per_group
    if op.type == "DepthwiseConv2dNative":
        kh, kw, _, _ = op.inputs[1].shape
        return "depthwise_conv", out, out.num_elements() * kh * kw
    if op.type == "Conv2DBackpropInput":
        kh, kw, _, cin = op.inputs[1].shape
        return "transposed_conv", out, out.num_elements() * kh * kw * cin
    if op.type == "MatMul":
        a = op.inputs[0].shape
        k = a[0] if op.get_attr("transpose_a") else a[1]
        return "dense", out, out.num_elements() * k
    if op.type in ("BatchMatMulV2", "BatchMatMulV3"):
        a = op.inputs[0].shape
        k = a[-2] if op.get_attr("adj_x") else a[-1]
        return "dense", out, out.num_elements() * k
    if op.type == "AddV2":
        return "residual_add", out, out.num_elements()


def _counted_ops(graph, name=None):
    """(name, op) of the graph's ops, descending into function calls (Keras
    runs e.g. grouped convolutions as nested ``tf.function``s); ops inside a
    call are named after the call op. Adds are candidates (`profile` keeps
    those of ``ResidualOutput`` layers)."""
    for op in graph.get_operations():
        if op.type in _CALLS:
            inner = graph._get_function(op.get_attr("f").name).graph
            yield from _counted_ops(inner, name or op.name)
        elif op.type in _COUNTED or op.type == "AddV2":
            yield name or op.name, op


def _layer_path(op_name, layer_names):
    """'gen_1/stem_conv_1/convolution' -> 'stem_conv' (model name dropped,
    TensorFlow's name-scope suffixes removed where they name a layer)."""
    parts = []
    for part in op_name.split("/")[1:-1]:
        if part not in layer_names and _SUFFIX.sub("", part) in layer_names:
            part = _SUFFIX.sub("", part)
        parts.append(part)
    return "/".join(parts)


def profile(model, input_shape):
    """Profile of a Keras model at ``input_shape`` = (H, W, C) (batch 1 added).

    Returns a ``Profile``; raises ``ValueError`` when a counted op's shapes are
    not fully known at that size (e.g. a model that reshapes dynamically).
    """
    if len(input_shape) != 3:
        raise ValueError(
            f"input_shape must be (H, W, C) without the batch axis, got "
            f"{tuple(input_shape)}; e.g. profile(model, (256, 256, 3)).")
    spec = tf.TensorSpec((1, *input_shape), tf.float32)
    with kernel_choice("portable"):
        graph = tf.function(lambda x: model(x, training=False)) \
            .get_concrete_function(spec).graph
    layers = list(model._flatten_layers())
    layer_names = {layer.name for layer in layers}
    residual_adds = {layer.name for layer in layers if isinstance(layer, ResidualOutput)}
    per_layer = []
    for name, op in _counted_ops(graph):
        path = _layer_path(name, layer_names)
        if op.type == "AddV2" and path not in residual_adds:
            continue
        if not all(t.shape.is_fully_defined() for t in (*op.inputs,
                                                        *op.outputs)):
            raise ValueError(
                f"Cannot count MACs of {name}: its shapes are not static at "
                f"input {tuple(input_shape)}; profile a model whose layers "
                f"keep static shapes.")
        kind, out, macs = _op_macs(op)
        per_layer.append(LayerProfile(path, kind,
                                      tuple(out.as_list()), int(macs)))
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    return Profile(params=int(model.count_params()),
                   trainable_params=int(trainable),
                   macs=sum(p.macs for p in per_layer), per_layer=per_layer)
