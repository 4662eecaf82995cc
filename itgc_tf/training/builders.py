"""Configurations -> compiled models: teachers and THE Distiller factory (used by
itgc-distill, scripts/benchmark.py and the tests). Call inside the strategy scope."""
import pathlib

import tensorflow as tf

from itgc_tf.models.pruning import load_pruned_student
from itgc_tf.models.registry import build_generator
from itgc_tf.models.saving import load_keras_model
from itgc_tf.models.weight_transfer import transfer_weights
from itgc_tf.recipes import recipe_from_options
from itgc_tf.training.distiller import Distiller
from itgc_tf.training.rounds import RoundLinearDecay
from itgc_tf.training.runner import build_optimizer, build_optimizers
from itgc_tf.training.teacher_losses import SPADE_VGG_LAYERS
from itgc_tf.training.teachers import (CycleGANTeacher, Pix2PixTeacher,
                                       SharedDiscriminatorPix2Pix, SPADETeacher)


def generator(layers, net, ngf, input_nc, output_nc, name_prefix=""):
    """Generator ``net`` of width ``ngf`` with the `LayersConfig` ``layers``."""
    return build_generator(net, input_nc, output_nc, ngf, norm=layers.norm,
                           dropout=layers.dropout, residual=layers.residual,
                           name_prefix=name_prefix)


def model_input_nc(data, info):
    """Channels of A as batches carry it: the semantic map's (one-hot + don't care +
    instance edge, `DataConfig.semantic_nc`) for label-map data, else ``input_nc``."""
    return data.semantic_nc if info.layout == "labels" else data.input_nc


def _pix2pix(config, net, ngf, a, name_prefix, skip):
    objective, data, disc = config.teacher, config.data, config.discriminator
    b = data.output_nc
    return Pix2PixTeacher(generator(config.layers, net, ngf, a, b, name_prefix),
                          disc.build(a + b, name_prefix), lambda_l1=objective.lambda_l1,
                          gan_mode=disc.gan_mode, skip_nonfinite_steps=skip)


def _cycle_gan(config, net, ngf, a, name_prefix, skip):
    objective, data, disc = config.teacher, config.data, config.discriminator
    b, shape = data.output_nc, data.crop_shape
    model = CycleGANTeacher(
        generator(config.layers, net, ngf, a, b, name_prefix + "g_ab_"),
        generator(config.layers, net, ngf, b, a, name_prefix + "g_ba_"),
        disc.build(a, name_prefix + "d_a_"), disc.build(b, name_prefix + "d_b_"),
        lambda_cycle=objective.lambda_cycle, lambda_identity=objective.lambda_identity,
        gan_mode=disc.gan_mode, pool_size=objective.pool_size, seed=data.seed,
        skip_nonfinite_steps=skip)
    model.build({"A": (None, *shape, a), "B": (None, *shape, b)})
    return model


def spade_vgg(objective):
    """The VGG of GauGAN's perceptual loss for a `TeacherConfig` (None at lambda_vgg 0)."""
    from itgc_tf.losses.vgg import VGGFeatures

    return (VGGFeatures(SPADE_VGG_LAYERS, weights_path=objective.teacher_vgg_weights)
            if objective.lambda_vgg > 0 else None)


def gaugan_objective(config):
    """GauGAN's objective for a recipe with ``student_gaugan_loss`` (the spade teacher's
    --lambda_feat, --lambda_vgg, --teacher_vgg_weights of a `DistillConfig`), as recipe
    resources; {} for other recipes."""
    if not getattr(config.recipe_config, "student_gaugan_loss", False):
        return {}
    objective = config.teacher
    return dict(lambda_feat=objective.lambda_feat, lambda_vgg=objective.lambda_vgg,
                vgg=spade_vgg(objective))


def _spade(config, net, ngf, a, name_prefix, skip):
    objective, data, disc = config.teacher, config.data, config.discriminator
    b = data.output_nc
    return SPADETeacher(generator(config.layers, net, ngf, a, b, name_prefix),
                        disc.build(a + b, name_prefix), spade_vgg(objective),
                        lambda_feat=objective.lambda_feat,
                        lambda_vgg=objective.lambda_vgg, gan_mode=disc.gan_mode,
                        skip_nonfinite_steps=skip)


# --teacher_model -> (builder(config, net, ngf, input_nc, name_prefix, skip), needs paired data)
TEACHERS = {"pix2pix": (_pix2pix, True), "cycle_gan": (_cycle_gan, False),
            "spade": (_spade, True)}


