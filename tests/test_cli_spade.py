"""GauGAN / SPADE from the command line at toy size on demo:labels2photo: a SPADE
teacher (--teacher_model=spade), a compressed SPADE student distilled from it (kd,
gan_compression + VEM with GauGAN's student loss), itgc-evaluate with a --segmenter made
in the test, and itgc-export of the student (SavedModel label-map signatures, TFLite)."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from cli_helpers import run_command
from itgc_tf.data import build_dataset
from itgc_tf.data.config import DataConfig
from itgc_tf.artifacts.runners import TFLiteRunner
from itgc_tf.data.demo import LABEL_NC
from itgc_tf.training.config import DistillConfig, TrainTeacherConfig
from test_cli import _parse

DATA = ["--dataset=demo:labels2photo", f"--label_nc={LABEL_NC}", "--load_size=64",
        "--crop_size=64", "--batch_size=2", "--steps_per_epoch=2", "--verbose=0",
        "--epochs=1", "--epochs_decay=0", "--norm=batch", "--netD=multi_scale", "--num_D=2",
        "--n_layers_D=2", "--ndf=4", "--spectral_norm_D", "--gan_mode=hinge"]
SEMANTIC_NC = LABEL_NC + 1  # one-hot classes + instance edge
TEACHER_ARGS = ["--teacher_model=spade", "--netG=spade", "--ngf=2", "--ttur", "--beta1=0",
                "--beta2=0.9", "--lambda_feat=10", "--lambda_vgg=0", *DATA]


@pytest.fixture(scope="module")
def spade_teacher(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("spade_teacher")
    run_command("itgc_tf.train_teacher", f"--model_dir={model_dir}", *TEACHER_ARGS)
    return model_dir


def test_spade_teacher_trains_on_semantic_maps_with_a_spectral_multiscale_discriminator(
        spade_teacher):
    generator = keras.models.load_model(spade_teacher / "generator.keras", compile=False)
    assert generator.input_shape[-1] == SEMANTIC_NC and generator.output_shape[-1] == 3
    disc = keras.models.load_model(spade_teacher / "discriminator.keras", compile=False)
    assert disc.input_shape[-1] == SEMANTIC_NC + 3
    assert len(disc.outputs) == 2  # num_D scales
    assert any("spectral" in type(layer).__name__.lower() for layer in disc.layers)
    config = _parse(TrainTeacherConfig, [f"--flagfile={spade_teacher / 'flags.cfg'}"])
    assert config == _parse(TrainTeacherConfig, [f"--model_dir={spade_teacher}",
                                                 *TEACHER_ARGS])
    assert config.run.schedule.ttur and config.run.schedule.beta2 == 0.9


def _numpy_semantic_map(labels, instances):
    """One-hot class ids + SPADE's instance-edge channel, in NumPy."""
    edges = np.zeros(labels.shape, bool)
    dx = instances[:, :, 1:] != instances[:, :, :-1]
    dy = instances[:, 1:, :] != instances[:, :-1, :]
    edges[:, :, 1:] |= dx
    edges[:, :, :-1] |= dx
    edges[:, 1:, :] |= dy
    edges[:, :-1, :] |= dy
    return np.concatenate([np.eye(LABEL_NC)[labels], edges[..., None]], -1).astype("float32")


