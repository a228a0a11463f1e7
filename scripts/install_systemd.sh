#!/bin/sh
# Install zmq-supervisor as a systemd service: a system user, the code, a virtualenv, the
# config and the unit. Run as root from the project directory (or any copy of it):
#
#   scripts/install_systemd.sh [--prefix /opt/zmq-supervisor] [--user supervisor]
#                              [--run-dir /run/zmq-supervisor] [--unit-dir /etc/systemd/system]
#                              [--no-systemctl] [--keep-venv]
#
# Copies conf/ and workers/ (your handler modules: put yours there, or in another directory
# of the project and list it in APP_DIRS), installs the package into PREFIX/.venv, writes
# PREFIX/conf/supervisor.yaml with run_dir and listen under the run directory (so `status`
# and `stop` find the master without environment variables), and the unit with these paths.
# Running it again updates the code and the venv and keeps an edited config.
set -eu
PREFIX=/opt/zmq-supervisor
SERVICE_USER=supervisor
RUN_DIR=/run/zmq-supervisor
UNIT_DIR=/etc/systemd/system
SYSTEMCTL=yes
INSTALL_PACKAGE=yes
APP_DIRS=${APP_DIRS:-workers}
while [ $# -gt 0 ]; do
    case $1 in
        --prefix) PREFIX=$2; shift 2 ;;
        --user) SERVICE_USER=$2; shift 2 ;;
        --run-dir) RUN_DIR=$2; shift 2 ;;
        --unit-dir) UNIT_DIR=$2; shift 2 ;;
        --no-systemctl) SYSTEMCTL=no; shift ;;
        --keep-venv) INSTALL_PACKAGE=no; shift ;;  # PREFIX/.venv already has the package
        *) echo "usage: $0 [--prefix DIR] [--user NAME] [--run-dir DIR] [--unit-dir DIR]" \
                "[--no-systemctl] [--keep-venv]" >&2
           exit 2 ;;
    esac
done
SRC=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3

if ! id "$SERVICE_USER" >/dev/null 2>&1; then
    useradd --system --home-dir "$PREFIX" --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
fi
GROUP=$(id -gn "$SERVICE_USER")
mkdir -p "$PREFIX/conf"
for dir in $APP_DIRS; do
    rm -rf "${PREFIX:?}/$dir"
    cp -R "$SRC/$dir" "$PREFIX/$dir"
done
cp "$SRC/README.md" "$PREFIX/"
if [ "$INSTALL_PACKAGE" = yes ]; then
    [ -x "$PREFIX/.venv/bin/python" ] || "$PY" -m venv "$PREFIX/.venv"
    "$PREFIX/.venv/bin/python" -m pip install -q --upgrade "$SRC"
fi

CONFIG=$PREFIX/conf/supervisor.yaml
if [ ! -f "$CONFIG" ]; then
    sed -e "s|\${SUPERVISOR_RUN_DIR:-./run}|$RUN_DIR|" \
        -e "s|\${SUPERVISOR_LISTEN:-ipc://./run/exec.sock}|ipc://$RUN_DIR/exec.sock|" \
        "$SRC/conf/supervisor.yaml" > "$CONFIG"
fi

mkdir -p "$UNIT_DIR"
sed -e "s|/opt/zmq-supervisor|$PREFIX|g" \
    -e "s|^User=.*|User=$SERVICE_USER|" -e "s|^Group=.*|Group=$GROUP|" \
    -e "s|^RuntimeDirectory=.*|RuntimeDirectory=${RUN_DIR#/run/}|" \
    -e "/^Environment=SUPERVISOR_RUN_DIR=/d" -e "/^Environment=SUPERVISOR_LISTEN=/d" \
    "$SRC/conf/supervisor.service" > "$UNIT_DIR/zmq-supervisor.service"

if [ "$SYSTEMCTL" = yes ]; then
    systemctl daemon-reload
fi
cat <<DONE
installed zmq-supervisor in $PREFIX (user $SERVICE_USER, sockets and pid file in $RUN_DIR)
  start:   systemctl enable --now zmq-supervisor
  status:  sudo -u $SERVICE_USER $PREFIX/.venv/bin/supervisor status -c $CONFIG
  reload:  systemctl reload zmq-supervisor     (the same as supervisor reload -c $CONFIG)
  logs:    journalctl -u zmq-supervisor -f
DONE
