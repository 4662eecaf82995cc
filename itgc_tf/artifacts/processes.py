"""Whether the process that left a file behind still runs: a run folder's lock
(`itgc_tf.training.run_lock`) and an export's staging folder (`itgc_tf.export.bundle`)
name their process by host, PID and start time, so that a later process can tell a
killed one's leftovers from a live one's work."""
import os
import socket


def process_start(pid):
    """Start time of process ``pid`` in clock ticks since boot (Linux /proc), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def alive(pid, start):
    """Whether process ``pid`` (started at ``start``, None: unknown) still runs here."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    return start is None or process_start(pid) in (None, start)


def this_process():
    """(host, pid, start) of this process."""
    pid = os.getpid()
    return socket.gethostname(), pid, process_start(pid)
