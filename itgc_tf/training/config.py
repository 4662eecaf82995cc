"""Configurations of the training commands, each validated once; their flags are
generated from the fields (`itgc_tf.options`).

  TrainTeacherConfig = data + run (output, schedule, distribution) + model + teacher
  DistillConfig      = data + run + model + student + recipe options + VEM
                       (+ teacher objectives and online-teacher schedule, for recipes
                       that train their teachers online)
"""
import dataclasses

from itgc_tf.data.config import DataConfig
from itgc_tf.models.config import DiscriminatorConfig, GeneratorConfig, LayersConfig
from itgc_tf.options import leaves, option, pick, require, union
from itgc_tf.recipes import RECIPES
from itgc_tf.vem.config import VEMConfig

STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker", "tpu")
PRECISIONS = ("none", "mixed_float16", "mixed_bfloat16")
TEACHER_MODELS = ("pix2pix", "cycle_gan", "spade")
TEACHER_DISCRIMINATORS = ("separate", "shared")
# The online teachers' forward mode for the student (`itgc_tf.training.distiller`), and the
# frozen teacher a student round learns from (`itgc_tf.training.rounds`).
TEACHER_BATCHNORM = ("inference", "train")
TEACHER_CHECKPOINTS = ("latest", "best_fid")
# The `TeacherConfig` options each teacher model's objective reads.
TEACHER_OBJECTIVE_OPTIONS = {"pix2pix": {"lambda_l1"},
                             "cycle_gan": {"lambda_cycle", "lambda_identity", "pool_size"},
                             "spade": {"lambda_feat", "lambda_vgg", "teacher_vgg_weights"}}


def _names(config_class):
    return {field.name for field, _ in leaves(config_class)}


def _at_least(config, minimum, *names):
    for name in names:
        value = getattr(config, name)
        if value is not None:
            require(value >= minimum, f"--{name} must be >= {minimum}, got {value}. Fix: pass "
                    f"--{name} >= {minimum}.")


@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
    """Epochs, learning rate and its linear decay, the generators' Adam."""
    flag_group = "training"

    epochs: int = option(100, "Epochs at the initial learning rate (n_epochs).")
    epochs_decay: int = option(100, "Further epochs with the learning rate decaying linearly "
                               "to 0 (n_epochs_decay).")
    steps_per_epoch: int | None = option(None, "Batches per epoch; default: one pass over the "
                                         "training data.", kind="int")
    lr: float = option(2e-4, "Adam learning rate of the generators and discriminators.")
    beta1: float = option(0.5, "Adam beta_1 of the generators and discriminators.")
    beta2: float = option(0.999, "Adam beta_2 of the generators and discriminators (GauGAN: "
                          "0.9).")
    ttur: bool = option(False, "Two time-scale update rule (SPADE): generators at lr/2, "
                        "discriminators at lr*2.")
    skip_nonfinite_steps: bool = option(
        False, "Skip (do not apply) an update whose loss or gradients hold NaN/Inf and count "
        "it (skipped_steps), instead of stopping the run with an error naming the term and "
        "step (the default).")

    def __post_init__(self):
        _at_least(self, 0, "epochs", "epochs_decay")
        _at_least(self, 1, "steps_per_epoch")
        require(self.lr > 0, f"--lr must be > 0, got {self.lr}. Fix: pass a positive --lr.")

    @property
    def total_epochs(self):
        return self.epochs + self.epochs_decay


