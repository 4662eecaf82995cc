"""Side by side with the PyTorch speed anchor (section ``vs_torch``).

The anchor (``shared/anchors/torch_vem_step.py``, run by another interpreter that has
PyTorch; never a dependency of this package) times one distillation step at the
reference shapes: teacher MobileResNet-9 ngf 64 (frozen), student MobileResNet-9 ngf 16,
L1 to the teacher, no discriminator, energy critic base width 16 / 7 blocks, K = 10
Langevin steps (eta 100, sigma 0.005), critic Adam(1e-4, (0, 0.999)), student
Adam(2e-4, (0.5, 0.999)). ``anchor_step`` builds the same step from this library's
public pieces. Rounds alternate: the anchor's median over ``steps`` steps, then ours
over as many steps, so that the machine's load hits both alike.
"""
import os
import re
import statistics
import subprocess
import time

import keras
import tensorflow as tf

from itgc_tf.eval.report import usable_cpu_cores
from itgc_tf.models.per_example import per_example_forward
from itgc_tf.models.registry import build_generator
from itgc_tf.training.adam import FusedAdam, TorchAdam
from itgc_tf.vem import EnergyCritic, ebm_loss, langevin_sample, mi_loss

ANCHOR_LINE = re.compile(r"^torch (?P<version>\S+) threads (?P<threads>\d+) .*median "
                         r"(?P<ms>[0-9.]+) ms/step", re.MULTILINE)
VEM_WEIGHT, ENERGY_L2 = 0.1, 0.05
LANGEVIN = dict(steps=10, step_size=100.0, noise_std=0.005)  # the anchor's chain


def anchor_networks(precision="float32", critic_blocks=7):
    """(teacher, student, critic) of the anchor's shapes under the Keras dtype policy
    ``precision`` (the critic computes in float32 whatever the policy), seeded."""
    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(0)
    teacher = build_generator("mobile_resnet_9blocks", 3, 3, ngf=64, name_prefix="teacher_")
    student = build_generator("mobile_resnet_9blocks", 3, 3, ngf=16, name_prefix="student_")
    return teacher, student, EnergyCritic(base_width=16, n_blocks=critic_blocks)


def _batch(size, batch, critic):
    """The anchor's fixed uniform [-1, 1] batch [batch, size, size, 3]; builds ``critic``."""
    x = tf.random.uniform((batch, size, size, 3), -1.0, 1.0)
    critic((x, x))
    return x


def anchor_step(size, batch, vem, precision="float32", critic_blocks=7, per_example=True):
    """A no-argument callable running the anchor's step once with this library's
    pieces on a fixed uniform [-1, 1] batch [batch, size, size, 3], returning the
    student loss (float) computed before the update. ``precision``: a Keras dtype
    policy for the generators (the critic and the Langevin chain stay float32);
    ``critic_blocks`` < 7 only for inputs smaller than the anchor's 256 px;
    ``per_example``: the teacher's forward pass as the Distiller runs it
    (`per_example_forward`), else one batched call."""
    teacher, student, critic = anchor_networks(precision, critic_blocks)
    x = _batch(size, batch, critic)
    student_opt = FusedAdam(2e-4, beta_1=0.5, beta_2=0.999)
    critic_opt = TorchAdam(1e-4, beta_1=0.0, beta_2=0.999)
    student_opt.build(student.trainable_variables)
    critic_opt.build(critic.trainable_variables)
    seed = tf.Variable([0, 0], dtype=tf.int32, trainable=False)

    @tf.function(reduce_retracing=True)
    def step(x):
        t = per_example_forward(teacher, x) if per_example else teacher(x, training=False)
        t = tf.cast(t, tf.float32)
        with tf.GradientTape() as tape:
            s = tf.cast(student(x, training=True), tf.float32)
            loss = tf.reduce_mean(tf.abs(s - t))
            if vem:
                seed.assign_add([0, 1])
                t_neg = langevin_sample(critic, s, seed=seed, **LANGEVIN)
                with tf.GradientTape() as critic_tape:
                    energies = critic((tf.concat([t, t_neg], 0),
                                       tf.concat([tf.stop_gradient(s)] * 2, 0)), training=True)
                    critic_loss = ebm_loss(energies[:batch], energies[batch:], ENERGY_L2)
                critic_opt.apply(critic_tape.gradient(critic_loss, critic.trainable_variables),
                                 critic.trainable_variables)
                loss += VEM_WEIGHT * mi_loss(critic, t, s, t_neg)
        student_opt.apply(tape.gradient(loss, student.trainable_variables),
                          student.trainable_variables)
        return loss

    return lambda: float(step(x))


