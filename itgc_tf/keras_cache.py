"""Where Keras keeps downloaded weights; the project only ever reads from there."""
import os


def keras_cache_file(filename):
    """``$KERAS_HOME/models/<filename>`` (KERAS_HOME defaults to ~/.keras)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "models", filename)
