"""--help of every command: a short description and its most used flags, exit 0, with
TensorFlow never imported; --helpfull lists exactly the command's own flags."""
import pathlib
import subprocess
import sys

import pytest

from itgc_tf import demo, distill, evaluate, options, profile, prune, train_teacher
from itgc_tf.eval.config import EvalConfig
from itgc_tf.export import __main__ as export_main
from itgc_tf.export.config import ExportConfig
from itgc_tf.training.config import DistillConfig, TrainTeacherConfig

ROOT = pathlib.Path(__file__).resolve().parents[1]
# module -> (its configuration, its --help flags: the most used ones, or None for all)
COMMANDS = {
    "itgc_tf.demo": (demo.DemoConfig, demo.COMMON_FLAGS),
    "itgc_tf.evaluate": (EvalConfig, evaluate.COMMON_FLAGS),
    "itgc_tf.train_teacher": (TrainTeacherConfig, train_teacher.COMMON_FLAGS),
    "itgc_tf.distill": (DistillConfig, distill.COMMON_FLAGS),
    "itgc_tf.export": (ExportConfig, export_main.COMMON_FLAGS),
    "itgc_tf.prune": (prune.PruneConfig, None),
    "itgc_tf.profile": (profile.ProfileConfig, None),
}
_LOADED = "heavy modules loaded at exit:"


def _python(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def _help(module, flag):
    """``python -m module flag`` (through runpy, the same thing) in a fresh process,
    which prints, as it exits, which of tensorflow and keras were imported."""
    code = ("import runpy, sys\n"
            "try:\n"
            f"    runpy.run_module({module!r}, run_name='__main__', alter_sys=True)\n"
            "finally:\n"
            f"    print({_LOADED!r}, sorted(m for m in ('tensorflow', 'keras') "
            "if m in sys.modules))\n")
    result = _python("-c", code, flag)
    text, _, loaded = result.stdout.rpartition(_LOADED)
    return result, text, loaded.strip()


def _flags_listed(text):
    return [line.strip()[2:] for line in text.splitlines() if line.startswith("  --")]


@pytest.mark.parametrize("module", sorted(COMMANDS))
def test_help_is_the_description_and_the_most_used_flags_exits_0_without_tensorflow(module):
    config_class, common = COMMANDS[module]
    result, text, loaded = _help(module, "--help")
    assert result.returncode == 0, result.stderr
    assert loaded == "[]"
    assert result.stderr == ""
    assert text.startswith(f"usage: python -m {module} ")
    description = sys.modules[f"{module}.__main__" if module == "itgc_tf.export" else module]
    assert description.__doc__.strip().splitlines()[0] in text
    listed = _flags_listed(text)
    if common is None:  # a command of few flags lists them all
        assert sorted(listed) == sorted(f.name for f, _ in options.leaves(config_class))
        assert len(listed) <= 10
    else:
        assert listed == list(common) and len(common) <= 10
        assert "--helpfull lists every flag" in text


@pytest.mark.parametrize("module", sorted(COMMANDS))
def test_helpfull_lists_exactly_the_commands_own_flags_without_tensorflow(module):
    config_class, _ = COMMANDS[module]
    result, text, loaded = _help(module, "--helpfull")
    assert result.returncode == 0, result.stderr
    assert loaded == "[]"
    assert sorted(_flags_listed(text)) == sorted(f.name for f, _ in options.leaves(config_class))
    for foreign in ("test_srcdir", "tt_", "xml_output_file", "only_check_args", "helpxml"):
        assert f"--{foreign}" not in text, foreign


def test_the_commands_and_their_configurations_import_without_tensorflow():
    modules = [*COMMANDS, "itgc_tf.export.__main__", "itgc_tf.options", "itgc_tf.cli.app",
               "itgc_tf.training.config", "itgc_tf.eval.config", "itgc_tf.export.config",
               "itgc_tf.models.config", "itgc_tf.models.registry", "itgc_tf.vem.config",
               "itgc_tf.data.config", "itgc_tf.recipes", "itgc_tf.recipes.options"]
    code = (f"import importlib, sys; [importlib.import_module(m) for m in {modules!r}]; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    result = _python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
