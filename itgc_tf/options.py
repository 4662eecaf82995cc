"""Configuration dataclasses <-> absl flags, in one place.

A configuration is a frozen dataclass that validates itself in ``__post_init__``.
Each leaf field is declared with `option` (default, help, flag kind); a field
whose type is another configuration dataclass nests it. The field name IS the
flag name, so every option has one name from the command line to the library:

    @dataclasses.dataclass(frozen=True)
    class ScheduleConfig:
        flag_group = "training"
        lr: float = option(2e-4, "Adam learning rate.")

    define_flags(TeacherRunConfig)            # one flag per leaf, grouped by flag_group
    config = from_flags(TeacherRunConfig)     # the validated configuration
    lines = flag_lines(config)                # --name=value lines that parse back to it

Nested field names must be unique over the whole tree (a flag is one name).
"""
import dataclasses
import textwrap
import typing

from absl import flags

_PREFIX = "itgc_tf options: "


def option(default=dataclasses.MISSING, help="", *, kind=None, choices=None,  # noqa: A002
           one_off=False):
    """A leaf field. ``kind``: a key of `KINDS` (default: from the default's type);
    ``choices``: allowed values (an enum flag); ``one_off``: an option of this
    invocation only, left out of `flag_lines` (e.g. a checkpoint to restore once)."""
    if kind is None:
        kind = "enum" if choices else type(default).__name__
    if kind not in KINDS:
        raise TypeError(f"option kind {kind!r} is not one of {sorted(KINDS)}.")
    return dataclasses.field(default=default,
                             metadata={"help": help, "kind": kind, "choices": choices,
                                       "one_off": one_off})


def _pair(text, name):
    parts = str(text).split(":")
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise ValueError(f"--{name} entries look like TEACHER_TAP:STUDENT_TAP (e.g. "
                         f"block_2:block_2), got {text!r}. Fix: write both tap names, "
                         "separated by one colon.")
    return tuple(parts)


def _float_or_auto(text, name):
    if text == "auto":
        return "auto"
    try:
        return float(text)
    except (TypeError, ValueError):
        raise ValueError(f"--{name} must be a number or 'auto', got {text!r}. Fix: e.g. "
                         f"--{name}=0.005 or --{name}=auto.") from None


@dataclasses.dataclass(frozen=True)
class Kind:
    """How one kind of option becomes a flag: the absl definer, flag value ->
    config value (``parse(value, name)``), config value -> flagfile text."""
    define: typing.Callable
    parse: typing.Callable = lambda value, name: value
    text: typing.Callable = str


def _listed(value):
    return ",".join(map(str, value))


KINDS = {
    "bool": Kind(flags.DEFINE_bool, text=lambda v: "true" if v else "false"),
    "int": Kind(flags.DEFINE_integer),
    "float": Kind(flags.DEFINE_float, text=repr),
    "str": Kind(flags.DEFINE_string),
    "enum": Kind(flags.DEFINE_enum),
    "list": Kind(flags.DEFINE_list, lambda v, n: None if v is None else tuple(v), _listed),
    "int_list": Kind(flags.DEFINE_list, lambda v, n: tuple(int(x) for x in v), _listed),
    "pair": Kind(flags.DEFINE_string, lambda v, n: None if v is None else _pair(v, n),
                 lambda v: ":".join(v)),
    "pairs": Kind(flags.DEFINE_list, lambda v, n: tuple(_pair(x, n) for x in v),
                  lambda v: ",".join(":".join(p) for p in v)),
    "float_or_auto": Kind(flags.DEFINE_string, _float_or_auto),
}
KINDS["NoneType"] = KINDS["str"]


def leaves(config_class):
    """[(field, owner class)] of every leaf option of ``config_class``, depth first."""
    result = []
    hints = typing.get_type_hints(config_class)
    for field in dataclasses.fields(config_class):
        if dataclasses.is_dataclass(hints[field.name]):
            result += leaves(hints[field.name])
        else:
            result.append((field, config_class))
    return result


def define_flags(config_class, flag_values=flags.FLAGS):
    """One flag per leaf option, its help the field's, listed under
    "itgc_tf options: <flag_group>" in --helpfull. Flags that exist are left alone."""
    names = [field.name for field, _ in leaves(config_class)]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise TypeError(f"{config_class.__name__} has options named twice: {sorted(duplicates)}.")
    for field, owner in leaves(config_class):
        if field.name in flag_values:
            continue
        meta = field.metadata
        default = None if field.default is dataclasses.MISSING else field.default
        kind = KINDS[meta["kind"]]
        if default is not None and meta["kind"] not in ("enum", "bool", "int", "float", "str"):
            default = kind.text(default)
        args = (field.name, default) + ((list(meta["choices"]),) if meta["kind"] == "enum" else ())
        kind.define(*args, meta["help"], flag_values=flag_values,
                    module_name=_PREFIX + getattr(owner, "flag_group", owner.__name__))


