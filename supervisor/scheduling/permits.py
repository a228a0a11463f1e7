"""The scheduler's side of singleton schedules: ask for each slot ahead, fire only what was granted.

A singleton schedule's slot may fire on one node of a cluster only. The scheduler does
not talk to the coordination engine itself (that could make it late): `claim_ahead`
before each slot it asks a local helper (the cluster coordinator) over an ipc socket and
carries on; at the due time it fires the slot if a grant came back and is still good,
and otherwise lets it pass, since another node fires it or the cluster counts it missed.
Only plain JSON crosses the socket; nothing here knows which engine is behind it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import replace
from typing import Any

import zmq

from supervisor.triggers.timeline import Every, Tick, Timeline

log = logging.getLogger("supervisor.permits")


def singleton_start(spec: dict[str, Any], now: float) -> dict[str, Any]:
    """Resume state that starts a singleton schedule at its next slot on the shared grid.

    Slots count from the schedule's fixed anchor, so slot n is the same instant on
    every node; a restarted scheduler starts again from the clock, not from its past.
    """
    slot = Every(spec["every"]).index(now, spec["anchor"]) + 1
    return {"next_tick": slot, "last_tick": None, "anchor": spec["anchor"]}


class Permits:
    """Asks and grants for the singleton schedules among a scheduler's timelines."""

    def __init__(self, context: zmq.Context, endpoint: str, ahead: float,
                 gated: set[str], offset: float) -> None:
        """`offset` turns the scheduler's wall-on-monotonic times into monotonic ones."""
        self.gated = gated
        self.ahead = ahead
        self.offset = offset
        self.socket = context.socket(zmq.DEALER)
        self.socket.linger = 0
        self.socket.sndhwm = 100
        self.socket.connect(endpoint)
        self.asked: dict[str, int] = {}
        self.grants: dict[tuple[str, int], dict[str, Any]] = {}
        self.waiting: dict[str, Tick] = {}

    def next_ask(self, timelines: list[Timeline]) -> float:
        """When the next ask is due, on the scheduler's clock."""
        times = [t.due - self.ahead for t in timelines
                 if t.name in self.gated and self.asked.get(t.name) != t.next_tick]
        return min(times, default=float("inf"))

    def ask_due(self, timelines: list[Timeline], now: float) -> None:
        for timeline in timelines:
            slot = timeline.next_tick
            if timeline.name in self.gated and self.asked.get(timeline.name) != slot and \
                    now >= timeline.due - self.ahead:
                self.asked[timeline.name] = slot
                self._send(b"ask", {"schedule": timeline.name, "slot": slot,
                                    "due": timeline.due - self.offset})

    def drain(self) -> None:
        """Read the coordinator's answers; only grants are kept."""
        while True:
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if len(frames) != 2 or frames[0] != b"grant":
                continue
            try:
                grant = json.loads(frames[1])
                key = (str(grant["schedule"]), int(grant["slot"]))
                float(grant["until"])
            except (ValueError, KeyError, TypeError):
                log.warning("dropped a malformed grant: %r", frames[1][:200])
                continue
            self.grants[key] = grant

    def admit(self, tick: Tick) -> Tick | None:
        """The tick to send for a due slot, or None to let the slot pass here.

        A grant is only good until the lease it was claimed under runs out: a node
        that was paused past that fires nothing, and says so.
        """
        if tick.schedule not in self.gated:
            return tick
        for key in sorted(k for k in self.grants if k[0] == tick.schedule and k[1] < tick.tick):
            del self.grants[key]  # granted, then passed over while this process was stopped
            self._send(b"unfired", {"schedule": key[0], "slot": key[1]})
        self.waiting.pop(tick.schedule, None)
        grant = self.grants.pop((tick.schedule, tick.tick), None)
        if grant is None:
            self.waiting[tick.schedule] = tick  # the answer may still come, a little late
            return None
        return self._granted(tick, grant)

    def late(self) -> list[Tick]:
        """Slots whose grant came after their due time but within half an interval: the
        engine was slow, the slot is ours, so it fires late rather than not at all."""
        ready = []
        now = time.monotonic()
        for schedule, tick in list(self.waiting.items()):
            grace = ((tick.next_at or tick.scheduled_at) - tick.scheduled_at) / 2
            if now > tick.scheduled_at - self.offset + grace:
                del self.waiting[schedule]
            elif (grant := self.grants.pop((schedule, tick.tick), None)) is not None:
                del self.waiting[schedule]
                if (admitted := self._granted(tick, grant)) is not None:
                    ready.append(admitted)
        return ready

    def _granted(self, tick: Tick, grant: dict[str, Any]) -> Tick | None:
        if time.monotonic() > grant["until"]:
            self._send(b"unfired", {"schedule": tick.schedule, "slot": tick.tick})
            return None
        cluster = {"epoch": grant.get("epoch"), "node": grant.get("node"), "slot": tick.tick}
        if grant.get("degraded"):
            cluster["degraded"] = True
        return replace(tick, tick=int(grant.get("tick", 0)), missed=0, cluster=cluster)

    def sent(self, tick: Tick) -> None:
        """The admitted tick went to the master: the coordinator records the slot as fired."""
        if tick.cluster is not None and tick.cluster.get("epoch") is not None:
            self._send(b"fired", {"schedule": tick.schedule, "slot": tick.cluster["slot"],
                                  "epoch": tick.cluster["epoch"]})

    def _send(self, kind: bytes, body: dict[str, Any]) -> None:
        with contextlib.suppress(zmq.Again):  # no coordinator: no grant comes, slots pass
            self.socket.send_multipart([kind, json.dumps(body).encode()], zmq.NOBLOCK)

    def close(self) -> None:
        self.socket.close(0)