@dataclasses.dataclass(frozen=True)
class DistributionConfig:
    """Where and in which precision the steps run."""
    flag_group = "distribution"

    strategy: str = option(
        "auto", "tf.distribute strategy: auto (mirrored when more than one GPU is visible, else "
        "default), default, one_device (the first GPU, else the CPU), mirrored (every local "
        "GPU), multi_worker (MultiWorkerMirroredStrategy: run the same command on every host, "
        "cluster and task from TF_CONFIG; only the chief writes to --model_dir), tpu "
        "(TPUClusterResolver with --tpu). --batch_size is the global batch.",
        choices=STRATEGIES)
    tpu: str | None = option(None, "TPU name or grpc:// address for --strategy=tpu (empty: the "
                             "local Cloud TPU VM).", kind="str")
    jit_compile: bool = option(False, "XLA-compile the train step (slower on CPUs: 0.1-0.95x "
                               "the throughput in docs/PERFORMANCE.md; try it on GPUs).")
    mixed_precision: str = option(
        "none", "Keras dtype policy: none (float32), mixed_float16 (GPUs; losses scaled by "
        "LossScaleOptimizers) or mixed_bfloat16 (TPUs, recent GPUs). The energy critic and the "
        "Langevin chain stay float32.", choices=PRECISIONS)
    deterministic_ops: bool = option(
        False, "tf.config.experimental.enable_op_determinism(): bit-reproducible kernels given "
        "--seed (slower; some GPU ops then raise). With --deterministic data, a resumed run "
        "equals an uninterrupted one.")

    def __post_init__(self):
        require(self.tpu is None or self.strategy == "tpu", "--tpu names the TPU of "
                "--strategy=tpu. Fix: add --strategy=tpu or drop --tpu.")
        require(not (self.strategy == "tpu" and self.mixed_precision == "mixed_float16"),
                "TPUs compute in bfloat16. Fix: use --mixed_precision=mixed_bfloat16 with "
                "--strategy=tpu.")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """The run folder, checkpoints and logging, with the schedule and distribution
    (``model_dir`` may stay None for models built without a run, e.g. benchmarks)."""
    flag_group = "output"

    model_dir: str | None = option(
        None, "Folder that holds everything of this run: checkpoints/, tensorboard/, export/, "
        "flags.cfg (the resolved flags). Re-running with the same --model_dir resumes from the "
        "latest checkpoint. Required by the training commands.", kind="str")
    keep_checkpoints: int = option(3, "Checkpoints kept in model_dir/checkpoints.")
    checkpoint_every_steps: int | None = option(
        None, "Also save every N steps (besides every epoch end), so a killed run loses at most "
        "N steps.", kind="int")
    image_summary_every: int = option(1, "Epochs between TensorBoard image grids (0: never).")
    verbose: int = option(1, "Progress output: 0 silent, 1 Keras progress bar, 2 one line per "
                          "epoch.")
    log_every_steps: int = option(
        0, "TensorBoard scalars (every tracker) every N training steps too, as "
        "train/batch_<name>; 0: per epoch only (train/epoch_<name>).")
    restore_from: str | None = option(
        None, "Resume from this checkpoint of model_dir/checkpoints (a name such as ckpt-3, or "
        "a path without extension) instead of the newest one, e.g. when the newest is corrupt; "
        "later saves are numbered above every checkpoint. Not recorded in flags.cfg (a "
        "one-off).", kind="str", one_off=True)
    allow_changed_flags: bool = option(
        False, "Resume even when flags that change the run (architecture, data, schedule, "
        "optimiser) differ from the ones in model_dir/flags.cfg; the changes are appended to "
        "model_dir/flags_history.txt. Not recorded in flags.cfg (a one-off).", one_off=True)
    explosion_factor: float = option(
        0.0, "Explosion guard: stop (keeping the last good checkpoint) when a loss stays above "
        "this multiple of its running median for --explosion_patience steps; checkpoints are "
        "held while it is above. 0 turns the guard off; otherwise > 1 (e.g. 100).")
    explosion_patience: int = option(10, "Explosion guard: consecutive steps above "
                                     "--explosion_factor x the running median that stop the run.")
    schedule: ScheduleConfig = dataclasses.field(default_factory=ScheduleConfig)
    distribution: DistributionConfig = dataclasses.field(default_factory=DistributionConfig)

    def __post_init__(self):
        _at_least(self, 1, "keep_checkpoints", "checkpoint_every_steps", "explosion_patience")
        require(self.explosion_factor == 0 or self.explosion_factor > 1, "--explosion_factor "
                f"must be 0 (off) or > 1 (a multiple of the running median), got "
                f"{self.explosion_factor}. Fix: pass e.g. --explosion_factor=100, or 0.")
        _at_least(self, 0, "image_summary_every", "log_every_steps")
        require(self.verbose in (0, 1, 2), "--verbose must be 0 (silent), 1 (progress bar) or "
                f"2 (one line per epoch), got {self.verbose}. Fix: pick one of them.")


