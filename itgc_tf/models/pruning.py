"""CAT's one-step pruning (Jin et al., CVPR 2021; SPEC §6): from a trained
inception teacher, keep the channels whose normalisation scale |γ| exceeds one
global threshold, found by binary search so that the student meets a MAC budget.

As CAT's ``utils/common.py::shrink_model``:
  * ranked norms: the stem and both stride-2 convs' norms (the last one sets the
    trunk width), the FIRST norm of every inception branch (res: after its first
    k×k conv; dw: after its first 1×1 conv, whose channels the depthwise conv and
    its norm follow), and both transposed convs' norms. The blocks' output norms
    follow the trunk.
  * ``min_channels`` (CAT's ``--prune_cin_lb``, 16 in all its scripts) is a floor
    for the stem, down and up layers only: below it, their top-|γ| channels are
    kept. Branches may lose every channel: they are removed, and a block left
    without branches becomes the identity.
  * bisection on the threshold between min and max |γ| until the interval is
    within 1e-3 of its lower end, keeping the side that meets the budget;
    channels kept are those with |γ| > threshold; kept channels' weights (and
    running statistics) are copied from the teacher.
Two deliberate differences, both so that pruning nothing reproduces the teacher:
a teacher already within the budget is kept whole (CAT's search always prunes
at least its smallest channel), and the blocks' output norms keep the teacher's
γ, β of the kept trunk channels (CAT re-initialises them to 1, 0).

MACs are those of ``inception_macs`` (the profiler's convention), plus the output add of
a residual teacher (``--residual``), whose student is residual too.
"""
import dataclasses
import json
import os

import keras
import numpy as np

from itgc_tf.artifacts.atomic import atomic_output
from itgc_tf.models.config import CAT_MIN_CHANNELS
from itgc_tf.models.inception import (CAT_KERNEL_SIZES, N_DOWNSAMPLING, InceptionWidths,
                                      inception_generator, inception_macs, widths_of)
from itgc_tf.models.layers import InstanceNorm, ResidualOutput
from itgc_tf.models.residual import make_residual

_REL_TOLERANCE = 1e-3
_MAX_BISECTIONS = 200


@dataclasses.dataclass(frozen=True)
class PruneResult:
    """What the search found. macs: the student's; threshold: |γ| cut (-inf: kept whole)."""
    widths: InceptionWidths
    macs: int
    teacher_macs: int
    macs_budget: float
    threshold: float
    input_size: tuple
    min_channels: int

    def to_json(self):
        return {"architecture": "inception", "widths": self.widths.to_json(), "macs": self.macs,
                "teacher_macs": self.teacher_macs, "macs_budget": self.macs_budget,
                "threshold": None if np.isinf(self.threshold) else self.threshold,
                "input_size": list(self.input_size),
                "min_channels": self.min_channels, "macs_convention": "itgc_tf.eval.profile"}


def _ranked_norms(widths):
    """{norm name: floored?} of the norms whose |γ| decide the widths, forward order."""
    names = {"stem_norm": True} | {f"down_{i}_norm": True for i in range(N_DOWNSAMPLING)}
    for i, (res, dw) in enumerate(widths.blocks):
        for kind, branch in (("res", res), ("dw", dw)):
            names |= {f"block_{i}_{kind}{k}_norm0": False
                      for k, w in zip(widths.kernel_sizes, branch) if w}
    return names | {f"up_{i}_norm": True for i in range(N_DOWNSAMPLING)}


def channel_scales(generator, widths):
    """{norm name: |γ| [C]} of the ranked norms (module docstring) of a generator."""
    scales = {}
    for name in _ranked_norms(widths):
        layer = generator.get_layer(name)
        gamma = getattr(layer, "gamma", None)
        if gamma is None or (isinstance(layer, InstanceNorm) and not layer.affine):
            raise ValueError(
                f"Norm layer {name} of {generator.name} has no scale γ to rank channels by. "
                "Fix: prune a teacher built as inception_resnet_<n>blocks with --norm=instance "
                "or --norm=batch (its norms are affine).")
        scales[name] = np.abs(np.asarray(keras.ops.convert_to_numpy(gamma), np.float64))
    return scales


def kept_channels(scales, widths, threshold, min_channels):
    """{ranked norm: sorted kept channel indices} at ``threshold`` (|γ| > threshold)."""
    floored = _ranked_norms(widths)
    kept = {}
    for name, s in scales.items():
        keep = np.flatnonzero(s > threshold)
        floor = min(min_channels, s.size) if floored[name] else 0
        if keep.size < floor:
            keep = np.sort(np.argsort(-s, kind="stable")[:floor])
        kept[name] = keep
    return kept