def teacher_model(config, net, ngf, info, steps_per_epoch, name_prefix=""):
    """A compiled teacher (``config.teacher.teacher_model``, see `TEACHERS`) with
    generator(s) ``net``/``ngf`` for data described by the `DatasetInfo` ``info``;
    ``config`` holds data, run, layers, discriminator and teacher configurations (a
    `TrainTeacherConfig` or `DistillConfig`)."""
    name = config.teacher.teacher_model
    build, needs_pairs = TEACHERS[name]
    if needs_pairs and not info.paired:
        raise ValueError(
            f"--teacher_model={name} needs paired data, but the dataset is unpaired. Fix: use "
            "--teacher_model=cycle_gan, or a paired dataset (aligned A|B images, A/ B/ "
            "folders or label maps).")
    a = model_input_nc(config.data, info)
    model = build(config, net, ngf, a, name_prefix, config.run.schedule.skip_nonfinite_steps)
    model.compile(*build_optimizers(config.run.schedule, steps_per_epoch),
                  jit_compile=config.run.distribution.jit_compile)
    model(tf.zeros((1, *config.data.crop_shape, a)))  # built: checkpoints can track it
    return model


def shared_discriminator_teachers(config, nets, ngfs, steps_per_epoch):
    """A compiled SharedDiscriminatorPix2Pix: generators ``nets``/``ngfs`` (paired data),
    one discriminator (``config``: a `DistillConfig`)."""
    data, disc = config.data, config.discriminator
    a, b = data.input_nc, data.output_nc
    generators = [generator(config.layers, net, ngf, a, b, name_prefix=f"teacher{i}_")
                  for i, (net, ngf) in enumerate(zip(nets, ngfs))]
    model = SharedDiscriminatorPix2Pix(
        generators, disc.build(a + b, "teacher_"), lambda_l1=config.teacher.lambda_l1,
        gan_mode=disc.gan_mode, skip_nonfinite_steps=config.run.schedule.skip_nonfinite_steps)
    model.compile(*build_optimizers(config.run.schedule, steps_per_epoch),
                  jit_compile=config.run.distribution.jit_compile)
    model(tf.zeros((1, *data.crop_shape, a)))  # built: checkpoints can track it
    return model


