"""CycleGAN's history of generated images, usable inside ``tf.function``."""
import keras
import tensorflow as tf


class ImagePool(keras.layers.Layer):
    """History of generated images (Shrivastava et al.; CycleGAN's pool of 50).

    For each image of the batch, in order: while fewer than ``pool_size`` images
    are stored, store it and return it; once full, with probability 0.5 return
    a uniformly chosen stored image and store the new one in its place,
    otherwise return the new image. ``pool_size=0`` returns the input.

    Shapes: [B, H, W, C] -> [B, H, W, C] (H, W, C fixed at the first call).
    The buffer and counter are non-trainable variables (saved with the model's
    checkpoints); under a ``tf.distribute`` strategy each replica keeps its own
    history (as each process does in the original's DDP training). Randomness
    comes from a ``keras.random.SeedGenerator``.
    """

    def __init__(self, pool_size=50, seed=None, **kwargs):
        kwargs.setdefault("dtype", "float32")  # the buffer's; inputs are cast
        super().__init__(**kwargs)
        if pool_size < 0:
            raise ValueError(f"pool_size must be >= 0, got {pool_size}.")
        self.pool_size = pool_size
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        if any(d is None for d in input_shape[1:]):
            raise ValueError(
                f"ImagePool needs a known image size, got {tuple(input_shape)}; "
                f"feed fixed-size images (e.g. crop to the training size).")
        self.images = keras.Variable(
            keras.initializers.Zeros(), (self.pool_size, *input_shape[1:]),
            dtype="float32", trainable=False, name="images",
            synchronization="on_read", aggregation="only_first_replica")
        self.num_images = keras.Variable(
            keras.initializers.Zeros(), (), dtype="int32", trainable=False,
            name="num_images",
            synchronization="on_read", aggregation="only_first_replica")

    def call(self, images):
        if self.pool_size == 0:
            return images
        batch = tf.shape(images)[0]
        coin = keras.random.uniform([batch], seed=self.seed_generator)
        slot = keras.random.randint([batch], 0, self.pool_size,
                                    seed=self.seed_generator)

        def query(i, pool, count, out):
            image = images[i]
            filling = count < self.pool_size
            swap = tf.logical_and(tf.logical_not(filling), coin[i] > 0.5)
            index = tf.where(filling, count, slot[i])
            returned = tf.where(swap, pool[index], image)
            pool = tf.cond(filling | swap,
                           lambda: tf.tensor_scatter_nd_update(
                               pool, [[index]], image[None]),
                           lambda: pool)
            count = count + tf.cast(filling, tf.int32)
            return i + 1, pool, count, out.write(i, returned)

        start = (0, tf.convert_to_tensor(self.images),
                 tf.convert_to_tensor(self.num_images),
                 tf.TensorArray(images.dtype, size=batch))
        _, pool, count, out = tf.while_loop(lambda i, *_: i < batch, query,
                                            start)
        self.images.assign(pool)
        self.num_images.assign(count)
        return out.stack()

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size}
