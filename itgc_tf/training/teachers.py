"""Teacher training: pix2pix (paired), CycleGAN (unpaired) and GauGAN / SPADE (label
maps -> photos) as Keras models with their own ``compile`` and ``train_step``.

Batches are dicts ``{"A": [B, H, W, C_A], "B": [B, H, W, C_B]}`` of images in
[-1, 1]. Losses are averaged over the GLOBAL batch
(`itgc_tf.losses.reduce.global_average`), so a step under a ``tf.distribute`` strategy
equals a single-device step on the same global batch. Every loss term has a
``keras.metrics.Mean`` tracker (exposed by ``metrics``, so it shows in ``fit``'s
progress bar and in TensorBoard logs). Default optimisers: Adam(2e-4, β1 0.5),
as the originals; pass ``itgc_tf.training.schedules.LinearDecay`` as the
learning rate for the originals' schedule.

Mixed precision: generator outputs are cast to float32 before the losses and
every loss is scaled with its optimizer's ``scale_loss`` (pass
``keras.optimizers.LossScaleOptimizer``s under ``mixed_float16``). With
``skip_nonfinite_steps=True`` an update whose loss or gradients are non-finite
is skipped (`itgc_tf.training.distributed`), its trackers ignore the step, and
the ``skipped_steps`` log counts such steps over the run.

Gated steps (online teachers in the Distiller, ``teacher_every_n_steps``):
``train_step(data, update=flag)`` with a scalar bool ``flag`` (equal on every
replica) applies no update and tracks nothing when ``flag`` is False. The
forward passes still run (batch-norm moving statistics and CycleGAN's image
pools see that batch), as the authors' code, whose teachers forward every batch.
"""
import keras
import tensorflow as tf

from itgc_tf.losses.reduce import global_average
from itgc_tf.models.adversarial import GAN_MODES
from itgc_tf.models.discriminators import discriminator_features
from itgc_tf.training.adam import FusedAdam
from itgc_tf.training.distributed import GuardedUpdates, MultiWorkerFit
from itgc_tf.training.image_pool import ImagePool
from itgc_tf.training.teacher_losses import (SPADE_VGG_LAYERS,  # noqa: F401 (re-exported)
                                             SPADE_VGG_WEIGHTS,
                                             cyclegan_discriminator_losses,
                                             cyclegan_generator_losses,
                                             pix2pix_discriminator_losses,
                                             pix2pix_generator_losses,
                                             spade_discriminator_losses,
                                             spade_generator_losses)


def default_optimizer(learning_rate=2e-4):
    """Adam(learning_rate, beta_1=0.5, beta_2=0.999), the originals' optimiser."""
    return FusedAdam(learning_rate, beta_1=0.5, beta_2=0.999)


def _check_conditional_discriminator(generator, discriminator, what, inputs):
    """A conditional discriminator sees concat([input, output]): its input channels must
    be the generator's input + output channels (unknown counts are not checked)."""
    g_in, g_out = _channels(generator, "input"), _channels(generator, "output")
    d_in = _channels(discriminator, "input")
    if None not in (g_in, g_out, d_in) and d_in != g_in + g_out:
        raise ValueError(
            f"The {what} discriminator sees concat([{inputs}]) with {g_in} + {g_out} = "
            f"{g_in + g_out} channels but was built for {d_in}. Fix: build it with "
            f"input_nc={g_in + g_out}.")


def _channels(model, which):
    tensors = getattr(model, which + "s", None)
    return tensors[0].shape[-1] if tensors else None


