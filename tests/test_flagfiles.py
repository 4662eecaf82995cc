"""Every flagfile in flags/ is a recipe its command accepts: it names the command, parses
with that command's flags alone (a FlagValues of its own, so another command's flags
cannot make it pass), its data options validate, its feature taps exist in the networks
it names, and every option it still lacks is listed in docs/REPRODUCE.md."""
import pathlib
import re

import pytest
from absl import flags

from itgc_tf import options
from itgc_tf.models.registry import build_generator
from itgc_tf.models.taps import available_taps
from itgc_tf.training.config import DistillConfig, TrainTeacherConfig

ROOT = pathlib.Path(__file__).resolve().parents[1]
FLAGFILES = sorted((ROOT / "flags").glob("*.cfg"))
COMMAND = re.compile(r"^#.*python -m (itgc_tf\.\w+)")
TEACHER_FLAGFILE = re.compile(r"^# Teacher flagfile: (flags/\S+\.cfg)", re.MULTILINE)
TODO_FLAG = re.compile(r"^# TODO flag: (\w+)")

# The configuration each command parses its flags into (`itgc_tf.options`).
CONFIGS = {"itgc_tf.train_teacher": TrainTeacherConfig, "itgc_tf.distill": DistillConfig}


def _parse(config_class, paths):
    """{path: the values the tests check} of each flagfile parsed into ``config_class``
    (which validates every option) by a FlagValues holding that command's flags alone,
    so that another command's flags cannot make it pass."""
    flag_values = flags.FlagValues()
    options.define_flags(config_class, flag_values)
    parsed = {}
    for path in paths:
        flag_values(["prog", f"--flagfile={path}"])
        config = options.from_flags(config_class, flag_values)
        values = {"netG": config.generator.netG if hasattr(config, "generator") else None}
        if hasattr(config, "student"):
            values.update(recipe=config.student.recipe, student_netG=config.student.student_netG,
                          teacher_netG=list(config.student.teacher_netG),
                          student=config.student.student, teacher=config.student.teacher,
                          pairs=[list(p) for p in config.recipe_options.distill_pairs])
        parsed[path] = values
        flag_values.unparse_flags()
    return parsed


def _command(path):
    for line in path.read_text().splitlines():
        match = COMMAND.match(line)
        if match:
            return match.group(1)
    return None


def _parse_all():
    by_command = {}
    for path in FLAGFILES:
        by_command.setdefault(_command(path), []).append(str(path))
    parsed = {}
    for command, paths in by_command.items():
        assert command in CONFIGS, f"{paths} name {command}, which has no entry in CONFIGS"
        parsed.update(_parse(CONFIGS[command], paths))
    return parsed


@pytest.fixture(scope="module")
def parsed():
    return _parse_all()


def test_every_flagfile_opens_with_a_comment_naming_its_command():
    assert FLAGFILES
    for path in FLAGFILES:
        assert path.read_text().startswith("#"), f"{path.name} has no header comment"
        assert _command(path), f"{path.name} names no 'python -m itgc_tf.<command>'"


def test_every_flagfile_parses_with_the_command_it_names(parsed):
    assert sorted(parsed) == sorted(str(p) for p in FLAGFILES)


def test_a_flagfile_with_an_unknown_flag_is_rejected(tmp_path):
    bad = tmp_path / "bad.cfg"
    bad.write_text("# python -m itgc_tf.train_teacher\n--dataset=demo:enhance\n"
                   "--student_ngf=16\n")  # a distill flag: unknown to train_teacher
    with pytest.raises(flags.UnrecognizedFlagError, match="student_ngf"):
        _parse(CONFIGS["itgc_tf.train_teacher"], [str(bad)])


def _teacher_netG(path, values, parsed):
    """The teacher architecture a distill flagfile's taps refer to: the first online teacher
    (omgd), else the netG of the teacher flagfile its header names ("# Teacher flagfile:
    flags/X.cfg"), else of the teacher flagfile whose command writes --model_dir=<its
    --teacher>."""
    if values["recipe"] == "omgd":
        return values["teacher_netG"][0]
    named = TEACHER_FLAGFILE.search(path.read_text())
    if named:
        return parsed[str(ROOT / named.group(1))]["netG"]
    teachers = [p for p in parsed if p.endswith("_teacher.cfg") and
                f"--model_dir={values['teacher']}" in pathlib.Path(p).read_text()]
    assert len(teachers) == 1, (f"{path.name}: expected one teacher flagfile writing "
                                f"--model_dir={values['teacher']}, got {teachers}")
    return parsed[teachers[0]]["netG"]


def test_distill_pairs_name_taps_of_the_teacher_and_student_networks(parsed):
    taps = {}

    def taps_of(net):
        if net not in taps:
            taps[net] = set(available_taps(build_generator(net, 3, 3, ngf=2)))
        return taps[net]

    checked = 0
    for name, values in parsed.items():
        path = pathlib.Path(name)
        if "recipe" not in values or not values["pairs"]:
            continue
        teacher = _teacher_netG(path, values, parsed)
        # an itgc-prune student (--student) is the teacher's architecture, pruned
        student = teacher if values["student"] else values["student_netG"]
        for t_tap, s_tap in values["pairs"]:
            assert t_tap in taps_of(teacher), f"{path.name}: {t_tap} not a tap of {teacher}"
            assert s_tap in taps_of(student), f"{path.name}: {s_tap} not a tap of {student}"
            checked += 1
    assert checked > 0


def test_no_flagfile_names_a_missing_option():
    todos = [f"{p.name}: {line}" for p in FLAGFILES for line in p.read_text().splitlines()
             if TODO_FLAG.match(line)]
    assert not todos, f"options the flagfiles still lack: {todos}"


def test_every_option_added_for_the_authors_in_reproduce_md_is_a_flag():
    doc = (ROOT / "docs" / "REPRODUCE.md").read_text()
    section = doc.split("## Options added for the authors' recipes", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^- `--(\w+)", section, flags=re.MULTILINE))
    flag_values = flags.FlagValues()
    options.define_flags(DistillConfig, flag_values)
    options.define_flags(TrainTeacherConfig, flag_values)
    assert {"student_rounds_every_epochs", "student_gaugan_loss", "norm_affine_D"} <= listed
    assert listed <= set(flag_values), f"not flags: {sorted(listed - set(flag_values))}"
