"""The worker process: load the handlers once, then run what the master sends (`runner`)."""

from __future__ import annotations

import json
import os
import signal
import sys
from dataclasses import dataclass

import zmq

from supervisor import wire
from supervisor.worker.capture import Capture
from supervisor.worker.child import die_with_parent, lead_process_group, set_title
from supervisor.worker.diagnostics import enable_stack_dumps
from supervisor.worker.handlers import HandlerLoadError, build
from supervisor.worker.journal import Journal
from supervisor.worker.runner import Runner, Runtime


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs, as plain data so any start method can carry it."""

    id: int
    ident: bytes
    endpoint: str
    log_endpoint: str
    handlers: dict[str, str]
    interceptors: dict[str, list[str]]
    log_level: str
    cwd: str
    import_path: tuple[str, ...] = ()
    stacks: str | None = None
    journal: str = ""
    max_message_size: int = 16 * 2**20


def _exit_code(exc: SystemExit) -> int:
    """The code the process exits with, as the interpreter would choose it for `exc`."""
    if exc.code is None or isinstance(exc.code, int):
        return exc.code or 0
    print(exc.code, file=sys.stderr)
    return 1


def main(spec: WorkerSpec) -> None:
    """Entry point of a worker process (the target given to multiprocessing)."""
    die_with_parent()
    lead_process_group(f"supervisor: worker {spec.id}")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    runtime = Runtime()
    signal.signal(signal.SIGTERM, runtime.on_term)
    if spec.stacks:
        enable_stack_dumps(spec.stacks)
    set_title(f"supervisor: worker {spec.id}")
    os.environ["SUPERVISOR_WORKER_ID"] = str(spec.id)
    os.environ["SUPERVISOR_MODE"] = "worker"
    os.chdir(spec.cwd)
    sys.path[:0] = [entry for entry in (spec.cwd, *spec.import_path) if entry not in sys.path]
    context = zmq.Context()
    capture = Capture(context, spec.log_endpoint, f"worker {spec.id}", spec.log_level)
    sock = context.socket(zmq.DEALER)
    sock.identity = spec.ident
    sock.linger = 2000
    sock.connect(spec.endpoint)
    code = 0
    try:
        table = build(spec.handlers, spec.interceptors)
    except HandlerLoadError as exc:
        sock.send_multipart([wire.FATAL, json.dumps({"key": exc.key, "error": str(exc),
                                                     "traceback": exc.trace}).encode()])
        code = 3
    else:
        journal = Journal(spec.journal)
        sock.send_multipart([wire.READY, json.dumps({"pid": os.getpid()}).encode()])
        try:
            Runner(sock, table, spec.id, journal, runtime, spec.max_message_size).serve()
        except SystemExit as exc:  # SIGTERM while idle, or a handler's sys.exit(N)
            code = _exit_code(exc)
    capture.close()
    sock.close()
    context.term()
    sys.exit(code)
