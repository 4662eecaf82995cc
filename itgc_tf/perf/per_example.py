"""The frozen teacher's forward pass one image at a time against one batched call
(section ``per_example``): the teacher alone (MobileResNet-9 and ResNet-9, ngf 64) and,
unless --quick, the anchor step (kd and kd+VEM) built both ways, timed interleaved in
one process. What `itgc_tf.models.per_example.per_example_forward` rests on."""
import keras
import tensorflow as tf

from itgc_tf.eval.latency import median_wall_ms, time_interleaved
from itgc_tf.models.per_example import per_example_forward
from itgc_tf.models.registry import build_generator
from itgc_tf.perf.anchor import anchor_step
from itgc_tf.perf.networks import critic_blocks

TEACHERS = ("mobile_resnet_9blocks", "resnet_9blocks")
FORMS = {"batched": lambda model, x: model(x, training=False),
         "per_example": per_example_forward}


def _forwards(model):
    """{form: tf.function of ``model``'s forward pass}, each form of `FORMS` in its own
    function (a cached trace would time one form twice)."""
    return {form: tf.function(lambda x, forward=forward: forward(model, x))
            for form, forward in FORMS.items()}


def _record(what, teacher, vem, spec, runs):
    ms = median_wall_ms(runs)
    return dict(what=what, teacher=teacher, vem=vem, size=spec["size"], batch=spec["batch"],
                batched_ms=ms["batched"], per_example_ms=ms["per_example"],
                speedup_x=ms["batched"] / ms["per_example"])


def measure_per_example(spec):
    """spec: {size, batch, repeats, steps (also time the anchor step)}. Returns records
    {what: teacher_forward | anchor_step, teacher (generator name), vem (None for the
    forward pass), size, batch, batched_ms, per_example_ms (medians over the rounds),
    speedup_x (batched / per_example)}."""
    size, batch = spec["size"], spec["batch"]
    keras.utils.set_random_seed(0)
    x = tf.random.uniform((batch, size, size, 3), -1.0, 1.0)
    records = []
    for name in TEACHERS:
        fns = {form: lambda fn=fn: fn(x).numpy()
               for form, fn in _forwards(build_generator(name, 3, 3, ngf=64)).items()}
        runs = time_interleaved(fns, spec["repeats"], warmup=2)
        records.append(_record("teacher_forward", name, None, spec, runs))
    if spec["steps"]:
        for vem in (False, True):
            fns = {form: anchor_step(size, batch, vem, critic_blocks=critic_blocks(size),
                                     per_example=form == "per_example") for form in FORMS}
            runs = time_interleaved(fns, spec["repeats"], warmup=2)
            records.append(_record("anchor_step", TEACHERS[0], vem, spec, runs))
    return records
