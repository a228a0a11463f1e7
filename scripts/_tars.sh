# Sourced by tars_start.sh and tars_stop.sh: check the argument, find the package and Python.
set -eu
if [ $# -ne 1 ]; then
    echo "usage: $0 TARS_CONF" >&2
    exit 2
fi
case $1 in
    /*) CONF=$1 ;;
    *) CONF=$(pwd)/$1 ;;
esac
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"  # the package's base: conf/supervisor.yaml and the handler modules live here
if [ -n "${SUPERVISOR_PYTHON:-}" ]; then
    PY=$SUPERVISOR_PYTHON
elif [ -x "$ROOT/.venv/bin/python" ]; then
    PY=$ROOT/.venv/bin/python
else
    PY=python3
fi
