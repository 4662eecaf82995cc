"""Parameters and MACs of a registered generator at one input size.

    python -m itgc_tf.profile --netG=resnet_9blocks --ngf=64 --input_size=256

Counting convention: ``itgc_tf.eval.profile`` (the GAN-compression literature's).
"""
import dataclasses

from itgc_tf.cli.app import run_app
from itgc_tf.models.config import GeneratorConfig, LayersConfig
from itgc_tf.models.registry import build_generator
from itgc_tf.options import option
# The library (TensorFlow) is imported when the command runs: --help answers without it.


@dataclasses.dataclass(frozen=True)
class ProfileOptions:
    """The input the generator is measured at, and the output's detail."""
    flag_group = "profile"

    input_size: int = option(256, "Square input size in pixels.")
    input_nc: int = option(3, "Input channels.")
    output_nc: int = option(3, "Output channels.")
    per_layer: bool = option(False, "Also print the MACs of every layer.")


@dataclasses.dataclass(frozen=True)
class ProfileConfig:
    """Everything ``itgc-profile`` does."""
    generator: GeneratorConfig = dataclasses.field(default_factory=GeneratorConfig)
    layers: LayersConfig = dataclasses.field(default_factory=LayersConfig)
    profile: ProfileOptions = dataclasses.field(default_factory=ProfileOptions)


def main(config):
    from itgc_tf.eval.profile import profile
    net, at = config.generator, config.profile
    generator = build_generator(net.netG, at.input_nc, at.output_nc, net.ngf,
                                norm=config.layers.norm, dropout=config.layers.dropout,
                                input_size=at.input_size)
    result = profile(generator, (at.input_size, at.input_size, at.input_nc))
    if at.per_layer:
        for layer in result.per_layer:
            print(f"{layer.name:40s} {layer.op:16s} "
                  f"{str(layer.output_shape):22s} {layer.macs:>16d}")
    print(f"netG={net.netG} ngf={net.ngf} norm={config.layers.norm} "
          f"input={at.input_size}x{at.input_size}x{at.input_nc}")
    print(f"params: {result.params} (trainable {result.trainable_params})")
    print(f"MACs: {result.macs}")
    print(result.human())


def run():
    run_app(ProfileConfig, main)


if __name__ == "__main__":
    run()