def online_teachers(config, data_info, steps_per_epoch):
    """(compiled teacher models, their A->B generators) of a recipe that trains its
    teachers online (``config``: a `DistillConfig`). Teachers that step every N-th step
    (``teacher_every_n_steps``) get an N times shorter epoch for their learning-rate
    schedule, so it still follows the epochs."""
    student, schedule = config.student, config.online_teachers
    steps = -(-steps_per_epoch // schedule.teacher_every_n_steps)
    if schedule.teacher_discriminator == "shared":
        if not data_info.paired:
            raise ValueError(
                "--teacher_discriminator=shared judges several pix2pix teachers with one "
                "discriminator: it needs paired data, but the dataset is unpaired. Fix: use "
                "--teacher_discriminator=separate.")
        model = shared_discriminator_teachers(config, student.teacher_netG, student.teacher_ngf,
                                              steps)
        return [model], [model.generator, *model.others]
    models = [teacher_model(config, net, ngf, data_info, steps, name_prefix=f"teacher{i}_")
              for i, (net, ngf) in enumerate(zip(student.teacher_netG, student.teacher_ngf))]
    return models, [teacher_generator_of(t) for t in models]


def teacher_generator_of(model):
    """The A->B generator of a teacher model."""
    return model.g_ab if isinstance(model, CycleGANTeacher) else model.generator


def teacher_discriminator_of(model):
    """The discriminator that judges a teacher's A->B output (CycleGAN: domain B's)."""
    return model.d_b if isinstance(model, CycleGANTeacher) else model.discriminator


def init_from_teacher_discriminator(disc, teacher_path):
    """Copy the weights of the teacher run's discriminator.keras into ``disc``."""
    path = pathlib.Path(teacher_path)
    path = (path.parent if path.is_file() else path) / "discriminator.keras"
    if not path.is_file():
        raise FileNotFoundError(
            f"--init_discriminator_from_teacher needs the teacher run's discriminator at {path}; "
            "itgc-train-teacher writes it next to generator.keras. Fix: train the teacher with "
            "this version, or drop the flag.")
    source = load_keras_model(path)
    shapes = [tuple(w.shape) for w in source.weights]
    if shapes != [tuple(w.shape) for w in disc.weights]:
        raise ValueError(
            f"The teacher's discriminator ({path}) has another architecture than the student's "
            f"(weight shapes {shapes[:4]}...). Fix: --netD/--ndf/--n_layers_D/--norm_affine_D "
            "must equal the teacher run's.")
    disc.set_weights(source.get_weights())


def load_generator(path, what, data=None, info=None):
    """A Keras generator saved by train_teacher/distill (``*.keras``), or a model_dir;
    given a `DataConfig` ``data`` (and the data's `DatasetInfo` ``info``, which tells
    label-map data apart), its channel counts are checked against the data's
    (`check_channels`)."""
    path = pathlib.Path(path)
    if path.is_dir():
        path = path / "generator.keras"
    if not path.is_file():
        raise FileNotFoundError(
            f"No generator for --{what} at {path}. Fix: pass --{what}=MODEL_DIR of an itgc-train-"
            "teacher run (it holds generator.keras) or the path of a .keras generator file.")
    generator = load_keras_model(path)
    if data is not None:
        check_channels(generator, data, what, path, info)
    return generator


def check_channels(generator, data, what, path, info=None):
    """Raises ValueError naming both counts and the flags when the generator's
    input/output channels differ from the data's (label-map data: its semantic
    channels, `model_input_nc`)."""
    labels = info is not None and info.layout == "labels"
    for side, have, want in (("input", generator.input_shape[-1],
                              model_input_nc(data, info) if labels else data.input_nc),
                             ("output", generator.output_shape[-1], data.output_nc)):
        if have == want:
            continue
        if labels and side == "input":
            raise ValueError(
                f"The --{what} generator ({path}) has {have} input channels but the label "
                f"maps give {want} (--label_nc, --contain_dontcare_label, --no_instance). Fix: "
                "pass the label options the generator was trained with, or a generator trained "
                "on this data.")
        raise ValueError(
            f"The --{what} generator ({path}) has {have} {side} channels but the data has "
            f"--{side}_nc={want}. Fix: pass --{side}_nc={have} if the data has {have} "
            f"channels, or a generator trained on this data.")


def build_distiller(config, data_info, steps_per_epoch, *, teacher=None, **resources):
    """The compiled Distiller a `DistillConfig` describes.

    data_info: the training data's `DatasetInfo` (paired or not).
    teacher: a frozen teacher generator already in memory (default: loaded from
      ``config.student.teacher``); online recipes (omgd) build and train their own, or,
      in student rounds (``student_rounds_every_epochs``), learn from a frozen copy of
      it built here (`build_round_models` builds the teacher).
    resources: handed to the recipe (e.g. OMGD's ``vgg``: a ready `VGGFeatures`; with
      ``student_gaugan_loss``, `gaugan_objective`'s, which they override).
    """
    student_config, data, disc_config = config.student, config.data, config.discriminator
    if "vgg" not in resources:
        resources = {**gaugan_objective(config), **resources}
    recipe = recipe_from_options(student_config.recipe, config.recipe_config,
                                 gan_mode=disc_config.gan_mode, **resources)
    input_nc = model_input_nc(data, data_info)
    if student_config.student:
        student = load_pruned_student(student_config.student)
    else:
        student = generator(config.layers, student_config.student_netG,
                            student_config.student_ngf, input_nc, data.output_nc,
                            name_prefix="student_")
    online, rounds = [], config.online_teachers.rounds
    if recipe.online_teachers and rounds:
        teachers = [generator(config.layers, student_config.teacher_netG[0],
                              student_config.teacher_ngf[0], input_nc, data.output_nc,
                              name_prefix="round_teacher_")]
    elif recipe.online_teachers:
        online, teachers = online_teachers(config, data_info, steps_per_epoch)
    elif teacher is not None:
        teachers = [teacher]
    else:
        if not student_config.teacher:
            raise ValueError(
                f"--recipe={student_config.recipe} distils a trained teacher. Fix: pass "
                "--teacher=MODEL_DIR (of an itgc-train-teacher run) or a .keras generator file.")
        teachers = [load_generator(student_config.teacher, "teacher", data, data_info)]
    if student_config.init_student_from_teacher:
        transfer_weights(teachers[0], student)
    disc = None
    if recipe.uses_discriminator:
        disc = disc_config.build(input_nc + data.output_nc if data_info.paired
                                 else data.output_nc, "student_")
        if student_config.init_discriminator_from_teacher:
            init_from_teacher_discriminator(disc, student_config.teacher)
    schedule, online_options = config.run.schedule, config.online_teachers
    model = Distiller(student, teachers, recipe, (*data.crop_shape, input_nc),
                      discriminator=disc, online_teachers=online, paired=data_info.paired,
                      vem=config.vem, gan_mode=disc_config.gan_mode, n_dis=student_config.n_dis,
                      seed=data.seed, skip_nonfinite_steps=schedule.skip_nonfinite_steps,
                      teacher_batchnorm=online_options.teacher_batchnorm,
                      teacher_outputs_before_teacher_step=(
                          online_options.teacher_outputs_before_teacher_step),
                      teacher_every_n_steps=online_options.teacher_every_n_steps,
                      teachers_trained_in_rounds=rounds)
    g_optimizer, d_optimizer = build_optimizers(schedule, steps_per_epoch)
    if rounds:
        g_optimizer = build_optimizer(schedule, steps_per_epoch, learning_rate=RoundLinearDecay(
            schedule.lr, schedule.epochs, schedule.epochs_decay, steps_per_epoch,
            online_options.student_rounds_every_epochs, online_options.student_epochs_per_round))
    model.compile(g_optimizer, d_optimizer if disc is not None else None,
                  jit_compile=config.run.distribution.jit_compile)
    return model


def build_round_models(config, data_info, steps_per_epoch, **resources):
    """(teacher model, its A->B generator, Distiller) of student rounds
    (``config.online_teachers.student_rounds_every_epochs``): the compiled online teacher,
    trained alone, and the compiled Distiller whose frozen teacher (``teachers[0]``) is a
    copy of the same architecture (`itgc_tf.training.rounds`)."""
    [teacher], [teacher_generator] = online_teachers(config, data_info, steps_per_epoch)
    return teacher, teacher_generator, build_distiller(config, data_info, steps_per_epoch,
                                                       **resources)
