"""Adam with PyTorch's epsilon placement (the VEM reference trains its critic with
``torch.optim.Adam``).

PyTorch:  var -= lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps)
Keras:    var -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)

The two agree only when eps is negligible; Keras' eps is PyTorch's
eps * sqrt(1 - b2^t), up to 30x larger in the first steps at b2 = 0.999. With
``TorchAdam`` the same ``epsilon`` (default 1e-8, PyTorch's) means the same update.
"""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="itgc_tf")
class TorchAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` whose ``epsilon`` is added as PyTorch adds it (see module)."""

    def __init__(self, learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-8, **kwargs):
        if kwargs.get("amsgrad"):
            raise ValueError("TorchAdam does not implement amsgrad. Fix: use "
                             "keras.optimizers.Adam(amsgrad=True) instead.")
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, **kwargs)

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        correction_1 = 1 - ops.power(ops.cast(self.beta_1, dtype), step)
        correction_2 = 1 - ops.power(ops.cast(self.beta_2, dtype), step)
        denominator = ops.add(ops.sqrt(ops.divide(v, correction_2)), self.epsilon)
        self.assign_sub(variable, ops.divide(ops.multiply(m, lr / correction_1), denominator))
