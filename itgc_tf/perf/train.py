"""Train-step timing of one training configuration (section ``train``)."""
import statistics

import keras

from itgc_tf.eval.latency import time_interleaved
from itgc_tf.perf.networks import build_train_model, demo_images
from itgc_tf.perf.steps import compiled_step, first_call_s, peak_device_mb, peak_rss_mb


def measure_train(spec):
    """One configuration at one size, batch and XLA setting.

    spec: {config, size, batch, jit, repeats}. Returns {config, size, batch, jit (XLA
    really on), step_s (median s), step_s_runs, images_per_s, cpu_s_per_step,
    first_call_s, traces, peak_rss_mb, rss_before_first_step_mb, peak_device_mb (GPU
    memory, None on the CPU)}.
    """
    keras.utils.set_random_seed(0)
    size, batch = spec["size"], spec["batch"]
    data = demo_images(size, batch)
    model = build_train_model(spec["config"], size, spec["jit"])
    step, traced = compiled_step(model, data)
    rss_before = peak_rss_mb()
    first = first_call_s(step)
    runs, cpu = time_interleaved({"step": step}, spec["repeats"], warmup=0)["step"]
    step_s = statistics.median(runs)
    return dict(config=spec["config"], size=size, batch=batch, jit=bool(model.jit_compile),
                step_s=step_s, step_s_runs=runs, images_per_s=batch / step_s,
                cpu_s_per_step=statistics.median(cpu), first_call_s=first, traces=traced()[0],
                peak_rss_mb=peak_rss_mb(), rss_before_first_step_mb=rss_before,
                peak_device_mb=peak_device_mb())
