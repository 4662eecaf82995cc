"""One process per run folder (itgc_tf.training.run_lock): a second one is
refused with the holder's host and PID; a stale lock of a dead process is taken
over with a note."""
import json
import os
import socket
import subprocess
import sys

import pytest

from itgc_tf.training.run_lock import RunFolderLockedError, RunLock


def _write_lock(model_dir, **holder):
    model_dir.mkdir(exist_ok=True)
    (model_dir / ".lock").write_text(json.dumps({"time": 0, "token": "other", **holder}))


def _dead_pid():
    process = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                             capture_output=True, text=True, check=True)
    return int(process.stdout)


def test_a_second_process_is_refused_with_the_holders_host_and_pid(tmp_path):
    with RunLock(tmp_path / "run") as lock:
        holder = json.loads((tmp_path / "run" / ".lock").read_text())
        assert (holder["host"], holder["pid"]) == (socket.gethostname(), os.getpid())
        umask = os.umask(0)
        os.umask(umask)
        assert os.stat(lock.path).st_mode & 0o777 == 0o644 & ~umask
        # Another process: same lock file, a live holder that is not this object.
        child = subprocess.run(
            [sys.executable, "-c", "import sys; from itgc_tf.training.run_lock import RunLock\n"
             "try:\n  RunLock(sys.argv[1]).acquire()\nexcept RuntimeError as e:\n  print(e)",
             str(tmp_path / "run")], capture_output=True, text=True, cwd=os.getcwd(), check=True)
        assert f"PID {os.getpid()} on host {socket.gethostname()}" in child.stdout
        assert "is in use by another run" in child.stdout and "Fix:" in child.stdout
    assert not (tmp_path / "run" / ".lock").exists()


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_a_note(tmp_path, caplog):
    dead = _dead_pid()
    _write_lock(tmp_path / "run", host=socket.gethostname(), pid=dead)
    with caplog.at_level("WARNING"):
        with RunLock(tmp_path / "run"):
            assert json.loads((tmp_path / "run" / ".lock").read_text())["pid"] == os.getpid()
    assert "Took over the lock" in caplog.text and f"PID {dead}" in caplog.text
    assert sorted(os.listdir(tmp_path / "run")) == []


def test_a_reused_pid_with_another_start_time_is_stale(tmp_path):
    _write_lock(tmp_path / "run", host=socket.gethostname(), pid=os.getpid(), start=-1)
    with RunLock(tmp_path / "run"):
        pass


def test_a_lock_from_another_host_is_refused_and_says_how_to_remove_it(tmp_path):
    _write_lock(tmp_path / "run", host="elsewhere.example", pid=_dead_pid())
    with pytest.raises(RunFolderLockedError, match="on host elsewhere.example.*if that process no "
                                                   "longer runs on elsewhere.example, delete"):
        RunLock(tmp_path / "run").acquire()
    assert json.loads((tmp_path / "run" / ".lock").read_text())["host"] == "elsewhere.example"


def test_release_leaves_a_lock_it_does_not_hold(tmp_path):
    lock = RunLock(tmp_path / "run").acquire()
    _write_lock(tmp_path / "run", host="elsewhere.example", pid=1)  # replaced behind its back
    lock.release()
    assert (tmp_path / "run" / ".lock").exists()
