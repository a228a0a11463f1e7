"""The helper process `supervisor: centrifugo`: a gRPC server in front of the pool.

gRPC lives only here: this module imports it when the process runs, never at import time,
so the master (which names `run_proxy` as the process target), the forkserver and the
workers stay free of it. Started by the master once the pool is ready, restarted when it
dies; on SIGTERM it stops taking calls and lets the ones in flight finish (up to `grace`).
Twice a second, when something changed, it tells the master on the control socket its
state and its calls by event and status (command `centrifugo`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from dataclasses import dataclass

import zmq

from supervisor.worker.capture import Capture
from supervisor.worker.child import die_with_parent, set_title

PROCESS_TITLE = "supervisor: centrifugo"
COMMAND = "centrifugo"
EXIT_CANNOT_LISTEN = 78
REPORT_EVERY = 0.5

log = logging.getLogger("supervisor.centrifugo")


@dataclass(frozen=True)
class ProxySpec:
    """Everything the helper needs, as plain data so any start method can carry it."""

    address: str
    listen: str
    timeout: float
    max_concurrent: int
    credentials: tuple[str, str] | None
    events: list[str]
    pool: str
    control: str
    log_endpoint: str
    log_level: str
    grace: float


class _Reporter:
    """Sends `centrifugo` control commands to the master; never waits for the answers."""

    def __init__(self, context: zmq.Context, endpoint: str, address: str) -> None:
        self.socket = context.socket(zmq.DEALER)
        self.socket.linger = 200
        self.socket.sndhwm = 10
        self.socket.connect(endpoint)
        self.address = address
        self.sent: str | None = None

    def report(self, state: str, calls: dict, error: str | None = None) -> None:
        args = {"state": state, "address": self.address, "pid": os.getpid(), "calls": calls,
                "error": error}
        text = json.dumps({"command": COMMAND, "args": args}, sort_keys=True)
        if text == self.sent:
            return
        try:
            self.socket.send(text.encode(), zmq.NOBLOCK)
            self.sent = text
        except zmq.Again:
            pass
        while self.socket.poll(0):
            self.socket.recv()

    def close(self) -> None:
        self.socket.close()


def run_proxy(spec: ProxySpec) -> None:
    """Process main: serve until SIGTERM, then drain and exit 0 (78 if it cannot listen)."""
    die_with_parent()
    set_title(PROCESS_TITLE)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    context = zmq.Context()
    capture = Capture(context, spec.log_endpoint, "centrifugo", spec.log_level)
    reporter = _Reporter(context, spec.control, spec.listen)
    code = 0
    try:
        code = asyncio.run(_serve(spec, reporter, context))
    finally:
        reporter.close()
        capture.close()
        context.term()
    sys.exit(code)


async def _serve(spec: ProxySpec, reporter: _Reporter, context: zmq.Context) -> int:
    from supervisor.centrifugo.server import BindError, ProxyServicer, start_server
    from supervisor.client import AsyncClient

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    client = AsyncClient(spec.pool, context=context)
    try:
        servicer = ProxyServicer(client, spec.events, spec.timeout, spec.max_concurrent,
                                 spec.credentials)
        try:
            server = await start_server(servicer, spec.address)
        except BindError as exc:
            log.error("centrifugo.proxy_listen %s: cannot listen: %s", spec.listen, exc)
            reporter.report("cannot listen", {}, str(exc))
            return EXIT_CANNOT_LISTEN
        log.info("serving Centrifugo's proxy on %s (%s)", spec.listen, ", ".join(spec.events))
        while not await _stopped(stop, REPORT_EVERY):
            reporter.report("serving", servicer.snapshot())
        reporter.report("stopping", servicer.snapshot())
        await server.stop(spec.grace)
        reporter.report("stopped", servicer.snapshot())
    finally:
        client.close()
    return 0


async def _stopped(stop: asyncio.Event, within: float) -> bool:
    """Whether `stop` is set within `within` seconds."""
    try:
        await asyncio.wait_for(stop.wait(), within)
    except TimeoutError:
        return False
    return True