def _export_and_check(student, student_dir):
    """itgc-export of a SPADE student: semantic-map and label-id signatures and TFLite
    fp32, each equal to the Keras student."""
    run_command("itgc_tf.export", f"--generator={student_dir}", "--tflite=fp32",
                "--num_calibration=2", *DATA[:4])
    export = student_dir / "export" / "student" / "1"  # TF Serving layout: name/version
    loaded = tf.saved_model.load(str(export))
    assert set(loaded.signatures) == {"serving_default", "labels", "tflite"}
    rng = np.random.default_rng(0)
    labels = rng.integers(0, LABEL_NC, (2, 64, 64))
    instances = rng.integers(0, 4, (2, 8, 8)).repeat(8, 1).repeat(8, 2)
    semantics = _numpy_semantic_map(labels, instances)
    want = student(semantics, training=False).numpy()
    got = loaded.signatures["serving_default"](semantic_map=tf.constant(semantics))["outputs"]
    np.testing.assert_allclose(got.numpy(), want, atol=1e-5)
    got = loaded.signatures["labels"](labels=tf.constant(labels, tf.int32),
                                      instances=tf.constant(instances, tf.int32))["outputs"]
    want_uint8 = np.round((np.clip(want, -1, 1) + 1) * 127.5)
    assert got.dtype == tf.uint8
    np.testing.assert_allclose(got.numpy().astype(float), want_uint8, atol=1)
    lite = TFLiteRunner(str(export / "model_fp32.tflite"))
    assert lite.input_shape == (1, 64, 64, SEMANTIC_NC)
    np.testing.assert_allclose(lite(semantics), want, atol=1e-4)


def _train_segmenter(path):
    """A per-pixel (1x1 conv) segmenter of the demo photos -> its class ids."""
    data = DataConfig(dataset="demo:labels2photo", label_nc=LABEL_NC, load_size=64,
                      crop_size=64, batch_size=4)
    batches = list(build_dataset(data, "train", training=False).as_numpy_iterator())
    photos = np.concatenate([b["B"] for b in batches])
    ids = np.concatenate([b["label"] for b in batches])
    model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(16, 1),
                              keras.layers.ReLU(), keras.layers.Conv2D(LABEL_NC, 1)])
    model.compile(keras.optimizers.Adam(0.02),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(photos, ids, epochs=5, batch_size=4, verbose=0)
    model.export(path, verbose=False)


# gan_compression + VEM traces the Langevin chain and the critic too (a 1-block critic: its
# depth is not the subject): ~40 s on a loaded 2-core CPU.
@pytest.mark.parametrize("recipe", [pytest.param("gan_compression", marks=pytest.mark.slow),
                                    "kd"])
def test_compressed_spade_student_distils_and_evaluates_miou(spade_teacher, tmp_path, recipe):
    student_dir = tmp_path / "student"
    pairs = ["--distill_pairs=block_0:block_0,up_1:up_1", "--lambda_distill=10",
             "--vem_weight=0.1", "--critic_width=8", "--critic_blocks=1",
             "--langevin_steps=2", "--student_gaugan_loss", "--lambda_recon=0",
             "--lambda_vgg=0"] if recipe == "gan_compression" else []
    args = [f"--model_dir={student_dir}", f"--teacher={spade_teacher}", f"--recipe={recipe}",
            "--student_netG=spade_compressed", "--student_ngf=4",
            "--init_discriminator_from_teacher", *pairs, *DATA]
    run_command("itgc_tf.distill", *args)
    student = keras.models.load_model(student_dir / "generator.keras", compile=False)
    assert student.input_shape[-1] == SEMANTIC_NC
    config = _parse(DistillConfig, [f"--flagfile={student_dir / 'flags.cfg'}"])
    assert config == _parse(DistillConfig, args)
    assert config.recipe_config.student_gaugan_loss == (recipe == "gan_compression")
    if recipe != "kd":
        logs = (student_dir / "tensorboard").rglob("*")  # the GauGAN terms were logged
        assert any(b"loss_feat" in f.read_bytes() for f in logs if f.is_file())
        return
    _export_and_check(student, student_dir)
    segmenter = str(tmp_path / "segmenter")
    _train_segmenter(segmenter)
    run_command("itgc_tf.evaluate", f"--student={student_dir}", f"--teacher={spade_teacher}",
                f"--segmenter={segmenter}", "--latency_runs=1", *DATA[:4])
    report = json.loads((student_dir / "report.json").read_text())
    assert report["miou.num_classes"] == LABEL_NC
    for who in ("student", "teacher", "real"):
        assert 0.0 <= report[f"{who}.miou"] <= 1.0, who
