"""Flags -> objects: datasets, teachers, distillers. Call inside the strategy scope."""
import pathlib

import keras
import tensorflow as tf
from absl import flags

from itgc_tf.cli import runner
from itgc_tf.cli.flags import parse_pairs
from itgc_tf.data import build_dataset, dataset_info
from itgc_tf.data.flags import config_from_flags
from itgc_tf.models.registry import build_discriminator, build_generator
from itgc_tf.models.saving import load_keras_model
from itgc_tf.recipes import build_recipe
from itgc_tf.training.distiller import Distiller, VEMConfig
from itgc_tf.training.teachers import CycleGANTeacher, Pix2PixTeacher

FLAGS = flags.FLAGS


def training_data():
    """(config, dataset_fn, info, steps_per_epoch) from the data flags.

    ``dataset_fn()`` builds the repeated training stream anew: every new dataset
    object replays the same sequence for a seed (an object iterated twice
    reshuffles), which exact resumption relies on (`runner.fit`)."""
    config = config_from_flags()
    info = dataset_info(config, "train")
    steps = FLAGS.steps_per_epoch or max(info.num_examples // config.batch_size, 1)
    return config, lambda: build_dataset(config, "train").repeat(), info, steps


def generator(net, ngf, input_nc=None, output_nc=None, name_prefix=""):
    """Generator ``net`` of width ``ngf`` with --norm/--dropout; channels default to the data's."""
    return build_generator(net, input_nc or FLAGS.input_nc, output_nc or FLAGS.output_nc, ngf,
                           norm=FLAGS.norm, dropout=FLAGS.dropout, name_prefix=name_prefix)


def discriminator(input_nc, name_prefix=""):
    return build_discriminator(FLAGS.netD, input_nc, FLAGS.ndf, n_layers=FLAGS.n_layers_D,
                               num_D=FLAGS.num_D, name_prefix=name_prefix)


def teacher_model(kind, net, ngf, paired, steps_per_epoch, crop_size, name_prefix=""):
    """A compiled Pix2PixTeacher or CycleGANTeacher with generator(s) ``net``/``ngf``."""
    if kind == "pix2pix" and not paired:
        raise flags.ValidationError(
            "--teacher_model=pix2pix needs paired data, but the dataset is unpaired. Use "
            "--teacher_model=cycle_gan, or a paired dataset (aligned A|B images or A/ B/ folders).")
    a, b = FLAGS.input_nc, FLAGS.output_nc
    if kind == "pix2pix":
        model = Pix2PixTeacher(generator(net, ngf, name_prefix=name_prefix),
                               discriminator(a + b, name_prefix), lambda_l1=FLAGS.lambda_l1,
                               gan_mode=FLAGS.gan_mode,
                               skip_nonfinite_steps=FLAGS.skip_nonfinite_steps)
    else:
        model = CycleGANTeacher(
            generator(net, ngf, a, b, name_prefix + "g_ab_"),
            generator(net, ngf, b, a, name_prefix + "g_ba_"),
            discriminator(a, name_prefix + "d_a_"), discriminator(b, name_prefix + "d_b_"),
            lambda_cycle=FLAGS.lambda_cycle, lambda_identity=FLAGS.lambda_identity,
            gan_mode=FLAGS.gan_mode, pool_size=FLAGS.pool_size, seed=FLAGS.seed,
            skip_nonfinite_steps=FLAGS.skip_nonfinite_steps)
        model.build({"A": (None, crop_size, crop_size, a), "B": (None, crop_size, crop_size, b)})
    model.compile(runner.adam(steps_per_epoch), runner.adam(steps_per_epoch),
                  jit_compile=FLAGS.jit_compile)
    model(tf.zeros((1, crop_size, crop_size, a)))  # built: checkpoints can track it
    return model


def teacher_generator_of(model):
    """The A->B generator of a teacher model."""
    return model.generator if isinstance(model, Pix2PixTeacher) else model.g_ab


def teacher_discriminator_of(model):
    """The discriminator that judges a teacher's A->B output (CycleGAN: domain B's)."""
    return model.discriminator if isinstance(model, Pix2PixTeacher) else model.d_b


def init_from_teacher_discriminator(disc, teacher_path):
    """Copy the weights of the teacher run's discriminator.keras into ``disc``."""
    path = pathlib.Path(teacher_path)
    path = (path.parent if path.is_file() else path) / "discriminator.keras"
    if not path.is_file():
        raise FileNotFoundError(
            f"--init_discriminator_from_teacher needs the teacher run's discriminator at {path}; "
            "itgc-train-teacher writes it next to generator.keras. Train the teacher with this "
            "version, or drop the flag.")
    source = keras.models.load_model(path, compile=False)
    shapes = [tuple(w.shape) for w in source.weights]
    if shapes != [tuple(w.shape) for w in disc.weights]:
        raise ValueError(
            f"The teacher's discriminator ({path}) has another architecture than the student's "
            "(--netD/--ndf/--n_layers_D/--norm must equal the teacher run's); its weight shapes: "
            f"{shapes[:4]}...")
    disc.set_weights(source.get_weights())


def load_generator(path, what):
    """A Keras generator saved by train_teacher/distill (``*.keras``), or a model_dir."""
    path = pathlib.Path(path)
    if path.is_dir():
        path = path / "generator.keras"
    if not path.is_file():
        raise FileNotFoundError(
            f"No {what} generator at {path}. Pass --{what}=MODEL_DIR of an itgc-train-teacher "
            "run (it holds generator.keras) or the path of a .keras generator file.")
    return load_keras_model(path)


def vem_config():
    return VEMConfig(
        weight=FLAGS.vem_weight, langevin_steps=FLAGS.langevin_steps,
        step_size=FLAGS.langevin_step_size,
        noise_std=FLAGS.langevin_noise if FLAGS.langevin_noise == "auto"
        else float(FLAGS.langevin_noise),
        energy_l2=FLAGS.energy_l2, critic_width=FLAGS.critic_width,
        critic_blocks=FLAGS.critic_blocks, critic_lr=FLAGS.critic_lr, target=FLAGS.vem_target,
        tap=parse_pairs([FLAGS.vem_tap], "vem_tap")[0] if FLAGS.vem_tap else None,
        seed=FLAGS.seed)


def recipe():
    pairs = parse_pairs(FLAGS.distill_pairs, "distill_pairs")
    if FLAGS.recipe == "kd":
        return build_recipe("kd", lambda_recon=FLAGS.lambda_recon, lambda_gt=FLAGS.lambda_gt,
                            gan_mode=FLAGS.gan_mode)
    if FLAGS.recipe == "gan_compression":
        return build_recipe("gan_compression", pairs=pairs, lambda_distill=FLAGS.lambda_distill,
                            lambda_recon=FLAGS.lambda_recon, lambda_gt=FLAGS.lambda_gt,
                            gan_mode=FLAGS.gan_mode)
    from itgc_tf.losses.vgg import VGGFeatures
    vgg = VGGFeatures(weights_path=FLAGS.vgg_weights,
                      allow_random_weights_for_testing=FLAGS.testing_random_vgg)
    weights = dict(ssim=FLAGS.lambda_ssim, style=FLAGS.lambda_style,
                   feature=FLAGS.lambda_feature, tv=FLAGS.lambda_tv)
    return build_recipe("omgd", vgg=vgg, pairs=pairs, lambda_cd=FLAGS.lambda_cd,
                        weights=weights)


def distiller(info, steps_per_epoch, crop_size):
    """A compiled Distiller from the flags (frozen --teacher, or online OMGD teachers)."""
    image_shape = (crop_size, crop_size, FLAGS.input_nc)
    student = generator(FLAGS.student_netG, FLAGS.student_ngf, name_prefix="student_")
    the_recipe = recipe()
    online = []
    if the_recipe.online_teachers:
        if len(FLAGS.teacher_netG) != len(FLAGS.teacher_ngf):
            raise flags.ValidationError(
                f"--teacher_netG ({len(FLAGS.teacher_netG)} entries) and --teacher_ngf "
                f"({len(FLAGS.teacher_ngf)}) must list the online teachers one-to-one.")
        kind = "pix2pix" if info.paired else "cycle_gan"
        online = [teacher_model(kind, net, int(ngf), info.paired, steps_per_epoch, crop_size,
                                name_prefix=f"teacher{i}_")
                  for i, (net, ngf) in enumerate(zip(FLAGS.teacher_netG, FLAGS.teacher_ngf))]
        teachers = [teacher_generator_of(t) for t in online]
    else:
        if not FLAGS.teacher:
            raise flags.ValidationError(
                f"--recipe={FLAGS.recipe} distils a trained teacher: pass --teacher=MODEL_DIR "
                "(of an itgc-train-teacher run) or a .keras generator file.")
        teachers = [load_generator(FLAGS.teacher, "teacher")]
    disc = None
    if the_recipe.uses_discriminator:
        disc = discriminator(FLAGS.input_nc + FLAGS.output_nc if info.paired else FLAGS.output_nc,
                             "student_")
        if FLAGS.init_discriminator_from_teacher:
            init_from_teacher_discriminator(disc, FLAGS.teacher)
    model = Distiller(student, teachers, the_recipe, image_shape, discriminator=disc,
                      online_teachers=online, paired=info.paired, vem=vem_config(),
                      gan_mode=FLAGS.gan_mode, n_dis=FLAGS.n_dis,
                      skip_nonfinite_steps=FLAGS.skip_nonfinite_steps,
                      testing_nan_at_step=FLAGS.testing_nan_at_step)
    model.compile(runner.adam(steps_per_epoch),
                  runner.adam(steps_per_epoch) if disc is not None else None,
                  jit_compile=FLAGS.jit_compile)
    return model

