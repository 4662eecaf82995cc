"""TFLite export with parity check (itgc_tf.export.tflite) and the TFLite runner."""
import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.artifacts.runners import SavedModelRunner, TFLiteRunner
from itgc_tf.eval.image_metrics import psnr
from itgc_tf.export import ParityError, QuantizationError, export_saved_model, export_tflite
from itgc_tf.export.tflite import degenerate_int8_tensors
from export_helpers import smooth_images, tiny_generator

SIZE = (24, 32)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    keras.utils.set_random_seed(0)
    generator = tiny_generator()
    return generator, export_saved_model(generator, str(tmp_path_factory.mktemp("sm") / "student"),
                                         input_nc=3, output_nc=3)


def _images(n, seed):
    return smooth_images(n, 32, seed=seed)[:, :SIZE[0]]


@pytest.fixture(scope="module")
def exports(saved_model, tmp_path_factory):
    _, export_dir = saved_model
    out = tmp_path_factory.mktemp("lite")
    loaded = tf.saved_model.load(export_dir)  # fp32 loads its own; fp16, int8 share one
    return {q: export_tflite(export_dir, str(out / f"student_{q}.tflite"), input_size=SIZE,
                             parity_images=_images(6, seed=1), quantization=q,
                             representative_images=_images(32, seed=2) if q == "int8" else None,
                             loaded=None if q == "fp32" else loaded)
            for q in ("fp32", "fp16", "int8")}


def test_a_shared_load_converts_to_the_same_bytes_as_a_load_of_its_own(saved_model, exports,
                                                                        tmp_path):
    _, export_dir = saved_model
    again = export_tflite(export_dir, str(tmp_path / "fp32.tflite"), input_size=SIZE,
                          parity_images=_images(6, seed=1), loaded=tf.saved_model.load(export_dir))
    with open(again.path, "rb") as shared, open(exports["fp32"].path, "rb") as own:
        assert shared.read() == own.read()
    assert again.parity_psnr == exports["fp32"].parity_psnr


def test_parity_is_high_for_float_and_lower_for_int8(exports):
    fp32, fp16, int8 = exports["fp32"], exports["fp16"], exports["int8"]
    assert fp32.parity_psnr > 100 and fp16.parity_psnr > 60
    assert 25 < int8.parity_psnr < fp16.parity_psnr
    for result in exports.values():
        assert result.parity_psnr_min <= result.parity_psnr
        assert result.input_shape == (1, *SIZE, 3)
        assert os.path.getsize(result.path) == result.size_bytes


def test_int8_weights_make_the_file_smaller(exports):
    assert exports["int8"].size_bytes < exports["fp16"].size_bytes < exports["fp32"].size_bytes


def test_tflite_outputs_match_the_keras_generator(saved_model, exports):
    generator, export_dir = saved_model
    images = _images(3, seed=3)
    keras_out = generator(images, training=False).numpy()
    np.testing.assert_allclose(TFLiteRunner(exports["fp32"].path)(images), keras_out, atol=1e-4)
    np.testing.assert_allclose(SavedModelRunner(export_dir)(images), keras_out, atol=1e-5)
    int8_psnr = psnr(TFLiteRunner(exports["int8"].path)(images), keras_out).numpy()
    assert np.all(int8_psnr > 20)


def test_parity_below_the_threshold_refuses_and_writes_nothing(saved_model, tmp_path):
    _, export_dir = saved_model
    with pytest.raises(ParityError, match="min_parity_psnr=200 dB") as error:
        export_tflite(export_dir, str(tmp_path / "s.tflite"), input_size=SIZE,
                      parity_images=_images(2, seed=1), quantization="int8",
                      representative_images=_images(8, seed=2), min_parity_psnr=200)
    assert "fp16/fp32" in str(error.value)
    assert os.listdir(tmp_path) == []


