#!/usr/bin/env bash
# Sets up .venv (first run only) and runs the main job on built-in demo data.
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" ""
exec python -m itgc_tf.demo "$@"