class _GANTeacher(GuardedUpdates, MultiWorkerFit, keras.Model):
    """Shared machinery: two optimisers (generators / discriminators), loss
    trackers, guarded updates, batch unpacking."""

    def __init__(self, gan_mode, loss_names, skip_nonfinite_steps=False,
                 **kwargs):
        super().__init__(**kwargs)
        if gan_mode not in GAN_MODES:
            raise ValueError(f"Unknown gan_mode {gan_mode!r}; use one of "
                             f"{', '.join(GAN_MODES)}.")
        self.gan_mode = gan_mode
        self.skip_nonfinite_steps = skip_nonfinite_steps
        self.trackers = {name: keras.metrics.Mean(name=name)
                         for name in loss_names}
        self.skipped_steps = self.add_weight(
            name="skipped_steps", shape=(), dtype="int64",
            initializer="zeros", trainable=False,
            aggregation="only_first_replica")

    def generator_variables(self):
        raise NotImplementedError

    def discriminator_variables(self):
        raise NotImplementedError

    def compile(self, g_optimizer=None, d_optimizer=None, **kwargs):
        """``g_optimizer`` updates all generators, ``d_optimizer`` all
        discriminators (None: ``default_optimizer()``). Other keyword arguments
        go to ``keras.Model.compile`` (e.g. ``run_eagerly``, ``jit_compile``).
        Call it inside the strategy scope when training distributed."""
        self.g_optimizer = g_optimizer or default_optimizer()
        self.d_optimizer = d_optimizer or default_optimizer()
        if not self.g_optimizer.built:
            self.g_optimizer.build(self.generator_variables())
        if not self.d_optimizer.built:
            self.d_optimizer.build(self.discriminator_variables())
        # The G optimiser doubles as Keras' `optimizer` (its `iterations` count
        # training steps for callbacks such as TensorBoard).
        super().compile(optimizer=self.g_optimizer, **kwargs)

    @property
    def metrics(self):
        return list(self.trackers.values())

    def step_logs(self):
        """What ``train_step`` returns: tracker results (+ ``skipped_steps``)."""
        logs = {m.name: m.result() for m in self.metrics}
        if self.skip_nonfinite_steps:
            logs["skipped_steps"] = self.skipped_steps.value
        return logs

    def _apply_gradients(self, optimizer, tape, scaled_loss, loss, variables, update=None):
        """`_apply` the gradients of ``scaled_loss`` (= optimizer.scale_loss(loss),
        recorded on ``tape``), only when ``update`` (None: always) holds; returns the
        applied flag (None when neither skipping nor gated)."""
        return self._apply(optimizer, loss, tape.gradient(scaled_loss, variables), variables,
                           gate=update)

    def _unpack(self, data):
        if not isinstance(data, dict) or not {"A", "B"} <= set(data):
            got = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise ValueError(
                f"{type(self).__name__} trains on batches "
                f"{{'A': images, 'B': images}}, got {got}; map the dataset to "
                f"such dicts (see itgc_tf.data).")
        return data["A"], data["B"]

    @staticmethod
    def _source(inputs):
        return inputs["A"] if isinstance(inputs, dict) else inputs


PIX2PIX_TERMS = ("g_gan", "g_l1", "d_real", "d_fake")


class _ConditionalTeacher(_GANTeacher):
    """One ``generator`` (input -> output) judged by one conditional ``discriminator``;
    ``call(inputs)`` = the generator's output for inputs [B, H, W, C_in] (or a batch dict)."""

    def generator_variables(self):
        return self.generator.trainable_variables

    def discriminator_variables(self):
        return self.discriminator.trainable_variables

    def call(self, inputs, training=False):
        return self.generator(self._source(inputs), training=training)


