"""Slots of a singleton schedule and the claim rule, as pure functions on plain records.

Slot n of a singleton `every` schedule falls at `anchor + n * interval` with the anchor a
fixed wall-clock instant (the Unix epoch unless configured), so slot n is the same instant
on every node. A slot fires only after a claim that, in one atomic engine operation, finds
the claimer still holding the lease epoch and the schedule's last claimed slot below n.
The Redis engine runs this rule as a Lua script and the etcd engine as a compare-and-swap;
`ScheduleRecord.claim` is the reference both are tested against.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

MISSED_REASONS = ("failover", "no_lease", "late")


def gap_reason(same_epoch: bool, outage_slot: int, last: int) -> str:
    """Why slots after `last` went unfired, as the next claimer sees it.

    The claimer's engine was unreachable after `last` (`outage_slot > last`): nobody
    could hold a lease, `no_lease`. Otherwise a different epoch means the leader
    changed, `failover`; the same epoch means the leader itself let them pass, `late`.
    """
    if outage_slot > last:
        return "no_lease"
    return "late" if same_epoch else "failover"


@dataclass(frozen=True)
class ScheduleRecord:
    """What the engine keeps per singleton schedule; fired + missed covers first..last."""

    first: int
    last: int
    epoch: int
    node: str
    fired: int = 0
    confirmed: int = -1
    missed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MISSED_REASONS, 0))

    @property
    def missed_total(self) -> int:
        return sum(self.missed.values())

    def as_dict(self) -> dict[str, Any]:
        return {"first": self.first, "last": self.last, "epoch": self.epoch, "node": self.node,
                "fired": self.fired, "confirmed": self.confirmed, "missed": dict(self.missed)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScheduleRecord:
        """Read a stored record; ValueError when it is not one."""
        try:
            missed = {r: int(data.get("missed", {}).get(r, 0)) for r in MISSED_REASONS}
            return cls(first=int(data["first"]), last=int(data["last"]),
                       epoch=int(data["epoch"]), node=str(data["node"]),
                       fired=int(data.get("fired", 0)),
                       confirmed=int(data.get("confirmed", -1)), missed=missed)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a schedule record: {exc}") from None

    def claim(self, slot: int, node: str, epoch: int,
              outage_slot: int) -> tuple[ScheduleRecord | None, int, str]:
        """The record after `node` claims `slot`, the slots it counts missed and why.

        None when the slot is taken (the last claimed slot is not below it). The last
        claimed slot counts as missed too when its firing was never confirmed.
        """
        if slot <= self.last:
            return None, 0, ""
        missed = slot - self.last - 1 + (self.confirmed != self.last)
        reason = gap_reason(epoch == self.epoch, outage_slot, self.last)
        counts = dict(self.missed)
        if missed:
            counts[reason] += missed
        return replace(self, last=slot, epoch=epoch, node=node, missed=counts), missed, reason

    def confirm(self, slot: int, node: str, epoch: int) -> ScheduleRecord | None:
        """The record once `slot` is known fired; None unless it is this claim's slot."""
        if (slot, node, epoch) != (self.last, self.node, self.epoch) or self.confirmed == slot:
            return None
        return replace(self, fired=self.fired + 1, confirmed=slot)


def first_claim(slot: int, node: str, epoch: int) -> ScheduleRecord:
    """The record the first claim of a schedule creates."""
    return ScheduleRecord(first=slot, last=slot, epoch=epoch, node=node)


def tick_number(slot: int, first: int) -> int:
    """Tick numbers count slots from the cluster's first claim, whichever node fires."""
    return slot - first
