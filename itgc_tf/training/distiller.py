"""The Distiller: a student trained from teacher(s) by a base recipe plus VEM.

One ``train_step`` is SPEC §4:
  0. (online recipes) each teacher takes its own GAN step (only at every
     ``teacher_every_n_steps``-th step, the authors' Pix2Pix ``n_dis``);
  1. t = G_t(x) (constant; after step 0, or before it with
     ``teacher_outputs_before_teacher_step``), s = G_s(x);
  2-3. the critic step: t~ = langevin_sample(E, s), one update on ebm_loss(E(t, s), E(t~, s));
  4. one student step on L_base + vem_weight * mi_loss, with the updated critic frozen
     (steps 1-4 repeated ``n_dis`` times per teacher step);
  5. one student-discriminator step, if the recipe has one, on the recipe's
     ``discriminator_loss``.

Mixed precision: under a ``mixed_float16``/``mixed_bfloat16`` Keras policy the
student, discriminator and online teachers compute in half precision; their
outputs and taps are cast to float32 before any loss, the critic and the
Langevin chain run in float32, and every loss is scaled with its optimizer's
``scale_loss`` (a ``LossScaleOptimizer`` under float16; a no-op otherwise).

Non-finite steps: by default a NaN/Inf goes into the trackers (``NaNGuard``
stops the run). With ``skip_nonfinite_steps`` each network's update is skipped
when its loss or gradients are non-finite (`itgc_tf.training.distributed`), its
trackers ignore that step, and ``skipped_steps`` (logged) counts the steps of
the run in which some update was skipped (a model variable: restored on resume).
"""
import functools

import keras
import tensorflow as tf

from itgc_tf.losses.reduce import global_average
from itgc_tf.models.discriminators import discriminator_features
from itgc_tf.models.per_example import per_example_forward
from itgc_tf.models.taps import feature_taps
from itgc_tf.recipes.base import StepContext, StudentDiscriminator
from itgc_tf.training.adam import TorchAdam
from itgc_tf.training.config import TEACHER_BATCHNORM
from itgc_tf.training.distributed import GuardedUpdates, MultiWorkerFit, global_from_share
from itgc_tf.training.rounds import RoundTeacherState
from itgc_tf.vem import EnergyCritic, contrastive_gap, ebm_loss, langevin_sample, mi_loss
from itgc_tf.vem.config import VEMConfig


