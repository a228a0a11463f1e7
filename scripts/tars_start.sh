#!/bin/sh
# Start zmq-supervisor as a Tars server: scripts/tars_start.sh TARS_CONF
# Returns 0 once the pool is ready (or when it already runs); otherwise the reason and the end
# of the log, non-zero. The YAML is $SUPERVISOR_CONFIG, else conf/supervisor.yaml of this
# package; the interpreter is $SUPERVISOR_PYTHON, else the package's .venv, else python3.
# $SUPERVISOR_START_TIMEOUT (seconds, default 60) bounds the wait for the pool.
. "$(dirname "$0")/_tars.sh"
exec "$PY" -m supervisor --config="$CONF" start
