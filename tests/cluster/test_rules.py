"""Pure rules of the cluster package: config section, slots and claims, leases, fleet, failover."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from supervisor.cluster import fleet
from supervisor.cluster.lease import SilenceWatch, valid_until
from supervisor.cluster.slots import ScheduleRecord, first_claim, gap_reason
from supervisor.config.cluster import anchor, parse_cluster
from supervisor.errors import ConfigError
from supervisor.failover import Backoff, choose
from supervisor.tars import settings
from tests.support import base_config

# --- the config section ---


def test_a_cluster_section_is_checked_into_seconds():
    section = parse_cluster({"backend": "redis://10.0.0.5:6380/2", "name": "app.Server",
                             "node_id": "host-1", "lease": "3s", "claim_ahead": "50ms"}, "/r")
    assert (section.kind, section.host, section.port, section.db) == ("redis", "10.0.0.5",
                                                                      6380, 2)
    assert (section.lease, section.timeout, section.claim_ahead) == (3.0, 0.3, 0.05)
    assert section.renew_every == 1.0 and section.on_engine_loss == "stop"
    assert parse_cluster({"backend": "etcd://[::1]:2379"}, "/r").host == "::1"
    assert parse_cluster({"backend": "etcd://h:1"}, "/a").node_id != \
        parse_cluster({"backend": "etcd://h:1"}, "/b").node_id


@pytest.mark.parametrize(("raw", "message"), [
    ({"backend": "mysql://h:1"}, "cluster.backend: expected redis://HOST:PORT"),
    ({"backend": "etcd://h:2379/1"}, "cluster.backend: etcd takes no /DB"),
    ({"backend": "redis://h:1", "lease": "1s", "timeout": "500ms"},
     "cluster.timeout: expected at most a third of the lease"),
    ({"backend": "redis://h:1", "on_engine_loss": "panic"}, "cluster.on_engine_loss:"),
    ({"backend": "redis://h:1", "leese": "1s"}, "cluster.leese: unknown key"),
    ({"backend": "redis://h:1", "node_id": "a b"}, "cluster.node_id: expected letters"),
    ({"backend": "redis://h:1", "lease": "100ms"}, "cluster.lease: expected at least 300ms"),
])
def test_a_bad_cluster_section_names_its_key(raw, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        parse_cluster(raw, "/r")


def test_an_anchor_is_unix_seconds_or_a_time_with_an_offset():
    assert anchor(60) == 60.0
    assert anchor("1970-01-01T00:01:00+00:00") == 60.0
    with pytest.raises(ValueError, match="with an offset"):
        anchor("1970-01-01T00:01:00")


def _load(tmp_path, **overrides):
    path = tmp_path / "supervisor.yaml"
    path.write_text(yaml.safe_dump(base_config(tmp_path / "run", **overrides)))
    return settings.load(path, environ={})


@pytest.mark.parametrize(("overrides", "message"), [
    ({"ticker": {"handler": "echo", "singleton": True}},
     "cluster: schedule 'ticker' is singleton: expected a cluster section"),
    ({"schedules": [{"name": "s", "handler": "echo", "cron": "0 * * * * *", "singleton": True}],
      "cluster": {"backend": "redis://h:1", "name": "x"}},
     r"schedules\[0\].singleton: singleton schedules need 'every'"),
    ({"schedules": [{"name": "s", "handler": "echo", "every": "1s", "anchor": 5}]},
     r"schedules\[0\].anchor: only a singleton schedule takes an anchor"),
    ({"cluster": {"backend": "redis://h:1"}}, "cluster.name: expected a name"),
    ({"cluster": {"backend": "redis://h:1", "name": "x", "lease": "soon"}},
     "cluster.lease: expected a duration"),
])
def test_the_loader_refuses_a_singleton_without_a_usable_cluster(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, **overrides)


def test_a_singleton_schedule_with_its_anchor_loads(tmp_path):
    config = _load(tmp_path, schedules=[{"name": "s", "handler": "echo", "every": "250ms",
                                         "singleton": True, "anchor": 1.5}],
                   cluster={"backend": "etcd://127.0.0.1:2379", "name": "x"})
    assert config.schedules[0].singleton and config.schedules[0].anchor == 1.5
    assert config.cluster.kind == "etcd" and config.cluster.name == "x"


# --- slots and claims ---


def test_a_claim_needs_a_later_slot_and_counts_the_gap_once():
    record = first_claim(10, "a", 1)
    assert record.claim(10, "b", 2, -1)[0] is None
    assert record.claim(9, "b", 2, -1)[0] is None
    confirmed = record.confirm(10, "a", 1)
    assert confirmed.fired == 1 and confirmed.confirm(10, "a", 1) is None
    assert record.confirm(10, "b", 1) is None
    after, missed, reason = confirmed.claim(13, "b", 2, -1)
    assert (after.last, after.node, after.epoch, missed, reason) == (13, "b", 2, 2, "failover")
    _unconfirmed, missed, reason = record.claim(11, "a", 1, -1)
    assert (missed, reason) == (1, "late")  # slot 10 was claimed but never fired


def test_the_gap_reason_prefers_an_outage_of_the_claimer():
    assert gap_reason(same_epoch=False, outage_slot=12, last=10) == "no_lease"
    assert gap_reason(same_epoch=True, outage_slot=12, last=10) == "no_lease"
    assert gap_reason(same_epoch=False, outage_slot=9, last=10) == "failover"
    assert gap_reason(same_epoch=True, outage_slot=-1, last=10) == "late"


@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from("abc"), st.integers(1, 4),
                          st.booleans()), min_size=1, max_size=40))
def test_fired_plus_missed_always_covers_the_claimed_range(steps):
    record, slot = None, 100
    for step, node, epoch, fire in steps:
        slot += step
        if record is None:
            record = first_claim(slot, node, epoch)
        else:
            updated, _, _ = record.claim(slot, node, epoch, -1)
            record = updated or record
        if fire:
            record = record.confirm(record.last, record.node, record.epoch) or record
        in_flight = int(record.confirmed != record.last)
        assert record.fired + record.missed_total + in_flight == record.last - record.first + 1
    assert ScheduleRecord.from_dict(record.as_dict()) == record


def test_a_stored_record_that_is_not_one_is_refused():
    with pytest.raises(ValueError, match="not a schedule record"):
        ScheduleRecord.from_dict({"first": "x"})


# --- leases ---


def test_a_holder_stops_before_the_engine_lets_anyone_else_in():
    assert valid_until(100.0, 1.0) == pytest.approx(100.95)
    watch = SilenceWatch(1.0)
    assert not watch.silent(0.0)
    watch.observe(7, 10.0)
    watch.observe(7, 10.6)  # the same write seen again: silence still counts from 10.0
    assert not watch.silent(10.99) and watch.silent(11.0)
    watch.observe(8, 11.2)
    assert watch.takeover_in(11.7) == pytest.approx(0.5)


# --- the fleet view ---


def test_the_fleet_flags_a_schedule_without_exactly_one_leader():
    record = ScheduleRecord(first=1, last=9, epoch=3, node="b", fired=7, confirmed=9,
                            missed={"failover": 1, "no_lease": 0, "late": 0})
    members = [{"node": "a", "leader": False, "schedules": {"s": None, "t": None}},
               {"node": "b", "leader": True, "epoch": 3, "schedules": {"s": 9, "t": None},
                "updated": 0.0}]
    summary = fleet.summarize("app", members, {"s": record})
    assert summary["healthy"]
    assert summary["schedules"]["s"]["leader"] == "b"
    assert summary["schedules"]["s"]["missed_total"] == 1
    members[0]["leader"] = True
    split = fleet.summarize("app", members, {"s": record})
    assert not split["healthy"] and split["schedules"]["s"]["leaders"] == ["a", "b"]
    assert "SEVERAL LEADERS: a, b" in fleet.render(split, now=1.0)
    alone = fleet.summarize("app", members[:0], {"s": record})
    assert not alone["healthy"] and "NO LEADER" in fleet.render(alone)


# --- failover choices ---


def test_round_robin_prefers_connected_rested_masters():
    eps = ["a", "b", "c"]
    assert choose(eps, 1, {"a", "b", "c"}, set(), set()) == "b"
    assert choose(eps, 1, {"a", "c"}, set(), set()) == "c"
    assert choose(eps, 0, {"a", "c"}, {"a"}, set()) == "c"
    assert choose(eps, 0, set(), {"a"}, {"b"}) == "c"
    assert choose(eps, 0, set(), {"a", "b", "c"}, {"a", "b"}) == "c"
    assert choose(eps, 0, set(), set(), {"a", "b", "c"}) is None


def test_backoff_doubles_to_its_cap_and_forgets_on_success():
    backoff = Backoff(first=0.2, cap=1.0)
    for _ in range(5):
        backoff.failed("a", 0.0)
    assert backoff.resting("a", 0.99) and not backoff.resting("a", 1.0)
    backoff.succeeded("a")
    assert not backoff.resting("a", 0.0)
