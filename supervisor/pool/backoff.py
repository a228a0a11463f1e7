"""Restart delays for a slot whose worker keeps failing: pure arithmetic, no processes."""

from __future__ import annotations


class Backoff:
    """Restart delays for a slot whose worker keeps dying: capped exponential, reset on success."""

    def __init__(self, first: float = 0.1, cap: float = 10.0) -> None:
        self.first = first
        self.cap = cap
        self.failures: dict[int, int] = {}

    def failed(self, slot: int) -> float:
        """Record one more failure of `slot`; return how long to wait before the next start."""
        count = self.failures.get(slot, 0) + 1
        self.failures[slot] = count
        return min(self.first * 2 ** (count - 1), self.cap)

    def succeeded(self, slot: int) -> None:
        self.failures.pop(slot, None)

    def failing(self) -> int:
        """How many slots are in a failure streak (the pool is degraded while any is)."""
        return len(self.failures)
