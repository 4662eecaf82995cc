"""An exclusive lock on a run folder, so two processes never train into one
``--model_dir`` (they would overwrite each other's checkpoints).

The lock is the file ``MODEL_DIR/.lock``, created with ``O_CREAT | O_EXCL``
(atomic on local and NFSv3+ filesystems) and holding the holder's host, PID and
process start time as JSON. A lock whose holder is gone (same host, and the PID
no longer runs or now belongs to a process started at another time) is stale:
it is taken over with a note. A lock held from another host cannot be checked
and is refused with a message that says how to remove it. Under a multi-worker
strategy only the chief takes the lock (the other workers write elsewhere).
Object-store paths (``gs://``) have no exclusive create: there the lock is
skipped with a warning.
"""
import json
import logging
import os
import socket
import time
import uuid

from itgc_tf.artifacts.processes import alive, this_process

LOCK_NAME = ".lock"


class RunFolderLockedError(RuntimeError):
    """Another live process holds the run folder's lock."""


def _holder_text(holder):
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("time", 0)))
    return f"PID {holder.get('pid')} on host {holder.get('host')} (since {started})"


class RunLock:
    """Exclusive lock on ``model_dir``; use as a context manager or call
    `acquire` / `release`.

    Args:
      model_dir: the run folder (created if missing).
    """

    def __init__(self, model_dir):
        self.model_dir = str(model_dir)
        self.path = os.path.join(self.model_dir, LOCK_NAME)
        self._me = None

    def acquire(self):
        """Takes the lock (a stale one is taken over with a logged note).

        Raises:
          RunFolderLockedError: a live process (or one on another host) holds it;
            the message names its host and PID and the fix.
        """
        if "://" in self.model_dir:
            logging.warning("No lock on %s: object stores have no exclusive file creation; make "
                            "sure no other run uses this --model_dir.", self.model_dir)
            return self
        os.makedirs(self.model_dir, exist_ok=True)
        host, pid, start = this_process()
        me = {"host": host, "pid": pid, "start": start, "time": time.time(),
              "token": uuid.uuid4().hex}
        for _ in range(10):  # retries only while racing other processes for a stale lock
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder, text = self._read()
                if holder is not None and not self._stale(holder, me["host"]):
                    raise RunFolderLockedError(self._locked_message(holder)) from None
                self._remove_stale(text, holder)
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            self._me = me
            return self
        raise RunFolderLockedError(f"Could not take the lock {self.path}: other processes keep "
                                   "replacing it. Fix: run one process per --model_dir.")

    def release(self):
        """Removes the lock file if this object holds it."""
        if self._me is None:
            return
        holder, _ = self._read()
        if holder is not None and holder.get("token") == self._me["token"]:
            os.remove(self.path)
        self._me = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()

    def _read(self):
        """(holder dict or None when unreadable/half-written/gone, raw text)."""
        try:
            with open(self.path) as f:
                text = f.read()
        except FileNotFoundError:
            return None, None
        try:
            holder = json.loads(text)
        except ValueError:
            holder = None
        return (holder if isinstance(holder, dict) else None), text

    @staticmethod
    def _stale(holder, host):
        return holder.get("host") == host and isinstance(holder.get("pid"), int) and \
            not alive(holder["pid"], holder.get("start"))

    def _remove_stale(self, text, holder):
        """Removes the lock file if it still holds ``text`` (None: it vanished);
        a lock written meanwhile by another process is put back."""
        if text is None:
            return
        if holder is None and time.time() - os.path.getmtime(self.path) < 10:
            time.sleep(0.1)  # a holder may be writing it right now
            return
        grabbed = f"{self.path}.stale-{uuid.uuid4().hex}"
        try:
            os.rename(self.path, grabbed)
        except FileNotFoundError:
            return
        with open(grabbed) as f:
            if f.read() != text:  # another process took it over first: give it back
                try:
                    os.link(grabbed, self.path)
                except FileExistsError:
                    pass
                os.remove(grabbed)
                return
        os.remove(grabbed)
        logging.warning("Took over the lock %s from %s, which no longer runs (a stale lock of a "
                        "killed run).", self.path,
                        _holder_text(holder) if holder else "an unreadable lock file")

    def _locked_message(self, holder):
        here = holder.get("host") == socket.gethostname()
        return (f"{self.model_dir} is in use by another run: {_holder_text(holder)} holds "
                f"{self.path}. Two runs in one --model_dir would overwrite each other's "
                "checkpoints. Fix: wait for that run to end or stop it, or use another "
                "--model_dir" + ("" if here else f"; if that process no longer runs on "
                                 f"{holder.get('host')}, delete {self.path}") + ".")
