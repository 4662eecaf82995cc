"""The VEM method: energy critic q(t|s), Langevin sampler, losses and the bound."""
