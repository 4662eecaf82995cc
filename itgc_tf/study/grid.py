"""The study grid as data: tasks × recipes × VEM arms × seeds.

A `Cell` is one distillation run. Every arm of a task distils the same cached
teacher (`TASKS`, trained once per task); a seed fixes the student's and the
critic's initialisation and the data order, so cells of one task, recipe and seed
differ only in their VEM options (paired comparisons). `GRIDS` lists the blocks of
each grid in the order they run: the headline blocks first.
"""
import dataclasses
import math

from itgc_tf import demo
from itgc_tf.recipes.options import CAT_PAIRS

# Every VEM arm runs a critic of 4 residual blocks: 7 (the reference's) need >= 255 px
# inputs and the demo tasks train on 64 px crops.
VEM_COMMON = dict(critic_blocks=4)
# Arm name -> VEM options (besides VEM_COMMON). "authors" are the reference image
# defaults of SPEC.md: lambda_MI 0.1, K 10, eta 100, sigma 0.005 (T = sigma^2 / (2 eta)
# = 1.25e-7), lambda_l2 0.05, t = the teacher output. The other arms change one thing.
ARMS = {
    "off": dict(vem_weight=0.0),
    "authors": dict(vem_weight=0.1),
    "mi_0.01": dict(vem_weight=0.01),
    "mi_1": dict(vem_weight=1.0),
    # T = 1e-4 at eta 100: sigma = sqrt(2 * 100 * 1e-4).
    "T_1e-4": dict(vem_weight=0.1, langevin_noise=math.sqrt(0.02)),
    # T = 1 ('auto': sigma = sqrt(2 eta)) needs a small step: eta 1e-3 -> sigma 0.045 a step.
    "T_1": dict(vem_weight=0.1, langevin_step_size=1e-3, langevin_noise="auto"),
    "target_gt": dict(vem_weight=0.1, vem_target="ground_truth"),
}
BASE_ARM = "off"

# Teachers and students of the demo (itgc_tf.demo), on every task.
_PIX2PIX = dict(demo.TEACHER, teacher_model="pix2pix")
_CYCLE_GAN = dict(teacher_model="cycle_gan", netG="unet_64", ngf=16, epochs=12, epochs_decay=6,
                  lr=2e-3, gan_mode="lsgan")


@dataclasses.dataclass(frozen=True)
class Task:
    """A demo dataset, its teacher's options (`TrainTeacherConfig` values) and
    ``data``: options of its teacher and students alike; ``paired``: ground truth exists
    (PSNR/SSIM to it, vem_target=ground_truth)."""
    dataset: str
    teacher: dict
    paired: bool = True
    data: dict = dataclasses.field(default_factory=dict)


# Edges and label maps are not images to correct: no residual (input + correction) nets
# there (with it the edges2photo teacher and students collapsed to white images).
TASKS = {
    "enhance": Task("demo:enhance", _PIX2PIX),
    "edges2photo": Task("demo:edges2photo", _PIX2PIX, data=dict(residual=False)),
    "labels2photo": Task("demo:labels2photo", _PIX2PIX, data=dict(label_nc=6, residual=False)),
    "unpaired": Task("demo:unpaired", _CYCLE_GAN, paired=False),
}

# The student of every cell: the demo's (U-Net ngf 4, kd weights) on a shorter schedule:
# 10 epochs of 40 steps (half the demo data each), 400 steps in all.
STUDENT = dict(demo.STUDENT, epochs=6, epochs_decay=4, steps_per_epoch=40)


@dataclasses.dataclass(frozen=True)
class StudyRecipe:
    """A recipe of the study: ``options`` (`DistillConfig` values on top of STUDENT);
    ``teacher``: changes to the task's teacher, which make it a teacher of the recipe's
    own (trained once into ROOT/teachers/TASK-RECIPE); ``prune_macs``: the student is
    that teacher pruned (itgc-prune, ``prune_min_channels``) to this many MACs at the
    crop size instead of STUDENT's network."""
    options: dict
    teacher: dict = dataclasses.field(default_factory=dict)
    prune_macs: float | None = None
    prune_min_channels: int = 2


