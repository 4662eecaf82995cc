"""itgc_tf: information-theoretic GAN compression with a variational energy-based model.

``import itgc_tf`` registers every custom Keras object (`itgc_tf.custom_objects`), so
``keras.models.load_model`` reads the generators it saves, without loading TensorFlow
itself."""
from itgc_tf.custom_objects import register_when_keras_loads

__version__ = "0.1.0"

register_when_keras_loads()
