"""The SavedModel export traces the generator once per graph it serves
(itgc_tf.export.saved_model): tracing is most of an export's time."""
import keras
import numpy as np
import tensorflow as tf

from itgc_tf.export import export_saved_model


class CountsTraces(keras.layers.Layer):
    """Identity that counts its calls in graph mode (its traces)."""
    traces = 0

    def call(self, x):
        if not tf.executing_eagerly():
            CountsTraces.traces += 1
        return x


def test_each_signature_graph_traces_the_generator_once(tmp_path):
    images = keras.Input((None, None, 3))
    outputs = CountsTraces()(keras.layers.Conv2D(3, 3, padding="same", activation="tanh")(images))
    generator = keras.Model(images, outputs)
    CountsTraces.traces = 0
    export_dir = export_saved_model(generator, str(tmp_path / "g"), input_nc=3, output_nc=3)
    # serving_default and tflite (no instance norm: one graph each); uint8 and encoded
    # call serving_default's graph. Keras' ExportArchive traced each endpoint again
    # inside the save, and the model's default signature: 5.
    assert CountsTraces.traces == 2
    loaded = tf.saved_model.load(export_dir)
    assert set(loaded.signatures) == {"serving_default", "tflite", "uint8", "encoded"}
    x = np.random.default_rng(0).uniform(-1, 1, (2, 16, 24, 3)).astype("float32")
    for name in ("serving_default", "tflite"):
        got = loaded.signatures[name](images=tf.constant(x))["outputs"].numpy()
        np.testing.assert_allclose(got, generator(x).numpy(), atol=1e-6, err_msg=name)
