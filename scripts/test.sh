#!/usr/bin/env bash
# Sets up .venv (first run only) and runs the whole test suite, one pytest-xdist worker
# per CPU core (test files kept whole on one worker, the files with slow tests first;
# see tests/conftest.py). Extra arguments go to pytest ("-n 0": one process).
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" "[test]"
exec python -m pytest -n auto --dist loadfile --no-loadscope-reorder "$@"
