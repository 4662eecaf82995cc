"""TF-profiler traces of a kd+VEM step and of the student SavedModel, summarised by op
type and by network part (section ``profile``)."""
import collections
import glob
import os
import re
import tempfile

import keras
import tensorflow as tf

from itgc_tf.artifacts.runners import SavedModelRunner
from itgc_tf.export import export_saved_model
from itgc_tf.perf.networks import build_train_model, demo_images, student_generator
from itgc_tf.perf.steps import compiled_step

_TF_OP_EVENT = re.compile(r"^[^ :]+:[A-Za-z_][A-Za-z0-9_]*$")  # "scope/name:OpType"
_PARTS = {"critic": "critic", "student": "student", "teacher": "teacher",
          "discriminator": "discriminator", "n_layers": "discriminator", "adam": "optimizers"}


def part_of(op_name):
    """Which part of a step an op ``scope/.../name:Type`` belongs to: langevin_loop (ops
    in a while body or condition), critic, student, teacher, discriminator, optimizers
    or other."""
    name = op_name.split(":")[0]
    if "while/body" in name or "while/cond" in name:
        return "langevin_loop"
    lower = name.lower()
    return next((part for key, part in _PARTS.items() if key in lower), "other")


def summarise_events(events, calls):
    """Op time of (event name, duration ps) pairs over ``calls`` calls: {op_ms_per_call,
    by_op: [[op type, share]] (the 12 largest), by_part: {part: share}}; shares are
    fractions of the total op time. Events that are not ops (function calls, executor
    steps) are left out."""
    by_op, by_part = collections.Counter(), collections.Counter()
    for name, duration_ps in events:
        if _TF_OP_EVENT.match(name):
            by_op[name.rsplit(":", 1)[1]] += duration_ps
            by_part[part_of(name)] += duration_ps
    total = sum(by_op.values())
    share = 1 / (total or 1)
    return dict(op_ms_per_call=total / 1e9 / calls,
                by_op=[[op, ps * share] for op, ps in by_op.most_common(12)],
                by_part={part: ps * share for part, ps in by_part.most_common()})


def trace_events(logdir):
    """(event name, duration ps) of every event in the ``*.xplane.pb`` files under
    ``logdir``; op time is summed over threads."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    for path in glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True):
        space = xplane_pb2.XSpace()
        with open(path, "rb") as f:
            space.ParseFromString(f.read())
        for plane in space.planes:
            for line in plane.lines:
                for event in line.events:
                    yield plane.event_metadata[event.metadata_id].name, event.duration_ps


def summarise_trace(logdir, calls):
    """`summarise_events` of the TF-profiler trace under ``logdir``."""
    return summarise_events(trace_events(logdir), calls)


def measure_profile(spec):
    """Traces of 2 kd+VEM steps (XLA off) and 2 student SavedModel calls after 2
    untimed ones. spec: {size, batch}. Returns two records {what, size, batch,
    op_ms_per_call, by_op, by_part}."""
    keras.utils.set_random_seed(0)
    size, batch, calls = spec["size"], spec["batch"], 2
    data = demo_images(size, batch)
    step, _ = compiled_step(build_train_model("kd_vem", size, False), data)
    records = []
    with tempfile.TemporaryDirectory() as workdir:
        export_saved_model(student_generator(), os.path.join(workdir, "student"), input_nc=3,
                           output_nc=3)
        runner = SavedModelRunner(os.path.join(workdir, "student"))
        x = data["A"][:1]
        for what, fn in (("kd_vem_step", step), ("student_saved_model", lambda: runner(x))):
            fn()
            fn()
            logdir = os.path.join(workdir, what)
            tf.profiler.experimental.start(logdir)
            for _ in range(calls):
                fn()
            tf.profiler.experimental.stop()
            records.append(dict(what=what, size=size, batch=batch if what != "student_saved_model"
                                else 1, **summarise_trace(logdir, calls)))
    return records
