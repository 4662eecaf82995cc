"""Learning-rate schedules of the pix2pix/CycleGAN originals."""
import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="itgc_tf")
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Constant for ``n_epochs`` epochs, then linear decay towards 0 over
    ``n_epochs_decay`` epochs (the originals' ``--lr_policy linear``).

    At optimizer step ``s`` the epoch is ``e = s // steps_per_epoch`` and

        lr = initial_lr · (1 − max(0, e + 1 − n_epochs) / (n_epochs_decay + 1))

    (the original ``lambda_rule`` with ``epoch_count=1``; epoch-granular, so the
    rate is piecewise constant and never reaches 0 within the
    ``n_epochs + n_epochs_decay`` training epochs; clipped at 0 beyond them).
    """

    def __init__(self, initial_lr, n_epochs, n_epochs_decay, steps_per_epoch):
        if steps_per_epoch < 1 or n_epochs < 0 or n_epochs_decay < 0:
            raise ValueError(
                f"LinearDecay needs steps_per_epoch >= 1 and non-negative epoch "
                f"counts, got steps_per_epoch={steps_per_epoch}, n_epochs="
                f"{n_epochs}, n_epochs_decay={n_epochs_decay}.")
        self.initial_lr = float(initial_lr)
        self.n_epochs = int(n_epochs)
        self.n_epochs_decay = int(n_epochs_decay)
        self.steps_per_epoch = int(steps_per_epoch)

    def epoch(self, step):
        """The 0-based epoch ``e`` of optimizer step ``step`` (int64 tensor)."""
        return step // self.steps_per_epoch

    def __call__(self, step):
        epoch = tf.cast(self.epoch(tf.cast(step, tf.int64)), tf.float32)
        decayed = tf.maximum(0.0, epoch + 1.0 - self.n_epochs)
        factor = 1.0 - decayed / (self.n_epochs_decay + 1.0)
        return self.initial_lr * tf.maximum(factor, 0.0)

    def get_config(self):
        return {"initial_lr": self.initial_lr, "n_epochs": self.n_epochs,
                "n_epochs_decay": self.n_epochs_decay,
                "steps_per_epoch": self.steps_per_epoch}
