"""The launcher thread: starts in order, a few at a time, cancellable until they begin; and
the exit of what it started is seen, however early it comes."""

from __future__ import annotations

import multiprocessing
import os
import select
import signal

import pytest

from supervisor.lifecycle import launcher
from supervisor.lifecycle.launcher import Launcher
from supervisor.lifecycle.processes import watch_exit


@pytest.fixture
def started(monkeypatch) -> list[str]:
    names: list[str] = []
    monkeypatch.setattr(launcher, "start_child",
                        lambda method, target, *args, name: names.append(name) or name)
    return names


def _collect(starts: Launcher) -> dict[bytes, object]:
    assert starts.wait(5.0)
    return {done.ident: done.process for done in starts.collect()}


def test_starts_run_in_order_and_report_their_process(started):
    starts = Launcher("fork", 10, print)
    for name in ("a", "b", "c"):
        starts.submit(name.encode(), print, (), name)
    assert _collect(starts) == {b"a": "a", b"b": "b", b"c": "c"}
    assert started == ["a", "b", "c"]


def test_at_most_window_starts_run_until_one_is_released(started):
    starts = Launcher("fork", 1, print)
    starts.submit(b"a", print, (), "a")
    starts.submit(b"b", print, (), "b")
    assert not starts.wait(0.2) and started == ["a"]
    starts.release(b"a")
    assert _collect(starts) == {b"a": "a", b"b": "b"}


def test_a_start_cancelled_while_waiting_never_happens(started):
    starts = Launcher("fork", 1, print)
    starts.submit(b"a", print, (), "a")
    starts.submit(b"b", print, (), "b")
    assert starts.cancel(b"b")
    starts.release(b"a")
    assert _collect(starts) == {b"a": "a", b"b": None}
    assert started == ["a"]
    assert not starts.cancel(b"a")  # begun: too late to cancel


def test_a_failed_start_reports_its_error_and_frees_the_window(monkeypatch):
    def fail(*args, name):
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(launcher, "start_child", fail)
    starts = Launcher("fork", 1, print)
    starts.submit(b"a", print, (), "a")
    starts.submit(b"b", print, (), "b")
    assert starts.wait(5.0)
    errors = {done.ident: done.error for done in starts.collect()}
    assert errors == {b"a": "OSError: [Errno 24] Too many open files",
                      b"b": "OSError: [Errno 24] Too many open files"}


def test_the_exit_of_a_process_gone_before_it_is_watched_is_seen():
    """A forkserver reaps its children itself: one killed before the master watches it has
    no pid left to open, and its exit must be seen all the same."""
    process = multiprocessing.get_context("forkserver").Process(target=signal.pause)
    process.start()
    os.kill(process.pid, signal.SIGKILL)
    process.join(5)
    fd = watch_exit(process)
    try:
        assert select.select([fd], [], [], 5)[0] == [fd]
    finally:
        os.close(fd)
