"""The coordinator: the helper process that holds the engine connection for one master.

It renews the lease every lease/3, resigns on a graceful stop, writes this node's member
record, and answers the scheduler's claim requests (sent `claim_ahead` before each slot)
over an ipc socket in run_dir, so the scheduler never waits on the network. `Coordinator`
is the decision logic with the clock and engine passed in; `run_coordinator` is the
process around it.

scheduler -> coordinator  [b"ask", {schedule, slot, due}]   due on the monotonic clock
                          [b"fired", {schedule, slot, epoch}] [b"unfired", {schedule, slot}]
coordinator -> scheduler  [b"grant", {schedule, slot, tick, epoch, node, until, degraded}]
                          [b"deny", {schedule, slot, reason}]
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from supervisor.cluster.engine import Engine, EngineError
from supervisor.cluster.lease import valid_until
from supervisor.cluster.slots import tick_number
from supervisor.config.cluster import ClusterConfig
from supervisor.triggers.timeline import Every

log = logging.getLogger("supervisor.cluster")

# Claim results counted per node: engine answers, and refusals decided here.
RESULTS = ("won", "taken", "fenced", "follower", "expired", "no_lease", "error", "degraded",
           "unfired", "too_late")
# The least pause between two attempts on an engine that failed.
_RETRY_GAP = 0.02


@dataclass(frozen=True)
class SingletonSpec:
    """What the coordinator knows of a singleton schedule: its slot grid."""

    name: str
    interval: float
    anchor: float

    def slot_at(self, wall: float) -> int:
        return Every(self.interval).index(wall, self.anchor)


Answer = tuple[bytes, bytes, dict[str, Any]]  # (scheduler identity, b"grant"|b"deny", body)


class Coordinator:
    def __init__(self, config: ClusterConfig, engine: Engine, schedules: list[SingletonSpec],
                 member: dict[str, Any], clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.config = config
        self.node = config.node_id
        self.engine = engine
        self.schedules = {s.name: s for s in schedules}
        self.member = member
        self.clock, self.wall = clock, wall
        self.epoch: int | None = None
        self.until = 0.0
        self.holder: str | None = None
        self.next_acquire = 0.0
        self.next_member = 0.0
        self.engine_up: bool | None = None
        self.outage_at = -math.inf
        self.claims: Counter[str] = Counter()
        self.pending: dict[str, tuple[bytes, int, float]] = {}
        self.unconfirmed: dict[str, tuple[int, int]] = {}
        self.first: dict[str, int] = {}
        self.last_won: dict[str, dict[str, Any]] = {}
        self.expired_logged = False

    # --- the lease ---

    def leading(self, now: float) -> bool:
        return self.epoch is not None and now < self.until

    def step(self, now: float) -> list[Answer]:
        """Run what is due: renewal or acquisition, the member record. Grants that
        leadership won just now makes possible are returned for sending."""
        answers: list[Answer] = []
        if now >= self.next_acquire:
            answers = self._acquire(now)
        if self.epoch is not None and now >= self.until and not self.expired_logged:
            self.expired_logged = True
            log.warning("the lease (epoch %d) ran out before a renewal succeeded; singleton "
                        "schedules pause here", self.epoch)
        if self.clock() >= self.next_member:
            self._write_member()
        return answers

    def next_deadline(self) -> float:
        return min(self.next_acquire, self.next_member)

    def _acquire(self, now: float) -> list[Answer]:
        every = self.config.renew_every
        try:
            grant = self.engine.acquire(self.node, self.epoch, now)
        except EngineError as exc:
            self._lost(exc)
            # Again at once after a timeout (an attempt is then nearly always in flight when
            # the engine comes back), a timeout later after an instant refusal.
            self.next_acquire = max(now + min(every, self.config.timeout),
                                    self.clock() + _RETRY_GAP)
            return []
        self._back()
        if grant.mine:
            if grant.epoch != self.epoch:
                log.info("leading singleton schedules with epoch %d", grant.epoch)
            self.epoch, self.holder = grant.epoch, self.node
            self.until = valid_until(now, self.config.lease)
            self.expired_logged = False
            self.next_acquire = now + every
            return self._claim_pending()
        if self.epoch is not None:
            self.claims["fenced"] += 1  # the engine refused our epoch: another node took over
            log.warning("lost the lease (epoch %d) to %s", self.epoch, grant.holder)
        self.epoch, self.holder = None, grant.holder
        wait = every if grant.retry_in is None else min(every, grant.retry_in + 0.005)
        self.next_acquire = now + wait
        return []

    def resign(self) -> None:
        """A graceful stop: give the lease up so a follower takes over at its next look."""
        if self.epoch is None:
            return
        try:
            self._confirm_all()
            if self.engine.resign(self.node, self.epoch):
                log.info("resigned the lease (epoch %d)", self.epoch)
        except EngineError as exc:
            log.warning("could not resign the lease: %s", exc)
        self.epoch = None

    def _lost(self, exc: EngineError) -> None:
        self.outage_at = self.wall()
        if self.engine_up is not False:
            log.warning("coordination engine unreachable (%s); %s", exc,
                        "every node fires singleton schedules, marked degraded"
                        if self.config.on_engine_loss == "local" else
                        "singleton schedules pause when the lease runs out")
        self.engine_up = False

    def _back(self) -> None:
        if self.engine_up is False:
            log.info("coordination engine reachable again")
        self.engine_up = True

    # --- claims ---

    def ask(self, peer: bytes, schedule: str, slot: int, due: float) -> Answer | None:
        """The scheduler asks for `slot` of `schedule`, due at `due` (monotonic)."""
        spec = self.schedules.get(schedule)
        if spec is None:
            return None
        now = self.clock()
        if now > due + spec.interval / 2:  # the scheduler no longer waits for this answer
            return self._deny(peer, schedule, slot, "too_late")
        if self.leading(now) and due < self.until:
            return self._claim(peer, spec, slot, due)
        if self.engine_up is False and self.config.on_engine_loss == "local":
            self.claims["degraded"] += 1
            first = self.first.get(schedule, slot)
            return peer, b"grant", {"schedule": schedule, "slot": slot, "epoch": None,
                                    "node": self.node, "tick": tick_number(slot, first),
                                    "until": due + spec.interval, "degraded": True}
        self.pending[schedule] = (peer, slot, due)
        if self.epoch is not None:
            reason = "expired"  # we led, but no renewal has succeeded for a lease
        else:
            reason = "no_lease" if self.engine_up is False else "follower"
        return self._deny(peer, schedule, slot, reason)

    def _claim(self, peer: bytes, spec: SingletonSpec, slot: int, due: float) -> Answer:
        self.pending.pop(spec.name, None)
        started = self.clock()
        try:
            self._confirm(spec.name)
            result = self.engine.claim(spec.name, slot, self.node, self.epoch,
                                       spec.slot_at(self.outage_at)
                                       if math.isfinite(self.outage_at) else -1)
        except EngineError as exc:
            self._lost(exc)
            return self._deny(peer, spec.name, slot, "error")
        took = self.clock() - started
        if took > self.config.claim_ahead / 2:
            log.warning("the claim of slot %d of %r took %.0f ms (claim_ahead %g ms)", slot,
                        spec.name, took * 1000, self.config.claim_ahead * 1000)
        self._back()
        if result.result == "fenced":
            log.warning("claim of slot %d of %r refused: epoch %d no longer holds the lease",
                        slot, spec.name, self.epoch)
            self.epoch = None
            self.next_acquire = self.clock()
            return self._deny(peer, spec.name, slot, "fenced")
        self.first[spec.name] = result.first
        if result.result == "taken":
            return self._deny(peer, spec.name, slot, "taken")
        self.claims["won"] += 1
        if result.missed:
            log.warning("schedule %r: %d slot(s) before %d went unfired (%s)", spec.name,
                        result.missed, slot, result.reason)
        grant = {"schedule": spec.name, "slot": slot, "epoch": self.epoch, "node": self.node,
                 "tick": tick_number(slot, result.first), "until": self.until,
                 "degraded": False}
        self.last_won[spec.name] = grant
        return peer, b"grant", grant

    def _claim_pending(self) -> list[Answer]:
        """Slots asked for while we followed, still ahead: claim them now we lead."""
        answers = []
        for schedule, (peer, slot, due) in list(self.pending.items()):
            del self.pending[schedule]
            spec = self.schedules[schedule]
            if self.clock() <= due + spec.interval / 2 and due < self.until:
                answers.append(self._claim(peer, spec, slot, due))
        return answers

    def _deny(self, peer: bytes, schedule: str, slot: int, reason: str) -> Answer:
        self.claims[reason] += 1
        return peer, b"deny", {"schedule": schedule, "slot": slot, "reason": reason}

    def fired(self, schedule: str, slot: int, epoch: int | None) -> None:
        """The scheduler handed the slot's tick to the master: record it as fired."""
        if epoch is None or schedule not in self.schedules:
            return
        self.unconfirmed[schedule] = (slot, epoch)
        try:
            self._confirm(schedule)
        except EngineError as exc:
            self._lost(exc)  # kept: retried before this schedule's next claim

    def unfired(self, schedule: str, slot: int) -> None:
        """A granted slot could not fire in time (this node was paused): it stays missed."""
        self.claims["unfired"] += 1
        log.warning("slot %d of %r was granted but not fired in time; counted missed",
                    slot, schedule)

    def _confirm(self, schedule: str) -> None:
        if schedule in self.unconfirmed:
            slot, epoch = self.unconfirmed[schedule]
            self.engine.confirm(schedule, slot, self.node, epoch)
            del self.unconfirmed[schedule]

    def _confirm_all(self) -> None:
        for schedule in list(self.unconfirmed):
            self._confirm(schedule)

    # --- views ---

    def status(self) -> dict[str, Any]:
        now = self.clock()
        return {"node": self.node, "leader": self.leading(now), "epoch": self.epoch,
                "holder": self.holder, "engine": {None: "unknown", True: "up",
                                                  False: "down"}[self.engine_up],
                "backend": self.config.backend, "name": self.config.name,
                "lease": self.config.lease, "on_engine_loss": self.config.on_engine_loss,
                "claims": dict(self.claims), "schedules": {
                    name: self.last_won.get(name, {}).get("slot") for name in self.schedules}}

    def _write_member(self) -> None:
        every = max(1.0, self.config.lease)
        self.next_member = self.clock() + every
        record = {**self.member, **self.status(), "updated": self.wall()}
        try:
            self.engine.put_member(self.node, record, ttl=3 * every)
        except EngineError as exc:
            self._lost(exc)
