"""TF Serving's wire format (tensorflow-serving-api, a test dependency): a
PredictRequest for every signature of an export, built from the SignatureDefs in its
saved_model.pb (names, dtypes, shapes as TF Serving reads them), survives
serialisation, and its tensors fed to the loaded signature give the Keras model's
outputs; so does the PredictResponse built from them."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from export_helpers import smooth_images, tiny_generator
from itgc_tf.export import export_generator

predict_pb2 = pytest.importorskip("tensorflow_serving.apis.predict_pb2",
                                  reason="pip install itgc_tf[test] (tensorflow-serving-api)")

BATCH, HEIGHT, WIDTH = 2, 18, 26


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    keras.utils.set_random_seed(0)
    generator = tiny_generator(ngf=4)
    export = export_generator(generator, tmp_path_factory.mktemp("models"),
                              model_name="student", input_nc=3, output_nc=3)
    with open(f"{export.saved_model}/saved_model.pb", "rb") as f:
        saved_model = saved_model_pb2.SavedModel.FromString(f.read())
    (meta_graph,) = saved_model.meta_graphs
    signatures = {name: sig for name, sig in meta_graph.signature_def.items()
                  if not name.startswith("__")}
    return generator, tf.saved_model.load(export.saved_model), signatures


def _to_uint8(images):
    return np.round((np.clip(images, -1, 1) + 1) * 127.5).astype(np.uint8)


def _example(info):
    """(value for a TensorInfo's dtype and shape, the float [-1, 1] images it holds):
    unknown dims are BATCH, HEIGHT, WIDTH; strings are PNG bytes, a batch of BATCH
    when the rank is unknown."""
    images = smooth_images(BATCH, 32, seed=3)[:, :HEIGHT, :WIDTH]
    dtype = tf.dtypes.as_dtype(info.dtype)
    dims = [d.size for d in info.tensor_shape.dim]
    if dtype == tf.string:
        assert info.tensor_shape.unknown_rank or dims == [-1]
        pixels = _to_uint8(images)
        return np.array([tf.io.encode_png(p).numpy() for p in pixels], dtype=object), \
            pixels / 127.5 - 1
    assert dims[1:3] == [-1, -1] and dims[3] == 3, dims  # any size is served
    if dtype == tf.uint8:
        pixels = _to_uint8(images)
        return pixels, pixels / 127.5 - 1
    assert dtype == tf.float32
    return images, images


def _check_output(value, info, expected):
    dtype = tf.dtypes.as_dtype(info.dtype)
    assert value.dtype == dtype
    if dtype == tf.float32:
        np.testing.assert_allclose(value.numpy(), expected, atol=1e-5)
        return
    pixels = (np.stack([tf.io.decode_png(v).numpy() for v in value.numpy()])
              if dtype == tf.string else value.numpy())
    assert np.max(np.abs(pixels.astype(int) - _to_uint8(expected).astype(int))) <= 1


def test_the_export_has_the_four_documented_signatures(served):
    _, _, signatures = served
    assert sorted(signatures) == ["encoded", "serving_default", "tflite", "uint8"]
    assert {name: (list(s.inputs), list(s.outputs)) for name, s in signatures.items()} == {
        "serving_default": (["images"], ["outputs"]), "uint8": (["images"], ["outputs"]),
        "encoded": (["image_bytes"], ["png_bytes"]), "tflite": (["images"], ["outputs"])}


def _round_trip(generator, loaded, name, signature):
    """PredictRequest for ``signature`` → wire → the loaded signature → PredictResponse →
    wire; checks its outputs against the Keras model."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "student"
    request.model_spec.version.value = 1
    request.model_spec.signature_name = name
    floats = {}
    for key, info in signature.inputs.items():
        value, floats[key] = _example(info)
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value, tf.dtypes.as_dtype(info.dtype)))

    received = predict_pb2.PredictRequest.FromString(request.SerializeToString())
    assert received == request and received.model_spec.signature_name == name
    feeds = {key: tf.constant(tf.make_ndarray(tensor)) for key, tensor in received.inputs.items()}
    outputs = loaded.signatures[received.model_spec.signature_name](**feeds)

    response = predict_pb2.PredictResponse()
    response.model_spec.CopyFrom(received.model_spec)
    for key, value in outputs.items():
        response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
    answered = predict_pb2.PredictResponse.FromString(response.SerializeToString())
    assert sorted(answered.outputs) == sorted(signature.outputs)
    (images,) = floats.values()
    expected = generator(images.astype(np.float32), training=False).numpy()
    for key, info in signature.outputs.items():
        _check_output(tf.constant(tf.make_ndarray(answered.outputs[key])), info, expected)


def test_a_predict_request_for_every_signature_round_trips_the_wire_and_gives_keras(served):
    generator, loaded, signatures = served
    assert signatures  # read from saved_model.pb: every one the server would offer
    for name, signature in signatures.items():
        _round_trip(generator, loaded, name, signature)
