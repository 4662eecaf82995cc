"""The absl side of the commands: flags from configuration dataclasses, user errors."""