def from_values(config_class, values):
    """The validated ``config_class`` from flat {option name: value}; options
    left out take their defaults. Unknown names raise ValueError."""
    values = dict(values)
    config = _build(config_class, values)
    if values:
        raise ValueError(f"{config_class.__name__} has no options {sorted(values)}. Fix: use "
                         f"the names of --helpfull of this command.")
    return config


def _build(config_class, values):
    hints = typing.get_type_hints(config_class)
    kwargs = {}
    for field in dataclasses.fields(config_class):
        if dataclasses.is_dataclass(hints[field.name]):
            kwargs[field.name] = _build(hints[field.name], values)
        elif field.name in values:
            kwargs[field.name] = values.pop(field.name)
    return config_class(**kwargs)


def from_flags(config_class, flag_values=flags.FLAGS):
    """The validated ``config_class`` the parsed flags describe (ValueError naming
    the bad option and its fix)."""
    values = {}
    for field, _ in leaves(config_class):
        kind = KINDS[field.metadata["kind"]]
        values[field.name] = kind.parse(flag_values[field.name].value, field.name)
    return from_values(config_class, values)


def flat(config):
    """{option name: value} of every leaf of ``config``."""
    result = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        result |= flat(value) if dataclasses.is_dataclass(value) else {field.name: value}
    return result


def flag_lines(config):
    """``--name=value`` lines (sorted; None values and one-off options left out) that
    parse back into ``config`` (one-off options at their defaults) through
    `define_flags` + `from_flags`."""
    lines, values = [], flat(config)
    for field, _ in leaves(type(config)):
        value = values[field.name]
        if value is not None and not field.metadata.get("one_off"):
            lines.append(f"--{field.name}={KINDS[field.metadata['kind']].text(value)}")
    return sorted(lines)


def default_flag_values(config_class):
    """{name: value text} of every option's default, as `flag_lines` writes it (None
    defaults and one-off options left out)."""
    values = {}
    for field, _ in leaves(config_class):
        default = (field.default_factory() if field.default_factory is not dataclasses.MISSING
                   else field.default)
        if default not in (None, dataclasses.MISSING) and not field.metadata.get("one_off"):
            values[field.name] = KINDS[field.metadata["kind"]].text(default)
    return values


def require(ok, message):
    """Raise ValueError(message) unless ``ok``: the one-line check every config uses."""
    if not ok:
        raise ValueError(message)


def union(name, config_classes, flag_group):
    """A frozen dataclass holding every option of ``config_classes`` once (options
    shared through inheritance appear once; two different options of one name are
    an error). ``pick(union_value, config_class)`` builds one of them back."""
    merged = {}
    for config_class in config_classes:
        for field in dataclasses.fields(config_class):
            known = merged.get(field.name)
            if known is not None and (known[2].default, known[2].metadata) != (
                    field.default, field.metadata):
                raise TypeError(f"Two different options are named {field.name!r}.")
            merged[field.name] = (field.name, typing.get_type_hints(config_class)[field.name],
                                  option(field.default, field.metadata["help"],
                                         kind=field.metadata["kind"],
                                         choices=field.metadata["choices"],
                                         one_off=field.metadata.get("one_off", False)))
    return dataclasses.make_dataclass(name, list(merged.values()), frozen=True,
                                      namespace={"flag_group": flag_group})


def pick(values, config_class):
    """The validated ``config_class`` made of the same-named options of ``values``."""
    return config_class(**{f.name: getattr(values, f.name)
                           for f in dataclasses.fields(config_class)})


def _help_entry(field):
    meta = field.metadata
    default = None if field.default is dataclasses.MISSING else field.default
    if default is None:
        shown = "no default" if field.default is dataclasses.MISSING else "default unset"
    else:
        shown = f"default {KINDS[meta['kind']].text(default)!r}" if meta["kind"] != "str" else (
            f"default {default!r}")
    choices = f"; one of {', '.join(meta['choices'])}" if meta["choices"] else ""
    text = textwrap.fill(f"{meta['help']} ({shown}{choices})", width=92,
                         initial_indent="      ", subsequent_indent="      ")
    return [f"  --{field.name}", text]


def help_lines(config_class, names=None, grouped=True):
    """``--help`` lines of ``config_class``'s options: each flag, its help, default and
    choices; only ``names`` (in that order) when given, else all, under their
    ``flag_group`` headings when ``grouped``. Imports nothing heavy (no TensorFlow)."""
    fields = {field.name: (field, owner) for field, owner in leaves(config_class)}
    unknown = [name for name in (names or ()) if name not in fields]
    if unknown:
        raise TypeError(f"{config_class.__name__} has no options {unknown}.")
    chosen = [fields[name] for name in names] if names else list(fields.values())
    lines, group = [], None
    for field, owner in chosen:
        heading = getattr(owner, "flag_group", owner.__name__)
        if grouped and heading != group:
            lines += ["", f"{heading}:"]
            group = heading
        lines += _help_entry(field)
    return lines
