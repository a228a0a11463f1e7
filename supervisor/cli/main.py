"""The `supervisor` command line."""

from __future__ import annotations

import argparse
import sys

from supervisor import __version__
from supervisor.cli.operations import add_operations, quiet_broken_pipe
from supervisor.cli.schedules import add_commands as add_schedule_commands
from supervisor.config import Config
from supervisor.config.values import counted
from supervisor.errors import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_NOT_RUNNING,
    EXIT_OK,
    ConfigError,
    SupervisorError,
)
from supervisor.master import overlays


def _load(args: argparse.Namespace) -> Config:
    return overlays.load(args.config, args.tars)


def cmd_run(args: argparse.Namespace) -> int:
    from supervisor.cli.daemon import run_master

    return run_master(_load(args))[0]


def cmd_check(args: argparse.Namespace) -> int:
    from supervisor.tars.settings import check_hosts
    from supervisor.worker.handlers import HandlerLoadError, build

    config = _load(args)
    sys.path[:0] = [entry for entry in config.import_path if entry not in sys.path]
    check_hosts(config)
    try:
        build(config.handlers, config.interceptors)
    except HandlerLoadError as exc:
        if exc.trace:
            print(exc.trace, file=sys.stderr)
        raise ConfigError(f"{config.path}: {exc.key}: {exc}") from None
    if not config.handlers:
        print(f"supervisor: warning: {config.path}: no handler is configured (handlers: "
              "{NAME: 'module:function'}); the pool would answer every request BadRequest",
              file=sys.stderr)
    print(f"{config.path}: OK ({counted(len(config.handlers), 'handler')}, "
          f"{counted(config.pool.num_workers, 'worker')}, "
          f"{counted(len(config.schedules), 'schedule')})")
    from supervisor.cli.schedules import next_fires

    for line in next_fires(config):
        print(line)
    if config.centrifugo is not None:
        section = config.centrifugo
        print(f"centrifugo: OK (proxy on {section.proxy_listen} for "
              f"{', '.join(section.handlers) or 'no events'}; API {section.api_address})")
    if config.tars is not None:
        print(f"{config.tars.path}: OK ({config.tars.name}, listen {config.listen}, "
              f"{counted(len(config.tars.adapters), 'adapter')}, node {config.tars.node})")
    return EXIT_OK


def _context(text: str) -> dict:
    """`--context JSON`: the request's context, a JSON object."""
    import json

    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def _listen_endpoint(config: Config) -> str:
    """Where the master of this run_dir listens (under Tars, the conf's endpoint, whatever
    the YAML says), else the config's `listen`."""
    from supervisor.ops.control import ControlClient

    try:
        with ControlClient(config.control_endpoint, timeout=2.0) as client:
            return client.call("ping").get("listen") or config.listen
    except SupervisorError:
        return config.listen


def cmd_exec(args: argparse.Namespace) -> int:
    from supervisor.client import Client

    endpoint = args.endpoint or _listen_endpoint(_load(args))
    endpoints = [e.strip() for e in endpoint.split(",") if e.strip()]
    body = sys.stdin.buffer.read() if args.body == "-" else (args.body or "").encode()
    with Client(endpoints if len(endpoints) > 1 else endpoint) as client:
        try:
            reply = client.exec(args.name, body, context=args.context, timeout=args.timeout)
        except SupervisorError as exc:
            print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
            return EXIT_FAILURE
    sys.stdout.buffer.write(reply if reply.endswith(b"\n") or not reply else reply + b"\n")
    return EXIT_OK


def cmd_start(args: argparse.Namespace) -> int:
    from supervisor.cli import daemon

    return daemon.start(_load(args), args.timeout)


def cmd_stop(args: argparse.Namespace) -> int:
    from supervisor.cli import daemon

    return daemon.stop(_load(args), args.timeout)


def cmd_restart(args: argparse.Namespace) -> int:
    from supervisor.cli import daemon

    config = _load(args)
    daemon.stop(config)
    return daemon.start(config, args.timeout)


def _control(config: Config, command: str, **call_args):
    """One control request to the master of this config's run_dir."""
    from supervisor.ops.control import ControlClient

    with ControlClient(config.control_endpoint) as client:
        return client.call(command, **call_args)


def cmd_status(args: argparse.Namespace) -> int:
    import json

    from supervisor.cli import daemon
    from supervisor.cli.render import status_text

    config = _load(args)
    if args.cluster:
        return _cluster_status(config, args.json)
    pid = daemon.running_pid(config)
    if pid is None:
        where = f"no live master holds {daemon.pid_path(config)}"
        print(json.dumps({"running": False, "pidfile": str(daemon.pid_path(config))})
              if args.json else f"supervisor: not running ({where})")
        return EXIT_NOT_RUNNING
    try:
        status = _control(config, "status")
    except SupervisorError as exc:
        message = f"master pid {pid} does not answer on {config.control_endpoint}: {exc}"
        print(json.dumps({"running": True, "pid": pid, "error": message}) if args.json
              else f"supervisor: {message}")
        return EXIT_FAILURE
    print(json.dumps({"running": True, **status}, indent=2) if args.json
          else status_text(status))
    return EXIT_OK if status["healthy"] else EXIT_FAILURE