def test_bad_arguments_are_reported_before_writing(saved_model, exports, tmp_path):
    _, export_dir = saved_model
    target = str(tmp_path / "s.tflite")
    good = _images(2, seed=1)
    with pytest.raises(ValueError, match="quantization must be one of"):
        export_tflite(export_dir, target, input_size=SIZE, parity_images=good, quantization="int4")
    with pytest.raises(ValueError, match="representative_images"):
        export_tflite(export_dir, target, input_size=SIZE, parity_images=good, quantization="int8")
    with pytest.raises(ValueError, match=r"parity_images must be .*\[N, 24, 32, 3\]"):
        export_tflite(export_dir, target, input_size=SIZE, parity_images=smooth_images(2, 16))
    with pytest.raises(ValueError, match="input_size"):
        export_tflite(export_dir, target, input_size=(24,), parity_images=good)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export_tflite(export_dir, exports["fp32"].path, input_size=SIZE, parity_images=good)
    with pytest.raises(FileNotFoundError, match="export_saved_model"):
        export_tflite(str(tmp_path / "nowhere"), target, input_size=SIZE, parity_images=good)
    assert os.listdir(tmp_path) == []


def test_runners_report_wrong_inputs(saved_model, exports):
    _, export_dir = saved_model
    with pytest.raises(ValueError, match="fixed at export"):
        TFLiteRunner(exports["fp32"].path)(smooth_images(1, 16))
    with pytest.raises(ValueError, match="no signature 'float16'"):
        SavedModelRunner(export_dir, signature="float16")


def _dead_relu_generator():
    """A residual generator whose ReLU branch is zero on every input (bias -100)."""
    inputs = keras.Input((None, None, 3))
    hidden = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    hidden = keras.layers.Conv2D(4, 1, bias_initializer=keras.initializers.Constant(-100.0),
                                 name="dead_conv")(hidden)
    hidden = keras.layers.ReLU(name="dead_relu")(hidden)
    outputs = keras.layers.Add()([inputs, keras.layers.Conv2D(3, 1)(hidden)])
    return keras.Model(inputs, keras.layers.Activation("tanh")(outputs))


def test_int8_with_a_layer_dead_on_every_calibration_image_names_it_and_writes_nothing(tmp_path):
    keras.utils.set_random_seed(0)
    export_dir = export_saved_model(_dead_relu_generator(), str(tmp_path / "dead"),
                                    input_nc=3, output_nc=3)
    images = _images(4, seed=4)
    path = tmp_path / "dead_int8.tflite"
    with pytest.raises(QuantizationError, match=r"(?s)zero on every calibration image.*dead_.*"
                                                r"was not written\. Fix: "):
        export_tflite(export_dir, str(path), input_size=SIZE, parity_images=images,
                      quantization="int8", representative_images=images)
    assert not path.exists() and os.listdir(tmp_path) == ["dead"]
    # The float model of the same network exports and runs.
    assert export_tflite(export_dir, str(tmp_path / "dead_fp32.tflite"), input_size=SIZE,
                         parity_images=images).parity_psnr > 100


def test_a_healthy_int8_model_has_no_degenerate_activation(exports):
    with open(exports["int8"].path, "rb") as f:
        assert degenerate_int8_tensors(f.read()) == []


@pytest.mark.skipif(not hasattr(tf.lite, "Interpreter"), reason="tf.lite.Interpreter is gone "
                    "from this TensorFlow: nothing left to compare LiteRT with")
def test_litert_gives_the_outputs_tf_lite_interpreter_gave(exports):
    images = _images(2, seed=5)
    for quantization in ("fp32", "int8"):
        with warnings.catch_warnings():  # only here: its deprecation notice is the point
            warnings.simplefilter("ignore", UserWarning)
            interpreter = tf.lite.Interpreter(model_path=exports[quantization].path)
        interpreter.allocate_tensors()
        (given,), (taken,) = interpreter.get_input_details(), interpreter.get_output_details()
        expected = []
        for image in images:
            interpreter.set_tensor(given["index"], image[np.newaxis])
            interpreter.invoke()
            expected.append(interpreter.get_tensor(taken["index"])[0])
        np.testing.assert_array_equal(TFLiteRunner(exports[quantization].path)(images),
                                      np.stack(expected))  # bit for bit
