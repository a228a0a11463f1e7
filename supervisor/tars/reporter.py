"""The keepalive reporter process: reports to the Tars node while the master vouches for the pool.

It runs apart from the master so that a slow or dead node never blocks the master loop, and
apart from the workers so that its reports can stop when they all die (the seed's warning: a
timer that outlives the workers keeps a dead service "alive"). Before each round it asks the
master, on the control socket with a short timeout, how many workers are alive; a stopped or
wedged master does not answer in time, and no answer or no live worker means no report, so the
node's heartbeat timeout restarts the service. After each round it tells the master how it went
(for `supervisor status` and the metrics). Only JSON crosses the socket.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from dataclasses import dataclass
from typing import Any

import zmq

from supervisor.tars.conf import Endpoint
from supervisor.tars.keepalive import KeepAlive
from supervisor.worker.capture import Capture
from supervisor.worker.child import die_with_parent, set_title

PROCESS_TITLE = "supervisor: keepalive"
COMMAND = "keepalive"
# A changed parent pid is noticed within this many seconds even without PDEATHSIG.
_MAX_WAIT = 1.0

log = logging.getLogger("supervisor.reporter")


@dataclass(frozen=True)
class ReporterSpec:
    """Everything the reporter needs, as plain data so any start method can carry it."""

    control: str
    log_endpoint: str
    log_level: str
    app: str
    server: str
    adapters: list[str]
    node: Endpoint
    node_servant: str
    pid: int
    interval: float
    app_version: str
    probe_timeout: float


class ProbeFailed(Exception):
    """The master did not vouch for the pool: no answer in time, or no live worker."""


class MasterLink:
    """Requests to the master's control socket, each answered within `timeout` or given up.

    A REQ socket with REQ_RELAXED and REQ_CORRELATE: after a timeout the next request can go
    out at once, and a late answer to an earlier one (from a master that was SIGSTOPped) is
    discarded by ZeroMQ instead of being taken for the current one.
    """

    def __init__(self, context: zmq.Context, endpoint: str, timeout: float) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.socket = context.socket(zmq.REQ)
        self.socket.setsockopt(zmq.REQ_RELAXED, 1)
        self.socket.setsockopt(zmq.REQ_CORRELATE, 1)
        self.socket.linger = 0
        self.socket.connect(endpoint)

    def call(self, args: dict[str, Any]) -> dict[str, Any]:
        """The master's result for one `keepalive` command; ProbeFailed if none came in time."""
        self.socket.send(json.dumps({"command": COMMAND, "args": args}).encode())
        if not self.socket.poll(int(self.timeout * 1000)):
            raise ProbeFailed(f"the master did not answer within {self.timeout:g}s")
        try:
            reply = json.loads(self.socket.recv())
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProbeFailed(f"malformed answer from the master: {exc}") from None
        if not isinstance(reply, dict) or not reply.get("ok") or \
                not isinstance(reply.get("result"), dict):
            raise ProbeFailed(f"the master refused the keepalive command: {reply!r:.200}")
        return reply["result"]

    def alive(self) -> bool:
        """The probe: True when the master answered in time and has a live worker."""
        alive = self.call({}).get("alive")
        if not isinstance(alive, int) or alive < 1:
            raise ProbeFailed("the master has no live worker")
        return True

    def report(self, result: str | None, status: dict[str, Any]) -> None:
        """Tell the master how the last round went; lost if it does not answer in time."""
        try:
            self.call({"result": result, "status": status})
        except ProbeFailed as exc:
            log.debug("keepalive result not delivered: %s", exc)

    def close(self) -> None:
        self.socket.close(linger=0)


def run_reporter(spec: ReporterSpec) -> None:
    """Process main: report until SIGTERM or the master's death."""
    parent = os.getppid()
    die_with_parent()
    set_title(PROCESS_TITLE)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    context = zmq.Context()
    capture = Capture(context, spec.log_endpoint, "keepalive", spec.log_level)
    link = MasterLink(context, spec.control, spec.probe_timeout)
    reporter = KeepAlive(app=spec.app, server=spec.server, adapters=spec.adapters,
                         node=spec.node, node_servant=spec.node_servant, probe=link.alive,
                         pid=spec.pid, interval=spec.interval, app_version=spec.app_version)
    log.info("keepalive for %s.%s (pid %d) to %s@%s every %gs, adapters: %s", spec.app,
             spec.server, spec.pid, spec.node_servant, spec.node, spec.interval,
             ", ".join(reporter.adapters))
    try:
        reporter.run(stop, on_round=lambda: link.report(reporter.last_result,
                                                        reporter.snapshot()),
                     still=lambda: os.getppid() == parent, max_wait=_MAX_WAIT)
    finally:
        link.close()
        capture.close()
        context.term()
