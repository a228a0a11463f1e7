"""The keepalive reporter's logic with a fake clock, a fake node and a probe the test controls."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from supervisor.tars.conf import Endpoint, parse_server_conf
from supervisor.tars.keepalive import KeepAlive
from supervisor.tars.node import NodeError
from supervisor.tars.standin import StandInNode

NODE = Endpoint("127.0.0.1", 19386, 60000)
ADAPTERS = ["App.Server.ObjAdapter", "App.Server.HttpAdapter"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeNode:
    """Records calls; `down` makes every call fail, `cost` advances the clock per call."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls: list[tuple[Any, ...]] = []
        self.timeouts: list[float | None] = []
        self.down = False
        self.error = NodeError("refused", "tars node tcp -h 127.0.0.1 -p 19386: connection refused")
        self.cost = 0.0
        self.closed = False

    def _call(self, record: tuple[Any, ...], timeout: float | None) -> int:
        self.clock.now += self.cost
        self.timeouts.append(timeout)
        if self.down:
            raise self.error
        self.calls.append(record)
        return 0

    def keep_alive(self, app, server, pid, adapter="", *, timeout=None) -> int:
        return self._call(("keepAlive", app, server, pid, adapter), timeout)

    def report_version(self, app, server, version, *, timeout=None) -> int:
        return self._call(("reportVersion", app, server, version), timeout)

    def close(self) -> None:
        self.closed = True


class Probe:
    def __init__(self) -> None:
        self.alive = True

    def __call__(self) -> bool:
        return self.alive


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def node(clock: Clock) -> FakeNode:
    return FakeNode(clock)


@pytest.fixture
def probe() -> Probe:
    return Probe()


def make(clock: Clock, fake: FakeNode, probe: Probe, **kwargs: Any) -> KeepAlive:
    options: dict[str, Any] = {
        "app": "App",
        "server": "Server",
        "adapters": ADAPTERS,
        "node": NODE,
        "probe": probe,
        "pid": 4321,
        "interval": 30.0,
        "app_version": "zmq-supervisor 0.1.0",
        "client": fake,
        "clock": clock,
        "wall": lambda: 1_700_000_000.0 + clock.now,
    }
    options.update(kwargs)
    return KeepAlive(**options)


def tick(reporter: KeepAlive, clock: Clock) -> None:
    """Move to the next scheduled round and run it."""
    clock.now += reporter.interval
    reporter.poll()


def keepalives(node: FakeNode) -> list[str]:
    return [call[4] for call in node.calls if call[0] == "keepAlive"]


def test_first_round_reports_version_then_every_adapter_and_admin(clock, node, probe) -> None:
    reporter = make(clock, node, probe)
    assert reporter.state == "starting"
    assert reporter.poll() == 30.0
    assert node.calls == [
        ("reportVersion", "App", "Server", "zmq-supervisor 0.1.0"),
        ("keepAlive", "App", "Server", 4321, "App.Server.ObjAdapter"),
        ("keepAlive", "App", "Server", 4321, "App.Server.HttpAdapter"),
        ("keepAlive", "App", "Server", 4321, "AdminAdapter"),
    ]
    assert reporter.state == "ok"
    assert reporter.reports == 1
    assert reporter.last_success == 1_700_000_000.0 + 1000.0


def test_later_rounds_only_keep_alive_and_fall_on_the_interval(clock, node, probe) -> None:
    reporter = make(clock, node, probe)
    reporter.poll()
    node.calls.clear()
    clock.now += 29.9
    assert reporter.poll() == pytest.approx(0.1)
    assert node.calls == []
    clock.now += 0.1
    assert reporter.poll() == 30.0
    assert keepalives(node) == [*ADAPTERS, "AdminAdapter"]
    assert all(call[0] == "keepAlive" for call in node.calls)
    assert reporter.reports == 2


