# Sourced by scripts/demo.sh and scripts/test.sh: creates (once) and activates .venv,
# then installs the package with the given extras. Re-running is cheap: pip only
# checks what is already installed. pip's output goes to .venv/install.log (shown
# only when the install fails). Leaves the shell in the repository root.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
if [ ! -x "$ROOT/.venv/bin/python" ]; then
  echo "[itgc_tf] creating $ROOT/.venv and installing the package (first run: a few minutes)" >&2
  "$PY" -m venv "$ROOT/.venv"
fi
# shellcheck disable=SC1091
source "$ROOT/.venv/bin/activate"
if ! { python -m pip install --quiet --upgrade pip \
       && python -m pip install --quiet -e "$ROOT$1"; } > "$ROOT/.venv/install.log" 2>&1; then
  cat "$ROOT/.venv/install.log" >&2
  echo "[itgc_tf] installing the package failed (log above, also in .venv/install.log)" >&2
  exit 1
fi
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
cd "$ROOT"
