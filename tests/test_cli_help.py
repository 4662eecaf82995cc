"""--help of the commands: a short description and the most used flags, exit 0, before
TensorFlow is imported; --helpfull lists exactly the command's own flags."""
import pathlib
import subprocess
import sys

import pytest

from itgc_tf import demo, evaluate, options
from itgc_tf.eval.config import EvalConfig

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _python(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def _flags_listed(text):
    return [line.strip()[2:] for line in text.splitlines() if line.startswith("  --")]


@pytest.mark.parametrize("module,common", [("itgc_tf.demo", demo.COMMON_FLAGS),
                                           ("itgc_tf.evaluate", evaluate.COMMON_FLAGS)])
def test_help_is_the_description_and_the_most_used_flags_and_exits_0(module, common):
    result = _python("-m", module, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m {module} ")
    assert _flags_listed(result.stdout) == list(common) and len(common) <= 10
    assert "--helpfull lists every flag" in result.stdout
    assert result.stderr == ""


def test_helpfull_lists_exactly_the_commands_own_flags():
    result = _python("-m", "itgc_tf.evaluate", "--helpfull")
    assert result.returncode == 0, result.stderr
    listed = _flags_listed(result.stdout)
    assert sorted(listed) == sorted(field.name for field, _ in options.leaves(EvalConfig))
    for foreign in ("test_srcdir", "tpu", "tt_", "xml_output_file", "only_check_args"):
        assert f"--{foreign}" not in result.stdout, foreign


def test_options_the_cli_and_command_configs_import_without_tensorflow():
    code = ("import sys; import itgc_tf.options, itgc_tf.cli.app, itgc_tf.demo, "
            "itgc_tf.evaluate, itgc_tf.eval.config; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    result = _python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