def test_slow_rounds_do_not_drift(clock, node, probe) -> None:
    node.cost = 1.0
    reporter = make(clock, node, probe)
    start = clock.now
    for k in range(1, 4):
        delay = reporter.poll()
        clock.now += delay
        assert clock.now == start + k * 30.0


def test_missed_slots_are_counted_and_skipped(clock, node, probe) -> None:
    reporter = make(clock, node, probe)
    start = clock.now
    reporter.poll()
    clock.now = start + 3.5 * 30.0
    assert reporter.poll() == pytest.approx(15.0)
    assert reporter.missed == 2
    assert reporter.reports == 2


def test_admin_adapter_is_reported_once(clock, node, probe) -> None:
    reporter = make(clock, node, probe, adapters=["AdminAdapter", "A.S.ObjAdapter"])
    assert reporter.adapters == ["A.S.ObjAdapter", "AdminAdapter"]


def test_pauses_while_the_probe_says_no(clock, node, probe, caplog) -> None:
    caplog.set_level(logging.INFO, logger="supervisor.keepalive")
    reporter = make(clock, node, probe)
    reporter.poll()
    node.calls.clear()
    probe.alive = False
    for _ in range(3):
        tick(reporter, clock)
    assert node.calls == []
    assert reporter.state == "paused"
    probe.alive = True
    tick(reporter, clock)
    assert keepalives(node) == [*ADAPTERS, "AdminAdapter"]
    assert reporter.state == "ok"
    messages = [r.getMessage() for r in caplog.records]
    assert sum("paused" in m for m in messages) == 1
    assert sum("resumed" in m for m in messages) == 1


def test_a_probe_that_raises_counts_as_not_alive(clock, node, probe) -> None:
    def broken() -> bool:
        raise RuntimeError("master socket gone")

    reporter = make(clock, node, broken)
    reporter.poll()
    assert (reporter.state, node.calls) == ("paused", [])


def test_nothing_is_sent_before_the_pool_is_up(clock, node, probe) -> None:
    probe.alive = False
    reporter = make(clock, node, probe)
    reporter.poll()
    assert node.calls == []
    probe.alive = True
    tick(reporter, clock)
    assert node.calls[0][0] == "reportVersion"


def test_unreachable_node_logs_once_then_recovery_once(clock, node, probe, caplog) -> None:
    caplog.set_level(logging.INFO, logger="supervisor.keepalive")
    reporter = make(clock, node, probe)
    reporter.poll()
    node.down = True
    for _ in range(4):
        tick(reporter, clock)
    assert reporter.state == "unreachable"
    assert reporter.failures == 4
    assert "connection refused" in (reporter.last_error or "")
    success_before = reporter.last_success
    node.down = False
    tick(reporter, clock)
    assert reporter.state == "ok"
    assert reporter.last_success != success_before
    unreachable = [r for r in caplog.records if "unreachable" in r.getMessage()]
    recovered = [r for r in caplog.records if "recovered" in r.getMessage()]
    assert len(unreachable) == 1 and unreachable[0].levelno == logging.WARNING
    assert "connection refused" in unreachable[0].getMessage()
    assert len(recovered) == 1
    assert reporter.snapshot()["failures"] == 4


def test_a_node_that_does_not_know_the_server_is_named_as_rejecting(
    clock, node, probe, caplog
) -> None:
    node.down = True
    node.error = NodeError("rejected", "keepAlive returned -1 (is the server known to the node?)")
    make(clock, node, probe).poll()
    [record] = caplog.records
    assert "rejected the keepalive" in record.getMessage()


def test_waiting_for_the_pool_at_start_is_not_a_warning(clock, node, probe, caplog) -> None:
    caplog.set_level(logging.INFO, logger="supervisor.keepalive")
    probe.alive = False
    make(clock, node, probe).poll()
    [record] = caplog.records
    assert record.levelno == logging.INFO and "waiting" in record.getMessage()


def test_a_failure_stops_the_round(clock, node, probe) -> None:
    node.down = True
    reporter = make(clock, node, probe)
    reporter.poll()
    assert len(node.timeouts) == 1


