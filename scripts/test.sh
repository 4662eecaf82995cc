#!/usr/bin/env bash
# Sets up .venv (first run only) and runs the whole test suite. Extra arguments go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" "[test]"
exec python -m pytest "$@"