@dataclasses.dataclass(frozen=True)
class TeacherConfig:
    """Teacher objectives (pix2pix / CycleGAN / GauGAN, the originals' defaults); GauGAN's
    also serve a student with --student_gaugan_loss."""
    flag_group = "teacher"

    teacher_model: str = option("pix2pix", "pix2pix (paired), cycle_gan (unpaired) or spade "
                                "(GauGAN: label maps -> photos, --netG=spade).",
                                choices=TEACHER_MODELS)
    lambda_l1: float = option(100.0, "pix2pix L1 weight.")
    lambda_cycle: float = option(10.0, "CycleGAN cycle-consistency weight (each way).")
    lambda_identity: float = option(0.5, "CycleGAN identity weight, relative to lambda_cycle "
                                    "(0 turns it off).")
    pool_size: int = option(50, "CycleGAN image history per discriminator.")
    lambda_feat: float = option(10.0, "spade teacher, and a student with "
                                "--student_gaugan_loss: discriminator feature-matching weight.")
    lambda_vgg: float = option(10.0, "spade teacher, and a student with --student_gaugan_loss: "
                               "VGG perceptual weight (relu1_1..relu5_1, weights 1/32..1; 0 "
                               "turns it off and needs no VGG weights).")
    teacher_vgg_weights: str | None = option(
        None, "spade teacher, and a student with --student_gaugan_loss: VGG16 notop weights "
        "(.h5) of the perceptual loss; default the Keras cache "
        "(~/.keras/models/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5).",
        kind="str")

    def __post_init__(self):
        _at_least(self, 0, "lambda_l1", "lambda_cycle", "lambda_identity", "pool_size",
                  "lambda_feat", "lambda_vgg")


@dataclasses.dataclass(frozen=True)
class TrainTeacherConfig:
    """Everything ``itgc-train-teacher`` does."""
    data: DataConfig
    run: RunConfig
    generator: GeneratorConfig = dataclasses.field(default_factory=GeneratorConfig)
    layers: LayersConfig = dataclasses.field(default_factory=LayersConfig)
    discriminator: DiscriminatorConfig = dataclasses.field(default_factory=DiscriminatorConfig)
    teacher: TeacherConfig = dataclasses.field(default_factory=TeacherConfig)

    def unused_options(self):
        """Names of the options this run does not read: the objectives of the other
        teacher models (left out of its TensorBoard HParams)."""
        model = self.teacher.teacher_model
        return set().union(*TEACHER_OBJECTIVE_OPTIONS.values()) - TEACHER_OBJECTIVE_OPTIONS[model]


RecipeOptions = union("RecipeOptions", [r.options_class for r in RECIPES.values()], "recipe")
RecipeOptions.__doc__ = ("Every recipe's options (`RECIPES`); each recipe reads its own "
                         "(`options_class`).")


@dataclasses.dataclass(frozen=True)
class StudentConfig:
    """The student, its teacher(s) and the base recipe."""
    flag_group = "student"

    recipe: str = option("kd", "Base compression method: kd (L1 to the teacher + GAN), "
                         "gan_compression (kd + feature distillation), omgd (online teachers, "
                         "perceptual losses, no discriminator), cat (GAN + L1 + kernel alignment "
                         "of features, no adapters).", choices=tuple(RECIPES))
    student_netG: str = option("mobile_resnet_9blocks", "Student architecture.")  # noqa: N815
    student_ngf: int = option(16, "Student base width.")
    student: str | None = option(
        None, "Start the student from an itgc-prune output folder (its generator.keras, "
        "checked against its widths.json) instead of building --student_netG/--student_ngf "
        "(CAT's pruned student).", kind="str")
    teacher: str | None = option(None, "Frozen teacher (kd, gan_compression): MODEL_DIR of an "
                                 "itgc-train-teacher run, or a .keras generator file.",
                                 kind="str")
    teacher_netG: tuple[str, ...] = option(  # noqa: N815
        ("resnet_9blocks",), "omgd: architectures of the online teachers (comma-separated; "
        "the authors' Pix2Pix uses unet_256,unet_deepest_256).", kind="list")
    teacher_ngf: tuple[int, ...] = option((64,), "omgd: widths of the online teachers, one "
                                          "per --teacher_netG entry.", kind="int_list")
    init_discriminator_from_teacher: bool = option(
        False, "kd/gan_compression: start the student discriminator from the teacher run's "
        "discriminator.keras (GAN Compression); --netD/--ndf/--n_layers_D/--norm must match "
        "the teacher run.")
    init_student_from_teacher: bool = option(
        False, "kd/gan_compression: start the student from the teacher's weights (GAN "
        "Compression's weight transfer: each layer keeps the teacher channels of largest L1 "
        "norm); ResNet teacher and student of the same architecture, student no wider.")
    n_dis: int = option(1, "Critic and student updates per training step, repeated on the same "
                        "batch and teacher outputs. (Not the authors' Pix2Pix n_dis: that is "
                        "--teacher_every_n_steps.)")

    def __post_init__(self):
        _at_least(self, 1, "student_ngf", "n_dis")
        require(not (self.init_student_from_teacher and RECIPES[self.recipe].online_teachers),
                "--init_student_from_teacher copies a trained teacher into the student, but "
                f"--recipe={self.recipe} trains its teachers from scratch. Fix: drop the flag.")
        require(len(self.teacher_netG) == len(self.teacher_ngf),
                f"--teacher_netG ({len(self.teacher_netG)} entries) and --teacher_ngf "
                f"({len(self.teacher_ngf)}) must list the online teachers one-to-one. Fix: give "
                "one width per architecture.")


