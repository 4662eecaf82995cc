#!/usr/bin/env bash
# Sets up .venv (first run only) and runs the main job on built-in demo data. Runs in
# the caller's folder: a relative --model_dir (default runs/demo) is relative to it.
CALLER="$PWD"
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" ""
cd "$CALLER"
exec python -m itgc_tf.demo "$@"
