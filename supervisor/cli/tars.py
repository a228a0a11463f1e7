"""`python -m supervisor --config=TARSCONF [start|stop|restart]`: the Tars platform's convention.

The node runs the entry with `--config=<the server conf it wrote>` and then `start` (or nothing,
which means start), `stop` or `restart`, like the PHP entry of seed 003. Any other command
(`status`, `workers`, `reset`...) is the `supervisor` command of that name for this server.

The Tars conf says where and how big (see `supervisor.tars.settings`); the YAML says what runs:
`$SUPERVISOR_CONFIG` if set, else `conf/supervisor.yaml` in the working directory, else in the
package's base directory (the conf's `basepath`), which then becomes the working directory so
that handler modules import from the package. Start and stop are idempotent, as the platform
expects: starting a running server or stopping a stopped one says so and exits 0.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

from supervisor.cli import daemon
from supervisor.config import DEFAULT_PATH
from supervisor.errors import EXIT_OK, EXIT_USAGE, ConfigError
from supervisor.master import overlays
from supervisor.tars import conf as tars_conf

PREFIX = "--config="
COMMANDS = ("start", "stop", "restart")
START_TIMEOUT = 60.0
"""Seconds `start` waits for the pool; the node's activating-timeout is 60 s by default."""


def yaml_path(tars_path: str, environ: dict[str, str]) -> str:
    """The YAML to use with this Tars conf; may change the working directory (see above)."""
    if environ.get("SUPERVISOR_CONFIG"):
        return environ["SUPERVISOR_CONFIG"]
    if os.path.exists(DEFAULT_PATH):
        return DEFAULT_PATH
    base = tars_conf.load(tars_path).basepath
    if base and os.path.exists(os.path.join(base, DEFAULT_PATH)):
        os.chdir(base)
        return DEFAULT_PATH
    where = f"{os.getcwd()}" + (f" or {base}" if base else "")
    raise ConfigError(f"{tars_path}: no {DEFAULT_PATH} in {where}; set SUPERVISOR_CONFIG")


def main(argv: Sequence[str], cli: Callable[[list[str]], int]) -> int:
    """Run one platform command; ConfigError propagates (the CLI prints it, exit code 2).

    `cli` is the `supervisor` command line, which serves every other command.
    """
    command = argv[1] if len(argv) > 1 else "start"
    if argv[0] == PREFIX or (command in COMMANDS and len(argv) > 2):
        print(f"usage: python -m supervisor {PREFIX}TARSCONF [{'|'.join(COMMANDS)}|COMMAND...]",
              file=sys.stderr)
        return EXIT_USAGE
    tars_path = os.path.abspath(argv[0][len(PREFIX):])
    yaml = yaml_path(tars_path, dict(os.environ))
    if command not in COMMANDS:
        return cli([command, "-c", yaml, "--tars", tars_path, *argv[2:]])
    config = overlays.load(yaml, tars_path)
    timeout = _start_timeout(os.environ.get("SUPERVISOR_START_TIMEOUT"))
    if command in ("stop", "restart"):
        daemon.stop(config)
        if command == "stop":
            return EXIT_OK
    pid = daemon.running_pid(config)
    if pid is not None:
        print(f"supervisor: {config.tars.name if config.tars else 'server'} already running "
              f"with pid {pid}")
        return EXIT_OK
    return daemon.start(config, timeout)


def _start_timeout(text: str | None) -> float:
    if not text:
        return START_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if seconds <= 0:
        raise ConfigError(f"SUPERVISOR_START_TIMEOUT: expected seconds above zero, got {text!r}")
    return seconds
