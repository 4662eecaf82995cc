"""`VEMConfig`: the options of the VEM term (SPEC §2-§5 defaults), validated once, and
`resolve_noise_std` (what ``--langevin_noise`` means). Imports no TensorFlow."""
import dataclasses
import math

from itgc_tf.options import option, require

VEM_TARGETS = ("teacher", "ground_truth")


def resolve_noise_std(noise_std, step_size):
    """``noise_std`` as a float; ``"auto"`` gives sqrt(2 * step_size), i.e. temperature 1."""
    if noise_std == "auto":
        return math.sqrt(2.0 * step_size)
    try:
        value = float(noise_std)
    except (TypeError, ValueError):
        raise ValueError(f"Langevin noise must be a number >= 0 or 'auto', got {noise_std!r}.")
    if value < 0 or not math.isfinite(value):
        raise ValueError(f"Langevin noise must be a number >= 0 or 'auto', got {noise_std!r}.")
    return value


@dataclasses.dataclass(frozen=True)
class VEMConfig:
    """VEM options; ``vem_weight`` 0 turns VEM off (no critic is built or run).

    vem_target: what t is in q(t|s): the teacher output (the authors' CycleGAN code)
      or the ground-truth image (their paired Pix2Pix code).
    vem_tap: None for output images, or (teacher_tap, student_tap) to bound the
      information between two feature maps (no clipping, no input pooling; when
      the channel counts differ, a learnable 1x1 conv trained with the student maps
      the student tap to the teacher's channels, where the chain starts).
    """
    flag_group = "vem"

    vem_weight: float = option(0.0, "lambda_MI, weight of the VEM mutual-information term in "
                               "the student loss; 0 turns VEM off (no critic is built).")
    langevin_steps: int = option(10, "Langevin steps K per sample.")
    langevin_step_size: float = option(100.0, "Langevin step size eta (100 CycleGAN, 50 "
                                       "Pix2Pix in the reference).")
    langevin_noise: float | str = option(
        0.005, "Langevin noise sigma, or 'auto' = sqrt(2*eta) (temperature 1, a true sampler "
        "of q). The image default 0.005 with eta=100 is temperature ~1e-7: almost pure energy "
        "descent, as the reference.", kind="float_or_auto")
    energy_l2: float = option(0.05, "lambda_l2, L2 penalty on the energies.")
    critic_width: int = option(16, "Energy critic base width (reference input_nc).")
    critic_blocks: int = option(7, "Energy critic residual blocks (each halves the size; 7 "
                                "needs >= 255 px inputs).")
    critic_lr: float = option(1e-4, "Energy critic Adam learning rate (beta_1 0).")
    vem_target: str = option("teacher", "t in q(t|s): the teacher output, or the ground-truth "
                             "image (paired data; the authors' Pix2Pix code).",
                             choices=VEM_TARGETS)
    langevin_jit_compile: bool = option(
        False, "XLA-compile the Langevin chain alone (one XLA cluster in an otherwise "
        "uncompiled train step; for GPUs, where the chain's K small forward and backward "
        "passes are hundreds of kernel launches; on CPUs the chain runs 6-8x slower: "
        "docs/PERFORMANCE.md).")
    vem_tap: tuple[str, str] | None = option(
        None, "Bound a feature-map pair instead of the output images: TEACHER_TAP:STUDENT_TAP "
        "(e.g. block_4:block_4).", kind="pair")

    def __post_init__(self):
        require(self.vem_weight >= 0, f"vem_weight must be >= 0 (0 turns VEM off), got "
                f"{self.vem_weight}. Fix: pass --vem_weight=0 or a positive weight.")
        for name in ("langevin_steps", "langevin_step_size", "energy_l2"):
            require(getattr(self, name) >= 0, f"{name} must be >= 0, got "
                    f"{getattr(self, name)}. Fix: pass --{name} >= 0.")
        for name in ("critic_width", "critic_blocks"):
            require(getattr(self, name) >= 1, f"{name} must be >= 1, got "
                    f"{getattr(self, name)}. Fix: pass --{name} >= 1.")
        resolve_noise_std(self.langevin_noise, self.langevin_step_size)
        require(self.vem_target in VEM_TARGETS, f"vem_target must be one of {VEM_TARGETS}, got "
                f"{self.vem_target!r}. Fix: pick one of them.")
        require(not (self.vem_target == "ground_truth" and self.vem_tap is not None),
                "vem_target=ground_truth bounds output images; it cannot be combined with a "
                "feature-map vem_tap. Fix: drop --vem_tap or use --vem_target=teacher.")
        require(self.critic_lr > 0, f"critic_lr must be > 0, got {self.critic_lr}. Fix: pass "
                "a positive --critic_lr.")

    @property
    def enabled(self):
        return self.vem_weight > 0
