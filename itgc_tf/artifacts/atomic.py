"""Write a file or directory all-or-nothing: build it under a temporary name beside
the target, then rename it into place. A crash leaves the target as it was and
removes the temporary."""
import contextlib
import os
import shutil
import tempfile


@contextlib.contextmanager
def atomic_output(target, *, overwrite=False, directory=False):
    """Context manager yielding a temporary path to write instead of `target`.

    On normal exit the temporary is renamed to `target` (replacing it when
    `overwrite`); on an exception it is deleted and `target` is left untouched.

    Args:
      target: final file or directory path.
      overwrite: replace an existing target; otherwise an existing target raises.
      directory: yield an (empty, existing) directory instead of a file path.

    Raises:
      FileExistsError: `target` exists and `overwrite` is False (raised on entry,
        before anything is written).
    """
    target = os.path.abspath(target)
    if os.path.lexists(target) and not overwrite:
        raise FileExistsError(f"{target} already exists; pass overwrite=True (--overwrite) to replace "
                              "it, or choose another path.")
    parent, name = os.path.split(target)
    os.makedirs(parent, exist_ok=True)
    if directory:
        tmp = tempfile.mkdtemp(dir=parent, prefix=f".{name}.tmp-")
    else:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{name}.tmp-")
        os.close(fd)
    try:
        yield tmp
        if directory and os.path.lexists(target):
            # A directory cannot be renamed over a non-empty one: move the old one aside first.
            old = tempfile.mkdtemp(dir=parent, prefix=f".{name}.old-")
            os.replace(target, os.path.join(old, name))
            os.replace(tmp, target)
            shutil.rmtree(old)
        else:
            os.replace(tmp, target)
    except BaseException:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)
        elif os.path.lexists(tmp):
            os.remove(tmp)
        raise
