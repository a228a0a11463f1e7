"""The worker state machine: every move in the table is legal, every other one raises."""

from __future__ import annotations

import itertools

import pytest

from supervisor.pool.allocator import Worker
from supervisor.pool.states import TRANSITIONS, IllegalTransition, State, move

LEGAL = [(start, end) for start, ends in TRANSITIONS.items() for end in sorted(
    ends, key=lambda s: s.value)]
ILLEGAL = [(start, end) for start, end in itertools.product(State, State)
           if end not in TRANSITIONS[start]]


@pytest.mark.parametrize(("start", "end"), LEGAL, ids=lambda s: s.value)
def test_every_legal_transition_moves(start, end):
    worker = Worker(0, b"w", 0.0, start)
    move(worker, end)
    assert worker.state is end


@pytest.mark.parametrize(("start", "end"), ILLEGAL, ids=lambda s: s.value)
def test_every_illegal_transition_raises(start, end):
    worker = Worker(0, b"w", 0.0, start)
    with pytest.raises(IllegalTransition, match=f"{start.value} -> {end.value}"):
        move(worker, end)
    assert worker.state is start


def test_every_state_is_in_the_table_and_stopping_is_final():
    assert set(TRANSITIONS) == set(State)
    assert TRANSITIONS[State.STOPPING] == frozenset()


def test_flags_derive_from_the_state():
    assert Worker(0, b"w", 0.0, State.WARMING).standby
    assert Worker(0, b"w", 0.0, State.STANDBY).standby
    assert Worker(0, b"w", 0.0, State.RETIRING).retiring
    assert not Worker(0, b"w", 0.0, State.WORKING).retiring


def test_status_shows_four_kinds():
    assert {state.shown for state in State} == {"starting", "ready", "working", "stopping"}
