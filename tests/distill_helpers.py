"""Toy networks and data for Distiller tests (32x32, a few channels)."""
import keras
import numpy as np
import tensorflow as tf

from itgc_tf.models.registry import build_discriminator, build_generator
from itgc_tf.recipes import build_recipe
from itgc_tf.training.distiller import Distiller, VEMConfig

SIZE = 32
TOY_VEM = dict(critic_width=8, critic_blocks=3)


def toy_pairs(n=8, seed=0):
    """Paired batches: B is a fixed colour transform of A (a learnable target)."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1, 1, (n, SIZE, SIZE, 3)).astype("float32")
    a = tf.nn.avg_pool2d(a, 3, 1, "SAME").numpy()  # some spatial structure
    b = np.tanh(a[..., ::-1] * 1.5)
    return {"A": a, "B": b.astype("float32")}


def toy_distiller(recipe="kd", vem_weight=0.0, noise_std=0.005, recipe_options=None,
                  paired=True, **vem_options):
    teacher = build_generator("resnet_6blocks", 3, 3, ngf=8, name_prefix="teacher_")
    student = build_generator("mobile_resnet_6blocks", 3, 3, ngf=4, name_prefix="student_")
    disc = build_discriminator("n_layers", 6 if paired else 3, ndf=4, n_layers=2)
    options = dict(recipe_options or {})
    if recipe == "gan_compression":
        options.setdefault("pairs", [("block_2", "block_2")])
    vem = VEMConfig(weight=vem_weight, noise_std=noise_std, **(TOY_VEM | vem_options))
    return Distiller(student, [teacher], build_recipe(recipe, **options), (SIZE, SIZE, 3),
                     discriminator=disc, paired=paired, vem=vem)


def compile_default(distiller, lr=2e-4):
    distiller.compile(keras.optimizers.Adam(lr, beta_1=0.5), keras.optimizers.Adam(lr, beta_1=0.5))
    return distiller


def toy_omgd_distiller(vem_weight=0.0, n_teachers=1, **vem_options):
    """OMGD with online Pix2Pix teachers sharing one discriminator, random-weight VGG."""
    from itgc_tf.losses.vgg import VGGFeatures
    from itgc_tf.training.teachers import Pix2PixTeacher

    disc = build_discriminator("n_layers", 6, ndf=4, n_layers=2, name_prefix="teacher_")
    generators = [build_generator("resnet_6blocks", 3, 3, ngf=8 // (i + 1),
                                  name_prefix=f"teacher{i}_") for i in range(n_teachers)]
    teachers = []
    for g in generators:
        teacher = Pix2PixTeacher(g, disc, gan_mode="lsgan")
        teacher.compile(keras.optimizers.Adam(2e-4, beta_1=0.5),
                        keras.optimizers.Adam(2e-4, beta_1=0.5))
        teachers.append(teacher)
    student = build_generator("mobile_resnet_6blocks", 3, 3, ngf=4, name_prefix="student_")
    vgg = VGGFeatures(layers=("block1_conv2", "block2_conv2"),  # enough for the terms, cheap
                      allow_random_weights_for_testing=True)
    recipe = build_recipe("omgd", vgg=vgg, pairs=[("block_5", "block_5")], ssim_filter_size=7)
    vem = VEMConfig(weight=vem_weight, **(TOY_VEM | vem_options))
    return Distiller(student, generators, recipe, (SIZE, SIZE, 3), online_teachers=teachers,
                     vem=vem)
