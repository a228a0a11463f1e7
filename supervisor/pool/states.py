"""A worker's states and the one table of moves between them; `move` is the only writer.

    STARTING --ready--> READY | WORKING          WARMING --ready--> STANDBY
    WARMING --activate--> STARTING               STANDBY --activate--> READY | WORKING
    READY --assign--> WORKING                    WORKING --done--> READY | WORKING
    WORKING --retire--> RETIRING                 RETIRING --done--> STOPPING
    any but STOPPING --retire, cap, abandon--> STOPPING

A standby successor (max_jobs recycling) is WARMING while it starts and STANDBY once
ready: warm, serving nothing, until its predecessor reaches its job cap. A worker
retired while it runs a request is RETIRING: it finishes that request, then stops.
"""

from __future__ import annotations

import enum
from typing import Any


class State(enum.Enum):
    STARTING = "starting"
    WARMING = "warming"
    STANDBY = "standby"
    READY = "ready"
    WORKING = "working"
    RETIRING = "retiring"
    STOPPING = "stopping"

    @property
    def shown(self) -> str:
        """The state as `status`, `workers` and the metrics show it (four kinds)."""
        return _SHOWN.get(self, self.value)


_SHOWN = {State.WARMING: "starting", State.STANDBY: "ready", State.RETIRING: "working"}

TRANSITIONS: dict[State, frozenset[State]] = {
    State.STARTING: frozenset({State.READY, State.WORKING, State.STOPPING}),
    State.WARMING: frozenset({State.STANDBY, State.STARTING, State.STOPPING}),
    State.STANDBY: frozenset({State.READY, State.WORKING, State.STOPPING}),
    State.READY: frozenset({State.WORKING, State.STOPPING}),
    State.WORKING: frozenset({State.READY, State.WORKING, State.RETIRING, State.STOPPING}),
    State.RETIRING: frozenset({State.STOPPING}),
    State.STOPPING: frozenset(),
}

# Workers whose process is up and in the pool's service (or about to take over).
UP = (State.READY, State.WORKING, State.STANDBY, State.RETIRING)
# Workers running a request.
BUSY = (State.WORKING, State.RETIRING)


class IllegalTransition(RuntimeError):
    """A move the table does not allow: a bug in the pool's logic, never a runtime condition."""


def move(worker: Any, to: State) -> None:
    """Set `worker.state` to `to`, or raise IllegalTransition."""
    if to not in TRANSITIONS[worker.state]:
        raise IllegalTransition(f"worker {worker.id} ({worker.ident!r}): "
                                f"{worker.state.value} -> {to.value}")
    worker.state = to