@dataclasses.dataclass(frozen=True)
class OnlineTeachersConfig:
    """How teachers trained online (recipe omgd) step and what the student sees of them
    (the authors' Pix2Pix settings in docs/REPRODUCE.md)."""
    flag_group = "online teachers"

    teacher_batchnorm: str = option(
        "inference", "omgd: mode of the online teachers' forward pass whose outputs and taps "
        "the student learns from: inference (moving statistics) or train (batch statistics, "
        "as the authors' teachers).", choices=TEACHER_BATCHNORM)
    teacher_outputs_before_teacher_step: bool = option(
        False, "omgd: the student learns from the teacher outputs computed before the "
        "teachers' update of the same step (the authors' Pix2Pix order), not after it.")
    teacher_every_n_steps: int = option(
        1, "omgd: the online teachers and their discriminators update only at every N-th step "
        "(the authors' Pix2Pix n_dis); the critic and the student update every step.")
    teacher_discriminator: str = option(
        "separate", "omgd with several paired (pix2pix) teachers: one discriminator per teacher "
        "(separate), or one discriminator judging all of them, stepped once on the sum of their "
        "losses (shared: OMGD's multi_n_layers with n_share 5).", choices=TEACHER_DISCRIMINATORS)

    student_rounds_every_epochs: int = option(
        0, "omgd: train the student in rounds (the authors' CycleGAN schedule): the teachers "
        "train alone, and after every N teacher epochs (and after the last) the student trains "
        "--student_epochs_per_round epochs against a frozen copy of the teacher. 0: teacher and "
        "student update in the same steps.")
    student_epochs_per_round: int = option(
        1, "With --student_rounds_every_epochs: student epochs per round (the authors: n_dis x "
        "save_epoch_freq = 40). The student's learning rate is the teacher's at the round's "
        "teacher epoch, constant within the round.")
    student_teacher_checkpoint: str = option(
        "latest", "With --student_rounds_every_epochs: the frozen teacher a round learns from: "
        "latest (the teacher as it is after its epochs) or best_fid (the teacher with the "
        "lowest FID on the test split so far, scored after each teacher period; needs "
        "Inception weights, see --inception_weights).", choices=TEACHER_CHECKPOINTS)
    inception_weights: str | None = option(
        None, "With --student_teacher_checkpoint=best_fid: the FID network, the standard FID "
        "Inception SavedModel or Keras InceptionV3 notop weights (.h5); default the Keras cache. "
        "Nothing is downloaded.", kind="str")

    def __post_init__(self):
        _at_least(self, 1, "teacher_every_n_steps", "student_epochs_per_round")
        _at_least(self, 0, "student_rounds_every_epochs")
        rounds = {"--student_epochs_per_round": self.student_epochs_per_round != 1,
                  "--student_teacher_checkpoint": self.student_teacher_checkpoint != "latest",
                  "--inception_weights": self.inception_weights is not None}
        require(self.rounds or not any(rounds.values()),
                f"{', '.join(k for k, on in rounds.items() if on)} only apply to the student "
                "rounds of --student_rounds_every_epochs. Fix: add --student_rounds_every_epochs=N "
                "(the authors' CycleGAN: 10) or drop these options.")
        require(self.inception_weights is None or self.student_teacher_checkpoint == "best_fid",
                "--inception_weights scores the teacher for --student_teacher_checkpoint=best_fid. "
                "Fix: add --student_teacher_checkpoint=best_fid or drop --inception_weights.")

    @property
    def rounds(self):
        """True when the student trains in rounds against a frozen teacher copy."""
        return self.student_rounds_every_epochs > 0

    def asked(self):
        """The options set away from their defaults (their flag text)."""
        return [text for text, on in (
            ("--teacher_batchnorm=train", self.teacher_batchnorm == "train"),
            ("--teacher_outputs_before_teacher_step", self.teacher_outputs_before_teacher_step),
            ("--teacher_every_n_steps > 1", self.teacher_every_n_steps > 1),
            ("--teacher_discriminator=shared", self.teacher_discriminator == "shared")) if on]


