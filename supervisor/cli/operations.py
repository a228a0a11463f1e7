"""Commands for a running master's operator: `reload` and `dump`; a quiet broken pipe."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from supervisor.config.values import counted
from supervisor.errors import EXIT_BROKEN_PIPE, EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, SupervisorError

RELOAD_TIMEOUT = 130.0
"""Seconds `reload` waits: the master imports the new handlers within pool.start_timeout."""


def _control(args: argparse.Namespace, command: str, timeout: float, **call_args):
    from supervisor.ops.control import ControlClient
    from supervisor.tars import settings

    config = settings.load(args.config, args.tars)
    with ControlClient(config.control_endpoint, timeout=timeout) as client:
        return client.call(command, **call_args)


def cmd_reload(args: argparse.Namespace) -> int:
    """Re-read the config in the running master; exit 2 (config kept) when it is refused."""
    from supervisor.ops.control import ControlError

    try:
        reply = _control(args, "reload", RELOAD_TIMEOUT)
    except ControlError as exc:
        print(f"supervisor: reload refused, the master keeps its config: {exc.message}",
              file=sys.stderr)
        return EXIT_CONFIG if exc.code == "ConfigError" else EXIT_FAILURE
    except SupervisorError as exc:
        print(f"supervisor: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    changed = ", ".join(reply["changed"]) or "nothing in the config (handler code is reloaded)"
    print(f"supervisor: reloaded {reply['config']}: changed {changed}; replacing "
          f"{counted(reply['replacing'], 'worker')}")
    return EXIT_OK


def cmd_dump(args: argparse.Namespace) -> int:
    """Print the Python stacks of one worker; it keeps running."""
    try:
        reply = _control(args, "dump", 10.0, worker=args.worker)
    except SupervisorError as exc:
        print(f"supervisor: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    request = reply.get("request")
    doing = (f"running {request['handler']!r} for {request['running']:.1f}s" if request
             else "idle")
    print(f"worker {reply['worker']} (pid {reply['pid']}), {doing}:")
    print(reply["stacks"])
    return EXIT_OK


def add_operations(command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add this module's commands with the CLI's `command(name, handler, help)` factory."""
    command("reload", cmd_reload, "re-read the config: apply handlers, schedules, pool size "
                                  "and limits by replacing every worker (like SIGHUP)")
    dump = command("dump", cmd_dump, "print a worker's Python stacks (it keeps running)")
    dump.add_argument("worker", type=int, metavar="WORKER_ID", help="worker id (0..N-1)")


def quiet_broken_pipe() -> int:
    """The reader of our output went away (`supervisor status | head -2`): no traceback.

    Python would flush stdout again at exit and complain; point it at /dev/null first.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE
