"""The lease and the fenced claim on real Redis and etcd servers: the safety core."""

from __future__ import annotations

import time

import pytest

from supervisor.cluster.backends import open_engine
from supervisor.cluster.engine import EngineError
from supervisor.config.cluster import parse_cluster
from tests.cluster.engines import free_port

LEASE = 0.6


def engine(url: str, name: str, lease: float = LEASE):
    return open_engine(parse_cluster({"backend": url, "name": name, "lease": lease,
                                      "timeout": 0.15, "claim_ahead": "50ms"}, "/tmp/x"))


@pytest.fixture
def pair(engine_server, cluster_name):
    a, b = engine(engine_server.url, cluster_name), engine(engine_server.url, cluster_name)
    yield a, b
    a.close()
    b.close()


def test_one_holder_whose_epoch_grows_on_each_takeover(pair):
    a, b = pair
    first = a.acquire("a", None, time.monotonic())
    assert first.mine and first.holder == "a" and first.epoch > 0
    other = b.acquire("b", None, time.monotonic())
    assert not other.mine and other.holder == "a"
    assert a.acquire("a", first.epoch, time.monotonic()) == first.__class__("a", first.epoch, True)
    assert a.resign("a", first.epoch)
    second = b.acquire("b", None, time.monotonic())
    assert second.mine and second.epoch > first.epoch
    assert not a.acquire("a", first.epoch, time.monotonic()).mine


def test_a_claim_needs_the_current_epoch_and_a_later_slot(pair):
    a, b = pair
    old = a.acquire("a", None, time.monotonic()).epoch
    assert a.claim("s", 100, "a", old, -1).result == "won"
    assert a.claim("s", 100, "a", old, -1).result == "taken"
    assert a.claim("s", 99, "a", old, -1).result == "taken"
    assert a.confirm("s", 100, "a", old) and not a.confirm("s", 100, "a", old)
    a.resign("a", old)
    new = b.acquire("b", None, time.monotonic()).epoch
    assert a.claim("s", 101, "a", old, -1).result == "fenced"
    won = b.claim("s", 103, "b", new, -1)
    assert (won.result, won.first, won.missed, won.reason) == ("won", 100, 2, "failover")
    assert not a.confirm("s", 103, "a", old)
    assert b.confirm("s", 103, "b", new)
    record = a.schedules()["s"]
    assert (record.first, record.last, record.fired, record.missed["failover"]) == \
        (100, 103, 2, 2)


def test_gap_reasons_and_an_unconfirmed_slot_count_as_missed(pair):
    a, _ = pair
    epoch = a.acquire("a", None, time.monotonic()).epoch
    a.claim("s", 10, "a", epoch, -1)  # never confirmed: it did not fire
    late = a.claim("s", 12, "a", epoch, -1)
    assert (late.missed, late.reason) == (2, "late")
    a.confirm("s", 12, "a", epoch)
    outage = a.claim("s", 15, "a", epoch, 13)
    assert (outage.missed, outage.reason) == (2, "no_lease")
    record = a.schedules()["s"]
    assert record.fired + record.missed_total == record.last - record.first  # 15 in flight
    assert record.missed == {"failover": 0, "no_lease": 2, "late": 2}


def test_a_silent_holder_loses_the_lease_after_one_lease_not_before(pair):
    a, b = pair
    start = time.monotonic()
    held = a.acquire("a", None, start)
    taken = None
    while time.monotonic() - start < 5 * LEASE:
        grant = b.acquire("b", None, time.monotonic())
        if grant.mine:
            taken = time.monotonic() - start
            break
        time.sleep(0.02)
    assert taken is not None and LEASE <= taken < 2 * LEASE
    assert grant.epoch > held.epoch
    assert a.claim("s", 1, "a", held.epoch, -1).result == "fenced"


def test_member_records_and_their_expiry(pair, engine_server):
    a, b = pair
    a.put_member("a", {"node": "a", "leader": True}, ttl=60)
    b.put_member("b", {"node": "b", "leader": False}, ttl=60)
    assert sorted(m["node"] for m in a.members()) == ["a", "b"]
    if engine_server.kind == "redis":  # etcd leases last at least 2s: too slow to await here
        a.put_member("a", {"node": "a"}, ttl=0.1)
        time.sleep(0.2)
        assert [m["node"] for m in b.members()] == ["b"]


@pytest.mark.parametrize("kind", ["redis", "etcd"])
def test_an_unreachable_engine_is_an_engine_error_within_the_timeout(kind, cluster_name):
    if kind == "redis":
        pytest.importorskip("redis")
    dead = engine(f"{kind}://127.0.0.1:{free_port()}", cluster_name)
    start = time.monotonic()
    with pytest.raises(EngineError):
        dead.acquire("a", None, start)
    assert time.monotonic() - start < 1.0
    dead.close()
