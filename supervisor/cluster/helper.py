"""The coordinator as a process: `supervisor: cluster`, a supervised child of the master.

It runs apart from the master and the scheduler so that an engine that answers slowly
or not at all delays neither requests nor due times: the scheduler asks ahead and finds
the answer waiting. Its status goes to the master's control socket once a second (for
`supervisor status` and the metrics), fire-and-forget, so a busy master never holds it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import time
from dataclasses import dataclass
from typing import Any

import zmq

from supervisor.cluster.backends import open_engine
from supervisor.cluster.coordinator import Coordinator, SingletonSpec
from supervisor.config.cluster import ClusterConfig
from supervisor.wire import WireError, load_json
from supervisor.worker.capture import Capture
from supervisor.worker.child import die_with_parent, set_title

PROCESS_TITLE = "supervisor: cluster"
REPORT_EVERY = 1.0
# A changed parent pid is noticed within this many seconds even without PDEATHSIG.
_MAX_WAIT = 1.0

log = logging.getLogger("supervisor.cluster")


@dataclass(frozen=True)
class CoordinatorSpec:
    """Everything the process needs, as plain data so any start method can carry it."""

    config: ClusterConfig
    schedules: list[SingletonSpec]
    endpoint: str
    control: str
    log_endpoint: str
    log_level: str
    member: dict[str, Any]


def permits_endpoint(run_dir: str) -> str:
    """Where the coordinator answers the scheduler's claim requests."""
    return f"ipc://{run_dir}/cluster.sock"


def run_coordinator(spec: CoordinatorSpec) -> None:
    """Process main: lead or follow until SIGTERM (then resign) or the master's death."""
    parent = os.getppid()
    die_with_parent()
    set_title(PROCESS_TITLE)
    reader, writer = socket.socketpair()
    for end in (reader, writer):
        end.setblocking(False)
    stop = []
    signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    context = zmq.Context()
    capture = Capture(context, spec.log_endpoint, "cluster", spec.log_level)
    permits = context.socket(zmq.ROUTER)
    permits.linger = 0
    permits.bind(spec.endpoint)
    os.chmod(spec.endpoint[len("ipc://"):], 0o600)
    report = context.socket(zmq.DEALER)
    report.linger = 0
    report.sndhwm = 2
    report.connect(spec.control)
    engine = open_engine(spec.config)
    coordinator = Coordinator(spec.config, engine, spec.schedules,
                              {**spec.member, "pid": parent})
    log.info("node %s on %s (%s), lease %gs, schedules: %s", spec.config.node_id,
             spec.config.backend, spec.config.name, spec.config.lease,
             ", ".join(s.name for s in spec.schedules) or "none")
    try:
        _serve(coordinator, permits, report, reader, stop, parent)
        if stop:
            coordinator.resign()
    finally:
        engine.close()
        permits.close()
        report.close()
        capture.close()
        context.term()
        signal.set_wakeup_fd(-1)
        reader.close()
        writer.close()


def _serve(coordinator: Coordinator, permits: zmq.Socket, report: zmq.Socket,
           wakeup: socket.socket, stop: list, parent: int) -> None:
    poller = zmq.Poller()
    poller.register(permits, zmq.POLLIN)
    poller.register(report, zmq.POLLIN)
    poller.register(wakeup.fileno(), zmq.POLLIN)
    next_report = 0.0
    while not stop and os.getppid() == parent:
        _send(permits, coordinator.step(time.monotonic()))
        now = time.monotonic()
        if now >= next_report:
            next_report = now + REPORT_EVERY
            _report(report, coordinator.status())
        wait = min(coordinator.next_deadline(), next_report, now + _MAX_WAIT) - now
        events = dict(poller.poll(max(0, int(wait * 1000) + 1)))
        if permits in events:
            for _ in range(1000):
                try:
                    frames = permits.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                _send(permits, _handle(coordinator, frames))
        if report in events:
            while report.poll(0):
                report.recv_multipart()  # the master's acknowledgements: nothing to do
        if wakeup.fileno() in events:
            try:
                while wakeup.recv(64):
                    pass
            except BlockingIOError:
                pass


def _handle(coordinator: Coordinator, frames: list[bytes]) -> list:
    """One message from a scheduler; malformed ones are logged and dropped."""
    if len(frames) != 3:
        log.warning("dropped a message of %d frames from the scheduler", len(frames))
        return []
    peer, kind, body = frames
    try:
        data = load_json(body, limit=4096)
        schedule, slot = str(data["schedule"]), data["slot"]
        if not isinstance(slot, int) or isinstance(slot, bool):
            raise TypeError("slot")
        if kind == b"ask":
            due = float(data["due"])
            answer = coordinator.ask(peer, schedule, slot, due)
            return [answer] if answer else []
        if kind == b"fired":
            epoch = data.get("epoch")
            coordinator.fired(schedule, slot, epoch if isinstance(epoch, int) else None)
        elif kind == b"unfired":
            coordinator.unfired(schedule, slot)
        else:
            log.warning("dropped an unknown message %r from the scheduler", kind[:32])
    except (WireError, KeyError, TypeError, ValueError) as exc:
        log.warning("dropped a malformed message from the scheduler: %s", exc)
    return []


def _send(sock: zmq.Socket, answers: list) -> None:
    for peer, kind, body in answers:
        with contextlib.suppress(zmq.ZMQError):  # the scheduler went away; it asks again
            sock.send_multipart([peer, kind, json.dumps(body).encode()], zmq.NOBLOCK)


def _report(sock: zmq.Socket, status: dict[str, Any]) -> None:
    request = {"command": "cluster", "args": status}
    with contextlib.suppress(zmq.Again):
        sock.send_multipart([b"", json.dumps(request).encode()], zmq.NOBLOCK)
