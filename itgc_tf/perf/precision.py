"""Float32 against mixed precision on the anchor step, in one process (section
``precision``): the kd and kd+VEM steps of `itgc_tf.perf.anchor.anchor_step` under each
Keras dtype policy, timed interleaved round by round, so that the machine's load hits
every variant alike (issue 19's targets 2 and 3: what VEM adds to the kd step, and
what bfloat16 gains over float32)."""
import statistics

import keras

from itgc_tf.eval.latency import median_wall_ms, time_interleaved
from itgc_tf.perf.anchor import anchor_step
from itgc_tf.perf.networks import critic_blocks


def precision_records(size, batch, runs):
    """Records of one measurement from ``runs`` {(precision, vem): (wall s runs, CPU s
    runs)}: one per variant, {size, batch, precision, vem, ms, cpu_ms (medians),
    ms_rounds, vem_adds (kd+VEM / kd - 1, wall; on the kd+VEM record, else None),
    vs_float32_x (the float32 step's ms / this one's, same vem; None without float32)}."""
    ms = median_wall_ms(runs)
    records = []
    for (precision, vem), (wall, cpu) in runs.items():
        kd = ms.get((precision, False))
        float32 = ms.get(("float32", vem))
        records.append(dict(
            size=size, batch=batch, precision=precision, vem=vem, ms=ms[(precision, vem)],
            cpu_ms=1000.0 * statistics.median(cpu), ms_rounds=[1000.0 * t for t in wall],
            vem_adds=ms[(precision, vem)] / kd - 1.0 if vem and kd else None,
            vs_float32_x=float32 / ms[(precision, vem)] if float32 else None))
    return records


def measure_precision(spec):
    """spec: {size, batch, repeats (timed rounds), precisions (Keras policies)}.
    Returns `precision_records` (a list). The critic has the most blocks that fit
    ``size`` (7 at 256²); the first two calls of every step (tracing) are not timed."""
    size, batch = spec["size"], spec["batch"]
    steps = {}
    try:
        for precision in spec["precisions"]:
            for vem in (False, True):
                steps[(precision, vem)] = anchor_step(size, batch, vem, precision,
                                                      critic_blocks(size))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    runs = time_interleaved(steps, spec["repeats"], warmup=2)
    return precision_records(size, batch, runs)
