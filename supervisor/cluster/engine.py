"""What the coordinator needs from a coordination engine, and how one is opened.

Two things need consensus and are left to the engine: the lease (who leads, under
which fencing epoch, an integer that only grows) and the per-slot claim. Everything
else (timing, retries, accounting) is ours. `backends.open_engine` imports an engine
only when a `cluster:` section names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from supervisor.cluster.lease import Grant
from supervisor.cluster.slots import ScheduleRecord

CLAIM_RESULTS = ("won", "taken", "fenced")


class EngineError(Exception):
    """The engine did not answer in time, refused the connection, or answered nonsense."""


@dataclass(frozen=True)
class ClaimResult:
    """`won` (fire it), `taken` (the slot is someone's already) or `fenced` (not our lease)."""

    result: str
    first: int = 0
    missed: int = 0
    reason: str = ""


class Engine(Protocol):
    def acquire(self, node: str, epoch: int | None, now: float) -> Grant:
        """Renew our lease (`epoch` known) or try to take a free or expired one."""
        ...

    def resign(self, node: str, epoch: int) -> bool:
        """Give the lease up now so a follower need not wait for it to expire."""
        ...

    def claim(self, schedule: str, slot: int, node: str, epoch: int,
              outage_slot: int) -> ClaimResult:
        """Atomically: still our epoch and the last claimed slot below `slot`, then record it."""
        ...

    def confirm(self, schedule: str, slot: int, node: str, epoch: int) -> bool:
        """Record that our claimed `slot` really fired."""
        ...

    def put_member(self, node: str, record: dict[str, Any], ttl: float) -> None: ...

    def members(self) -> list[dict[str, Any]]: ...

    def schedules(self) -> dict[str, ScheduleRecord]: ...

    def close(self) -> None: ...
