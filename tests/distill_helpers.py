"""Toy Distillers and data for tests (32x32, a few channels), built by the one
Distiller factory, `itgc_tf.training.builders.build_distiller`."""
import numpy as np
import tensorflow as tf

from itgc_tf import options
from itgc_tf.data import DatasetInfo
from itgc_tf.models.registry import build_generator
from itgc_tf.training.adam import FusedAdam
from itgc_tf.training.builders import build_distiller
from itgc_tf.training.config import DistillConfig

SIZE = 32
TOY_VEM = dict(critic_width=8, critic_blocks=3)
TOY_NETS = dict(dataset="demo:enhance", load_size=SIZE, crop_size=SIZE,
                netD="n_layers", ndf=4, n_layers_D=2, student_netG="mobile_resnet_6blocks",
                student_ngf=4)


def toy_pairs(n=8, seed=0):
    """Paired batches: B is a fixed colour transform of A (a learnable target)."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1, 1, (n, SIZE, SIZE, 3)).astype("float32")
    a = tf.nn.avg_pool2d(a, 3, 1, "SAME").numpy()  # some spatial structure
    b = np.tanh(a[..., ::-1] * 1.5)
    return {"A": a, "B": b.astype("float32")}


def toy_config(**values):
    """A `DistillConfig` of the toy networks with flag-named ``values`` on top."""
    return options.from_values(DistillConfig, TOY_NETS | TOY_VEM | values)


def toy_info(paired=True):
    return DatasetInfo(paired=paired, num_examples=8, num_a=8, num_b=8, source="toy",
                       layout="toy")


def toy_distiller(recipe="kd", vem_weight=0.0, recipe_options=None, paired=True,
                  teacher_net="resnet_6blocks", teacher_width=8, **values):
    """A compiled toy Distiller distilling a random frozen teacher ``teacher_net`` of
    width ``teacher_width``; ``values``: flag-named options (student, VEM, data,
    training) on top of the toy configuration."""
    options_ = dict(recipe_options or {})
    if recipe == "gan_compression":
        options_.setdefault("distill_pairs", (("block_2", "block_2"),))
    teacher = build_generator(teacher_net, 3, 3, ngf=teacher_width, name_prefix="teacher_")
    config = toy_config(recipe=recipe, vem_weight=vem_weight, **options_, **values)
    return build_distiller(config, toy_info(paired), 1, teacher=teacher)


def compile_default(distiller, lr=2e-4):
    """The library's Adam (`FusedAdam`, as the command lines build it) for student and D."""
    distiller.compile(FusedAdam(lr, beta_1=0.5), FusedAdam(lr, beta_1=0.5))
    return distiller


def toy_omgd_distiller(vem_weight=0.0, n_teachers=1, **vem_options):
    """OMGD with online Pix2Pix teachers (U-Net 16, ngf 8, 4, ...; the originals' teachers
    are U-Nets) and a U-Net 16 student (ngf 2), channel distillation at ``down_2``;
    random-weight VGG."""
    from itgc_tf.losses.vgg import VGGFeatures

    vgg = VGGFeatures(layers=("block1_conv2", "block2_conv2"),  # enough for the terms, cheap
                      allow_random_weights_for_testing=True)
    config = toy_config(recipe="omgd", distill_pairs=(("down_2", "down_2"),),
                        teacher_netG=("unet_16",) * n_teachers,
                        teacher_ngf=tuple(8 // (i + 1) for i in range(n_teachers)),
                        student_netG="unet_16", student_ngf=2,
                        vem_weight=vem_weight, **vem_options)
    return build_distiller(config, toy_info(), 1, vgg=vgg, ssim_filter_size=7)


def student_iteration(distiller, x, y, teacher_outputs, teacher_features):
    """Steps 1-4 of `Distiller.train_step` (student forward, critic step when VEM is
    on, student step); returns the student output."""
    with tf.GradientTape() as tape:
        ctx, pair = distiller._student_forward(x, y, teacher_outputs, teacher_features)
    t_neg = distiller._critic_step(*pair)[0] if pair is not None else None
    distiller._student_step(tape, ctx, pair, t_neg)
    return ctx.student_output
