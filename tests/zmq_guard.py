"""Fail the test that leaves a ZeroMQ context or socket open.

A context left open is terminated by the garbage collector at some later moment, in the middle
of another test; `zmq_ctx_term` then waits for ever on a socket with unsent messages and the
default infinite linger, and no timeout can interrupt it. So every context and socket made in
the test process is recorded with the stack that made it; after each test's teardown the ones
that test made and left open are reported as an error of that test. Objects made by a module-
or session-scoped fixture, or at import, are checked at session end. A leaked context is never
terminated here (a socket of it closed with unsent messages would make that wait for ever too):
it is left to the process exit, and one the collector finalises while open is reported against
the test then running. The cost is one stack walk per socket made; no collection is forced.
"""

from __future__ import annotations

import traceback
import weakref
from dataclasses import dataclass, field
from typing import Any

import pytest
import zmq

_STACK_DEPTH = 8
_PYZMQ_OWN = "zmq/utils/garbage.py"
_HIDDEN = ("/pluggy/", "/_pytest/", "/pytest/", "/zmq/", "<frozen", __file__)


@dataclass
class _Made:
    ref: weakref.ref
    kind: str
    stack: list[traceback.FrameSummary]  # outermost first


@dataclass
class _Ledger:
    """What was made while one owner (a test, or the session) was current."""

    made: list[_Made] = field(default_factory=list)
    collected: list[str] = field(default_factory=list)


_session = _Ledger()
_current: list[_Ledger] = [_session]


def _record(obj: Any, kind: str) -> None:
    # Frames only (file, line number, function); source lines are read if it is reported.
    every = traceback.StackSummary.extract(traceback.walk_stack(None), lookup_lines=False)
    if any(f.filename.endswith(_PYZMQ_OWN) for f in every):
        return  # pyzmq's own zero-copy collector: one context for the process, its thread's
    frames = [f for f in every if not any(part in f.filename for part in _HIDDEN)]
    made = _Made(weakref.ref(obj), kind, frames[_STACK_DEPTH - 1::-1])
    object.__setattr__(obj, "_guard_made", made)
    _current[-1].made.append(made)


def _describe(kind: str, obj: Any, stack: list[traceback.FrameSummary]) -> str:
    lines = [f"- {kind} {obj!r}, made at:"]
    lines.extend("    " + line.rstrip().replace("\n", "\n    ")
                 for line in traceback.format_list(stack))
    return "\n".join(lines)


_context_init = zmq.Context.__init__
_socket_init = zmq.Socket.__init__


def _init_context(self, *args, **kwargs) -> None:
    _context_init(self, *args, **kwargs)
    if not self._shadow:
        _record(self, "context")


def _init_socket(self, *args, **kwargs) -> None:
    _socket_init(self, *args, **kwargs)
    if not self._shadow:
        _record(self, "socket")


def _del_context(self) -> None:
    """Report an open context the collector finalises; leave it to the process exit."""
    if self._shadow or self.closed or self.__dict__.get("_guard_reported"):
        return
    made = self.__dict__.get("_guard_made")
    stack = made.stack if made else []
    _current[-1].collected.append(_describe("context (collected)", self, stack))


def _leaks(ledger: _Ledger) -> list[str]:
    """The objects of a ledger still open. They are left as they are (another thread may still
    use them, and closing a socket under it aborts the process); a reported context is only
    marked, so that its finalisation is not reported twice."""
    found = []
    for made in ledger.made:
        obj = made.ref()
        if obj is None or obj.closed or obj is zmq.Context._instance:
            continue
        found.append((made, obj))
    report = [_describe(made.kind, obj, made.stack) for made, obj in found] + ledger.collected
    for made, obj in found:
        if made.kind == "context":
            object.__setattr__(obj, "_guard_reported", True)
    ledger.made.clear()
    ledger.collected.clear()
    return report


def _message(report: list[str]) -> str:
    return "\n".join([f"{len(report)} ZeroMQ object(s) left open:", *report])


def pytest_configure(config: pytest.Config) -> None:
    zmq.Context.__init__ = _init_context
    zmq.Socket.__init__ = _init_socket
    zmq.Context.__del__ = _del_context


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest):
    """What a wider-scoped fixture makes lives beyond the test: it is checked at session end."""
    wide = fixturedef.scope != "function"
    if wide:
        _current.append(_session)
    try:
        return (yield)
    finally:
        if wide:
            _current.pop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    _current.append(_Ledger())
    try:
        return (yield)
    finally:
        _current.pop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    result = yield
    report = _leaks(_current[-1])
    if report:
        pytest.fail(_message(report), pytrace=False)
    return result


_report_key = pytest.StashKey[str]()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    report = _leaks(_session)
    if report:
        session.config.stash[_report_key] = _message(report)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    text = config.stash.get(_report_key, None)
    if text:
        terminalreporter.section("ZeroMQ objects left open by fixtures or imports", red=True)
        terminalreporter.line(text)
