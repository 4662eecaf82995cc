"""Where Keras keeps downloaded weights; the project only ever reads from there."""
import os


def keras_cache_file(filename):
    """``$KERAS_HOME/models/<filename>`` (KERAS_HOME defaults to ~/.keras)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "models", filename)


def weights_file(weights_path, cache_filename, flag, missing_message, directories=False):
    """The weights to read: ``weights_path`` when given, else the Keras cache's
    ``cache_filename``. Raises FileNotFoundError naming ``--flag`` and ending with
    ``missing_message`` (how to get the weights) when there is nothing to read;
    ``directories``: a folder (a SavedModel) is acceptable too."""
    if weights_path is None:
        path = keras_cache_file(cache_filename)
        if not os.path.isfile(path):
            raise FileNotFoundError(missing_message)
        return path
    if not (os.path.exists if directories else os.path.isfile)(weights_path):
        what = "does not exist" if directories else "is not a file"
        raise FileNotFoundError(f"--{flag}={weights_path!r} {what}.\n{missing_message}")
    return weights_path
