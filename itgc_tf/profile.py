"""Parameters and MACs of a registered generator at one input size.

    python -m itgc_tf.profile --netG=resnet_9blocks --ngf=64 --input_size=256

Counting convention: ``itgc_tf.eval.profile`` (the GAN-compression literature's).
"""
from absl import app, flags

from itgc_tf.eval.profile import profile
from itgc_tf.models.registry import build_generator

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("netG", None, "Generator name (see itgc_tf.models.registry).")
    flags.DEFINE_integer("ngf", 64, "Channels of the generator's first layer.")
    flags.DEFINE_integer("input_size", 256, "Square input size in pixels.")
    flags.DEFINE_integer("input_nc", 3, "Input channels.")
    flags.DEFINE_integer("output_nc", 3, "Output channels.")
    flags.DEFINE_enum("norm", "instance", ["instance", "batch", "none"],
                      "Normalisation layer.")
    flags.DEFINE_bool("per_layer", False, "Also print the MACs of every layer.")
    flags.mark_flag_as_required("netG")


def main(argv):
    del argv
    try:
        generator = build_generator(FLAGS.netG, FLAGS.input_nc,
                                    FLAGS.output_nc, FLAGS.ngf, norm=FLAGS.norm,
                                    input_size=FLAGS.input_size)
    except ValueError as error:
        raise app.UsageError(str(error)) from error
    result = profile(generator, (FLAGS.input_size, FLAGS.input_size,
                                 FLAGS.input_nc))
    if FLAGS.per_layer:
        for layer in result.per_layer:
            print(f"{layer.name:40s} {layer.op:16s} "
                  f"{str(layer.output_shape):22s} {layer.macs:>16d}")
    print(f"netG={FLAGS.netG} ngf={FLAGS.ngf} norm={FLAGS.norm} "
          f"input={FLAGS.input_size}x{FLAGS.input_size}x{FLAGS.input_nc}")
    print(f"params: {result.params} (trainable {result.trainable_params})")
    print(f"MACs: {result.macs}")
    print(result.human())


def run():
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