class Distiller(GuardedUpdates, MultiWorkerFit, keras.Model):
    """Student + optional student discriminator + energy critic, trained together.

    Args:
      student: generator [B, H, W, input_nc] -> [B, H, W, output_nc] in [-1, 1].
      teachers: list of teacher generators (frozen here unless ``online_teachers``).
      recipe: a ``Recipe`` (kd, gan_compression, omgd).
      image_shape: (H, W, input_nc) of training inputs; every network is built now.
      discriminator: student discriminator (recipes with ``uses_discriminator``);
        conditional on x when ``paired``. Recipes see it as a `StudentDiscriminator`
        (with its intermediate activations when they ``uses_discriminator_features``).
      online_teachers: Teacher models (compiled, with their own ``train_step``)
        trained in this loop; their generators must be in ``teachers``.
      vem: ``VEMConfig``. n_dis: critic and student updates (on the same batch and
        teacher outputs) per train_step.
      seed: seeds the Langevin chains (with the step count).
      teacher_batchnorm: mode of the teacher forward pass whose outputs and taps the
        student learns from: ``inference`` (moving statistics, dropout off) or
        ``train`` (batch statistics, as the authors' online teachers, which are never
        put in eval mode; online teachers only: Keras runs a frozen teacher's batch
        norm in inference mode whatever it is asked). In ``train`` mode this forward
        pass also updates the teachers' moving statistics, besides their own step's
        forward pass (the authors' teachers forward once per iteration), so the
        moving averages (used for evaluation only) weigh recent batches more.
      teacher_outputs_before_teacher_step: the student (and the Langevin chain) learn
        from the teacher outputs computed BEFORE the online teachers' update of the
        same step (the authors' Pix2Pix order), not after it.
      teachers_trained_in_rounds: the recipe trains its teachers online, but outside
        this model (``itgc_tf.training.rounds``): ``teachers`` are frozen copies, and
        ``round_state`` (a `RoundTeacherState`, checkpointed with this model) says which.
      teacher_every_n_steps: online teachers (and their discriminators) update only at
        steps k (counted from 1 over the run) with k % N == 0; the critic and the
        student update every step (the authors' Pix2Pix ``n_dis``; unlike ``n_dis``
        here, which repeats the student update).
      skip_nonfinite_steps: skip (and count) updates with a non-finite loss or
        gradient instead of applying them (see the module docstring).
    Call: ``distiller(x)`` = ``distiller.student(x)``.
    """

    def __init__(self, student, teachers, recipe, image_shape, *, discriminator=None,
                 online_teachers=(), paired=True, vem=VEMConfig(), gan_mode="lsgan", n_dis=1,
                 seed=0, teacher_batchnorm="inference", teacher_outputs_before_teacher_step=False,
                 teacher_every_n_steps=1, teachers_trained_in_rounds=False,
                 skip_nonfinite_steps=False, **kwargs):
        super().__init__(**kwargs)
        if not teachers:
            raise ValueError("The Distiller needs at least one teacher generator.")
        if recipe.uses_discriminator and discriminator is None:
            raise ValueError(f"Recipe {recipe.name!r} trains against a student discriminator; "
                             "pass discriminator=...")
        if recipe.online_teachers and not online_teachers and not teachers_trained_in_rounds:
            raise ValueError(f"Recipe {recipe.name!r} trains its teachers online; pass "
                             "online_teachers=[...] (compiled Teacher models).")
        if n_dis < 1:
            raise ValueError(f"n_dis must be >= 1, got {n_dis}.")
        _check_teacher_schedule(teacher_batchnorm, teacher_outputs_before_teacher_step,
                                teacher_every_n_steps, bool(online_teachers))
        if vem.vem_target == "ground_truth" and not paired:
            raise ValueError("vem_target=ground_truth needs paired data; use vem_target=teacher "
                             "for unpaired datasets.")
        if recipe.uses_discriminator and recipe.uses_discriminator_features and not paired:
            raise ValueError(f"Recipe {recipe.name!r} matches the discriminator features of the "
                             "student output and of its ground truth, which needs paired data. "
                             "Fix: drop --student_gaugan_loss for unpaired datasets.")
        self.student, self.teachers, self.recipe = student, list(teachers), recipe
        self.discriminator = discriminator if recipe.uses_discriminator else None
        self.discriminate = None  # the recipes' view of the student discriminator
        if self.discriminator is not None:
            features = (discriminator_features(discriminator)
                        if recipe.uses_discriminator_features else None)
            self.discriminate = StudentDiscriminator(self._discriminate, features, gan_mode)
        self.online_teachers = list(online_teachers)
        self.paired, self.vem, self.gan_mode, self.n_dis = paired, vem, gan_mode, n_dis
        self.teacher_batchnorm = teacher_batchnorm
        self.teacher_outputs_before_teacher_step = teacher_outputs_before_teacher_step
        self.teacher_every_n_steps = teacher_every_n_steps
        self.seed, self.skip_nonfinite_steps = seed, skip_nonfinite_steps
        for teacher in self.teachers:
            if not self.online_teachers:
                teacher.trainable = False

        pairs = list(recipe.feature_pairs()) + ([vem.vem_tap] if vem.enabled and vem.vem_tap else [])
        self.teacher_taps = sorted({t for t, _ in pairs})
        self.student_taps = sorted({s for _, s in pairs})
        self._teacher_net = feature_taps(self.teachers[0], self.teacher_taps)
        self._student_net = feature_taps(student, self.student_taps)
        self.critic = None
        self._build_networks(tuple(image_shape))
        self.built = True
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self._metric_names()}
        # Run-long counters (checkpointed; the first replica's value is kept on all).
        counter = dict(shape=(), dtype="int64", initializer="zeros", trainable=False,
                       aggregation="only_first_replica")
        self.train_steps = self.add_weight(name="train_steps", **counter)
        self.skipped_steps = self.add_weight(name="skipped_steps", **counter)
        self.round_state = (RoundTeacherState(name="round_teacher_state")
                            if teachers_trained_in_rounds else None)

    # ----------------------------------------------------------------- set-up
    def _build_networks(self, image_shape):
        x = tf.zeros((1, *image_shape))
        t_out, t_feats = self._teacher_net(x)
        s_out, s_feats = self._student_net(x)
        for teacher in self.teachers[1:]:
            teacher(x)
        shape = lambda f: tuple(f.shape[1:])  # noqa: E731
        self.recipe.build_adapters({k: shape(v) for k, v in t_feats.items()},
                                   {k: shape(v) for k, v in s_feats.items()})
        if self.discriminator is not None:
            self._discriminate(x, s_out)
        self.vem_adapter = None
        if self.vem.enabled and self.vem.vem_tap is not None:
            t_c, s_c = t_feats[self.vem.vem_tap[0]].shape[-1], s_feats[self.vem.vem_tap[1]].shape[-1]
            if t_c != s_c:  # the chain starts at s, so s must live in t's space
                self.vem_adapter = keras.layers.Conv2D(t_c, 1, name="vem_adapter")
                self.vem_adapter.build((None, None, None, s_c))
        if self.vem.enabled:
            t_side, s_side = self._vem_pair(x, t_out, t_feats, s_out, s_feats)
            self.critic = EnergyCritic(
                t_channels=t_side.shape[-1], s_channels=s_side.shape[-1],
                base_width=self.vem.critic_width, n_blocks=self.vem.critic_blocks,
                pool_inputs=self.vem.vem_tap is None, name="critic")
            self.critic((t_side, s_side))

    def _metric_names(self):
        names = ["student_loss", *[f"loss_{n}" for n in self.recipe.term_names],
                 "student_grad_norm"]
        if self.vem.enabled:
            names += ["loss_mi", "critic_loss", "e_pos", "e_neg", "contrastive_gap",
                      "critic_grad_norm"]
        if self.discriminator is not None:
            names += ["d_loss", "d_grad_norm"]
        return names

    def compile(self, student_optimizer, discriminator_optimizer=None, critic_optimizer=None,
                **kwargs):
        """One optimizer per trained network; the critic defaults to the reference's
        Adam(critic_lr, betas (0, 0.999), eps 1e-8) with PyTorch's epsilon (``TorchAdam``).

        The student optimizer doubles as Keras' ``optimizer`` (its ``iterations``
        count steps for callbacks). Online teachers come compiled with their own.
        """
        super().compile(optimizer=student_optimizer, **kwargs)
        if self.discriminator is not None and discriminator_optimizer is None:
            raise ValueError("This recipe trains a student discriminator: pass "
                             "discriminator_optimizer=...")
        self.student_optimizer = student_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.student_optimizer.build(self._student_variables())
        if self.discriminator is not None:
            discriminator_optimizer.build(self.discriminator.trainable_variables)
        self.critic_optimizer = None
        if self.vem.enabled:
            self.critic_optimizer = critic_optimizer or TorchAdam(
                self.vem.critic_lr, beta_1=0.0, beta_2=0.999, epsilon=1e-8)
            self.critic_optimizer.build(self.critic.trainable_variables)

    @property
    def metrics(self):
        tracked = list(self.trackers.values())
        for teacher in self.online_teachers:
            tracked += teacher.metrics
        return tracked

    def call(self, x, training=False):
        """Student output for images x [B, H, W, input_nc] (or a batch dict's "A")."""
        if isinstance(x, dict):
            x = x["A"]
        return self.student(x, training=training)

    # ------------------------------------------------------------ step pieces
    def _student_variables(self):
        adapter = self.vem_adapter.trainable_variables if self.vem_adapter is not None else []
        return self.student.trainable_variables + self.recipe.trainable_variables + adapter

    def _discriminate(self, x, image):
        image = tf.cast(image, tf.float32)
        inputs = tf.concat([tf.cast(x, tf.float32), image], axis=-1) if self.paired else image
        return self.discriminator(inputs, training=True)

    def _vem_pair(self, y, t_out, t_feats, s_out, s_feats):
        """(t, s) for the bound: output images, ground truth, or a feature-map pair."""
        if self.vem.vem_tap is not None:
            s_side = s_feats[self.vem.vem_tap[1]]
            if self.vem_adapter is not None:
                s_side = self.vem_adapter(s_side)
            return t_feats[self.vem.vem_tap[0]], s_side
        return (y if self.vem.vem_target == "ground_truth" else t_out), s_out

    def _langevin_seed(self):
        return tf.stack([tf.constant(self.seed, tf.int32),
                         tf.cast(self.student_optimizer.iterations, tf.int32)])

    def langevin_sample(self, s, seed=0):
        """Langevin samples t~ from q(.|s) with this run's VEM settings; the chain is one
        XLA cluster with ``langevin_jit_compile``."""
        chain = self._xla_chain if self.vem.langevin_jit_compile else self._chain
        return chain(s, seed)

    def _chain(self, s, seed):
        return langevin_sample(self.critic, s, steps=self.vem.langevin_steps,
                               step_size=self.vem.langevin_step_size,
                               noise_std=self.vem.langevin_noise,
                               clip=self.vem.vem_tap is None, seed=seed)

    @functools.cached_property
    def _xla_chain(self):
        """`_chain` XLA-compiled, built once (its traces are cached across calls; stored
        outside Keras' attribute tracking)."""
        return tf.function(self._chain, jit_compile=True, autograph=False)

    def _student_forward(self, x, y, teacher_outputs, teacher_features):
        """Step 1 for the student (record it on the student's tape): (StepContext,
        (t, s) of the bound, or None without VEM). Student tensors are float32."""
        s_out, s_feats = _float32(self._student_net(x, training=True))
        ctx = StepContext(x=x, y=y, teacher_outputs=teacher_outputs,
                          teacher_features=teacher_features, student_output=s_out,
                          student_features=s_feats, paired=self.paired)
        pair = (self._vem_pair(y, teacher_outputs[0], teacher_features, s_out, s_feats)
                if self.vem.enabled else None)
        return ctx, pair

    def _critic_step(self, t, s):
        """Steps 2-3: Langevin samples t~ from s, then one critic update on
        ebm_loss. Returns (t~, applied flag or None when not skipping)."""
        t, s = tf.stop_gradient(t), tf.stop_gradient(s)
        t_neg = self.langevin_sample(s, seed=self._langevin_seed())
        batch = tf.shape(t)[0]
        with tf.GradientTape() as tape:
            energies = self.critic((tf.concat([t, t_neg], 0), tf.concat([s, s], 0)),
                                   training=True)
            e_pos, e_neg = energies[:batch], energies[batch:]
            loss = ebm_loss(e_pos, e_neg, self.vem.energy_l2)
        finite = self._update(tape, self.critic_optimizer, loss, self.critic.trainable_variables,
                              "critic_grad_norm", critic_loss=loss,
                              e_pos=global_average(e_pos),
                              e_neg=global_average(e_neg),
                              contrastive_gap=contrastive_gap(e_pos, e_neg))
        return t_neg, finite

    def _student_step(self, tape, ctx, pair, t_neg):
        """Step 4: the recipe's terms (+ vem_weight * mi_loss against the updated,
        frozen critic), recorded on ``tape`` (which holds the student forward), and
        one student update. Returns the applied flag (None when not skipping)."""
        with tape:
            loss, terms = self._student_loss(ctx, pair, t_neg)
        return self._update(tape, self.student_optimizer, loss, self._student_variables(),
                            "student_grad_norm", student_loss=loss,
                            **{f"loss_{k}": v for k, v in terms.items()})

    def _student_loss(self, ctx, pair, t_neg):
        """(L_base + vem_weight * mi_loss, {term: weighted value}) of one step."""
        terms = self.recipe.student_losses(ctx, self.discriminate)
        if pair is not None:
            terms["mi"] = self.vem.vem_weight * mi_loss(self.critic, *pair, t_neg)
        return tf.add_n(list(terms.values())), terms

    def _discriminator_step(self, x, y, s_out):
        """Step 5: the recipe's discriminator loss with real = the domain-B image y
        (paired: with its input), fake = student. Returns the applied flag (None when
        not skipping)."""
        with tf.GradientTape() as tape:
            loss = global_average(self.recipe.discriminator_loss(
                self.discriminate, x, y, tf.stop_gradient(tf.cast(s_out, tf.float32))))
        return self._update(tape, self.discriminator_optimizer, loss,
                            self.discriminator.trainable_variables, "d_grad_norm", d_loss=loss)

    def _update(self, tape, optimizer, loss, variables, grad_norm_name, **tracked):
        """Gradients of ``optimizer.scale_loss(loss)`` on ``tape``, applied (`_apply`)
        and tracked with the gradient norm. Returns the applied flag (or None)."""
        with tape:
            scaled_loss = optimizer.scale_loss(loss)
        grads = tape.gradient(scaled_loss, variables)
        finite = self._apply(optimizer, loss, grads, variables)
        self._track(finite, {name: global_from_share(v) for name, v in tracked.items()})
        self._track_grad_norm(grad_norm_name, optimizer, grads, finite)
        return finite

    def _track_grad_norm(self, name, optimizer, grads, finite):
        """Track the norm of ``grads`` (gradients of ``optimizer.scale_loss(loss)``
        of this replica's share), unscaled: several replicas report the mean norm of
        each replica's batch-mean gradient. Steps that a LossScaleOptimizer skips
        for overflow (non-finite scaled gradients) are not counted."""
        norm = tf.linalg.global_norm(grads) / optimizer.scale_loss(tf.constant(1.0))
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            overflow_free = tf.math.is_finite(norm)
            finite = overflow_free if finite is None else tf.logical_and(finite, overflow_free)
        self._track(finite, {name: global_from_share(norm)})

    # -------------------------------------------------------------- the step
    def _teacher_forward(self, x, training=False):
        """Teacher outputs and taps (batch norm in training mode when ``training``),
        as constants. In inference mode each teacher runs one example at a time on CPU
        (`per_example_forward`: the same values, faster there)."""
        def forward(net):
            return net(x, training=True) if training else per_example_forward(net, x)

        t_out, t_feats = _float32(forward(self._teacher_net))
        outputs = [t_out] + [tf.cast(forward(t), tf.float32) for t in self.teachers[1:]]
        stop = tf.stop_gradient
        return [stop(o) for o in outputs], {k: stop(v) for k, v in t_feats.items()}

    def _teacher_targets(self, x):
        """What the student learns from this step: `_teacher_forward` in the
        ``teacher_batchnorm`` mode."""
        return self._teacher_forward(x, training=self.teacher_batchnorm == "train")

    def _online_teacher_steps(self, data):
        """Step 0: every online teacher's own GAN step (gated by teacher_every_n_steps)."""
        update = None
        if self.teacher_every_n_steps > 1:
            update = tf.equal((self.train_steps + 1) % self.teacher_every_n_steps, 0)
        for teacher in self.online_teachers:
            teacher.train_step(data, update=update)

    def train_step(self, data):
        x, y = data["A"], data["B"]
        before = self._teacher_targets(x) if self.teacher_outputs_before_teacher_step else None
        self._online_teacher_steps(data)                                     # teacher steps
        teacher_outputs, teacher_features = before or self._teacher_targets(x)
        applied, t_neg = [], None
        for _ in range(self.n_dis):
            with tf.GradientTape() as tape:
                ctx, pair = self._student_forward(x, y, teacher_outputs, teacher_features)
            if pair is not None:
                t_neg, critic_ok = self._critic_step(*pair)                 # critic step
                applied.append(critic_ok)
            applied.append(self._student_step(tape, ctx, pair, t_neg))      # student step
        if self.discriminator is not None:
            applied.append(self._discriminator_step(x, y, ctx.student_output))  # D step
        self._count_skipped(applied)
        self.train_steps.assign_add(1)
        return self._fit_logs(self._logs())

    def _logs(self):
        """Tracker results (+ ``skipped_steps`` when skipping); online teachers' logs
        prefixed ``teacher<i>_``."""
        logs = {name: m.result() for name, m in self.trackers.items()}
        if self.skip_nonfinite_steps:
            logs["skipped_steps"] = self.skipped_steps.value
        for i, teacher in enumerate(self.online_teachers):
            logs |= {f"teacher{i}_{name}": value for name, value in teacher.step_logs().items()}
        return logs

    def test_step(self, data):
        """Validation: L1 of the student to the teacher (and to y when paired)."""
        x, y = data["A"], data["B"]
        teacher_outputs, _ = self._teacher_forward(x)
        s = self.student(x, training=False)
        logs = {"l1_to_teacher": tf.reduce_mean(tf.abs(s - teacher_outputs[0]))}
        if self.paired:
            logs["l1_to_target"] = tf.reduce_mean(tf.abs(s - y))
        return logs


