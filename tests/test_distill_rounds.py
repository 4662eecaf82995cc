"""itgc-distill in student rounds (--student_rounds_every_epochs), the authors' CycleGAN
OMGD schedule, at toy size on the built-in unpaired demo data: the teacher trains alone,
the student trains in rounds against a frozen copy (latest or best-FID teacher); a run
stopped mid-round resumes the schedule where it stopped."""
import pathlib

import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf
from absl import flags

from itgc_tf import distill, options
from itgc_tf.data import build_dataset, dataset_info
from itgc_tf.losses.vgg import VGGFeatures
from itgc_tf.training import round_runner, runner
from itgc_tf.training.callbacks import NonFiniteLossError
from itgc_tf.training.config import DistillConfig
from itgc_tf.training.distiller import Distiller
from nan_distill import with_nan_batch

# OMGD with one online CycleGAN teacher (mobile ResNet-6, ngf 4), student ngf 2, VEM on
# (the resume test turns it off: the schedule does not depend on it, and it is cheaper).
ROUNDS = ["--dataset=demo:unpaired", "--load_size=36", "--crop_size=32", "--batch_size=2",
          "--verbose=0", "--ndf=4", "--n_layers_D=2", "--recipe=omgd",
          "--teacher_model=cycle_gan", "--teacher_netG=unet_32", "--teacher_ngf=4",
          "--student_netG=unet_32", "--student_ngf=2", "--lambda_cd=0",
          "--vem_weight=0.1", "--critic_width=4", "--critic_blocks=1", "--langevin_steps=1",
          "--image_summary_every=0", "--seed=3"]


def _parse(*args):
    """The `DistillConfig` of a command line (the flags itgc_tf.distill defines)."""
    flag_values = flags.FlagValues()
    options.define_flags(DistillConfig, flag_values)
    flag_values(["itgc_tf.distill", *ROUNDS, *args])
    return options.from_flags(DistillConfig, flag_values)


@pytest.fixture(scope="module")
def vgg():
    return VGGFeatures(layers=("block1_conv2", "block2_conv2"),
                       allow_random_weights_for_testing=True)


class _Spy:
    """Records the models `round_runner` builds and, at every fit of a phase, which
    model, the epoch it ends at and (student) the frozen teacher against the teacher."""

    def __init__(self, monkeypatch):
        self.models, self.fits = None, []
        build, fit = round_runner.build_round_models, runner.fit

        def build_round_models(*args, **kwargs):
            self.models = build(*args, **kwargs)
            return self.models

        def spy_fit(model, *args, epochs, checkpoint, **kwargs):
            teacher, generator, _ = self.models
            entry = dict(model="student" if isinstance(model, Distiller) else "teacher",
                         start=checkpoint.epoch, end=epochs,
                         teacher_steps=int(teacher.g_optimizer.iterations))
            if entry["model"] == "student":
                entry.update(frozen=[w.copy() for w in model.teachers[0].get_weights()],
                             latest=[w.copy() for w in generator.get_weights()])
            self.fits.append(entry)
            return fit(model, *args, epochs=epochs, checkpoint=checkpoint, **kwargs)

        monkeypatch.setattr(round_runner, "build_round_models", build_round_models)
        monkeypatch.setattr(runner, "fit", spy_fit)