class Pix2PixTeacher(_ConditionalTeacher):
    """pix2pix: conditional GAN + λ_L1·L1 (Isola et al. 2017).

    Args:
      generator: A -> B, [B, H, W, C_A] -> [B, H, W, C_B] in [-1, 1].
      discriminator: conditional, on ``concat([A, B], -1)`` (C_A + C_B channels).
      lambda_l1: weight of the L1 term (100 in the original).
      gan_mode: ``vanilla`` (original), ``lsgan`` or ``hinge``.
      skip_nonfinite_steps: skip (and count) non-finite updates (module docstring).

    One ``train_step``, as the original: G's output, one D step on
    (A, real B) vs (A, fake B), then one G step against the updated D.
    Trackers: ``g_gan``, ``g_l1`` (mean |fake B − B|), ``d_real``, ``d_fake``.
    ``call(A)`` returns the generator output.
    """

    def __init__(self, generator, discriminator, lambda_l1=100.0,
                 gan_mode="vanilla", loss_names=PIX2PIX_TERMS, **kwargs):
        super().__init__(gan_mode, loss_names, **kwargs)
        _check_conditional_discriminator(generator, discriminator, "pix2pix", "A, B")
        self.generator = generator
        self.discriminator = discriminator
        self.lambda_l1 = float(lambda_l1)
        self.built = generator.built and discriminator.built


    def _generators(self):
        return [self.generator]

    def _named(self, terms):
        """Per-generator loss dicts -> one dict (``<term>_<k>`` for several)."""
        if len(terms) == 1:
            return terms[0]
        return {f"{name}_{k}": value for k, losses in enumerate(terms)
                for name, value in losses.items()}

    def train_step(self, data, update=None):
        """One D step then one G step; none when ``update`` is False (module docstring)."""
        real_a, real_b = self._unpack(data)
        with tf.GradientTape() as g_tape:
            fakes = [tf.cast(g(real_a, training=True), tf.float32)
                     for g in self._generators()]
            with g_tape.stop_recording():
                with tf.GradientTape() as d_tape:
                    d_losses = [pix2pix_discriminator_losses(
                        self.discriminator, real_a, real_b, fake_b,
                        self.gan_mode) for fake_b in fakes]
                    d_loss = global_average(tf.add_n([d["total"] for d in d_losses]))
                    d_scaled = self.d_optimizer.scale_loss(d_loss)
                d_applied = self._apply_gradients(self.d_optimizer, d_tape, d_scaled, d_loss,
                                                  self.discriminator_variables(), update)
            g_losses = [pix2pix_generator_losses(
                self.discriminator, real_a, real_b, fake_b, self.gan_mode,
                self.lambda_l1) for fake_b in fakes]
            g_loss = global_average(tf.add_n([g["total"] for g in g_losses]))
            g_scaled = self.g_optimizer.scale_loss(g_loss)
        g_applied = self._apply_gradients(self.g_optimizer, g_tape, g_scaled, g_loss,
                                          self.generator_variables(), update)
        self._track(d_applied, self._named(d_losses))
        self._track(g_applied, self._named(g_losses))
        self._count_skipped([d_applied, g_applied], gate=update)
        return self._fit_logs(self.step_logs())


class SharedDiscriminatorPix2Pix(Pix2PixTeacher):
    """Several pix2pix generators judged by ONE discriminator (OMGD's Pix2Pix teachers,
    ``MultiNLayerDiscriminator`` with every block shared, ``n_share`` 5).

    One ``train_step``: one D step on the sum over generators of their D losses,
    then one G step (one optimizer over all generators) on the sum of their pix2pix
    losses against the updated D. (OMGD computes both steps' gradients before
    either update; here, as pix2pix, G sees the updated D.) Trackers:
    ``g_gan_<k>``, ``g_l1_<k>``, ``d_real_<k>``, ``d_fake_<k>`` per generator k.
    ``call(A)`` returns the first generator's output.
    """

    def __init__(self, generators, discriminator, lambda_l1=100.0, gan_mode="vanilla",
                 **kwargs):
        if len(generators) < 2:
            raise ValueError("SharedDiscriminatorPix2Pix judges >= 2 generators; use "
                             "Pix2PixTeacher for one. Fix: pass several generators.")
        names = [f"{name}_{k}" for k in range(len(generators)) for name in PIX2PIX_TERMS]
        super().__init__(generators[0], discriminator, lambda_l1, gan_mode, loss_names=names,
                         **kwargs)
        self.others = list(generators[1:])

    def _generators(self):
        return [self.generator, *self.others]

    def generator_variables(self):
        return [v for g in self._generators() for v in g.trainable_variables]