@dataclasses.dataclass(frozen=True)
class DistillConfig:
    """Everything ``itgc-distill`` does."""
    data: DataConfig
    run: RunConfig
    student: StudentConfig = dataclasses.field(default_factory=StudentConfig)
    online_teachers: OnlineTeachersConfig = dataclasses.field(
        default_factory=OnlineTeachersConfig)
    recipe_options: RecipeOptions = dataclasses.field(default_factory=RecipeOptions)
    vem: VEMConfig = dataclasses.field(default_factory=VEMConfig)
    layers: LayersConfig = dataclasses.field(default_factory=LayersConfig)
    discriminator: DiscriminatorConfig = dataclasses.field(default_factory=DiscriminatorConfig)
    teacher: TeacherConfig = dataclasses.field(default_factory=TeacherConfig)

    def __post_init__(self):
        self.recipe_config  # noqa: B018 (validates the chosen recipe's options)
        recipe, asked = self.student.recipe, self.online_teachers.asked()
        require(not self.recipe_options.student_gaugan_loss
                or hasattr(self.recipe_config, "student_gaugan_loss"),
                f"--student_gaugan_loss changes the kd / gan_compression student's terms, but "
                f"--recipe={recipe} has none of them. Fix: drop it, or use --recipe=kd or "
                "gan_compression.")
        require(RECIPES[recipe].online_teachers or not asked,
                f"{', '.join(asked)} only apply to teachers trained online (--recipe=omgd); "
                f"--recipe={recipe} distils a frozen teacher, which never steps and runs its batch "
                "norm in inference mode. Fix: drop these options or use --recipe=omgd.")
        require(self.online_teachers.teacher_discriminator == "separate"
                or len(self.student.teacher_netG) >= 2,
                "--teacher_discriminator=shared judges several pix2pix teachers with one "
                "discriminator: it needs two or more --teacher_netG entries. Fix: use "
                "--teacher_discriminator=separate, or list more teachers.")
        if self.online_teachers.rounds:
            self._check_rounds()

    def _check_rounds(self):
        """The student rounds need one online teacher that trains alone."""
        recipe, asked = self.student.recipe, self.online_teachers.asked()
        require(RECIPES[recipe].online_teachers,
                f"--student_rounds_every_epochs trains the student in rounds against a frozen copy "
                f"of a teacher trained online, but --recipe={recipe} distils a trained teacher. "
                "Fix: use --recipe=omgd, or drop --student_rounds_every_epochs.")
        require(len(self.student.teacher_netG) == 1,
                "--student_rounds_every_epochs trains one online teacher (the authors' CycleGAN "
                f"recipe), but --teacher_netG lists {len(self.student.teacher_netG)}. Fix: pass "
                "one --teacher_netG/--teacher_ngf, or drop --student_rounds_every_epochs.")
        require(not asked, f"{', '.join(asked)} describe teachers that step inside the "
                "student's steps; with --student_rounds_every_epochs the teacher trains alone and "
                "the student learns from a frozen copy (inference mode). Fix: drop these options "
                "or --student_rounds_every_epochs.")
        require(self.run.restore_from is None,
                "--restore_from names one checkpoint, but a run in student rounds keeps two "
                "(model_dir/checkpoints/teacher and .../student) that must stay in step. Fix: "
                "drop --restore_from; to go back, delete the newer checkpoints of both folders.")

    def unused_options(self):
        """Names of the options this run does not read (left out of its TensorBoard
        HParams): the other recipes' options, VEM's when VEM is off, and the online
        teachers' (objectives, schedule, architectures) for a frozen teacher."""
        recipe = RECIPES[self.student.recipe]
        unused = _names(RecipeOptions) - _names(recipe.options_class)
        if self.vem.vem_weight == 0:
            unused |= _names(VEMConfig) - {"vem_weight"}
        if not recipe.online_teachers:
            unused |= (_names(OnlineTeachersConfig) | _names(TeacherConfig)
                       | {"teacher_netG", "teacher_ngf"})
        return unused

    @property
    def recipe_config(self):
        """The chosen recipe's own options (validated)."""
        return pick(self.recipe_options, RECIPES[self.student.recipe].options_class)