def _equal(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_latest_rounds_from_the_command_line_resume_mid_round(tmp_path, monkeypatch, vgg):
    # 2 teacher epochs of 2 steps, a round after each: student epochs 1-2, then 3-4. The
    # student's 6th batch holds NaN (the teacher takes only 4): the run stops inside the
    # second round, after the step-5 checkpoint.
    config = _parse(f"--model_dir={tmp_path}", "--steps_per_epoch=2", "--epochs=1",
                    "--epochs_decay=1", "--student_rounds_every_epochs=1",
                    "--student_epochs_per_round=2", "--checkpoint_every_steps=1",
                    "--vem_weight=0")
    spy = _Spy(monkeypatch)
    with monkeypatch.context() as poisoned:
        poisoned.setattr(runner, "training_data", with_nan_batch(runner.training_data, 6))
        with pytest.raises(NonFiniteLossError):
            distill.train(config, vgg=vgg, ssim_filter_size=7)
    assert [(f["model"], f["start"], f["end"]) for f in spy.fits] == [
        ("teacher", 0, 1), ("student", 0, 2), ("teacher", 1, 2), ("student", 2, 4)]
    for fit, teacher_epoch in ((spy.fits[1], 1), (spy.fits[3], 2)):
        assert fit["teacher_steps"] == 2 * teacher_epoch  # the teacher stopped at the round
        assert _equal(fit["frozen"], fit["latest"])  # the student learns from that teacher
    assert not _equal(spy.fits[1]["frozen"], spy.fits[3]["frozen"])

    spy.fits.clear()  # the same command again: only the rest of the second round runs
    path = distill.train(config, vgg=vgg, ssim_filter_size=7)
    assert [(f["model"], f["start"], f["end"]) for f in spy.fits] == [("student", 2, 4)]
    teacher, generator, distiller = spy.models
    assert int(distiller.student_optimizer.iterations) == 4 * 2
    assert int(distiller.train_steps) == 8  # steps 1-5 restored, 6-8 run now
    assert int(teacher.g_optimizer.iterations) == 2 * 2  # the teacher was not trained again
    assert _equal(distiller.teachers[0].get_weights(), generator.get_weights())
    assert int(distiller.round_state.round_epoch) == 2
    assert pathlib.Path(path) == tmp_path / "generator.keras"
    for name in ("generator.keras", "teacher.keras", "flags.cfg"):
        assert (tmp_path / name).is_file(), name
    assert "--student_rounds_every_epochs=1" in (tmp_path / "flags.cfg").read_text()
    for name, epochs in (("teacher", 2), ("student", 2 * 2)):
        assert list((tmp_path / "tensorboard" / name).rglob("events.out.tfevents.*")), name
        latest = tf.train.latest_checkpoint(str(tmp_path / "checkpoints" / name))
        assert int(tf.train.load_checkpoint(latest).get_tensor(
            "epoch/.ATTRIBUTES/VARIABLE_VALUE")) == epochs, name  # completed epochs saved



def _scalars(log_dir):
    """{tag: [(step, value)]} of the scalars in a TensorBoard folder."""
    found = {}
    for path in sorted(log_dir.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                number = float(tf.make_ndarray(value.tensor))
                found.setdefault(value.tag, []).append((event.step, number))
    return found


def test_best_fid_rounds_learn_from_the_lowest_scoring_teacher_so_far(tmp_path, monkeypatch,
                                                                      vgg):
    config = _parse(f"--model_dir={tmp_path}", "--steps_per_epoch=1", "--epochs=2",
                    "--epochs_decay=1", "--student_rounds_every_epochs=1",
                    "--student_epochs_per_round=1", "--student_teacher_checkpoint=best_fid")
    scores, scored = iter([2.0, 1.0, 3.0]), []

    def score(generator):
        scored.append([w.copy() for w in generator.get_weights()])
        return next(scores)

    spy = _Spy(monkeypatch)
    distill.train(config, teacher_score=score, vgg=vgg, ssim_filter_size=7)
    rounds = [f for f in spy.fits if f["model"] == "student"]
    assert len(rounds) == 3 and len(scored) == 3
    for fit, best in zip(rounds, [0, 1, 1]):  # epoch 3 scores worse: epoch 2's stays
        assert _equal(fit["frozen"], scored[best])
    assert not _equal(rounds[2]["frozen"], rounds[2]["latest"])
    state = spy.models[2].round_state
    assert (int(state.round_epoch), int(state.source_epoch), float(state.score)) == (3, 2, 1.0)
    logged = _scalars(tmp_path / "tensorboard" / "rounds")
    assert logged["teacher_fid"] == [(1, 2.0), (2, 1.0), (3, 3.0)]
    assert logged["round_teacher_fid"] == [(1, 2.0), (2, 1.0), (3, 1.0)]


class _PooledPixels:
    """A tiny stand-in for the Inception network: features = 4x4 average-pooled pixels."""

    network_id = "pooled-pixels"

    def features(self, batches, max_images=None):
        found = np.concatenate([tf.reshape(tf.nn.avg_pool2d(b, 8, 8, "VALID"), (len(b), -1))
                                for b in batches])
        return found[:max_images]


def _independent_fid(real, fake):
    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * root))


def test_the_teacher_fid_is_the_frechet_distance_of_its_test_outputs_to_domain_b():
    data = _parse().data
    generator = lambda x, training=False: tf.tanh(x[..., ::-1] * 2.0)  # noqa: E731
    score = round_runner.teacher_fid_scorer(data, _PooledPixels())
    batches = list(build_dataset(data, "test", training=False))
    info = dataset_info(data, "test")
    assert info.num_a >= 2 and info.num_b >= 2
    images_a = np.concatenate([b["A"].numpy() for b in batches])[:info.num_a]
    images_b = np.concatenate([b["B"].numpy() for b in batches])[:info.num_b]
    pool = _PooledPixels()
    want = _independent_fid(pool.features([images_b]), pool.features([generator(images_a)]))
    np.testing.assert_allclose(score(generator), want, rtol=1e-5)
    assert score(lambda x, training=False: x) != pytest.approx(want)


@pytest.mark.parametrize("args,message", [
    (["--recipe=kd", "--teacher=/t"], "--recipe=kd distils a trained teacher.*Fix: use "
                                      "--recipe=omgd"),
    (["--teacher_netG=unet_32,unet_32", "--teacher_ngf=4,4"],
     "trains one online teacher.*Fix:"),
    (["--teacher_every_n_steps=2"], "teacher trains alone.*Fix: drop"),
    (["--restore_from=ckpt-3"], "keeps two.*Fix: drop --restore_from"),
])
def test_rounds_are_rejected_where_they_do_not_apply(args, message):
    with pytest.raises(ValueError, match=message):
        _parse("--student_rounds_every_epochs=10", *args)


@pytest.mark.parametrize("args,message", [
    (["--student_epochs_per_round=40"], "only apply to the student rounds.*Fix: add "
                                        "--student_rounds_every_epochs"),
    (["--student_teacher_checkpoint=best_fid"], "only apply to the student rounds"),
    (["--student_rounds_every_epochs=10", "--inception_weights=/w.h5"],
     "--inception_weights scores the teacher.*Fix: add --student_teacher_checkpoint=best_fid"),
    (["--student_rounds_every_epochs=-1"], "must be >= 0"),
])
def test_round_options_without_rounds_are_rejected_with_the_fix(args, message):
    with pytest.raises(ValueError, match=message):
        _parse(*args)


def test_best_fid_without_inception_weights_fails_before_training(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # an empty Keras cache
    model_dir = tmp_path / "run"
    config = _parse(f"--model_dir={model_dir}", "--student_rounds_every_epochs=1",
                    "--student_teacher_checkpoint=best_fid")
    with pytest.raises(FileNotFoundError, match="(?s)best_fid scores the teacher by FID.*"
                                                "Fix: pass --inception_weights=PATH"):
        distill.train(config)
    assert not model_dir.exists()  # nothing trained, no empty run folder left
