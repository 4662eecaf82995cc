"""absl flags shared by the command lines, grouped by concern, with validators.

Every ``define_*`` is idempotent (a flag that exists is left alone), so several
applications can be imported in one process (tests).
"""
from absl import flags

from itgc_tf.data import flags as data_flags
from itgc_tf.models.adversarial import GAN_MODES
from itgc_tf.models.registry import DISCRIMINATORS, GENERATORS

FLAGS = flags.FLAGS
NORMS = ("instance", "batch", "none")
STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker", "tpu")
PRECISIONS = ("none", "mixed_float16", "mixed_bfloat16")


def _define(kind, name, default, help_text, enum_values=None):
    if name in FLAGS:
        return
    if kind == "enum":
        flags.DEFINE_enum(name, default, enum_values, help_text)
    else:
        getattr(flags, f"DEFINE_{kind}")(name, default, help_text)


def define_run_flags():
    """--model_dir, schedule, optimiser, checkpoints, strategy, logging."""
    data_flags.define_flags()
    _define("string", "model_dir", None, "Folder that holds everything of this run: "
            "checkpoints/, tensorboard/, export/, flags.cfg (the resolved flags). Re-running "
            "with the same --model_dir resumes from the latest checkpoint.")
    _define("integer", "epochs", 100, "Epochs at the initial learning rate (n_epochs).")
    _define("integer", "epochs_decay", 100, "Further epochs with the learning rate decaying "
            "linearly to 0 (n_epochs_decay).")
    _define("integer", "steps_per_epoch", None, "Batches per epoch; default: one pass over "
            "the training data.")
    _define("float", "lr", 2e-4, "Adam learning rate of the generators and discriminators.")
    _define("float", "beta1", 0.5, "Adam beta_1 of the generators and discriminators.")
    _define("integer", "keep_checkpoints", 3, "Checkpoints kept in model_dir/checkpoints.")
    _define("string", "restore_from", None, "Resume from this checkpoint of model_dir/checkpoints "
            "(a name such as ckpt-3, or a path without extension) instead of the newest one, "
            "e.g. when the newest is corrupt; later saves are numbered above every checkpoint. "
            "Not recorded in flags.cfg (a one-off).")
    _define("integer", "checkpoint_every_steps", None, "Also save every N steps (besides "
            "every epoch end), so a killed run loses at most N steps.")
    _define("integer", "image_summary_every", 1, "Epochs between TensorBoard image grids "
            "(0: never).")
    _define("enum", "strategy", "auto", "tf.distribute strategy: auto (mirrored when more "
            "than one GPU is visible, else default), default, one_device (the first GPU, else "
            "the CPU), mirrored (every local GPU), multi_worker (MultiWorkerMirroredStrategy: "
            "run the same command on every host, cluster and task from TF_CONFIG; only the "
            "chief writes to --model_dir), tpu (TPUClusterResolver with --tpu). --batch_size "
            "is the global batch.", enum_values=list(STRATEGIES))
    _define("string", "tpu", None, "TPU name or grpc:// address for --strategy=tpu (empty: "
            "the local Cloud TPU VM).")
    _define("boolean", "jit_compile", False, "XLA-compile the train step (slower on CPUs: "
            "0.1-0.95x the throughput in docs/PERFORMANCE.md; try it on GPUs).")
    _define("enum", "mixed_precision", "none", "Keras dtype policy: none (float32), "
            "mixed_float16 (GPUs; losses scaled by LossScaleOptimizers) or mixed_bfloat16 "
            "(TPUs, recent GPUs). The energy critic and the Langevin chain stay float32.",
            enum_values=list(PRECISIONS))
    _define("boolean", "skip_nonfinite_steps", False, "Skip (do not apply) an update whose "
            "loss or gradients hold NaN/Inf and count it (skipped_steps), instead of stopping "
            "the run with an error naming the term and step (the default).")
    _define("boolean", "deterministic_ops", False, "tf.config.experimental."
            "enable_op_determinism(): bit-reproducible kernels given --seed (slower; some GPU "
            "ops then raise). With --deterministic data, a resumed run equals an uninterrupted "
            "one.")
    _define("integer", "verbose", 1, "Keras progress output: 0 silent, 1 bar, 2 line/epoch.")
    flags.register_validator("epochs", lambda v: v >= 0, "--epochs must be >= 0.")
    flags.register_validator("epochs_decay", lambda v: v >= 0, "--epochs_decay must be >= 0.")
    flags.register_validator("lr", lambda v: v > 0, "--lr must be > 0.")
    flags.register_validator("steps_per_epoch", lambda v: v is None or v > 0,
                             "--steps_per_epoch must be > 0.")
    flags.register_validator("keep_checkpoints", lambda v: v >= 1,
                             "--keep_checkpoints must be >= 1.")
    flags.register_validator("checkpoint_every_steps", lambda v: v is None or v >= 1,
                             "--checkpoint_every_steps must be >= 1 (leave it unset to save at "
                             "epoch ends only).")
    flags.register_validator("verbose", lambda v: v in (0, 1, 2),
                             "--verbose must be 0 (silent), 1 (progress bar) or 2 (one line "
                             "per epoch).")
    flags.register_multi_flags_validator(
        ["tpu", "strategy"], lambda f: f["tpu"] is None or f["strategy"] == "tpu",
        "--tpu names the TPU of --strategy=tpu; add --strategy=tpu or drop --tpu.")
    flags.register_multi_flags_validator(
        ["mixed_precision", "strategy"],
        lambda f: not (f["strategy"] == "tpu" and f["mixed_precision"] == "mixed_float16"),
        "TPUs compute in bfloat16: use --mixed_precision=mixed_bfloat16 with --strategy=tpu.")


