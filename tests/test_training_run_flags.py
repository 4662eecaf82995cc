"""Comparing a resumed run's flags with the recorded ones (itgc_tf.training.run_flags)."""
import pytest

from itgc_tf.training.run_flags import (FlagChange, changes_message, flag_changes, history_entry,
                                        parse_flagfile, refused_changes)

RECORDED = "--batch_size=4\n--lr=0.0002\n--netG=unet_256\n--no_flip=False\n--verbose=1\n"


def test_parse_flagfile_reads_what_the_runner_writes_and_names_a_bad_line():
    assert parse_flagfile(RECORDED + "\n# comment\n--deterministic\n") == {
        "batch_size": "4", "lr": "0.0002", "netG": "unet_256", "no_flip": "False", "verbose": "1",
        "deterministic": "true"}
    with pytest.raises(ValueError, match="Line 2 of the flagfile, 'lr 0.1', is not --name=value"):
        parse_flagfile("--a=1\nlr 0.1\n")


def test_changes_are_listed_and_only_those_that_alter_the_run_are_refused():
    new = parse_flagfile(RECORDED.replace("0.0002", "0.001").replace("--verbose=1", "--verbose=2")
                         .replace("False", "false") + "--keep_checkpoints=5\n--epochs=3\n")
    del new["netG"]
    changes = flag_changes(parse_flagfile(RECORDED), new)
    assert changes == [FlagChange("epochs", None, "3"), FlagChange("keep_checkpoints", None, "5"),
                       FlagChange("lr", "0.0002", "0.001"), FlagChange("netG", "unet_256", None),
                       FlagChange("verbose", "1", "2")]  # no_flip False == false
    refused = refused_changes(changes)
    assert [c.name for c in refused] == ["epochs", "lr", "netG"]
    message = changes_message(refused, "/runs/a/flags.cfg", "allow_flag_changes")
    assert "--lr: '0.0002' (recorded) -> '0.001' (now)" in message
    assert "--epochs: (unset) (recorded) -> '3' (now)" in message
    assert "--netG: 'unet_256' (recorded) -> (unset) (now)" in message
    assert "Fix: resume with --flagfile=/runs/a/flags.cfg" in message
    assert "--allow_flag_changes" in message and "verbose" not in message
    assert flag_changes({"a": "1"}, {"a": "1"}) == []


def test_history_entry_records_each_change_with_a_time():
    entry = history_entry([FlagChange("lr", "0.0002", "0.001")], when=0)
    assert entry.startswith("# resumed 19") and entry.endswith(
        "--lr: '0.0002' (recorded) -> '0.001' (now)\n")
