"""Thin absl command lines: shared flags, flag -> object builders, the fit runner."""