def _check_teacher_schedule(batchnorm, outputs_before_step, every_n_steps, online):
    """Validate the online-teacher options of the Distiller (ValueError with the fix)."""
    if batchnorm not in TEACHER_BATCHNORM:
        raise ValueError(f"teacher_batchnorm must be one of {TEACHER_BATCHNORM}, got "
                         f"{batchnorm!r}. Fix: pass --teacher_batchnorm=inference or train.")
    if every_n_steps < 1:
        raise ValueError(f"teacher_every_n_steps must be >= 1, got {every_n_steps}. Fix: pass "
                         "1 (teachers step every iteration) or more.")
    asked = [name for name, on in (("teacher_batchnorm=train", batchnorm == "train"),
                                   ("teacher_outputs_before_teacher_step", outputs_before_step),
                                   ("teacher_every_n_steps > 1", every_n_steps > 1)) if on]
    if asked and not online:
        raise ValueError(f"{', '.join(asked)} only apply to teachers trained online (recipe "
                         "omgd); a frozen teacher never steps, and Keras runs its batch norm in "
                         "inference mode. Fix: drop these options or use --recipe=omgd.")


def _float32(outputs_and_features):
    """(output, {tap: feature}) of a tapped network, cast to float32 (mixed precision)."""
    out, feats = outputs_and_features
    return tf.cast(out, tf.float32), {k: tf.cast(v, tf.float32) for k, v in feats.items()}
