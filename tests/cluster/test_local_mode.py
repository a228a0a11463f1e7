"""`on_engine_loss: local`: while the engine is paused every node fires, ticks marked degraded."""

from __future__ import annotations

import time

import pytest

from tests.cluster.harness import LEASE, Cluster, doubles

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=["redis", "etcd"])
def local_cluster(request, engine_servers):
    group = Cluster(engine_servers(request.param),
                    f"local-{request.param}-{time.monotonic_ns() % 10**6}",
                    on_engine_loss="local")
    yield group
    group.stop()


def test_every_node_fires_degraded_while_the_engine_is_away(local_cluster):
    cluster = local_cluster
    cluster.wait_fired(2)
    cluster.server.pause()
    paused_at = time.time()
    try:
        cluster.wait_entries(lambda e: {x["node"] for x in e if x["degraded"]} ==
                             {n.name for n in cluster.nodes}, timeout=3 * LEASE)
    finally:
        cluster.server.resume()
    resumed_at = time.time()
    entries = cluster.wait_entries(
        lambda e: sum(1 for x in e if x["at"] > resumed_at + LEASE and not x["degraded"]) >= 4,
        timeout=10)
    degraded = [x for x in entries if x["degraded"]]
    assert all(paused_at < x["at"] < resumed_at + LEASE for x in degraded)
    assert all(x["epoch"] is None for x in degraded)
    settled = [x for x in entries if x["at"] > resumed_at + LEASE]
    assert not any(x["degraded"] for x in settled)
    assert len({x["node"] for x in settled}) == 1
    assert doubles(entries) == []
