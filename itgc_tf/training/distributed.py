"""What the custom ``train_step`` models (teachers, Distiller) need under tf.distribute.

`MultiWorkerFit` (mixin) lets ``model.fit`` run under MultiWorkerMirroredStrategy
with Keras 3.15, which fails there in two places (keras-team/keras#20585,
tensorflow/tensorflow#72388):
  * before training, ``fit`` all-reduces a peeked batch to build the model
    symbolically, which raises for dict batches; a model whose layers and
    optimizer are already built has nothing to build, so the mixin skips it;
  * after each step, ``fit`` reduces every log with
    ``strategy.reduce("MEAN", v, axis=0)``, which raises for scalars; the
    train steps return their logs through `MultiWorkerFit._fit_logs`, which
    gives them shape [1] in exactly that case (the reduce then averages over
    the replicas and returns scalars, as on one machine).

Skipping non-finite updates (``--skip_nonfinite_steps``, `apply_if_finite`): a
network's update is skipped when its loss or any of its gradients holds a
NaN/Inf on ANY replica: the flag is all-reduced, so every replica (and every
worker) takes the same branch and the collectives inside ``optimizer.apply``
stay matched. Skipping means not calling ``optimizer.apply`` at all (zero
gradients would still move Adam through its moments, and the iteration count).

``optimizer.apply`` under MirroredStrategy (CPUs, or GPUs without XLA) calls
``merge_call``, which a ``tf.cond`` branch in replica context cannot contain;
there the condition is evaluated in cross-replica context and the update is
run with ``call_for_each_replica`` (the pattern of Keras'
``LossScaleOptimizer``). Strategies without merge calls (default, XLA on
GPUs) use a plain ``tf.cond``.

With a ``keras.optimizers.LossScaleOptimizer`` only the loss is checked: its
gradients are scaled, and an overflow there is the loss scaler's business (it
skips that update itself and halves the scale).
"""
import keras
import tensorflow as tf


class MultiWorkerFit:
    """Mixin for ``keras.Model``s with a custom ``train_step`` that are built before
    ``fit`` and return ``self._fit_logs(logs)`` (see the module docstring)."""

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        built = all(layer.built for layer in self._flatten_layers())
        if built and self.optimizer is not None and self.optimizer.built:
            return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    @staticmethod
    def _fit_logs(logs):
        """``logs`` ({name: scalar}) as ``train_step`` must return them to ``fit``."""
        strategy = tf.distribute.get_strategy()
        # The condition under which Keras' reduce_per_replica uses axis=0.
        if (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
                and strategy.extended._in_multi_worker_mode()):
            return {name: tf.reshape(value, [1]) for name, value in logs.items()}
        return logs


def all_finite(loss, grads=()):
    """Scalar bool: ``loss`` and every non-None gradient are finite on every replica."""
    checks = [tf.reduce_all(tf.math.is_finite(tf.cast(t, tf.float32)))
              for t in [loss, *grads] if t is not None]
    finite = tf.reduce_all(tf.stack(checks))
    ctx = tf.distribute.get_replica_context()
    if ctx is not None and ctx.num_replicas_in_sync > 1:
        bad = ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.cast(tf.logical_not(finite),
                                                                 tf.float32))
        finite = tf.equal(bad, 0.0)
    return finite


def apply_if_finite(optimizer, loss, grads, variables):
    """``optimizer.apply(grads, variables)`` unless the loss or the gradients are
    non-finite on some replica (see the module docstring). Call in replica context.

    Args:
      optimizer: a built Keras optimizer (possibly a ``LossScaleOptimizer``).
      loss: the UNSCALED scalar loss the gradients come from.
      grads, variables: as for ``optimizer.apply``.

    Returns:
      Scalar bool tensor: True when the update was applied.
    """
    checked = () if isinstance(optimizer, keras.optimizers.LossScaleOptimizer) else grads
    finite = all_finite(loss, checked)

    def apply():
        optimizer.apply(grads, variables)
        return tf.constant(True)

    if tf.__internal__.distribute.strategy_supports_no_merge_call():
        tf.cond(finite, apply, lambda: tf.constant(False))
        return finite

    def cross_replica(distribution, finite, grads):
        def apply_each():
            distribution.extended.call_for_each_replica(optimizer.apply, args=(grads, variables))
            return tf.constant(True)
        # `finite` is the same on every replica (all-reduced): take the first.
        tf.cond(distribution.experimental_local_results(finite)[0], apply_each,
                lambda: tf.constant(False))

    tf.distribute.get_replica_context().merge_call(cross_replica, args=(finite, grads))
    return finite


def global_from_share(share):
    """A replica's share of a global-batch average (e.g. its ``tf.nn.compute_average_loss``)
    times the number of replicas in sync: what each replica adds to a
    ``keras.metrics.Mean`` (whose updates and counts are summed over the
    replicas) so that it reports the global average. One replica: unchanged."""
    ctx = tf.distribute.get_replica_context()
    replicas = 1 if ctx is None else ctx.num_replicas_in_sync
    return tf.cast(share, tf.float32) * replicas


def update_if_finite(tracker, value, finite):
    """``tracker.update_state(value)`` counting nothing of ``value`` when ``finite``
    (scalar bool) is False, so one skipped NaN step does not poison an epoch's mean."""
    value = tf.cast(value, tf.float32)
    weight = tf.broadcast_to(tf.cast(finite, tf.float32), tf.shape(value))
    tracker.update_state(tf.where(finite, value, tf.zeros_like(value)), sample_weight=weight)


class GuardedUpdates:
    """Optimizer updates and tracker updates that honour ``skip_nonfinite_steps``,
    shared by the teachers and the Distiller. The model sets
    ``skip_nonfinite_steps``, ``trackers`` ({name: keras.metrics.Mean}) and the
    ``skipped_steps`` counter variable."""

    def _apply(self, optimizer, loss, grads, variables):
        """optimizer.apply; when skipping non-finite steps only if ``loss`` and
        ``grads`` are finite. Returns that applied flag (None when not skipping)."""
        if not self.skip_nonfinite_steps:
            optimizer.apply(grads, variables)
            return None
        return apply_if_finite(optimizer, loss, grads, variables)

    def _track(self, finite, values):
        """Update the trackers named in ``values`` ({name: tensor}; other names are
        ignored), leaving out a step whose update was skipped (``finite`` False)."""
        for name, value in values.items():
            if name not in self.trackers:
                continue
            if finite is None:
                self.trackers[name].update_state(value)
            else:
                update_if_finite(self.trackers[name], value, finite)

    def _count_skipped(self, applied):
        """Count the step in ``skipped_steps`` when some update of it was skipped
        (``applied``: the flags of its updates; None entries are ignored)."""
        applied = [flag for flag in applied if flag is not None]
        if self.skip_nonfinite_steps and applied:
            self.skipped_steps.assign_add(
                1 - tf.cast(tf.reduce_all(tf.stack(applied)), tf.int64))
