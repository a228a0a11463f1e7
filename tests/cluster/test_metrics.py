"""The cluster's metrics reach the Prometheus endpoint: claims by result, engine up, leader."""

from __future__ import annotations

from supervisor.ops.metrics import Metrics
from tests.integration.test_metrics import scrape, value


def test_claims_engine_and_leadership_are_exported():
    metrics = Metrics("127.0.0.1:0", list, lambda: 0)
    metrics.start()
    try:
        metrics.cluster_claims("won", 3)
        metrics.cluster_claims("fenced", 1)
        metrics.cluster_claims("won", 0)
        metrics.cluster_state({"engine": "up", "leader": True, "schedules": {"beat": 7}})
        leading = scrape(metrics.url)
        metrics.cluster_state({"engine": "down", "leader": False, "schedules": {"beat": 7}})
        following = scrape(metrics.url)
    finally:
        metrics.close()
    assert value(leading, "supervisor_cluster_claims_total", result="won") == 3
    assert value(leading, "supervisor_cluster_claims_total", result="fenced") == 1
    assert value(leading, "supervisor_cluster_engine_up") == 1
    assert value(leading, "supervisor_cluster_leader", schedule="beat") == 1
    assert value(following, "supervisor_cluster_engine_up") == 0
    assert value(following, "supervisor_cluster_leader", schedule="beat") == 0
    assert metrics.claims == {"won": 3, "fenced": 1}