def widths_from_kept(kept, widths):
    """The ``InceptionWidths`` left when only ``kept`` channels remain."""
    def branch(i, kind, ks_widths):
        return [kept[f"block_{i}_{kind}{k}_norm0"].size if w else 0
                for k, w in zip(widths.kernel_sizes, ks_widths)]
    return InceptionWidths(
        stem=kept["stem_norm"].size,
        down=[kept[f"down_{i}_norm"].size for i in range(N_DOWNSAMPLING)],
        blocks=[(branch(i, "res", res), branch(i, "dw", dw))
                for i, (res, dw) in enumerate(widths.blocks)],
        up=[kept[f"up_{i}_norm"].size for i in range(N_DOWNSAMPLING)],
        kernel_sizes=widths.kernel_sizes)


def _channel_map(widths):
    """{layer: (input channels' norm, output channels' norm)}; None = all channels."""
    trunk = f"down_{N_DOWNSAMPLING - 1}_norm"
    both = lambda key: (key, key)  # noqa: E731
    layers = {"stem_conv": (None, "stem_norm"), "stem_norm": both("stem_norm")}
    previous = "stem_norm"
    for i in range(N_DOWNSAMPLING):
        layers |= {f"down_{i}_conv": (previous, f"down_{i}_norm"),
                   f"down_{i}_norm": both(f"down_{i}_norm")}
        previous = f"down_{i}_norm"
    for i, (res, dw) in enumerate(widths.blocks):
        layers[f"block_{i}_norm"] = both(trunk)
        for k in widths.kernel_sizes:
            r, d = f"block_{i}_res{k}", f"block_{i}_dw{k}"
            layers |= {f"{r}_conv0": (trunk, f"{r}_norm0"), f"{r}_norm0": both(f"{r}_norm0"),
                       f"{r}_conv1": (f"{r}_norm0", trunk),
                       f"{d}_pw0": (trunk, f"{d}_norm0"), f"{d}_norm0": both(f"{d}_norm0"),
                       f"{d}_dw": both(f"{d}_norm0"), f"{d}_dw_norm": both(f"{d}_norm0"),
                       f"{d}_pw1": (f"{d}_norm0", trunk)}
    for i in range(N_DOWNSAMPLING):
        layers |= {f"up_{i}_conv": (previous, f"up_{i}_norm"),
                   f"up_{i}_norm": both(f"up_{i}_norm")}
        previous = f"up_{i}_norm"
    return layers | {"head_conv": (previous, None)}


def _sliced(layer, values, cin, cout):
    """The teacher layer's weight arrays restricted to input/output channels."""
    take = lambda a, idx, axis: a if idx is None else np.take(a, idx, axis=axis)  # noqa: E731
    if isinstance(layer, keras.layers.Conv2DTranspose):  # kernel [kh, kw, out, in]
        kernel = take(take(values[0], cout, 2), cin, 3)
    elif isinstance(layer, keras.layers.DepthwiseConv2D):  # kernel [kh, kw, C, 1]
        kernel = take(values[0], cout, 2)
    elif isinstance(layer, keras.layers.Conv2D):  # kernel [kh, kw, in, out]
        kernel = take(take(values[0], cin, 2), cout, 3)
    else:  # a norm: every weight is per channel
        return [take(v, cout, 0) for v in values]
    return [kernel] + [take(v, cout, 0) for v in values[1:]]


def copy_kept_weights(teacher, student, kept, widths):
    """Set every weight of ``student`` to the teacher's at the kept channels."""
    channel_map = _channel_map(widths)
    for layer in student.layers:
        if not layer.weights:
            continue
        if layer.name not in channel_map:
            raise ValueError(f"No channel mapping for layer {layer.name}; the pruner does not "
                             "know this architecture.")
        cin, cout = (None if key is None else kept[key] for key in channel_map[layer.name])
        source = teacher.get_layer(layer.name)
        layer.set_weights(_sliced(source, [w.numpy() for w in source.weights], cin, cout))


def _is_residual(generator):
    return any(isinstance(layer, ResidualOutput) for layer in generator.layers)


def _norm_kind(generator):
    kinds = {type(layer) for layer in generator.layers}
    return "batch" if keras.layers.BatchNormalization in kinds else "instance"