class CycleGANTeacher(_GANTeacher):
    """CycleGAN (Zhu et al. 2017): two generators, two discriminators.

    Args:
      g_ab, g_ba: generators A -> B and B -> A.
      d_a, d_b: unconditional discriminators of domain A and domain B images
        (the original's D_B and D_A respectively).
      lambda_cycle: cycle weight, both directions (10).
      lambda_identity: identity weight relative to lambda_cycle (0.5; 0 turns
        the identity terms off).
      gan_mode: ``lsgan`` (original), ``vanilla`` or ``hinge``.
      pool_size: image history per discriminator (50; 0 disables it).
      seed: seed of the image pools' randomness.
      skip_nonfinite_steps: skip (and count) non-finite updates (module docstring).

    One ``train_step``, as the original: a G step on both generators' loss
    (discriminators fixed), then a D step on both discriminators with fakes
    drawn through the image pools. Trackers: ``gan_ab``, ``gan_ba``,
    ``cycle_a``, ``cycle_b``, ``idt_ab``, ``idt_ba`` (when used), ``d_a``,
    ``d_b``. ``call(A)`` returns g_ab(A).
    """

    def __init__(self, g_ab, g_ba, d_a, d_b, lambda_cycle=10.0,
                 lambda_identity=0.5, gan_mode="lsgan", pool_size=50,
                 seed=None, **kwargs):
        identity = ("idt_ab", "idt_ba") if lambda_identity > 0 else ()
        super().__init__(
            gan_mode, ("gan_ab", "gan_ba", "cycle_a", "cycle_b", *identity,
                       "d_a", "d_b"), **kwargs)
        self.g_ab, self.g_ba, self.d_a, self.d_b = g_ab, g_ba, d_a, d_b
        self.lambda_cycle = float(lambda_cycle)
        self.lambda_identity = float(lambda_identity)
        self.pool_a = ImagePool(pool_size, seed=seed, name="pool_a")
        self.pool_b = ImagePool(pool_size,
                                seed=None if seed is None else seed + 1,
                                name="pool_b")

    def generator_variables(self):
        return self.g_ab.trainable_variables + self.g_ba.trainable_variables

    def discriminator_variables(self):
        return self.d_a.trainable_variables + self.d_b.trainable_variables

    def build(self, input_shape):
        """Creates the image pools (their size must be known): from a batch
        dict's shapes {"A": ..., "B": ...}, or from the A shape alone, assuming
        B images of the same size with g_ab's output channels."""
        if isinstance(input_shape, dict):
            shape_a, shape_b = input_shape["A"], input_shape["B"]
        else:
            shape_a = tuple(input_shape)
            shape_b = shape_a[:-1] + (_channels(self.g_ab, "output")
                                      or shape_a[-1],)
        for pool, shape in ((self.pool_a, shape_a), (self.pool_b, shape_b)):
            if not pool.built:
                pool.build(shape)
        self.built = True

    def call(self, inputs, training=False):
        """A images [B, H, W, C] (or a batch dict) -> g_ab(A) [B, H, W, C]."""
        return self.g_ab(self._source(inputs), training=training)

    def train_step(self, data, update=None):
        """One G step then one D step; none when ``update`` is False (module docstring)."""
        real_a, real_b = self._unpack(data)
        with tf.GradientTape() as g_tape:
            g_losses, fakes = cyclegan_generator_losses(
                self.g_ab, self.g_ba, self.d_a, self.d_b, real_a, real_b,
                self.gan_mode, self.lambda_cycle, self.lambda_identity)
            g_loss = global_average(g_losses["total"])
            g_scaled = self.g_optimizer.scale_loss(g_loss)
        g_applied = self._apply_gradients(self.g_optimizer, g_tape, g_scaled, g_loss,
                                          self.generator_variables(), update)
        fake_a, fake_b = (tf.stop_gradient(tf.cast(fakes[k], tf.float32))
                          for k in ("fake_a", "fake_b"))
        fake_a, fake_b = self.pool_a(fake_a), self.pool_b(fake_b)
        with tf.GradientTape() as d_tape:
            d_losses = cyclegan_discriminator_losses(
                self.d_a, self.d_b, real_a, real_b, fake_a, fake_b,
                self.gan_mode)
            d_loss = global_average(d_losses["total"])
            d_scaled = self.d_optimizer.scale_loss(d_loss)
        d_applied = self._apply_gradients(self.d_optimizer, d_tape, d_scaled, d_loss,
                                          self.discriminator_variables(), update)
        self._track(g_applied, g_losses)
        self._track(d_applied, d_losses)
        self._count_skipped([g_applied, d_applied], gate=update)
        return self._fit_logs(self.step_logs())


