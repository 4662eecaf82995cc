"""Named intermediate feature maps ("taps") of the generators, for feature
distillation, computed in the same forward pass as the output.

Tap names are the stable layer names documented in ``resnet.py``, ``spade.py`` and
``unet.py``: ``stem``, ``down_<i>``, ``block_<i>``, ``up_<i>``, and the U-Net's
``leaky_down_<i>`` and ``up_relu_<i>``.
"""
import re

import keras

TAP_PATTERN = re.compile(r"^(stem|down_\d+|block_\d+|up_\d+|leaky_down_\d+|up_relu_\d+)$")


def available_taps(generator):
    """Tap names of a functional generator, in forward order."""
    return [layer.name for layer in generator.layers
            if TAP_PATTERN.match(layer.name)]


def feature_taps(generator, names):
    """Functional model sharing ``generator``'s weights that returns
    ``(output, {name: feature})``: the generator output [B, H, W, output_nc]
    and each named feature map [B, h, w, c], in one forward pass.
    """
    taps = available_taps(generator)
    unknown = [n for n in names if n not in taps]
    if unknown:
        raise ValueError(
            f"Unknown feature tap(s) {unknown} for {generator.name}; "
            f"available taps: {', '.join(taps)}.")
    features = {n: generator.get_layer(n).output for n in names}
    return keras.Model(generator.input, (generator.output, features),
                       name=f"{generator.name}_taps")