def search_student(teacher, macs_budget, input_size, min_channels=CAT_MIN_CHANNELS,
                   kernel_sizes=CAT_KERNEL_SIZES):
    """The threshold search alone, no student built: ({ranked norm: kept channel
    indices}, ``PruneResult``). Arguments and errors as `prune_to_budget`."""
    size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    widths = widths_of(teacher, kernel_sizes)
    input_nc, output_nc = teacher.input_shape[-1], teacher.output_shape[-1]
    scales = channel_scales(teacher, widths)
    residual_add = size[0] * size[1] * output_nc if _is_residual(teacher) else 0
    macs_of = lambda w: inception_macs(w, input_nc, output_nc, size) + residual_add  # noqa: E731
    macs_at = lambda t: macs_of(  # noqa: E731
        widths_from_kept(kept_channels(scales, widths, t, min_channels), widths))
    teacher_macs = macs_of(widths)
    every = np.concatenate(list(scales.values()))
    low, high = float(every.min()), float(every.max())
    if teacher_macs <= macs_budget:
        threshold = -np.inf
    elif macs_at(high) > macs_budget:
        raise ValueError(
            f"A MAC budget of {macs_budget:.4g} at {size[0]}x{size[1]} is below the smallest "
            f"student this teacher prunes to ({macs_at(high):.4g} MACs with min_channels="
            f"{min_channels}; the teacher has {teacher_macs:.4g}). Fix: raise --macs_budget or "
            "lower --min_channels.")
    else:
        for _ in range(_MAX_BISECTIONS):
            if high - low <= _REL_TOLERANCE * abs(low):
                break
            middle = (low + high) / 2
            if macs_at(middle) > macs_budget:
                low = middle
            else:
                high = middle
        threshold = high
    kept = kept_channels(scales, widths, threshold, min_channels)
    student_widths = widths_from_kept(kept, widths)
    return kept, PruneResult(student_widths, macs_of(student_widths), teacher_macs,
                             float(macs_budget), float(threshold), size, min_channels)


def prune_to_budget(teacher, macs_budget, input_size, min_channels=CAT_MIN_CHANNELS,
                    kernel_sizes=CAT_KERNEL_SIZES, name=None):
    """The pruned student of an inception ``teacher`` and its ``PruneResult``.

    Args:
      teacher: a generator built by ``inception_generator`` with affine norms.
      macs_budget: the student's MACs must not exceed this at ``input_size``.
      input_size: int or (H, W) at which MACs are counted.
      min_channels: floor of the stem, down and up widths (CAT's prune_cin_lb).
    Raises ``ValueError`` when even the smallest student exceeds the budget.
    """
    kept, result = search_student(teacher, macs_budget, input_size, min_channels, kernel_sizes)
    input_nc, output_nc = teacher.input_shape[-1], teacher.output_shape[-1]
    dropout = any(isinstance(layer, keras.layers.Dropout) for layer in teacher.layers)
    shape = teacher.input_shape[1:3]
    student = inception_generator(input_nc, output_nc, result.widths, _norm_kind(teacher),
                                  dropout, None if None in shape else shape,
                                  name=name or f"{teacher.name}_pruned")
    copy_kept_weights(teacher, student, kept, widths_of(teacher, kernel_sizes))
    return (make_residual(student) if _is_residual(teacher) else student), result


def save_pruned(student, result, output_dir, overwrite=False):
    """Write ``generator.keras`` and ``widths.json`` into ``output_dir``, all or nothing."""
    with atomic_output(output_dir, overwrite=overwrite, directory=True) as tmp:
        student.save(os.path.join(tmp, "generator.keras"))
        with open(os.path.join(tmp, "widths.json"), "w") as f:
            json.dump(result.to_json() | {"generator": "generator.keras"}, f, indent=2)


def load_pruned_student(path):
    """The student generator written by ``save_pruned``: ``path`` is its folder, its
    ``widths.json`` or its ``generator.keras``. Checks that the generator has the
    widths the JSON claims."""
    folder = path if os.path.isdir(path) else os.path.dirname(path)
    spec_path, model_path = (os.path.join(folder, n) for n in ("widths.json", "generator.keras"))
    for needed in (spec_path, model_path):
        if not os.path.isfile(needed):
            raise FileNotFoundError(f"{path} is not an itgc-prune output: no "
                                    f"{os.path.basename(needed)} in {folder}. Fix: pass the "
                                    "--output folder of an itgc-prune run (it holds "
                                    "generator.keras and widths.json).")
    with open(spec_path) as f:
        spec = json.load(f)
    widths = InceptionWidths.from_json(spec["widths"])
    student = keras.models.load_model(model_path, compile=False)
    found = widths_of(student, widths.kernel_sizes)
    if found != widths:
        raise ValueError(f"{model_path} has widths {found}, but {spec_path} claims {widths}. "
                         "Fix: re-run itgc-prune; do not mix files of different runs.")
    return student
