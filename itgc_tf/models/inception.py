"""CAT's inception-residual generator (Jin et al., CVPR 2021; SPEC §6), with
per-layer channel widths so that a pruned student is the same architecture.

Layout (CAT's ``InceptionGenerator``): c7s1 stem, two stride-2 convs, n
inception-residual blocks on the trunk, two stride-2 transposed convs, c7s1
head, tanh; reflection padding. Block i (input x, trunk width C) is

  x + norm( sum_k res_k(x) + sum_k dw_k(x) )         (k over the kernel sizes)
  res_k: pad, conv k×k C→m, norm, ReLU, (dropout), pad, conv k×k m→C
  dw_k:  conv 1×1 C→m, norm, ReLU, pad, depthwise k×k, norm, ReLU, (dropout),
         conv 1×1 m→C

with m the branch's width. A branch of width 0 is left out; a block without
branches is the identity (CAT: ``midp == 0: continue``; no ops → ``return x``).
Every norm is affine (CAT's ``--norm_affine``, set by all its scripts): the
pruner ranks channels by the norms' |γ| (``itgc_tf.models.pruning``).

Stable layer names (feature taps as in ``resnet.py``): ``stem``, ``down_<i>``,
``block_<i>`` (the residual sum), ``up_<i>``, ``output``; inside block i,
``block_<i>_res<k>_conv0|norm0|conv1``, ``block_<i>_dw<k>_pw0|norm0|dw|dw_norm|pw1``
and ``block_<i>_norm``. CAT's distillation taps (``down_sampling.9``,
``features.2/5/8``) are ``down_1``, ``block_2``, ``block_5``, ``block_8``.
"""
import dataclasses
import json
import re

import keras

from itgc_tf.models.layers import (PixelBlockConv2D, ReflectionPad2D, SizeCheck, check_size,
                                   image_input, norm_layer, uses_bias, weight_init)

N_DOWNSAMPLING = 2
CAT_KERNEL_SIZES = (1, 3, 5)
CAT_CHANNELS_REDUCTION_FACTOR = 6
_BRANCH_HEAD = re.compile(r"^block_(\d+)_(res|dw)(\d+)_(?:conv0|pw0)$")
_BLOCK = re.compile(r"^block_\d+$")


@dataclasses.dataclass(frozen=True)
class InceptionWidths:
    """Channel widths of an inception generator.

    stem: stem conv channels. down: the two stride-2 convs' channels (down[-1] is
    the trunk width C). blocks: per block, (res widths, dw widths), one width per
    kernel size (0: branch removed). up: the two transposed convs' channels.
    kernel_sizes: the branches' kernel sizes (odd, no duplicates).
    """
    stem: int
    down: tuple
    blocks: tuple
    up: tuple
    kernel_sizes: tuple = CAT_KERNEL_SIZES

    def __post_init__(self):
        ks = tuple(self.kernel_sizes)
        if len(set(ks)) != len(ks) or any(k < 1 or k % 2 == 0 for k in ks):
            raise ValueError(f"kernel_sizes must be distinct odd sizes, got {ks}.")
        object.__setattr__(self, "kernel_sizes", ks)
        object.__setattr__(self, "down", tuple(int(c) for c in self.down))
        object.__setattr__(self, "up", tuple(int(c) for c in self.up))
        object.__setattr__(self, "blocks", tuple(
            (tuple(int(c) for c in res), tuple(int(c) for c in dw)) for res, dw in self.blocks))
        if len(self.down) != N_DOWNSAMPLING or len(self.up) != N_DOWNSAMPLING:
            raise ValueError(f"down and up need {N_DOWNSAMPLING} widths each, got "
                             f"{self.down} and {self.up}.")
        if min(self.stem, *self.down, *self.up) < 1:
            raise ValueError("stem, down and up widths must be >= 1 (only inception branches "
                             f"can be removed), got {self.stem}, {self.down}, {self.up}.")
        for i, (res, dw) in enumerate(self.blocks):
            if len(res) != len(ks) or len(dw) != len(ks) or min(res + dw) < 0:
                raise ValueError(f"block {i} needs one width >= 0 per kernel size {ks} for res "
                                 f"and dw branches, got {res} and {dw}.")

    @property
    def trunk(self):
        """Channels of the residual trunk (input and output of every block)."""
        return self.down[-1]

    def to_json(self):
        """A JSON-able dict (lists), read back by ``from_json``."""
        return {"stem": self.stem, "down": list(self.down),
                "blocks": [{"res": list(r), "dw": list(d)} for r, d in self.blocks],
                "up": list(self.up), "kernel_sizes": list(self.kernel_sizes)}

    @classmethod
    def from_json(cls, data):
        return cls(stem=data["stem"], down=data["down"],
                   blocks=[(b["res"], b["dw"]) for b in data["blocks"]], up=data["up"],
                   kernel_sizes=data["kernel_sizes"])

    def __str__(self):
        return json.dumps(self.to_json())


