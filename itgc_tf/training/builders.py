"""Configurations -> compiled models: teachers and THE Distiller factory (used by
itgc-distill, scripts/benchmark.py and the tests). Call inside the strategy scope."""
import pathlib

import keras
import tensorflow as tf

from itgc_tf.models.registry import build_generator
from itgc_tf.recipes import recipe_from_options
from itgc_tf.training.distiller import Distiller
from itgc_tf.training.runner import build_optimizer
from itgc_tf.training.teachers import CycleGANTeacher, Pix2PixTeacher


def generator(layers, net, ngf, input_nc, output_nc, name_prefix=""):
    """Generator ``net`` of width ``ngf`` with the `LayersConfig` ``layers``."""
    return build_generator(net, input_nc, output_nc, ngf, norm=layers.norm,
                           dropout=layers.dropout, name_prefix=name_prefix)


def teacher_model(config, net, ngf, paired, steps_per_epoch, name_prefix=""):
    """A compiled Pix2PixTeacher or CycleGANTeacher (``config.teacher.teacher_model``)
    with generator(s) ``net``/``ngf``; ``config`` holds data, run, layers,
    discriminator and teacher configurations (a `TrainTeacherConfig` or `DistillConfig`)."""
    objective, data, disc = config.teacher, config.data, config.discriminator
    if objective.teacher_model == "pix2pix" and not paired:
        raise ValueError(
            "--teacher_model=pix2pix needs paired data, but the dataset is unpaired. Fix: use "
            "--teacher_model=cycle_gan, or a paired dataset (aligned A|B images or A/ B/ "
            "folders).")
    a, b, size = data.input_nc, data.output_nc, data.crop_size
    skip = config.run.schedule.skip_nonfinite_steps
    if objective.teacher_model == "pix2pix":
        model = Pix2PixTeacher(generator(config.layers, net, ngf, a, b, name_prefix),
                               disc.build(a + b, name_prefix), lambda_l1=objective.lambda_l1,
                               gan_mode=disc.gan_mode, skip_nonfinite_steps=skip)
    else:
        model = CycleGANTeacher(
            generator(config.layers, net, ngf, a, b, name_prefix + "g_ab_"),
            generator(config.layers, net, ngf, b, a, name_prefix + "g_ba_"),
            disc.build(a, name_prefix + "d_a_"), disc.build(b, name_prefix + "d_b_"),
            lambda_cycle=objective.lambda_cycle, lambda_identity=objective.lambda_identity,
            gan_mode=disc.gan_mode, pool_size=objective.pool_size, seed=data.seed,
            skip_nonfinite_steps=skip)
        model.build({"A": (None, size, size, a), "B": (None, size, size, b)})
    schedule = config.run.schedule
    model.compile(build_optimizer(schedule, steps_per_epoch),
                  build_optimizer(schedule, steps_per_epoch),
                  jit_compile=config.run.distribution.jit_compile)
    model(tf.zeros((1, size, size, a)))  # built: checkpoints can track it
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
            "itgc-train-teacher writes it next to generator.keras. Fix: train the teacher with "
            "this version, or drop the flag.")
    source = keras.models.load_model(path, compile=False)
    shapes = [tuple(w.shape) for w in source.weights]
    if shapes != [tuple(w.shape) for w in disc.weights]:
        raise ValueError(
            f"The teacher's discriminator ({path}) has another architecture than the student's "
            f"(weight shapes {shapes[:4]}...). Fix: --netD/--ndf/--n_layers_D/--norm must equal "
            "the teacher run's.")
    disc.set_weights(source.get_weights())


def load_generator(path, what):
    """A Keras generator saved by train_teacher/distill (``*.keras``), or a model_dir."""
    path = pathlib.Path(path)
    if path.is_dir():
        path = path / "generator.keras"
    if not path.is_file():
        raise FileNotFoundError(
            f"No {what} generator at {path}. Fix: pass --{what}=MODEL_DIR of an itgc-train-"
            "teacher run (it holds generator.keras) or the path of a .keras generator file.")
    return keras.models.load_model(path, compile=False)


def build_distiller(config, data_info, steps_per_epoch, *, teacher=None, **resources):
    """The compiled Distiller a `DistillConfig` describes.

    data_info: the training data's `DatasetInfo` (paired or not).
    teacher: a frozen teacher generator already in memory (default: loaded from
      ``config.student.teacher``); online recipes (omgd) build and train their own.
    resources: handed to the recipe (e.g. OMGD's ``vgg``: a ready `VGGFeatures`).
    """
    student_config, data, disc_config = config.student, config.data, config.discriminator
    recipe = recipe_from_options(student_config.recipe, config.recipe_config,
                                 gan_mode=disc_config.gan_mode, **resources)
    student = generator(config.layers, student_config.student_netG, student_config.student_ngf,
                        data.input_nc, data.output_nc, name_prefix="student_")
    online = []
    if recipe.online_teachers:
        online = [teacher_model(config, net, ngf, data_info.paired, steps_per_epoch,
                                name_prefix=f"teacher{i}_")
                  for i, (net, ngf) in enumerate(zip(student_config.teacher_netG,
                                                     student_config.teacher_ngf))]
        teachers = [teacher_generator_of(t) for t in online]
    elif teacher is not None:
        teachers = [teacher]
    else:
        if not student_config.teacher:
            raise ValueError(
                f"--recipe={student_config.recipe} distils a trained teacher. Fix: pass "
                "--teacher=MODEL_DIR (of an itgc-train-teacher run) or a .keras generator file.")
        teachers = [load_generator(student_config.teacher, "teacher")]
    disc = None
    if recipe.uses_discriminator:
        disc = disc_config.build(data.input_nc + data.output_nc if data_info.paired
                                 else data.output_nc, "student_")
        if student_config.init_discriminator_from_teacher:
            init_from_teacher_discriminator(disc, student_config.teacher)
    schedule = config.run.schedule
    model = Distiller(student, teachers, recipe, (data.crop_size, data.crop_size, data.input_nc),
                      discriminator=disc, online_teachers=online, paired=data_info.paired,
                      vem=config.vem, gan_mode=disc_config.gan_mode, n_dis=student_config.n_dis,
                      seed=data.seed, skip_nonfinite_steps=schedule.skip_nonfinite_steps)
    model.compile(build_optimizer(schedule, steps_per_epoch),
                  build_optimizer(schedule, steps_per_epoch) if disc is not None else None,
                  jit_compile=config.run.distribution.jit_compile)
    return model
