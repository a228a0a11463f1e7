"""The `supervisor` command line."""

from __future__ import annotations

import argparse
import sys

from supervisor import config as config_module
from supervisor.errors import ConfigError, SupervisorError

EXIT_CONFIG = 2


def _load(args: argparse.Namespace) -> config_module.Config:
    return config_module.load(args.config)


def cmd_run(args: argparse.Namespace) -> int:
    from supervisor.logs import Logs
    from supervisor.master import Master
    from supervisor.pidfile import AlreadyRunning

    config = _load(args)
    try:
        return Master(config, Logs(config.log)).run()
    except AlreadyRunning as exc:
        print(f"supervisor: {exc}", file=sys.stderr)
        return 1


def cmd_check(args: argparse.Namespace) -> int:
    import os

    from supervisor.handlers import HandlerLoadError, build

    config = _load(args)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        build(config.handlers, config.interceptors)
    except HandlerLoadError as exc:
        raise ConfigError(f"{config.path}: {exc.key}: {exc}") from None
    print(f"{config.path}: OK ({len(config.handlers)} handlers, "
          f"{config.pool.num_workers} workers, {len(config.schedules)} schedules)")
    return 0


def cmd_exec(args: argparse.Namespace) -> int:
    from supervisor.client import Client

    endpoint = args.endpoint or _load(args).listen
    body = sys.stdin.buffer.read() if args.body == "-" else (args.body or "").encode()
    with Client(endpoint) as client:
        try:
            reply = client.exec(args.name, body, timeout=args.timeout)
        except SupervisorError as exc:
            print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    sys.stdout.buffer.write(reply if reply.endswith(b"\n") or not reply else reply + b"\n")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="supervisor", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("-c", "--config", help="config file (default: $SUPERVISOR_CONFIG, "
                                                "else conf/supervisor.yaml)")
        sub.set_defaults(func=handler)
        return sub

    command("run", cmd_run, "run the master in the foreground")
    command("check", cmd_check, "validate the config and import every handler")
    ex = command("exec", cmd_exec, "send one payload to a handler and print the response")
    ex.add_argument("name", help="handler name")
    ex.add_argument("body", nargs="?", help="request body ('-' reads standard input)")
    ex.add_argument("--endpoint", help="listen endpoint (default: from the config)")
    ex.add_argument("--timeout", type=float, default=60.0, help="seconds to wait (default 60)")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"supervisor: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