def define_generator_flags():
    """--netG/--ngf (the network a command trains), --norm, --dropout."""
    _define("string", "netG", "resnet_9blocks", "Generator architecture: "
            f"{', '.join(sorted(GENERATORS))} or unet_<N>.")
    _define("integer", "ngf", 64, "Generator base width (filters of the first conv).")
    _define("enum", "norm", "instance", "Normalisation in the generators.",
            enum_values=list(NORMS))
    _define("boolean", "dropout", False, "Dropout in the generators' blocks.")
    flags.register_validator("ngf", lambda v: v >= 1, "--ngf must be >= 1.")


def define_discriminator_flags():
    """--netD, --ndf, --n_layers_D, --gan_mode."""
    _define("enum", "netD", "n_layers", "Discriminator architecture.",
            enum_values=sorted(DISCRIMINATORS))
    _define("integer", "ndf", 64, "Base width of the discriminator.")
    _define("integer", "n_layers_D", 3, "PatchGAN depth (3 = 70x70 receptive field).")
    _define("integer", "num_D", 2, "Scales of the multi_scale discriminator.")
    _define("enum", "gan_mode", "lsgan", "Adversarial loss.", enum_values=list(GAN_MODES))


def define_vem_flags():
    """VEM options (SPEC §5 defaults)."""
    _define("float", "vem_weight", 0.0, "lambda_MI, weight of the VEM mutual-information "
            "term in the student loss; 0 turns VEM off (no critic is built).")
    _define("integer", "langevin_steps", 10, "Langevin steps K per sample.")
    _define("float", "langevin_step_size", 100.0, "Langevin step size eta (100 CycleGAN, "
            "50 Pix2Pix in the reference).")
    _define("string", "langevin_noise", "0.005", "Langevin noise sigma, or 'auto' = "
            "sqrt(2*eta) (temperature 1, a true sampler of q). The image default 0.005 with "
            "eta=100 is temperature ~1e-7: almost pure energy descent, as the reference.")
    _define("float", "energy_l2", 0.05, "lambda_l2, L2 penalty on the energies.")
    _define("integer", "critic_width", 16, "Energy critic base width (reference input_nc).")
    _define("integer", "critic_blocks", 7, "Energy critic residual blocks (each halves the "
            "size; 7 needs >= 255 px inputs).")
    _define("float", "critic_lr", 1e-4, "Energy critic Adam learning rate (beta_1 0).")
    _define("enum", "vem_target", "teacher", "t in q(t|s): the teacher output, or the "
            "ground-truth image (paired data; the authors' Pix2Pix code).",
            enum_values=["teacher", "ground_truth"])
    _define("string", "vem_tap", None, "Bound a feature-map pair instead of the output "
            "images: TEACHER_TAP:STUDENT_TAP (e.g. block_4:block_4).")
    flags.register_validator("vem_weight", lambda v: v >= 0,
                             "--vem_weight must be >= 0 (0 turns VEM off).")
    flags.register_validator("langevin_steps", lambda v: v >= 0, "--langevin_steps must be >= 0.")
    flags.register_validator("langevin_step_size", lambda v: v >= 0,
                             "--langevin_step_size must be >= 0.")