def anchor_parts(size, batch, critic_blocks=7):
    """{part: no-argument callable} for three parts of the float32 anchor step, each run
    alone on the step's networks and batch, blocking until done: ``teacher_forward`` (as
    the step runs it, `per_example_forward`), ``student_train`` (the student's forward
    pass and the gradients of its L1 loss to the teacher's output; no update) and
    ``langevin_chain`` (the K = 10 chain from the student's output)."""
    teacher, student, critic = anchor_networks("float32", critic_blocks)
    x = _batch(size, batch, critic)
    teacher_forward = tf.function(lambda x: per_example_forward(teacher, x))
    t, s = teacher_forward(x), student(x)

    @tf.function
    def student_train(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.abs(student(x, training=True) - t))
        return tape.gradient(loss, student.trainable_variables)

    chain = tf.function(lambda s: langevin_sample(critic, s, seed=[0, 1], **LANGEVIN))
    return dict(teacher_forward=lambda: teacher_forward(x).numpy(),
                student_train=lambda: [g.numpy() for g in student_train(x)],
                langevin_chain=lambda: chain(s).numpy())


def intra_op_threads():
    """The number of threads TensorFlow's intra-op pool uses in this process: the
    configured count, else ``TF_NUM_INTRAOP_THREADS``, else (TF's default) the CPUs this
    process may run on. (`tf.config.threading.get_intra_op_parallelism_threads` gives 0
    for the default.)"""
    configured = tf.config.threading.get_intra_op_parallelism_threads()
    if configured > 0:
        return configured
    from_env = os.environ.get("TF_NUM_INTRAOP_THREADS", "").strip()
    if from_env.isdigit() and int(from_env) > 0:
        return int(from_env)
    return usable_cpu_cores()


def run_anchor(python, anchor, size, batch, vem, steps, timeout=1800):
    """{ms, torch, threads}: the anchor's median ms/step over ``steps`` timed steps
    (after its two warm-up steps), run by interpreter ``python``."""
    command = [python, anchor, "--size", str(size), "--batch", str(batch), "--vem",
               str(int(vem)), "--steps", str(steps)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    match = ANCHOR_LINE.search(done.stdout)
    if done.returncode or not match:
        raise RuntimeError(
            f"The PyTorch anchor failed (exit {done.returncode}): {done.stderr.strip()[-800:]} "
            f"Fix: give --vs_torch an interpreter that has torch (python3 -m venv "
            f"/tmp/torch-venv && /tmp/torch-venv/bin/pip install torch).")
    return dict(ms=float(match["ms"]), torch=match["version"], threads=int(match["threads"]))


def measure_vs_torch(spec):
    """Our anchor step and PyTorch's, rounds alternating.

    spec: {size, batch, vem, precision, repeats (rounds), steps (timed steps per round
    and side), python, anchor[, critic_blocks]}. Returns {size, batch, vem, precision, torch_ms,
    itgc_ms (medians over rounds of per-round medians), speedup_x (torch / itgc),
    torch_ms_rounds, itgc_ms_rounds, torch, torch_threads, tf_threads}.
    """
    size, batch, vem, steps = spec["size"], spec["batch"], spec["vem"], spec["steps"]
    step = anchor_step(size, batch, vem, spec["precision"], spec.get("critic_blocks", 7))
    step()  # tracing
    step()
    ours, theirs, info = [], [], {}
    for _ in range(spec["repeats"]):
        info = run_anchor(spec["python"], spec["anchor"], size, batch, vem, steps)
        theirs.append(info["ms"])
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            step()
            times.append(1000.0 * (time.perf_counter() - start))
        ours.append(statistics.median(times))
    torch_ms, itgc_ms = statistics.median(theirs), statistics.median(ours)
    return dict(size=size, batch=batch, vem=vem, precision=spec["precision"],
                torch_ms=torch_ms, itgc_ms=itgc_ms, speedup_x=torch_ms / itgc_ms,
                torch_ms_rounds=theirs, itgc_ms_rounds=ours, torch=info.get("torch"),
                torch_threads=info.get("threads"),
                tf_threads=intra_op_threads())
