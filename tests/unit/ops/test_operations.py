"""Operations against a stand-in for the master: commands call the verbs, state is derived."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from supervisor.ops.control import CommandError
from supervisor.ops.operations import Operations
from supervisor.pool.allocator import Pool
from tests.fakes import make_config


class Controls(SimpleNamespace):
    """The master as Operations sees it: a few facts and the verbs, which record their calls."""

    def __init__(self, tmp_path) -> None:
        super().__init__(config=make_config(tmp_path), context=None, poller=None,
                         pool=Pool(0, 60.0),
                         workers=SimpleNamespace(size=2, processes={}, degraded=False,
                                                 last_failure=""),
                         stopping=False, ready_announced=False, calls=[])

    def stop(self, graceful: bool) -> None:
        self.calls.append(("stop", graceful))

    def reset(self) -> None:
        self.calls.append(("reset",))

    def scale(self, delta: int) -> None:
        self.calls.append(("scale", delta))


@pytest.fixture
def master(tmp_path) -> Controls:
    return Controls(tmp_path)


def test_scale_commands_call_the_verb_with_the_change(master):
    ops = Operations(master)
    ops.cmd_scale({"delta": 2})
    ops.cmd_scale({"workers": 1})
    assert master.calls == [("scale", 2), ("scale", -1)]


@pytest.mark.parametrize("args", [{}, {"delta": "2"}, {"delta": True}, {"workers": 0},
                                  {"workers": 5000}, {"delta": 1, "workers": 2}])
def test_scale_refuses_bad_arguments(master, args):
    with pytest.raises(CommandError) as caught:
        Operations(master).cmd_scale(args)
    assert caught.value.code == "BadRequest" and master.calls == []


def test_stop_commands_are_the_stop_verb(master):
    ops = Operations(master)
    ops.cmd_stop({})
    ops.cmd_stop({"immediate": True})
    assert master.calls == [("stop", True), ("stop", False)]
    with pytest.raises(CommandError):
        ops.cmd_stop({"immediate": "yes"})


def test_reset_and_scale_are_refused_while_stopping(master):
    master.stopping = True
    ops = Operations(master)
    for command in (ops.cmd_reset, lambda args: ops.cmd_scale({"delta": 1})):
        with pytest.raises(CommandError) as caught:
            command({})
        assert caught.value.code == "NotRunning"
    assert master.calls == []


def test_state_follows_the_master(master):
    ops = Operations(master)
    assert ops.state() == "starting"
    master.ready_announced = True
    assert ops.state() == "running"
    master.workers.degraded = True
    assert ops.state() == "degraded"
    master.stopping = True
    assert ops.state() == "stopping"


def test_status_reports_health_and_added_sections(master):
    ops = Operations(master)
    ops.add_status("extra", lambda: {"answer": 42})
    master.ready_announced = True
    status = ops.cmd_status({})
    assert (status["state"], status["healthy"], status["extra"]) == ("running", True,
                                                                     {"answer": 42})
    assert status["pool"]["size"] == 2 and status["queue"] == 0


def test_added_commands_are_served(master):
    ops = Operations(master)
    ops.add_command("keepalive", lambda args: {"alive": 1})
    assert ops.commands["keepalive"]({}) == {"alive": 1}
