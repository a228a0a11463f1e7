# Sourced by scripts/run and scripts/test: make .venv and install the project into it.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
EXTRAS=${1:-}
if [ ! -x .venv/bin/python ]; then
    PY=${PYTHON:-python3.11}
    command -v "$PY" >/dev/null 2>&1 || PY=python3
    "$PY" -m venv .venv
fi
STAMP=".venv/.installed$EXTRAS"
if [ ! -f "$STAMP" ] || [ setup.cfg -nt "$STAMP" ]; then
    echo "installing zmq-supervisor$EXTRAS into .venv ..." >&2
    if ! { .venv/bin/python -m pip install -q --upgrade pip &&
           .venv/bin/python -m pip install -q -e ".$EXTRAS"; } >.venv/install.log 2>&1; then
        cat .venv/install.log >&2
        exit 1
    fi
    touch "$STAMP"
fi
export PATH="$ROOT/.venv/bin:$PATH"
