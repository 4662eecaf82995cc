"""The VEM method: energy critic q(t|s), Langevin sampler, losses and the bound."""
from itgc_tf.vem.bound import log_partition, mi_lower_bound
from itgc_tf.vem.critic import Critic, EnergyCritic, MLPEnergyCritic
from itgc_tf.vem.langevin import langevin_sample, langevin_temperature, resolve_noise_std
from itgc_tf.vem.losses import contrastive_gap, ebm_loss, mi_loss

__all__ = [
    "Critic", "EnergyCritic", "MLPEnergyCritic", "langevin_sample", "langevin_temperature",
    "resolve_noise_std", "ebm_loss", "mi_loss", "contrastive_gap",
    "log_partition", "mi_lower_bound",
]
