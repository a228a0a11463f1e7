"""What the pool keeps for each request and each worker (plain records, no behaviour but views)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from supervisor.pool.states import State


class Origin(Protocol):
    """Whom a request answers to (a client, a tick): it knows how to deliver the outcome."""

    def answered(self, request: Request, ok: bool, body: bytes, now: float) -> None:
        """The handler returned (`ok`) or raised; `body` is its result or error."""

    def failed(self, request: Request, code: str, message: str) -> None:
        """The pool could not run the request to an answer (`code` names the typed error)."""


@dataclass(slots=True, eq=False)
class Request:
    """A request on its way through the pool; `origin` says whom to answer.

    `count` is how many bodies it carries (a chunk runs each on the same worker);
    `deadline` is when its caller stops waiting (0: never), after which it is not
    started; `seq` is its place in its worker's stream once dispatched; `frame` is
    the request as the wire carries it, when it came that way (then `body` and
    `context` are left empty: they are inside it).
    """

    origin: Origin
    handler: bytes
    body: bytes
    context: bytes
    arrived: float
    started: float = 0.0
    count: int = 1
    chunk: bool = False
    deadline: float = 0.0
    seq: int = 0
    size: int = 0
    frame: bytes = b""
    blocking: bool = False


@dataclass(slots=True, eq=False)
class Worker:
    id: int
    ident: bytes
    started: float
    state: State = State.STARTING
    pid: int | None = None
    jobs: int = 0
    held: deque[Request] = field(default_factory=deque)
    sent: int = 0
    blocking: int = 0  # held requests of handlers not measured fast when they were sent
    holding: int = 0  # bodies held (a chunk holds many)
    last_active: float = 0.0
    ready_at: float = 0.0
    max_jobs: int = 0
    job_ceiling: int = 0

    @property
    def request(self) -> Request | None:
        """The request it runs (the oldest it holds), if any."""
        return self.held[0] if self.held else None

    @property
    def standby(self) -> bool:
        """A warm successor that serves nothing until activated."""
        return self.state in (State.WARMING, State.STANDBY)

    @property
    def retiring(self) -> bool:
        """Out of rotation: stops once idle."""
        return self.state in (State.RETIRING, State.STOPPING)
