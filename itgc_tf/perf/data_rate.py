"""Input-pipeline throughput of demo:enhance (section ``data``)."""
import statistics

from itgc_tf.data import build_dataset, dataset_info
from itgc_tf.eval.latency import time_interleaved
from itgc_tf.perf.networks import demo_config


def measure_data(spec):
    """Images/s (A+B pairs) of the demo:enhance pipeline (load, resize, random crop,
    flip, batch): median of spec["repeats"] epochs after a warm-up epoch.

    spec: {size, batch, repeats}. Returns {source, size, batch, images_per_s}.
    """
    config = demo_config(spec["size"], spec["batch"])
    ds = build_dataset(config)
    seen = dataset_info(config).num_examples // config.batch_size * config.batch_size

    def epoch():
        for batch in ds:
            batch["A"].numpy()

    runs, _ = time_interleaved({"epoch": epoch}, spec["repeats"])["epoch"]
    return dict(source="demo:enhance", size=spec["size"], batch=spec["batch"],
                images_per_s=seen / statistics.median(runs))