def _cluster_status(config: Config, as_json: bool) -> int:
    """The fleet view, read from the engine: 0 when every singleton schedule has one leader."""
    import json

    if config.cluster is None:
        raise ConfigError(f"{config.path}: cluster: --cluster needs a cluster section")
    from supervisor.cluster.backends import open_engine
    from supervisor.cluster.engine import EngineError
    from supervisor.cluster.fleet import render, summarize

    engine = open_engine(config.cluster)
    try:
        summary = summarize(config.cluster.name, engine.members(), engine.schedules())
    except EngineError as exc:
        print(f"supervisor: {config.cluster.backend}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        engine.close()
    print(json.dumps(summary, indent=2) if as_json else render(summary))
    return EXIT_OK if summary["healthy"] else EXIT_FAILURE


def cmd_workers(args: argparse.Namespace) -> int:
    import json
    import time

    from supervisor.cli.render import workers_table

    config = _load(args)
    while True:
        try:
            reply = _control(config, "workers")
        except SupervisorError as exc:
            print(f"supervisor: {exc}", file=sys.stderr)
            return EXIT_NOT_RUNNING
        if args.json:
            print(json.dumps(reply, indent=2))
            return EXIT_OK
        if not args.interactive:
            print(workers_table(reply))
            return EXIT_OK
        sys.stdout.write("\x1b[H\x1b[2J" + workers_table(reply) + "\n")
        sys.stdout.flush()
        time.sleep(1.0)


def cmd_reset(args: argparse.Namespace) -> int:
    try:
        reply = _control(_load(args), "reset")
    except SupervisorError as exc:
        print(f"supervisor: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"supervisor: reset: replacing {counted(reply['replacing'], 'worker')}")
    return EXIT_OK


def _size(text: str) -> dict[str, int]:
    """`N` -> {"workers": N}; `+N` / `-N` -> {"delta": ±N} (the control `scale` arguments)."""
    if not text.lstrip("+-").isdigit() or text.count("+") + text.count("-") > 1:
        raise argparse.ArgumentTypeError(f"expected N, +N or -N, got {text!r}")
    return {"delta": int(text)} if text[0] in "+-" else {"workers": int(text)}


def cmd_scale(args: argparse.Namespace) -> int:
    change = args.size
    try:
        reply = _control(_load(args), "scale", **change)
    except SupervisorError as exc:
        print(f"supervisor: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"supervisor: pool size is now {reply['size']}")
    return EXIT_OK


def cmd_tars_node(args: argparse.Namespace) -> int:
    from supervisor.tars.standin import main as standin

    listen = ["--listen", args.listen] if args.listen else []
    return standin([*listen, *(f"--known={name}" for name in args.known or ())])


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="supervisor", description=__doc__)
    top.add_argument("--version", action="version", version=f"zmq-supervisor {__version__}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("-c", "--config", help="config file (default: $SUPERVISOR_CONFIG, "
                                                "else conf/supervisor.yaml)")
        sub.add_argument("--tars", metavar="TARSCONF", help="Tars server conf (overrides the "
                                                           "config's tars.config)")
        sub.set_defaults(func=handler)
        return sub

    command("run", cmd_run, "run the master in the foreground")
    command("check", cmd_check, "validate the config and import every handler")
    ex = command("exec", cmd_exec, "send one payload to a handler and print the response")
    ex.add_argument("name", help="handler name")
    ex.add_argument("body", nargs="?", help="request body ('-' reads standard input)")
    ex.add_argument("--endpoint", help="listen endpoint, or several separated by commas to "
                    "fail over between masters (default: from the config)")
    ex.add_argument("--context", type=_context, metavar="JSON",
                    help="the request's context, a JSON object")
    ex.add_argument("--timeout", type=float, default=60.0, help="seconds to wait (default 60)")
    for name, handler, text in (
            ("start", cmd_start, "start a daemonised master; return once its pool is ready"),
            ("restart", cmd_restart, "stop the running master, then start a new one")):
        sub = command(name, handler, text)
        sub.add_argument("--timeout", type=float, default=120.0,
                         help="seconds to wait for the pool (default 120)")
    stop = command("stop", cmd_stop, "graceful stop; kill what is left after destroy_timeout")
    stop.add_argument("--timeout", type=float, help="seconds before killing (default: "
                                                    "pool.destroy_timeout + 10)")
    status = command("status", cmd_status,
                     "show the running master (exit 0 healthy, 1 degraded, 3 not running)")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--cluster", action="store_true", help="the fleet from the engine: "
                        "members, and the leader of each singleton schedule")
    workers = command("workers", cmd_workers, "one line per worker: pid, state, jobs, RSS, "
                                              "CPU, age, running request")
    workers.add_argument("-i", "--interactive", action="store_true",
                         help="redraw every second until Ctrl-C")
    workers.add_argument("--json", action="store_true", help="machine-readable output")
    command("reset", cmd_reset, "replace every worker; no request fails (like SIGHUP)")
    scale = command("scale", cmd_scale, "set the pool size: N, +N or -N workers")
    scale.add_argument("size", type=_size, help="N (absolute), +N or -N (relative)")
    add_schedule_commands(command)
    node = commands.add_parser("tars-node", help="run a stand-in Tars node that prints each "
                               "keepalive (for development)")
    node.add_argument("--listen", metavar="ENDPOINT", help="Tars endpoint to listen on "
                      "(default: tcp -h 127.0.0.1 -p 19386)")
    node.add_argument("--known", action="append", metavar="APP.SERVER",
                      help="answer -1 (unknown server) to every other server")
    node.set_defaults(func=cmd_tars_node)
    add_operations(command)
    return top


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--config"] and len(argv) > 1:  # `--config CONF` as `--config=CONF`
        argv = [f"--config={argv[1]}", *argv[2:]]
    if argv and argv[0].startswith("--config="):  # the Tars platform's calling convention
        from supervisor.cli.tars import main as tars_entry

        args = argparse.Namespace(func=lambda _: tars_entry(argv, cli=main))
    else:
        args = parser().parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()
        return code
    except ConfigError as exc:
        print(f"supervisor: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return EXIT_OK if getattr(args, "interactive", False) else EXIT_INTERRUPTED
    except BrokenPipeError:
        return quiet_broken_pipe()
