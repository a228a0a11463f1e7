"""The coordinator's decisions, with an in-memory engine that applies the reference claim rule
and a hand-driven clock: who gets a grant, who is refused and why, and what is counted."""

from __future__ import annotations

import pytest

from supervisor.cluster.coordinator import Coordinator, SingletonSpec
from supervisor.cluster.engine import ClaimResult, EngineError
from supervisor.cluster.lease import Grant
from supervisor.cluster.slots import first_claim
from supervisor.config.cluster import parse_cluster


class MemoryEngine:
    """One lease and the schedule records, in a dict; `down` makes every call fail."""

    def __init__(self) -> None:
        self.holder: str | None = None
        self.epoch = 0
        self.records: dict = {}
        self.down = False
        self.members: dict = {}

    def _check(self) -> None:
        if self.down:
            raise EngineError("down")

    def acquire(self, node, epoch, now):
        self._check()
        if self.holder in (None, node):
            if self.holder is None:
                self.epoch += 1
            self.holder = node
            return Grant(node, self.epoch, True)
        return Grant(self.holder, self.epoch, False, 0.1)

    def resign(self, node, epoch):
        self._check()
        if (self.holder, self.epoch) == (node, epoch):
            self.holder = None
            return True
        return False

    def claim(self, schedule, slot, node, epoch, outage_slot):
        self._check()
        if (self.holder, self.epoch) != (node, epoch):
            return ClaimResult("fenced")
        record = self.records.get(schedule)
        if record is None:
            self.records[schedule] = first_claim(slot, node, epoch)
            return ClaimResult("won", slot)
        updated, missed, reason = record.claim(slot, node, epoch, outage_slot)
        if updated is None:
            return ClaimResult("taken", record.first)
        self.records[schedule] = updated
        return ClaimResult("won", updated.first, missed, reason)

    def confirm(self, schedule, slot, node, epoch):
        self._check()
        updated = self.records[schedule].confirm(slot, node, epoch)
        if updated:
            self.records[schedule] = updated
        return updated is not None

    def put_member(self, node, record, ttl):
        self._check()
        self.members[node] = record


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def node(name: str, engine: MemoryEngine, clock: Clock, loss: str = "stop") -> Coordinator:
    config = parse_cluster({"backend": "redis://h:1", "name": "t", "node_id": name,
                            "lease": "1s", "timeout": "100ms", "on_engine_loss": loss}, "/r")
    return Coordinator(config, engine, [SingletonSpec("s", 0.25, 0.0)], {}, clock,
                       wall=lambda: clock.now)


@pytest.fixture
def world():
    engine, clock = MemoryEngine(), Clock()
    return engine, clock, node("a", engine, clock), node("b", engine, clock)


def test_the_leader_gets_grants_and_a_follower_is_refused(world):
    _engine, clock, a, b = world
    a.step(clock.now)
    b.step(clock.now)
    assert a.leading(clock.now) and not b.leading(clock.now)
    _peer, kind, grant = a.ask(b"p", "s", 40, clock.now + 0.1)
    assert kind == b"grant" and grant["tick"] == 0 and grant["epoch"] == 1
    assert grant["until"] == pytest.approx(clock.now + 0.95)
    assert b.ask(b"p", "s", 40, clock.now + 0.1)[1:] == \
        (b"deny", {"schedule": "s", "slot": 40, "reason": "follower"})
    assert a.ask(b"p", "s", 41, clock.now + 0.1)[2]["tick"] == 1
    assert a.ask(b"p", "s", 42, clock.now - 0.1)[2]["tick"] == 2  # late, still fired late
    assert a.ask(b"p", "s", 99, clock.now - 0.2)[2]["reason"] == "too_late"
    assert a.ask(b"p", "other", 1, clock.now + 0.1) is None


def test_a_follower_claims_the_pending_slot_as_soon_as_it_leads(world):
    _engine, clock, a, b = world
    a.step(clock.now)
    b.step(clock.now)
    b.ask(b"p", "s", 50, clock.now + 0.2)
    a.resign()
    clock.now += 0.01
    b.next_acquire = clock.now
    answers = b.step(clock.now)
    assert [(kind, body["slot"]) for _, kind, body in answers] == [(b"grant", 50)]


def test_a_lost_engine_pauses_the_schedule_and_the_gap_is_counted_no_lease(world):
    engine, clock, a, _ = world
    a.step(clock.now)
    a.ask(b"p", "s", 4000, clock.now + 0.1)
    a.fired("s", 4000, 1)
    engine.down = True
    clock.now += 0.34
    a.step(clock.now)
    assert a.status()["engine"] == "down"
    clock.now += 0.7  # the local lease has run out
    assert a.ask(b"p", "s", 4005, clock.now + 0.1)[2]["reason"] == "expired"
    engine.down = False
    clock.now += 0.1
    regained = a.step(clock.now)  # the slot asked for meanwhile is still ahead: claimed now
    assert [(kind, body["slot"]) for _, kind, body in regained] == [(b"grant", 4005)]
    assert engine.records["s"].missed == {"failover": 0, "no_lease": 4, "late": 0}
    a.fired("s", 4005, 1)
    grant = a.ask(b"p", "s", 4009, clock.now + 0.1)[2]
    assert grant["tick"] == 9
    assert engine.records["s"].missed == {"failover": 0, "no_lease": 4, "late": 3}
    assert a.claims["expired"] == 1 and a.claims["won"] == 3


def test_in_local_mode_a_node_without_engine_fires_degraded(world):
    engine, clock, _, _ = world
    lonely = node("c", engine, clock, loss="local")
    engine.down = True
    lonely.step(clock.now)
    _, kind, grant = lonely.ask(b"p", "s", 7, clock.now + 0.1)
    assert kind == b"grant" and grant["degraded"] and grant["epoch"] is None


def test_a_resumed_ex_leader_is_fenced_and_says_so(world):
    engine, clock, a, b = world
    a.step(clock.now)
    engine.holder = None  # the engine expired a's lease while a was stopped
    b.step(clock.now)
    clock.now += 3.0
    assert a.ask(b"p", "s", 9000, clock.now + 0.1)[2]["reason"] == "expired"
    a.step(clock.now)
    assert a.epoch is None and a.claims["fenced"] == 1