def cat_widths(ngf, n_blocks=9, kernel_sizes=CAT_KERNEL_SIZES,
               channels_reduction_factor=CAT_CHANNELS_REDUCTION_FACTOR):
    """CAT's full-width generator: trunk 4·ngf, every branch 4·ngf // factor wide
    (``--channels_reduction_factor 6 --kernel_sizes 1 3 5`` in all its scripts)."""
    if n_blocks < 0:
        raise ValueError(f"n_blocks must be >= 0, got {n_blocks}.")
    branch = (4 * ngf) // channels_reduction_factor
    widths = (branch,) * len(kernel_sizes)
    return InceptionWidths(stem=ngf, down=(2 * ngf, 4 * ngf), blocks=((widths, widths),) * n_blocks,
                           up=(2 * ngf, ngf), kernel_sizes=kernel_sizes)


def _conv(filters, kernel, bias, name, groups_depthwise=False, **kwargs):
    if groups_depthwise:
        return keras.layers.DepthwiseConv2D(kernel, use_bias=bias, name=name,
                                            depthwise_initializer=weight_init(), **kwargs)
    return keras.layers.Conv2D(filters, kernel, use_bias=bias, name=name,
                               kernel_initializer=weight_init(), **kwargs)


def _pad(x, k, name):
    return ReflectionPad2D((k - 1) // 2, name=name)(x) if k > 1 else x


def _norm(x, norm, name):
    return norm_layer(norm, name=name, affine_instance=True)(x)


def _res_branch(x, width, k, norm, dropout, name):
    c, bias = x.shape[-1], uses_bias(norm)
    h = _conv(width, k, bias, f"{name}_conv0")(_pad(x, k, f"{name}_pad0"))
    h = keras.layers.ReLU(name=f"{name}_relu0")(_norm(h, norm, f"{name}_norm0"))
    if dropout:
        h = keras.layers.Dropout(0.5, name=f"{name}_dropout")(h)
    return _conv(c, k, bias, f"{name}_conv1")(_pad(h, k, f"{name}_pad1"))


def _dw_branch(x, width, k, norm, dropout, name):
    c, bias = x.shape[-1], uses_bias(norm)
    h = _conv(width, 1, bias, f"{name}_pw0")(x)
    h = keras.layers.ReLU(name=f"{name}_relu0")(_norm(h, norm, f"{name}_norm0"))
    h = _conv(None, k, bias, f"{name}_dw", groups_depthwise=True)(_pad(h, k, f"{name}_pad"))
    h = keras.layers.ReLU(name=f"{name}_dw_relu")(_norm(h, norm, f"{name}_dw_norm"))
    if dropout:
        h = keras.layers.Dropout(0.5, name=f"{name}_dropout")(h)
    return _conv(c, 1, bias, f"{name}_pw1")(h)


def inception_block(x, res_widths, dw_widths, kernel_sizes, norm="instance", dropout=False,
                    name="block"):
    """x + norm(sum of the res and dw branches) (module docstring); the identity
    when every width is 0. Shapes: [B, H, W, C] -> [B, H, W, C]; the output
    is the layer called ``name``."""
    branches = [_res_branch(x, w, k, norm, dropout, f"{name}_res{k}")
                for w, k in zip(res_widths, kernel_sizes) if w]
    branches += [_dw_branch(x, w, k, norm, dropout, f"{name}_dw{k}")
                 for w, k in zip(dw_widths, kernel_sizes) if w]
    if not branches:
        return keras.layers.Identity(name=name)(x)
    h = branches[0] if len(branches) == 1 else keras.layers.Add(name=f"{name}_sum")(branches)
    return keras.layers.Add(name=name)([x, _norm(h, norm, f"{name}_norm")])


def inception_generator(input_nc, output_nc, widths, norm="instance", dropout=False,
                        input_size=None, name="inception_generator"):
    """Functional inception-residual generator with the given ``InceptionWidths``.

    Args:
      input_nc, output_nc: image channels in and out.
      widths: ``InceptionWidths`` (``cat_widths(ngf)`` for CAT's teacher).
      norm: ``instance`` (affine here) or ``batch``; ``none`` leaves nothing to prune.
      dropout: dropout 0.5 inside each branch (training only).
      input_size: None (any H, W divisible by 4), an int or (H, W).

    Returns a ``keras.Model``: [B, H, W, input_nc] in [-1, 1] ->
    [B, H, W, output_nc] in [-1, 1] (tanh).
    """
    multiple = 2 ** N_DOWNSAMPLING
    check_size(input_size, multiple, name)
    bias = uses_bias(norm)
    inputs = image_input(input_nc, input_size)
    x = SizeCheck(multiple, name, name="size_check")(inputs)
    x = _conv(widths.stem, 7, bias, "stem_conv")(ReflectionPad2D(3, name="stem_pad")(x))
    x = keras.layers.ReLU(name="stem")(_norm(x, norm, "stem_norm"))
    for i, channels in enumerate(widths.down):
        x = _conv(channels, 3, bias, f"down_{i}_conv", strides=2, padding="same")(x)
        x = keras.layers.ReLU(name=f"down_{i}")(_norm(x, norm, f"down_{i}_norm"))
    for i, (res, dw) in enumerate(widths.blocks):
        x = inception_block(x, res, dw, widths.kernel_sizes, norm, dropout, name=f"block_{i}")
    for i, channels in enumerate(widths.up):
        x = keras.layers.Conv2DTranspose(channels, 3, strides=2, padding="same", use_bias=bias,
                                         kernel_initializer=weight_init(),
                                         name=f"up_{i}_conv")(x)
        x = keras.layers.ReLU(name=f"up_{i}")(_norm(x, norm, f"up_{i}_norm"))
    x = PixelBlockConv2D(output_nc, 7, kernel_initializer=weight_init(), name="head_conv")(
        ReflectionPad2D(3, name="head_pad")(x))
    outputs = keras.layers.Activation("tanh", name="output")(x)
    return keras.Model(inputs, outputs, name=name)


def widths_of(generator, kernel_sizes=CAT_KERNEL_SIZES):
    """The ``InceptionWidths`` of a generator built by ``inception_generator``
    with these branch kernel sizes (e.g. one loaded from a ``.keras`` file), read
    from its layers."""
    names = {layer.name for layer in generator.layers}
    n_blocks = sum(1 for n in names if _BLOCK.match(n))
    inception_blocks = all(f"block_{i}_norm" in names or isinstance(
        generator.get_layer(f"block_{i}"), keras.layers.Identity) for i in range(n_blocks))
    if not ({"stem_conv", "down_1_conv", "up_1_conv"} <= names and inception_blocks):
        raise ValueError(f"{generator.name} is not an inception generator (its layers are not "
                         "those of inception_generator). Fix: pass a generator built as "
                         "inception_resnet_<n>blocks.")
    found = {(int(m[1]), m[2], int(m[3])): generator.get_layer(m[0]).kernel.shape[-1]
             for m in map(_BRANCH_HEAD.match, names) if m}
    unknown = sorted({k for _, _, k in found} - set(kernel_sizes))
    if unknown:
        raise ValueError(f"{generator.name} has branches of kernel sizes {unknown}, not in "
                         f"{tuple(kernel_sizes)}. Fix: pass its kernel_sizes.")
    blocks = [tuple([found.get((i, kind, k), 0) for k in kernel_sizes] for kind in ("res", "dw"))
              for i in range(n_blocks)]
    out = lambda name: generator.get_layer(name).kernel.shape[-1]  # noqa: E731
    return InceptionWidths(
        stem=out("stem_conv"), down=[out(f"down_{j}_conv") for j in range(N_DOWNSAMPLING)],
        blocks=blocks,
        up=[generator.get_layer(f"up_{j}_conv").kernel.shape[-2] for j in range(N_DOWNSAMPLING)],
        kernel_sizes=kernel_sizes)


def inception_macs(widths, input_nc, output_nc, size):
    """MACs at input (H, W) = ``size`` (int or pair), batch 1, in the profiler's
    convention (``itgc_tf.eval.profile``: convolutions only; transposed convs at
    their output size). CAT's own ``model_profiling`` also counts C·H·W per
    non-tracking norm layer (under 1% of these networks' MACs)."""
    h, w = (size, size) if isinstance(size, int) else size
    pixels = lambda scale: (h // scale) * (w // scale)  # noqa: E731
    macs = pixels(1) * 49 * input_nc * widths.stem
    c_in = widths.stem
    for i, c in enumerate(widths.down):
        macs += pixels(2 ** (i + 1)) * 9 * c_in * c
        c_in = c
    trunk = pixels(2 ** N_DOWNSAMPLING)
    for res, dw in widths.blocks:
        for k, m in zip(widths.kernel_sizes, res):
            macs += trunk * 2 * k * k * c_in * m
        for k, m in zip(widths.kernel_sizes, dw):
            macs += trunk * (2 * c_in * m + k * k * m)
    for i, c in enumerate(widths.up):
        macs += pixels(2 ** (N_DOWNSAMPLING - 1 - i)) * 9 * c_in * c
        c_in = c
    return macs + pixels(1) * 49 * c_in * output_nc
