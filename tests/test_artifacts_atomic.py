"""All-or-nothing writes (itgc_tf.artifacts.atomic)."""
import os

import pytest

from itgc_tf.artifacts.atomic import atomic_output


def test_file_appears_only_on_success(tmp_path):
    target = tmp_path / "sub" / "out.bin"
    with atomic_output(target) as tmp:
        assert os.path.dirname(tmp) == str(tmp_path / "sub") and not target.exists()
        with open(tmp, "wb") as f:
            f.write(b"data")
    assert target.read_bytes() == b"data"
    assert os.listdir(tmp_path / "sub") == ["out.bin"]


def test_directory_replaces_an_old_one_only_with_overwrite(tmp_path):
    target = tmp_path / "export"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        with atomic_output(target, directory=True):
            pass
    assert (target / "old.txt").read_text() == "old"
    with atomic_output(target, overwrite=True, directory=True) as tmp:
        with open(os.path.join(tmp, "new.txt"), "w") as f:
            f.write("new")
    assert sorted(os.listdir(target)) == ["new.txt"]
    assert os.listdir(tmp_path) == ["export"]


@pytest.mark.parametrize("directory", [False, True])
def test_a_failure_leaves_the_old_target_and_no_temporary(tmp_path, directory):
    target = tmp_path / "out"
    if directory:
        target.mkdir()
    else:
        target.write_text("old")
    with pytest.raises(RuntimeError, match="crash"):
        with atomic_output(target, overwrite=True, directory=directory) as tmp:
            if directory:
                with open(os.path.join(tmp, "half"), "w") as f:
                    f.write("half")
            else:
                with open(tmp, "w") as f:
                    f.write("half")
            raise RuntimeError("crash")
    assert os.listdir(tmp_path) == ["out"]
    assert os.listdir(target) == [] if directory else target.read_text() == "old"
