"""Convolutions on 2×2 pixel blocks against plain ones (section ``block_conv``): the
generators' 7×7 output convolution to RGB and its neighbours in kernel size and width,
forward and training (forward and every gradient), timed interleaved in one process.
What `itgc_tf.models.layers.PixelBlockConv2D` and its "auto" thresholds
(`BLOCK_MAX_FILTERS`, `BLOCK_MIN_KERNEL`) rest on."""
import tensorflow as tf

from itgc_tf.eval.latency import median_wall_ms, time_interleaved
from itgc_tf.models.layers import PixelBlockConv2D, kernel_choice

# (kernel, input channels, filters): the teacher's (ngf 64) and the student's (ngf 16)
# output convolutions, a grayscale output, smaller kernels, wider outputs, and a stem.
CASES = ((7, 64, 3), (7, 16, 3), (7, 16, 1), (5, 16, 3), (3, 16, 3), (7, 16, 8), (7, 3, 16))
KINDS = {"plain": "portable", "blocks": "fast"}


def _traced(conv, x, kind):
    """(forward, train) concrete functions of ``conv`` on ``x`` traced under
    `kernel_choice` ``kind``; train needs every gradient but returns one element of each."""
    def forward():
        return conv(x)[0, 0, 0]

    def train():
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.square(conv(x)))
        grads = tape.gradient(loss, [x, conv.kernel, conv.bias])
        return [tf.reshape(g, [-1])[0] for g in grads]

    with kernel_choice(kind):  # new tf.functions: a trace is cached per function
        return tf.function(forward).get_concrete_function(), \
            tf.function(train).get_concrete_function()


def _callables(conv, x):
    """{(name, "forward"|"train"): blocking no-argument callable} for each of `KINDS`."""
    fns = {}
    for name, kind in KINDS.items():
        for what, concrete in zip(("forward", "train"), _traced(conv, x, kind)):
            fns[(name, what)] = lambda c=concrete: [t.numpy() for t in tf.nest.flatten(c())]
    return fns


def measure_block_conv(spec):
    """spec: {size, batch, repeats}: output size ``size``² ('valid' convolution of a
    (size + k - 1)² input). Returns one record per case of `CASES`: {size, batch,
    kernel, in_channels, filters, plain_ms, blocks_ms, plain_train_ms, blocks_train_ms
    (medians over the rounds), speedup_x, train_speedup_x (plain / blocks)}."""
    size, batch = spec["size"], spec["batch"]
    records = []
    for kernel, channels, filters in CASES:
        conv = PixelBlockConv2D(filters, kernel)
        conv.build((None, None, None, channels))
        x = tf.random.uniform((batch, size + kernel - 1, size + kernel - 1, channels), -1, 1)
        runs = time_interleaved(_callables(conv, x), spec["repeats"], warmup=2)
        ms = median_wall_ms(runs)
        records.append(dict(
            size=size, batch=batch, kernel=kernel, in_channels=channels, filters=filters,
            plain_ms=ms[("plain", "forward")], blocks_ms=ms[("blocks", "forward")],
            plain_train_ms=ms[("plain", "train")], blocks_train_ms=ms[("blocks", "train")],
            speedup_x=ms[("plain", "forward")] / ms[("blocks", "forward")],
            train_speedup_x=ms[("plain", "train")] / ms[("blocks", "train")]))
    return records
