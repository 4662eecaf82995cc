"""The command lines end to end at toy size, as a user runs them: the toy teacher run
in a subprocess (a command process's console and log), the other commands in this
process through the same entry point (tests/cli_helpers.py: no TensorFlow import per
command). The toy networks are U-Nets (unet_32): they trace in a third of a ResNet-6's
time, and no test here is about the architecture."""
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
from absl import flags

from cli_helpers import run_command
from itgc_tf import options
from itgc_tf.demo import DemoConfig
from itgc_tf.eval.config import EvalConfig
from itgc_tf.export.config import ExportConfig
from itgc_tf.prune import PruneConfig
from itgc_tf.training.config import DistillConfig, TrainTeacherConfig

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ["--dataset=demo:enhance", "--load_size=36", "--crop_size=32", "--batch_size=2",
        "--steps_per_epoch=2", "--verbose=0", "--ndf=4", "--n_layers_D=2"]


def _run_process(module, *args, expect_ok=True):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    if expect_ok and result.returncode != 0:
        raise AssertionError(f"{module} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


TEACHER_ARGS = ["--netG=unet_32", "--ngf=4", "--epochs=1", "--epochs_decay=0",
                "--log_every_steps=1", *DATA]
# TensorFlow's own log lines (C++ I/W/E/F0000..., the checkpoint's INFO, converter dumps).
TF_LOG_LINE = re.compile(r"^[IWEF]\d{4} |Sharding callback|fully_quantize|XNNPACK|InitializeLog")


def _parse(config_class, args):
    """The config ``args`` give, read by ``config_class``'s flags only (an unknown flag
    raises)."""
    flag_values = flags.FlagValues()
    options.define_flags(config_class, flag_values)
    flag_values(["prog", *args])
    return options.from_flags(config_class, flag_values)


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    """(model_dir, the finished subprocess) of a toy teacher run."""
    model_dir = tmp_path_factory.mktemp("teacher")
    return model_dir, _run_process("itgc_tf.train_teacher", f"--model_dir={model_dir}",
                                   *TEACHER_ARGS)


@pytest.fixture(scope="module")
def teacher_dir(teacher_run):
    return teacher_run[0]


def test_the_console_shows_the_run_and_tensorflows_log_lines_go_to_the_run_folder(teacher_run):
    model_dir, result = teacher_run
    console = (result.stdout + result.stderr).splitlines()
    assert [line for line in console if TF_LOG_LINE.search(line)] == []
    assert len(console) <= 3, console  # --verbose=0: the saved-generator line
    assert f"Teacher generator saved to {model_dir}" in result.stdout
    log = (model_dir / "logs" / "tf.log").read_text()
    assert "Saved checkpoint" in log  # the run's own INFO lines are kept there


def _event_files(folder):
    from tensorboard.backend.event_processing import event_accumulator
    accumulator = event_accumulator.EventAccumulator(str(folder), size_guidance={"tensors": 0})
    return accumulator.Reload()


def test_tensorboard_hparams_are_the_runs_own_options_and_scalars_come_every_step(teacher_dir):
    from tensorboard.plugins.hparams import plugin_data_pb2
    content = _event_files(teacher_dir / "tensorboard").PluginTagToContent("hparams")
    (start,) = [plugin_data_pb2.HParamsPluginData.FromString(c).session_start_info
                for c in content.values()
                if plugin_data_pb2.HParamsPluginData.FromString(c).HasField("session_start_info")]
    hparams = dict(start.hparams)
    assert hparams["netG"].string_value == "unet_32" and hparams["ngf"].number_value == 4
    assert {"lambda_l1", "lr", "dataset", "crop_size", "teacher_model"} <= set(hparams)
    for name in ("model_dir", "verbose", "restore_from", "allow_changed_flags", "tpu",
                 "keep_checkpoints", "log_every_steps", "lambda_cycle", "pool_size",
                 "lambda_vgg", "teacher_vgg_weights", "helpfull", "test_srcdir"):
        assert name not in hparams, name
    train = _event_files(teacher_dir / "tensorboard" / "train")
    steps = {tag: [event.step for event in train.Tensors(tag)]
             for tag in train.Tags()["tensors"] if tag.startswith("batch_")}
    assert "batch_g_l1" in steps, sorted(train.Tags()["tensors"])
    assert len(steps["batch_g_l1"]) == 2  # --steps_per_epoch=2, --log_every_steps=1
    assert "epoch_g_l1" in train.Tags()["tensors"]


def test_teacher_flags_cfg_holds_only_its_flags_and_reproduces_the_run(teacher_dir):
    written = _parse(TrainTeacherConfig, [f"--flagfile={teacher_dir / 'flags.cfg'}"])
    assert written == _parse(TrainTeacherConfig, [f"--model_dir={teacher_dir}", *TEACHER_ARGS])


def test_teacher_help_lists_no_student_or_vem_flags():
    result = run_command("itgc_tf.train_teacher", "--helpfull")
    assert result.returncode == 0
    text = result.stdout
    for flag in ("--lambda_l1", "--netG", "--dataset", "--strategy", "--model_dir"):
        assert flag in text, flag
    for flag in ("--critic_blocks", "--vem_weight", "--langevin_steps", "--student_netG",
                 "--recipe", "--lambda_distill", "--testing_nan_at_step"):
        assert flag not in text, flag
    for group in ("data", "model", "teacher", "training", "distribution", "output"):
        assert f"\n{group}:\n" in text, group


# Non-default values of every kind of option (lists, pairs, 'auto', None-able numbers).
NON_DEFAULT = {
    TrainTeacherConfig: dict(dataset="tfds:x", model_dir="runs/t", teacher_model="cycle_gan",
                             netG="unet_64", ngf=8, lambda_cycle=5.5, dropout=True,
                             tfds_keys=("a", "b"), steps_per_epoch=7, checkpoint_every_steps=3,
                             mixed_precision="mixed_bfloat16", no_flip=True, lr=1e-3),
    DistillConfig: dict(dataset="/d", model_dir="runs/s", recipe="gan_compression",
                        distill_pairs=(("block_2", "block_2"), ("up_1", "up_1")),
                        vem_weight=0.25, langevin_noise="auto", vem_tap=("block_4", "block_4"),
                        teacher_netG=("unet_64", "resnet_6blocks"), teacher_ngf=(16, 8),
                        teacher="runs/t", init_discriminator_from_teacher=True, lambda_gt=1.5,
                        vgg_weights="/w.h5", n_dis=2, critic_lr=3e-5, student="runs/p",
                        lambda_gan=0.5, centered=True),
    EvalConfig: dict(dataset="demo:enhance", student="s", teacher="t", fid_stats="f.npz",
                     latency_runs=5, split="val"),
    ExportConfig: dict(dataset="demo:enhance", generator="g", tflite=("fp16", "int8"),
                       min_parity_psnr=30.5, num_calibration=4, model_name="shoes",
                       version=3, num_heldout=5, heldout_split="val"),
    DemoConfig: dict(model_dir="runs/x", demo_epochs=1, steps_per_epoch=4),
    PruneConfig: dict(teacher="runs/t", macs_budget="2.6G", input_size=128, min_channels=8,
                      output="runs/p", overwrite=True),
}


@pytest.mark.parametrize("config_class", NON_DEFAULT, ids=lambda c: c.__name__)
def test_flag_lines_of_every_command_parse_back_into_its_config(config_class):
    config = options.from_values(config_class, NON_DEFAULT[config_class])
    assert _parse(config_class, options.flag_lines(config)) == config


def test_misnamed_and_bad_options_are_rejected_with_the_fix():
    with pytest.raises(ValueError, match=r"has no options \['noise_std'\]"):
        options.from_values(DistillConfig, {"dataset": "/d", "noise_std": 0.1})
    with pytest.raises(ValueError, match="TEACHER_TAP:STUDENT_TAP.*Fix"):
        _parse(DistillConfig, ["--dataset=/d", "--distill_pairs=block_2"])
    with pytest.raises(ValueError, match="gan_compression needs at least one.*Fix"):
        _parse(DistillConfig, ["--dataset=/d", "--recipe=gan_compression"])


def test_teacher_run_writes_its_model_dir_and_resumes(teacher_dir):
    assert (teacher_dir / "generator.keras").is_file()
    assert list((teacher_dir / "tensorboard").rglob("events.out.tfevents.*"))
    flagfile = (teacher_dir / "flags.cfg").read_text()
    assert "--ngf=4" in flagfile and "--dataset=demo:enhance" in flagfile
    checkpoints = sorted(p.name for p in (teacher_dir / "checkpoints").glob("*.index"))
    assert checkpoints, "no checkpoint written"
    assert (teacher_dir / "flags.cfg").stat().st_mode & 0o777 == 0o644
    # A resume that changes the schedule is refused, each change listed, flags.cfg kept.
    refused = run_command("itgc_tf.train_teacher", f"--flagfile={teacher_dir / 'flags.cfg'}",
                          "--epochs=2", "--lr=0.001", expect_ok=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "--epochs: '1' (recorded) -> '2' (now)" in refused.stderr
    assert "--lr: '0.0002' (recorded) -> '0.001' (now)" in refused.stderr
    assert "--allow_changed_flags" in refused.stderr
    assert (teacher_dir / "flags.cfg").read_text() == flagfile
    # With the override, more epochs resume at epoch 2 (the epoch count continues) and
    # the change is kept in flags_history.txt.
    result = run_command("itgc_tf.train_teacher", f"--flagfile={teacher_dir / 'flags.cfg'}",
                         "--epochs=2", "--verbose=2", "--allow_changed_flags")
    assert "Epoch 2/2" in result.stdout and "Epoch 1/2" not in result.stdout
    assert "--epochs=2" in (teacher_dir / "flags.cfg").read_text()
    assert "--allow_changed_flags" not in (teacher_dir / "flags.cfg").read_text()
    assert "--epochs: '1' (recorded) -> '2' (now)" in (
        teacher_dir / "flags_history.txt").read_text()


def test_distill_export_evaluate(teacher_dir, tmp_path):
    assert (teacher_dir / "discriminator.keras").is_file()
    student_dir = tmp_path / "student"
    args = [f"--model_dir={student_dir}", f"--teacher={teacher_dir}", "--recipe=kd",
            "--init_discriminator_from_teacher", "--student_netG=unet_32",
            "--student_ngf=4", "--residual", "--vem_weight=0.1", "--critic_width=8",
            "--critic_blocks=1", "--epochs=1", "--epochs_decay=0", *DATA]
    run_command("itgc_tf.distill", *args)
    assert (student_dir / "generator.keras").is_file()
    # Its flags.cfg holds only itgc-distill's flags and reproduces the run's config.
    assert (_parse(DistillConfig, [f"--flagfile={student_dir / 'flags.cfg'}"])
            == _parse(DistillConfig, args))
    exported = run_command("itgc_tf.export", f"--generator={student_dir}", "--tflite=fp32",
                           "--num_heldout=2", *DATA[:4])
    # TF Serving's layout, named by the generator's role (an itgc-distill run: student).
    version = student_dir / "export" / "student" / "1"
    assert (version / "saved_model.pb").is_file() and (version / "model_fp32.tflite").is_file()
    assert f"--model_name=student --model_base_path={version.parent}" in exported.stdout
    run_command("itgc_tf.evaluate", f"--student={student_dir}", f"--teacher={teacher_dir}",
                "--latency_runs=3", f"--comparison_png={tmp_path / 'comparison.png'}", *DATA[:4])
    report = json.loads((student_dir / "report.json").read_text())
    assert report  # keys are checked by tests/test_eval_report.py
    assert report["comparison_png"] == str(tmp_path / "comparison.png")
    assert (tmp_path / "comparison.png").stat().st_size > 0
    assert "--residual=true" in (student_dir / "flags.cfg").read_text()


# Errors of the configuration itself: the command parses its flags into DistillConfig,
# which raises them; tests/test_cli_app.py checks that a command turns such a ValueError
# into "FATAL: <message>" and exit status 1 (a subprocess per case costs a TF import).
@pytest.mark.parametrize("args,message", [
    (["--vem_weight=-1"], "vem_weight must be >= 0"),
    (["--crop_size=64", "--load_size=32"], "crop"),
])
def test_bad_flags_are_rejected_by_the_configuration(args, message):
    with pytest.raises(ValueError, match=message):
        _parse(DistillConfig, ["--model_dir=m", "--dataset=demo:enhance", *args])


# Errors found when the command runs (no teacher to load): end to end.
@pytest.mark.parametrize("args,message", [
    (["--recipe=kd"], "--teacher"),
    (["--teacher=/nonexistent", "--init_discriminator_from_teacher"],
     "No generator for --teacher"),
])
def test_bad_flags_are_rejected_with_a_message(tmp_path, args, message):
    result = run_command("itgc_tf.distill", f"--model_dir={tmp_path}", "--dataset=demo:enhance",
                         *args, expect_ok=False)
    assert result.returncode != 0
    assert message in result.stderr + result.stdout


def test_pix2pix_teacher_on_unpaired_data_is_rejected_leaving_no_run_folder(tmp_path):
    model_dir = tmp_path / "run"
    result = run_command("itgc_tf.train_teacher", f"--model_dir={model_dir}",
                         "--dataset=demo:unpaired", "--teacher_model=pix2pix", "--ngf=4",
                         *DATA[1:], expect_ok=False)
    assert result.returncode == 1 and "needs paired data" in result.stderr
    assert "Traceback" not in result.stderr and "--helpfull" not in result.stderr
    assert not model_dir.exists()


@pytest.fixture(scope="module")
def random_vgg_weights(tmp_path_factory):
    """A VGG16 notop weights file with random weights (no download; the perceptual numbers
    are meaningless, the command runs as with the ImageNet file)."""
    import keras
    path = tmp_path_factory.mktemp("vgg") / "vgg16_notop.weights.h5"
    keras.applications.VGG16(include_top=False, weights=None).save_weights(path)
    return path


AUTHORS_PIX2PIX = ["--recipe=omgd", "--teacher_netG=unet_32,unet_deepest_32",
                   "--teacher_ngf=4,2", "--teacher_discriminator=shared",
                   "--teacher_batchnorm=train", "--teacher_outputs_before_teacher_step",
                   "--teacher_every_n_steps=2", "--norm=batch", "--student_netG=unet_32",
                   "--student_ngf=2", "--gan_mode=hinge",
                   "--distill_pairs=leaky_down_1:leaky_down_1,up_relu_2:up_relu_2",
                   "--cd_adapter=conv_bn_relu", "--lambda_cd=10"]


def test_the_authors_options_parse_into_the_distill_configuration():
    config = _parse(DistillConfig, ["--dataset=/d", *AUTHORS_PIX2PIX])
    online = config.online_teachers
    assert (online.teacher_batchnorm, online.teacher_outputs_before_teacher_step,
            online.teacher_every_n_steps, online.teacher_discriminator) == ("train", True, 2,
                                                                            "shared")
    assert config.recipe_config.cd_adapter == "conv_bn_relu"
    assert config.student.teacher_netG == ("unet_32", "unet_deepest_32")
    assert _parse(DistillConfig, ["--dataset=/d", "--teacher=/t",
                                  "--init_student_from_teacher"]).student.init_student_from_teacher
    assert options.flag_lines(config) == options.flag_lines(
        _parse(DistillConfig, options.flag_lines(config)))


def test_distill_omgd_with_the_authors_pix2pix_options(tmp_path, random_vgg_weights):
    """Two online U-Net teachers (wide + deep) sharing one discriminator, stepping every 2nd
    step, batch-statistics targets computed before their step, OMGD's taps and adapters."""
    student_dir = tmp_path / "student"
    run_command("itgc_tf.distill", f"--model_dir={student_dir}", *AUTHORS_PIX2PIX,
                f"--vgg_weights={random_vgg_weights}",
                "--vem_weight=0.1", "--vem_target=ground_truth", "--critic_width=8",
                "--critic_blocks=1", "--epochs=1", "--epochs_decay=0",
                "--image_summary_every=0", *DATA)  # test_distill_export_evaluate logs one
    assert (student_dir / "generator.keras").is_file()


def test_distill_gan_compression_from_the_teachers_weights(tmp_path):
    # GAN Compression's weight transfer takes ResNet teachers: a random one (ngf 4).
    from itgc_tf.models.registry import build_generator
    teacher = tmp_path / "teacher.keras"
    build_generator("resnet_6blocks", 3, 3, ngf=4, name_prefix="teacher_").save(teacher)
    student_dir = tmp_path / "student"
    run_command("itgc_tf.distill", f"--model_dir={student_dir}", f"--teacher={teacher}",
                "--recipe=gan_compression", "--init_student_from_teacher",
                "--student_netG=resnet_6blocks", "--student_ngf=2",
                "--distill_pairs=block_2:block_2", "--epochs=1", "--epochs_decay=0", *DATA)
    assert (student_dir / "generator.keras").is_file()


@pytest.mark.parametrize("args,message", [
    (["--recipe=omgd", "--teacher_netG=unet_32", "--teacher_ngf=4",
      "--teacher_discriminator=shared", "--lambda_cd=0"],
     "--teacher_discriminator=shared judges several"),
    (["--recipe=omgd", "--teacher_netG=unet_32", "--teacher_ngf=4", "--lambda_cd=0",
      "--init_student_from_teacher"], "trains its teachers from scratch"),
    (["--teacher=/t", "--teacher_batchnorm=train"], "only apply to teachers trained online"),
    (["--teacher_every_n_steps=0"], "--teacher_every_n_steps must be >= 1"),
])
def test_authors_options_are_rejected_where_they_do_not_apply(args, message):
    # Configuration errors: see test_bad_flags_are_rejected_by_the_configuration.
    with pytest.raises(ValueError, match=re.escape(message)):
        _parse(DistillConfig, ["--model_dir=m", *args, *DATA])


def test_a_locked_run_folder_is_refused_naming_the_holder(tmp_path):
    # The lock is a PID file, not re-entrant: a command of the holding process itself is
    # refused exactly as another process's would be (same live-holder check).
    from itgc_tf.training.run_lock import RunLock
    with RunLock(tmp_path):
        result = run_command("itgc_tf.train_teacher", f"--model_dir={tmp_path}",
                             *TEACHER_ARGS, expect_ok=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert str(os.getpid()) in result.stderr
    assert not (tmp_path / "flags.cfg").exists()


def test_generator_channels_differing_from_the_data_are_named(teacher_dir):
    result = run_command("itgc_tf.export", f"--generator={teacher_dir}", "--tflite=",
                         "--dataset=demo:enhance", "--input_nc=1", "--export_dir=/nonexistent/x",
                         expect_ok=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "has 3 input channels but the data has --input_nc=1" in result.stderr
    assert "\x1b[" not in result.stderr and "--helpfull" not in result.stderr


def test_a_bad_number_names_its_flag_without_a_help_dump(tmp_path):
    result = run_command("itgc_tf.distill", f"--model_dir={tmp_path / 'run'}",
                         "--dataset=demo:enhance", "--langevin_noise=abc", expect_ok=False)
    assert result.returncode == 1 and "--langevin_noise" in result.stderr
    assert "Traceback" not in result.stderr and "--helpfull" not in result.stderr


@pytest.mark.slow  # three toy training processes: ~2 min on 2 shared cores
def test_a_corrupt_checkpoint_is_refused_and_restore_from_goes_on_from_an_earlier_one(
        teacher_dir, tmp_path):
    run_dir = tmp_path / "teacher"
    shutil.copytree(teacher_dir, run_dir)
    again = [f"--flagfile={run_dir / 'flags.cfg'}", f"--model_dir={run_dir}"]
    again.append("--allow_changed_flags")
    checkpoints = run_dir / "checkpoints"
    if not (checkpoints / "ckpt-2.index").is_file():  # not yet resumed to epoch 2 above
        run_command("itgc_tf.train_teacher", *again, "--epochs=2")
    assert (checkpoints / "ckpt-2.index").is_file()
    data = next(checkpoints.glob("ckpt-2.data-*"))
    data.write_bytes(b"\xff" * data.stat().st_size)
    corrupt = data.read_bytes()
    failed = run_command("itgc_tf.train_teacher", *again, "--epochs=3", expect_ok=False)
    assert failed.returncode != 0
    assert "ckpt-2" in failed.stderr and "corrupt" in failed.stderr
    assert "--restore_from=PATH" in failed.stderr and "Traceback" not in failed.stderr
    resumed = run_command("itgc_tf.train_teacher", *again, "--epochs=3", "--restore_from=ckpt-1",
                          "--verbose=2")
    assert "Epoch 2/3" in resumed.stdout and "Epoch 1/3" not in resumed.stdout
    assert data.read_bytes() == corrupt  # later saves are numbered above it: ckpt-3, ckpt-4
    assert (checkpoints / "ckpt-4.index").is_file()
    assert "--restore_from" not in (run_dir / "flags.cfg").read_text()  # a one-off, not recorded