def parse_pairs(values, flag_name):
    """['t:s', ...] -> ((t, s), ...) with a clear error for malformed entries."""
    pairs = []
    for value in values or ():
        parts = value.split(":")
        if len(parts) != 2 or not all(parts):
            raise flags.ValidationError(
                f"--{flag_name} entries look like TEACHER_TAP:STUDENT_TAP (e.g. block_2:block_2), "
                f"got {value!r}.")
        pairs.append(tuple(parts))
    return tuple(pairs)


def define_teacher_flags():
    """Teacher objectives (pix2pix / CycleGAN, the originals' defaults)."""
    _define("enum", "teacher_model", "pix2pix", "pix2pix (paired) or cycle_gan (unpaired).",
            enum_values=["pix2pix", "cycle_gan"])
    _define("float", "lambda_l1", 100.0, "pix2pix L1 weight.")
    _define("float", "lambda_cycle", 10.0, "CycleGAN cycle-consistency weight (each way).")
    _define("float", "lambda_identity", 0.5, "CycleGAN identity weight, relative to "
            "lambda_cycle (0 turns it off).")
    _define("integer", "pool_size", 50, "CycleGAN image history per discriminator.")


def define_distill_flags():
    """Student, recipe and teacher-source options of the distillation command."""
    define_teacher_flags()
    _define("enum", "recipe", "kd", "Base compression method: kd (L1 to the teacher + GAN), "
            "gan_compression (kd + feature distillation), omgd (online teachers, perceptual "
            "losses, no discriminator).", enum_values=["kd", "gan_compression", "omgd"])
    _define("string", "student_netG", "mobile_resnet_9blocks", "Student architecture.")
    _define("integer", "student_ngf", 16, "Student base width.")
    _define("string", "teacher", None, "Frozen teacher (kd, gan_compression): MODEL_DIR of an "
            "itgc-train-teacher run, or a .keras generator file.")
    _define("list", "teacher_netG", ["resnet_9blocks"], "omgd: architectures of the online "
            "teachers (comma-separated; Pix2Pix uses a wide and a deep one).")
    _define("list", "teacher_ngf", ["64"], "omgd: widths of the online teachers, one per "
            "--teacher_netG entry.")
    _define("float", "lambda_recon", 10.0, "kd/gan_compression: L1 weight to the teacher output.")
    _define("float", "lambda_gt", 0.0, "kd/gan_compression: L1 weight to the ground truth "
            "(paired data only).")
    _define("boolean", "init_discriminator_from_teacher", False, "kd/gan_compression: start "
            "the student discriminator from the teacher run's discriminator.keras (GAN "
            "Compression); --netD/--ndf/--n_layers_D/--norm must match the teacher run.")
    _define("float", "lambda_distill", 1.0, "gan_compression: feature-distillation weight.")
    _define("list", "distill_pairs", [], "TEACHER_TAP:STUDENT_TAP pairs for feature "
            "distillation (gan_compression) or channel distillation (omgd), e.g. "
            "block_2:block_2,block_5:block_5. Taps: stem, down_<i>, block_<i>, up_<i>.")
    _define("float", "lambda_cd", 5e2, "omgd: channel-distillation weight.")
    _define("float", "lambda_ssim", 1e1, "omgd: 1 - SSIM weight.")
    _define("float", "lambda_style", 1e4, "omgd: VGG16 Gram style weight.")
    _define("float", "lambda_feature", 1e1, "omgd: VGG16 relu2_2 feature weight.")
    _define("float", "lambda_tv", 1e-5, "omgd: total-variation weight.")
    _define("string", "vgg_weights", None, "omgd: VGG16 notop ImageNet weights (.h5); default "
            "the Keras cache (~/.keras/models/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5).")
    _define("boolean", "testing_random_vgg", False, "TESTING ONLY: random VGG16 weights when "
            "none are available; every perceptual number is then meaningless.")
    _define("integer", "n_dis", 1, "Student updates per (online) teacher update.")
    _define("integer", "testing_nan_at_step", None, "TESTING ONLY (fault injection): make "
            "the student loss NaN at this training step of the run (from 1) to exercise the "
            "NaN guard and --skip_nonfinite_steps. Never set it for real training.")
    flags.register_validator("n_dis", lambda v: v >= 1, "--n_dis must be >= 1.")
    flags.register_validator("testing_nan_at_step", lambda v: v is None or v >= 1,
                             "--testing_nan_at_step counts steps from 1.")
    for name in ("lambda_recon", "lambda_gt", "lambda_distill", "lambda_cd", "lambda_ssim",
                 "lambda_style", "lambda_feature", "lambda_tv"):
        flags.register_validator(name, lambda v: v >= 0, f"--{name} must be >= 0.")
