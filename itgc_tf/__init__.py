"""itgc_tf: information-theoretic GAN compression with a variational energy-based model."""

__version__ = "0.1.0"
