"""The flags a run was started with, compared on resume.

A run folder records its resolved flags in ``flags.cfg`` (one ``--name=value``
a line). On resume the new flags are compared with the recorded ones: a change
to a flag that defines the run (architecture, data, schedule, optimiser: every
flag not in `RESUME_SAFE_FLAGS`) is refused with a message listing each
difference, unless the user overrides it explicitly, in which case the change
is appended to ``flags_history.txt`` beside ``flags.cfg``.
"""
import dataclasses
import time

# Flags that only change how a run is watched, saved or guarded, not what its steps
# compute (skip_nonfinite_steps: the way past a NaN the NaN guard's message advises).
RESUME_SAFE_FLAGS = frozenset({
    "verbose", "image_summary_every", "log_every_steps", "keep_checkpoints",
    "checkpoint_every_steps",
    "restore_from", "allow_changed_flags", "explosion_factor", "explosion_patience",
    "skip_nonfinite_steps", "tpu", "flagfile",
})


@dataclasses.dataclass(frozen=True)
class FlagChange:
    """One difference: ``recorded`` None = new flag, ``new`` None = flag dropped."""

    name: str
    recorded: str | None
    new: str | None

    def __str__(self):
        def shown(value):
            return "(unset)" if value is None else repr(value)
        return f"--{self.name}: {shown(self.recorded)} (recorded) -> {shown(self.new)} (now)"


def parse_flagfile(text):
    """{name: value text} of a flagfile's ``--name=value`` lines (``--name``
    alone is "true"; ``--noname`` is read as a flag named "noname", since
    without the flag definitions it is ambiguous); blank and ``#`` lines are
    skipped.

    Raises ValueError naming the line for anything else.
    """
    values = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not line.startswith("--") or len(line) == 2:
            raise ValueError(f"Line {number} of the flagfile, {line!r}, is not --name=value. Fix: "
                             "write one --name=value a line.")
        name, sep, value = line[2:].partition("=")
        values[name] = value if sep else "true"
    return values


def flag_changes(recorded, new):
    """The `FlagChange` s between two {name: value} dicts, sorted by name; values
    are compared as text (booleans case-insensitively)."""
    def same(a, b):
        return a == b or (a is not None and b is not None and
                          a.lower() in ("true", "false") and a.lower() == b.lower())

    names = sorted(set(recorded) | set(new))
    return [FlagChange(n, recorded.get(n), new.get(n)) for n in names
            if not same(recorded.get(n), new.get(n))]


def refused_changes(changes, safe=RESUME_SAFE_FLAGS):
    """The changes that alter the run: those to flags outside ``safe``."""
    return [change for change in changes if change.name not in safe]


def changes_message(changes, flagfile, override_flag):
    """The refusal naming every change, the recorded flags and the override."""
    listing = "\n".join(f"  {change}" for change in changes)
    return (f"The flags differ from the ones this run was started with ({flagfile}) in ways that "
            f"change the run:\n{listing}\nFix: resume with --flagfile={flagfile} (add only flags "
            f"that do not change the run), start a new --model_dir, or pass --{override_flag} to "
            "apply the changes anyway (they are recorded in flags_history.txt).")


def history_entry(changes, when=None):
    """Text appended to ``flags_history.txt`` for an overridden resume."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() if when is None else when))
    return f"# resumed {stamp} with changed flags\n" + "".join(f"{c}\n" for c in changes)
