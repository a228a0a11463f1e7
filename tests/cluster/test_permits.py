"""The scheduler's gate for singleton schedules, against a coordinator played by the test."""

from __future__ import annotations

import json
import time

import pytest
import zmq

from supervisor.scheduling.permits import Permits, singleton_start
from supervisor.triggers.timeline import Timeline


@pytest.fixture
def pair(tmp_path):
    context = zmq.Context()
    coordinator = context.socket(zmq.ROUTER)
    coordinator.bind(f"ipc://{tmp_path}/cluster.sock")
    gate = Permits(context, f"ipc://{tmp_path}/cluster.sock", ahead=0.1, gated={"s"}, offset=0)
    yield gate, coordinator
    gate.close()
    coordinator.close(0)
    context.term()


def receive(sock: zmq.Socket) -> tuple[bytes, bytes, dict]:
    assert sock.poll(2000), "nothing arrived"
    peer, kind, body = sock.recv_multipart()
    return peer, kind, json.loads(body)


def answer(gate: Permits, coordinator: zmq.Socket, peer: bytes, grant: dict) -> None:
    coordinator.send_multipart([peer, b"grant", json.dumps(grant).encode()])
    assert gate.socket.poll(2000)
    gate.drain()


def timeline_due_in(seconds: float) -> Timeline:
    """A 250 ms singleton grid whose next slot is `seconds` away on the monotonic clock."""
    spec = {"name": "s", "every": 0.25, "anchor": time.monotonic() + seconds - 0.25 * 1000}
    return Timeline.from_spec(spec, singleton_start(spec, time.monotonic()))


def test_a_slot_is_asked_ahead_once_and_fires_with_its_fence(pair):
    gate, coordinator = pair
    line = timeline_due_in(0.05)
    gate.ask_due([line], time.monotonic())
    gate.ask_due([line], time.monotonic())
    peer, kind, ask = receive(coordinator)
    assert kind == b"ask" and ask["slot"] == line.next_tick
    assert not coordinator.poll(50)  # asked once
    answer(gate, coordinator, peer, {"schedule": "s", "slot": ask["slot"], "tick": 7,
                                     "epoch": 3, "node": "a", "until": time.monotonic() + 1})
    tick = line.poll(line.due)
    admitted = gate.admit(tick)
    assert admitted.tick == 7 and admitted.cluster == {"epoch": 3, "node": "a",
                                                       "slot": ask["slot"]}
    gate.sent(admitted)
    assert receive(coordinator)[1:] == (b"fired", {"schedule": "s", "slot": ask["slot"],
                                                   "epoch": 3})


def test_no_grant_passes_a_late_one_fires_an_expired_one_is_reported(pair):
    gate, coordinator = pair
    line = timeline_due_in(0.05)
    gate.ask_due([line], time.monotonic())
    peer, _, ask = receive(coordinator)
    tick = line.poll(line.due)
    assert gate.admit(tick) is None and gate.late() == []
    answer(gate, coordinator, peer, {"schedule": "s", "slot": ask["slot"], "tick": 1,
                                     "epoch": 1, "node": "a", "until": time.monotonic() + 1})
    assert [t.tick for t in gate.late()] == [1]  # within half an interval of its due time
    line.commit(tick)
    stale = line.poll(line.due)
    answer(gate, coordinator, peer, {"schedule": "s", "slot": stale.tick, "tick": 2,
                                     "epoch": 1, "node": "a", "until": time.monotonic() - 1})
    assert gate.admit(stale) is None
    assert receive(coordinator)[1:] == (b"unfired", {"schedule": "s", "slot": stale.tick})


def test_a_schedule_that_is_not_singleton_passes_untouched(pair):
    gate, _ = pair
    spec = {"name": "plain", "every": 0.25, "anchor": time.time()}
    tick = Timeline.from_spec(spec).poll(spec["anchor"])
    assert gate.admit(tick) is tick
