"""Lease arithmetic: how long a holder may act, when to renew, when a silent holder is gone.

A holder acts only until `sent + lease - margin`, counted from when it *sent* the
acquiring or renewing request: the engine starts its own count on receipt, later, so
the holder always stops first. The margin covers clocks that run at slightly different
rates on different hosts (NTP keeps them within 500 ppm; the margin is 5 %).
"""

from __future__ import annotations

from dataclasses import dataclass


def margin(lease: float) -> float:
    return lease / 20


def valid_until(sent: float, lease: float) -> float:
    """The local end of a lease granted or renewed by a request sent at `sent` (monotonic)."""
    return sent + lease - margin(lease)


@dataclass(frozen=True)
class Grant:
    """One acquire-or-renew answer: who holds the lease, with which epoch, and for us until when.

    `retry_in` is when a follower should look again (the engine's remaining time for
    the current holder, when it knows it).
    """

    holder: str | None
    epoch: int
    mine: bool
    retry_in: float | None = None


class SilenceWatch:
    """For engines without server-side expiry (etcd here): a holder is gone after `lease`
    of silence, measured on our own clock from when we first saw its latest write.

    The write happened before we saw it, so our count starts late, never early: a
    holder that stopped renewing has lost its own lease before we take over.
    """

    def __init__(self, lease: float) -> None:
        self.lease = lease
        self.revision: int | None = None
        self.seen_at = 0.0

    def observe(self, revision: int, now: float) -> None:
        if revision != self.revision:
            self.revision, self.seen_at = revision, now

    def silent(self, now: float) -> bool:
        return self.revision is not None and now - self.seen_at >= self.lease

    def takeover_in(self, now: float) -> float:
        return max(0.0, self.seen_at + self.lease - now)

    def forget(self) -> None:
        self.revision = None
