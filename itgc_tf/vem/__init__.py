"""The VEM method: energy critic q(t|s), Langevin sampler, losses and the bound."""
from itgc_tf import lazy

# Public name -> its module, imported at first use (`itgc_tf.lazy`).
_EXPORTS = {"log_partition": "bound", "mi_lower_bound": "bound", "Critic": "critic",
            "EnergyCritic": "critic", "MLPEnergyCritic": "critic",
            "langevin_sample": "langevin", "langevin_temperature": "langevin",
            "resolve_noise_std": "config", "contrastive_gap": "losses", "ebm_loss": "losses",
            "mi_loss": "losses"}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy.exports(__name__, _EXPORTS)