def ttur_optimizers(learning_rate=2e-4):
    """SPADE's TTUR: (G, D) = Adam(lr / 2), Adam(lr · 2), both β1 0, β2 0.9."""
    return (FusedAdam(learning_rate / 2, beta_1=0.0, beta_2=0.9),
            FusedAdam(learning_rate * 2, beta_1=0.0, beta_2=0.9))


class SPADETeacher(_ConditionalTeacher):
    """GauGAN (Park et al. 2019): semantic map -> photo with a SPADE generator.

    Args:
      generator: semantic map [B, H, W, semantic_nc] -> image [B, H, W, C] in [-1, 1]
        (``build_generator("spade", semantic_nc, ...)``).
      discriminator: multi-scale PatchGAN on concat([semantic map, image])
        (semantic_nc + C channels; GauGAN: spectral norm, instance norm, n_layers 4,
        num_D 2).
      vgg: a ``VGGFeatures(SPADE_VGG_LAYERS)`` for the perceptual loss (SPADE uses
        VGG19's relu1_1..relu5_1; this uses VGG16's, the weights this toolkit loads
        locally), or None to leave it out.
      lambda_feat, lambda_vgg: feature-matching and VGG weights (10 and 10).
      gan_mode: ``hinge`` (GauGAN), ``lsgan`` or ``vanilla``.
      skip_nonfinite_steps: skip (and count) non-finite updates (module docstring).

    One ``train_step``: a G step (GAN + feature matching + VGG against the current D),
    then a D step on the same (constant) fake; SPADE regenerates the fake after the G
    step, this reuses it. Default optimisers: `ttur_optimizers`. Trackers: ``g_gan``,
    ``g_feat``, ``g_vgg`` (with a VGG), ``d_real``, ``d_fake``. ``call(A)`` returns the
    generator output.
    """

    def __init__(self, generator, discriminator, vgg=None, lambda_feat=10.0,
                 lambda_vgg=10.0, gan_mode="hinge", **kwargs):
        names = ("g_gan", "g_feat", *(("g_vgg",) if vgg is not None else ()),
                 "d_real", "d_fake")
        super().__init__(gan_mode, names, **kwargs)
        _check_conditional_discriminator(generator, discriminator, "GauGAN",
                                         "semantic map, image")
        self.generator = generator
        self.discriminator = discriminator
        self.d_features = discriminator_features(discriminator)
        self.vgg = vgg
        self.lambda_feat, self.lambda_vgg = float(lambda_feat), float(lambda_vgg)
        self.built = generator.built and discriminator.built

    def compile(self, g_optimizer=None, d_optimizer=None, **kwargs):
        """As `_GANTeacher.compile`, defaulting to SPADE's `ttur_optimizers`."""
        default_g, default_d = ttur_optimizers()
        super().compile(g_optimizer or default_g, d_optimizer or default_d, **kwargs)


    def train_step(self, data):
        semantics, real = self._unpack(data)
        with tf.GradientTape() as g_tape:
            fake = tf.cast(self.generator(semantics, training=True), tf.float32)
            g_losses = spade_generator_losses(
                self.d_features, semantics, real, fake, self.vgg, self.gan_mode,
                self.lambda_feat, self.lambda_vgg, SPADE_VGG_WEIGHTS)
            g_loss = global_average(g_losses["total"])
            g_scaled = self.g_optimizer.scale_loss(g_loss)
        g_applied = self._apply_gradients(self.g_optimizer, g_tape, g_scaled, g_loss,
                                          self.generator_variables())
        with tf.GradientTape() as d_tape:
            d_losses = spade_discriminator_losses(self.d_features, semantics, real, fake,
                                                  self.gan_mode)
            d_loss = global_average(d_losses["total"])
            d_scaled = self.d_optimizer.scale_loss(d_loss)
        d_applied = self._apply_gradients(self.d_optimizer, d_tape, d_scaled, d_loss,
                                          self.discriminator_variables())
        self._track(g_applied, g_losses)
        self._track(d_applied, d_losses)
        self._count_skipped([g_applied, d_applied])
        return self._fit_logs(self.step_logs())
