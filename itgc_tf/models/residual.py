"""Residual image-to-image generators: output = clip(x + G(x), -1, 1).

The standard design of restoration networks: the generator G predicts a
correction to its input instead of the whole image: a zeroed head is the
identity, a freshly initialised one (N(0, 0.02) weights) close to it, so training
starts from "do nothing". Any
registry generator becomes residual with ``make_residual``; the new model keeps
every layer (and so every feature-tap name) of the plain one and ends in a
``ResidualOutput`` layer called ``residual_output``.
"""
import keras

from itgc_tf.models.layers import ResidualOutput

RESIDUAL_LAYER = "residual_output"


def channel_mismatch(name, input_nc, output_nc):
    return ValueError(
        f"A residual generator adds its output to its input, but {name} maps {input_nc} "
        f"channels to {output_nc}. Fix: drop --residual (residual=False), or use data whose "
        f"input and output have the same channels (--input_nc = --output_nc).")


def make_residual(model):
    """The functional generator ``model`` with its output added to its input.

    ``model``: [B, H, W, C] in [-1, 1] -> [B, H, W, C] in [-1, 1]. Returns a new
    ``keras.Model`` of the same name sharing ``model``'s layers and weights:
    [B, H, W, C] -> clip(x + model(x), -1, 1). Raises ``ValueError`` when the
    input and output channels differ.
    """
    image, delta = model.inputs[0], model.outputs[0]
    if image.shape[-1] != delta.shape[-1]:
        raise channel_mismatch(model.name, image.shape[-1], delta.shape[-1])
    outputs = ResidualOutput(name=RESIDUAL_LAYER)([image, delta])
    return keras.Model(image, outputs, name=model.name)

