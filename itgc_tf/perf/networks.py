"""The benchmark's networks and inputs, built by the library's factories.

Reference shapes: teacher ResNet-9 ngf 64, student MobileResNet-9 ngf 16, PatchGAN
discriminators ndf 64 (3 layers), energy critic base width 16 with 7 blocks (fewer
where the input is too small). Weights are random: time does not depend on them.
"""
from itgc_tf import options
from itgc_tf.data import DataConfig, DatasetInfo, build_dataset
from itgc_tf.models.registry import build_generator
from itgc_tf.perf import CONFIGS
from itgc_tf.recipes import RECIPES
from itgc_tf.training import builders
from itgc_tf.training.config import DistillConfig, TrainTeacherConfig
from itgc_tf.vem import EnergyCritic

TEACHERS = {"pix2pix_teacher": "pix2pix", "cyclegan_teacher": "cycle_gan"}
# Feature pairs of GAN Compression / OMGD for ResNet-9 (their model.9/12/15/18).
RESNET_PAIRS = (("down_1", "down_1"), ("block_2", "block_2"), ("block_5", "block_5"),
                ("block_8", "block_8"))
VEM_WEIGHT = 0.1
MAX_CRITIC_BLOCKS = 7


def critic_blocks(size):
    """Critic blocks at ``size`` px: 7 (the reference) or the most the pooled input allows."""
    return min(MAX_CRITIC_BLOCKS, EnergyCritic().max_blocks_for(size))


def teacher_generator(prefix="teacher_"):
    """The reference teacher: ResNet-9, ngf 64, 3 -> 3 channels."""
    return build_generator("resnet_9blocks", 3, 3, ngf=64, name_prefix=prefix)


def student_generator():
    """The reference student: MobileResNet-9, ngf 16, 3 -> 3 channels."""
    return build_generator("mobile_resnet_9blocks", 3, 3, ngf=16, name_prefix="student_")


def build_train_model(config, size, jit, langevin_steps=10):
    """The compiled Keras model of training configuration ``config`` (one of CONFIGS) at
    ``size`` px, built by the library's factories from the configuration the commands
    would parse; ``jit``: XLA on the train step."""
    values = dict(dataset="demo:enhance", load_size=size, crop_size=size, jit_compile=jit,
                  netD="n_layers", ndf=64, n_layers_D=3)
    info = DatasetInfo(paired=True, num_examples=1, num_a=1, num_b=1, source="benchmark",
                       layout="aligned")
    if config in TEACHERS:
        teacher = options.from_values(TrainTeacherConfig, values | dict(
            teacher_model=TEACHERS[config], netG="resnet_9blocks", ngf=64))
        return builders.teacher_model(teacher, "resnet_9blocks", 64, info, 1)
    recipe, vem = config.removesuffix("_vem"), config.endswith("_vem")
    if recipe not in RECIPES:
        raise ValueError(f"Unknown benchmark configuration {config!r}. Fix: use one of "
                         f"{CONFIGS}.")
    distill = options.from_values(DistillConfig, values | dict(
        recipe=recipe, student_netG="mobile_resnet_9blocks", student_ngf=16,
        teacher_netG=("resnet_9blocks",), teacher_ngf=(64,),
        distill_pairs=() if recipe == "kd" else RESNET_PAIRS,
        vem_weight=VEM_WEIGHT if vem else 0.0, langevin_steps=langevin_steps,
        critic_blocks=critic_blocks(size)))
    resources = {}
    if recipe == "omgd":
        from itgc_tf.losses.vgg import VGGFeatures
        resources["vgg"] = VGGFeatures(allow_random_weights_for_testing=True)
    return builders.build_distiller(distill, info, 1, teacher=teacher_generator(), **resources)


def demo_config(size, batch):
    """demo:enhance at ``size`` px (loaded at size * 286/256, randomly cropped, flipped)."""
    return DataConfig(dataset="demo:enhance", load_size=round(size * 286 / 256), crop_size=size,
                      batch_size=batch)


def demo_images(size, count):
    """``count`` demo:enhance training pairs: {"A", "B"} float32 [count, size, size, 3]
    in [-1, 1]."""
    batch = next(iter(build_dataset(demo_config(size, count))))
    return {k: v.numpy() for k, v in batch.items()}
