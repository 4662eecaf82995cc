"""Toy `python -m itgc_tf.distill` runs for the distribution / resume / NaN-guard tests:
`start` a separate process (killed, several workers), `run` one in this process."""
import os
import pathlib
import socket
import subprocess
import sys

import keras
import numpy as np

from cli_helpers import run_command
from itgc_tf.models.registry import build_generator

ROOT = pathlib.Path(__file__).resolve().parents[1]
# kd + VEM at 32x32 on the built-in demo data; seeded, deterministic kernels. U-Nets
# (unet_32) for teacher and student: the nets are not these tests' subject, and a U-Net
# traces in about a third of a ResNet-6's time.
TOY_DISTILL = ["--dataset=demo:enhance", "--load_size=36", "--crop_size=32", "--ndf=4",
               "--n_layers_D=2", "--recipe=kd", "--student_netG=unet_32",
               "--student_ngf=4", "--vem_weight=0.1", "--critic_width=8", "--critic_blocks=1",
               "--langevin_steps=2", "--image_summary_every=0", "--verbose=2",
               "--deterministic_ops", "--seed=5"]


def save_random_teacher(path):
    """A random U-Net (unet_32, ngf 4) generator saved as ``path`` (.keras): a teacher."""
    keras.utils.set_random_seed(0)
    build_generator("unet_32", 3, 3, ngf=4, name_prefix="teacher_").save(path)
    return path


def distill_args(model_dir, teacher, *extra):
    return ["-m", "itgc_tf.distill", f"--model_dir={model_dir}", f"--teacher={teacher}",
            *TOY_DISTILL, *extra]


def environment(**extra):
    """The subprocesses' environment: quiet TF, unbuffered output."""
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1", **extra)


def run(args, expect_ok=True):
    """``python -m MODULE FLAGS...`` (``args``) run in this process (tests/cli_helpers.py)
    -> returncode, stdout, stderr."""
    assert args[0] == "-m", args
    return run_command(args[1], *args[2:], expect_ok=expect_ok)


def start(args, **env):
    """A running subprocess with stdout piped (text lines) and stderr merged into it."""
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=environment(**env),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def student(model_dir):
    """The generator.keras a run saved in ``model_dir``."""
    return keras.models.load_model(pathlib.Path(model_dir) / "generator.keras", compile=False)


def probe_images(n=2, size=32):
    return np.random.default_rng(0).uniform(-1, 1, (n, size, size, 3)).astype("float32")
