"""Generators, discriminators, their building blocks and adversarial losses."""