# Recipe -> its options. U-Net taps for the feature terms (teacher ngf 16, student ngf 4:
# the recipes' 1x1 adapters map the channels). OMGD trains one online U-Net teacher (ngf 16)
# of its own and needs the VGG16 ImageNet weights in the Keras cache (its style and feature
# terms; nothing is downloaded): without them its cells fail with that message (listed);
# omgd_no_vgg is OMGD without those two terms (SSIM, TV and channel distillation only),
# which runs anywhere. CAT prunes an inception teacher (ngf 8, affine batch norms: 49.9 M
# MACs at 64 px) to the kd student's 6.0 M MACs and distils with CAT's defaults (hinge
# GAN, L1 x100, kernel alignment x1 on CAT's four taps).
_PAIRS = (("leaky_down_1", "leaky_down_1"), ("up_relu_2", "up_relu_2"))
_OMGD = dict(recipe="omgd", teacher_netG=("unet_64",), teacher_ngf=(16,), distill_pairs=_PAIRS)
RECIPES = {
    "kd": StudyRecipe(dict(recipe="kd")),
    "gan_compression": StudyRecipe(dict(recipe="gan_compression", distill_pairs=_PAIRS)),
    "omgd": StudyRecipe(_OMGD),
    "omgd_no_vgg": StudyRecipe(dict(_OMGD, lambda_style=0.0, lambda_feature=0.0)),
    "cat": StudyRecipe(dict(recipe="cat", gan_mode="hinge", lambda_recon=100.0, norm="batch",
                            distill_pairs=CAT_PAIRS),
                       teacher=dict(netG="inception_resnet_9blocks", ngf=8, norm="batch"),
                       prune_macs=6.0e6),
}
# --quick: two steps of everything (two learning-curve points per student).
QUICK_SCHEDULE = dict(epochs=2, epochs_decay=0, steps_per_epoch=1)


@dataclasses.dataclass(frozen=True)
class Cell:
    task: str
    recipe: str
    arm: str
    seed: int

    @property
    def key(self):
        """Its run folder below the study's runs/: task/recipe/arm/seedN."""
        return f"{self.task}/{self.recipe}/{self.arm}/seed{self.seed}"


@dataclasses.dataclass(frozen=True)
class Block:
    """Every combination of tasks × recipes × arms × seeds (the base arm is always
    included: each comparison needs it)."""
    tasks: tuple
    recipes: tuple
    arms: tuple
    seeds: tuple

    def cells(self):
        arms = (BASE_ARM, *(a for a in self.arms if a != BASE_ARM))
        return [Cell(t, r, a, s) for t in self.tasks for r in self.recipes for s in self.seeds
                for a in arms]


_SWEEP = ("mi_0.01", "mi_1", "T_1e-4", "T_1")
# The full study in run order. Headline (5 seeds): kd vs kd + VEM at the authors'
# defaults on every task, and gan_compression / cat / omgd on demo:enhance. The one-change sweeps
# of demo:enhance kd (and vem_target on demo:edges2photo) use 3 seeds.
GRIDS = {
    "full": (
        Block(("enhance",), ("kd",), ("authors",), (0, 1, 2, 3, 4)),
        Block(("enhance",), ("kd",), _SWEEP + ("target_gt",), (0, 1, 2)),
        Block(("edges2photo",), ("kd",), ("authors",), (0, 1, 2, 3, 4)),
        Block(("edges2photo",), ("kd",), ("target_gt",), (0, 1, 2)),
        Block(("enhance",), ("gan_compression",), ("authors",), (0, 1, 2, 3, 4)),
        Block(("unpaired",), ("kd",), ("authors",), (0, 1, 2, 3, 4)),
        Block(("labels2photo",), ("kd",), ("authors",), (0, 1, 2, 3, 4)),
        Block(("enhance",), ("cat",), ("authors",), (0, 1, 2, 3, 4)),
        Block(("enhance",), ("omgd_no_vgg",), ("authors",), (0, 1, 2, 3, 4)),
        Block(("enhance",), ("omgd",), ("authors",), (0, 1, 2, 3, 4)),
    ),
    "quick": (Block(("enhance",), ("kd",), ("authors",), (0, 1)),),
}


def grid_cells(name, tasks=None, recipes=None, arms=None, seeds=None):
    """The cells of grid ``name`` in run order (duplicates once), restricted to the
    given tasks / recipes / arms / seeds (None: all)."""
    if name not in GRIDS:
        raise ValueError(f"Unknown study grid {name!r}. Fix: use one of {sorted(GRIDS)}.")
    for what, given, known in (("task", tasks, TASKS), ("recipe", recipes, RECIPES),
                               ("arm", arms, ARMS)):
        unknown = sorted(set(given or ()) - set(known))
        if unknown:
            raise ValueError(f"Unknown study {what}(s) {unknown}. Fix: use some of "
                             f"{sorted(known)}.")
    cells = []
    for block in GRIDS[name]:
        for cell in block.cells():
            if ((tasks is None or cell.task in tasks)
                    and (recipes is None or cell.recipe in recipes)
                    and (arms is None or cell.arm in arms or cell.arm == BASE_ARM)
                    and (seeds is None or cell.seed in seeds) and cell not in cells):
                cells.append(cell)
    return cells
