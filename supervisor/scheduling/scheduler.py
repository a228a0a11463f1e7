"""The scheduler process: computes due times and hands each tick to the master.

It runs apart from the master so that dispatching, accounting and slow handlers
never delay a due time, and it never waits on a handler itself. Messages go to
the master over a DEALER socket as `[b"tick", json]`; the master may send
`[b"stop"]` back. Waits use the monotonic clock, so a wall-clock step neither
stalls nor bursts ticks; the wall-clock anchor is mapped onto it once at start.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import time
from typing import Any

import zmq

from supervisor.scheduling.permits import Permits
from supervisor.triggers.timeline import Tick, Timeline
from supervisor.worker.capture import Capture
from supervisor.worker.child import die_with_parent, set_title

PROCESS_TITLE = "supervisor: scheduler"
# A changed parent pid is noticed within this many seconds even without PDEATHSIG.
_MAX_WAIT = 1.0
# How soon to retry when the master has stopped reading and the send queue is full.
_SEND_RETRY = 0.1
_LINGER_MS = 200
# Waits shorter than this are slept with nanosleep instead of polled.
_SLEEP_BELOW = 0.002


def run_scheduler(
    endpoint: str,
    schedules: list[dict[str, Any]],
    resume: dict[str, dict[str, Any]] | None = None,
    log: tuple[str, str] | None = None,
    permits: dict[str, Any] | None = None,
) -> None:
    """Process main: emit ticks to `endpoint` until SIGTERM, `[b"stop"]` or the parent's death.

    `schedules` are `{"name", "every" | "cron", "anchor", "tz"?}` dicts and `resume`
    maps a name to `{"next_tick", "last_tick", "anchor"}` so that a restarted
    scheduler continues the numbering; only plain data, as spawn must pickle it.
    `log` is the master's log endpoint and level, for output tagged `scheduler`.
    `permits` (`{"endpoint", "ahead"}`) gates the schedules marked `singleton`.
    """
    parent = os.getppid()
    die_with_parent()
    set_title(PROCESS_TITLE)
    names = [spec["name"] for spec in schedules]
    if len(set(names)) != len(names):
        raise ValueError(f"expected unique schedule names, got {names}")
    resume = resume or {}
    timelines = [Timeline.from_spec(spec, resume.get(spec["name"])) for spec in schedules]
    wakeup = _StopSignals()
    ctx = zmq.Context()
    capture = Capture(ctx, log[0], "scheduler", log[1]) if log else None
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, _LINGER_MS)
    clock = _MonotonicWall()
    gate = _permits(ctx, permits, schedules, clock)
    try:
        sock.connect(endpoint)
        if not _serve(sock, timelines, wakeup, parent, clock, gate):
            sock.setsockopt(zmq.LINGER, 0)
    finally:
        if gate is not None:
            gate.close()
        sock.close()
        if capture is not None:
            capture.close()
        ctx.term()
        wakeup.close()


def _permits(ctx: zmq.Context, permits: dict[str, Any] | None, schedules: list[dict[str, Any]],
             clock: _MonotonicWall) -> Permits | None:
    """The gate for singleton schedules, when there are any."""
    gated = {spec["name"] for spec in schedules if spec.get("singleton")}
    if not permits or not gated:
        return None
    return Permits(ctx, permits["endpoint"], permits["ahead"], gated, clock.offset)


def _serve(sock: zmq.Socket, timelines: list[Timeline], wakeup: _StopSignals, parent: int,
           clock: _MonotonicWall, gate: Permits | None = None) -> bool:
    """The emit-and-wait loop; False when it ended because the parent went away."""
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    poller.register(wakeup.fileno(), zmq.POLLIN)
    if gate is not None:
        poller.register(gate.socket, zmq.POLLIN)
    while not wakeup.requested:
        if os.getppid() != parent:
            return False
        now = clock.now()
        blocked = False
        if gate is not None:
            gate.ask_due(timelines, now)
            gate.drain()
            for tick in gate.late():
                if _send(sock, tick):
                    gate.sent(tick)
        for timeline in timelines:
            tick = timeline.poll(now)
            if tick is None:
                continue
            out = tick if gate is None else gate.admit(tick)
            if out is None:
                timeline.commit(tick)  # not ours to fire: another node's, or counted missed
            elif _send(sock, out):
                timeline.commit(tick)
                if gate is not None:
                    gate.sent(out)
            else:
                blocked = True  # left uncommitted: the retry coalesces, nothing is lost
        if blocked:
            wait = _SEND_RETRY
        else:
            wait = min((t.due for t in timelines), default=math.inf) - clock.now()
        if gate is not None:
            wait = min(wait, gate.next_ask(timelines) - clock.now())
        wait = min(wait, _MAX_WAIT)
        if wait > _SLEEP_BELOW:
            # Stop short of the due time: zmq_poll has a millisecond clock and can
            # overshoot by one; the rest is slept precisely below.
            events = dict(poller.poll(int(wait * 1000) - 1))
            if sock in events and _stop_requested(sock):
                return True
            if wakeup.fileno() in events:
                wakeup.drain()
            if gate is not None and gate.socket in events:
                gate.drain()
        elif wait > 0:
            time.sleep(wait)
    return True


def _send(sock: zmq.Socket, tick: Tick) -> bool:
    body = json.dumps(tick.to_wire(), separators=(",", ":")).encode()
    try:
        sock.send_multipart([b"tick", body], flags=zmq.NOBLOCK)
    except zmq.Again:
        return False
    return True


def _stop_requested(sock: zmq.Socket) -> bool:
    """Read what the master sent; only `[b"stop"]` means anything."""
    while True:
        try:
            frames = sock.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return False
        if frames and frames[0] == b"stop":
            return True


class _MonotonicWall:
    """Wall-clock seconds read off the monotonic clock, offset fixed at creation."""

    def __init__(self) -> None:
        before = time.monotonic()
        wall = time.time()
        after = time.monotonic()
        self.offset = wall - (before + after) / 2

    def now(self) -> float:
        return time.monotonic() + self.offset


class _StopSignals:
    """SIGTERM sets a flag and, through the wakeup fd, interrupts the poll at once.

    SIGINT and SIGHUP are ignored: a terminal's Ctrl-C or hangup reaches the
    whole process group, and the master alone decides when the scheduler stops.
    """

    def __init__(self) -> None:
        self.requested = False
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        # A blocked mask survives exec, so a master that blocks TERM would pass it on.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})

    def _on_term(self, signum: int, frame: object) -> None:
        self.requested = True

    def fileno(self) -> int:
        return self._reader.fileno()

    def drain(self) -> None:
        try:
            while self._reader.recv(64):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        signal.set_wakeup_fd(-1)
        self._reader.close()
        self._writer.close()