def test_report_version_is_retried_until_it_once_succeeds(clock, node, probe) -> None:
    node.down = True
    reporter = make(clock, node, probe)
    reporter.poll()
    node.down = False
    tick(reporter, clock)
    tick(reporter, clock)
    assert reporter.reports == 2
    assert [c[0] for c in node.calls].count("reportVersion") == 1


def test_a_round_never_runs_past_the_call_timeout(clock, node, probe) -> None:
    node.cost = 4.0
    reporter = make(clock, node, probe, interval=10.0, node=Endpoint("n", 1, 10_000))
    reporter.poll()
    assert reporter.call_timeout == 10.0
    assert node.timeouts == [10.0, 6.0, 2.0]
    assert reporter.state == "unreachable"
    assert "ran past 10s" in (reporter.last_error or "")


def test_call_timeout_is_capped_at_the_interval(clock, node, probe) -> None:
    assert make(clock, node, probe, interval=5.0).call_timeout == 5.0
    assert make(clock, node, probe, node=Endpoint("n", 1, 2000)).call_timeout == 2.0


def test_from_conf_takes_adapters_and_node() -> None:
    conf = parse_server_conf(
        "<tars>\n<application>\n<server>\napp=A\nserver=S\n"
        "node=tars.tarsnode.ServerObj@tcp -h 10.0.0.5 -p 19386 -t 60000\n"
        "<A.S.ObjAdapter>\nendpoint=tcp -h 127.0.0.1 -p 1\nservant=A.S.Obj\n</A.S.ObjAdapter>\n"
        "</server>\n</application>\n</tars>\n",
        "A.S.config.conf",
    )
    reporter = KeepAlive.from_conf(conf, probe=lambda: True, pid=1, interval=30.0,
                                   client=FakeNode(Clock()))
    assert (reporter.app, reporter.server) == ("A", "S")
    assert reporter.adapters == ["A.S.ObjAdapter", "AdminAdapter"]
    assert reporter.node == Endpoint("10.0.0.5", 19386, 60000)
    assert (
        reporter.snapshot()["node"] == "tars.tarsnode.ServerObj@tcp -h 10.0.0.5 -p 19386 -t 60000"
    )


def test_rejects_a_non_positive_interval(clock, node, probe) -> None:
    with pytest.raises(ValueError):
        make(clock, node, probe, interval=0)


def test_run_reports_to_a_real_node_until_stopped() -> None:
    with StandInNode() as node:
        reporter = KeepAlive(
            app="App",
            server="Server",
            adapters=["App.Server.ObjAdapter"],
            node=node.endpoint,
            probe=lambda: True,
            pid=99,
            interval=0.1,
        )
        stop = threading.Event()
        thread = threading.Thread(target=reporter.run, args=(stop,))
        thread.start()
        assert node.wait_for(1 + 2 * 3, timeout=5)
        stop.set()
        thread.join(timeout=2)
        assert not thread.is_alive()
    funcs = [call.func for call in node.calls]
    assert funcs[0] == "reportVersion" and funcs.count("reportVersion") == 1
    admin = [c for c in node.calls if c.adapter == "AdminAdapter"]
    assert admin[1].since_last == pytest.approx(0.1, abs=0.08)
    assert reporter.state == "ok"


def test_run_stops_within_the_call_timeout_on_a_silent_node(silent_node: Endpoint) -> None:
    probed = threading.Event()

    def probe() -> bool:
        probed.set()
        return True

    reporter = KeepAlive(
        app="App",
        server="Server",
        adapters=[],
        node=silent_node,
        probe=probe,
        pid=1,
        interval=0.2,
    )
    stop = threading.Event()
    thread = threading.Thread(target=reporter.run, args=(stop,))
    thread.start()
    assert probed.wait(timeout=2)
    stop.set()
    started = time.monotonic()
    thread.join(timeout=2)
    assert not thread.is_alive()
    assert time.monotonic() - started < 0.5
    assert reporter.state in ("starting", "unreachable")
