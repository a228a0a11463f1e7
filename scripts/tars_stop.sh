#!/bin/sh
# Stop zmq-supervisor as a Tars server: scripts/tars_stop.sh TARS_CONF
# Graceful: running and queued requests finish (within pool.destroy_timeout), and it returns
# once the master and every process under it have exited; 0 (with a message) when not running.
. "$(dirname "$0")/_tars.sh"
exec "$PY" -m supervisor --config="$CONF" stop
