"""Which handlers a request may wait behind: the per-handler duration estimate.

A worker may hold more than the request it runs (`pool.pipeline`), so its next
request is already there when the current one ends. A request prefetched behind
a slow one would wait although another worker may soon be free, so the pool only
prefetches behind handlers whose recent p90 is under `pool.prefetch_below`.

The p90 test is kept as an exponentially weighted share of recent calls that took
longer than the threshold: p90 < threshold exactly when fewer than 10 % of calls
are slower. A handler is not trusted before it has been measured a few times.
"""

from __future__ import annotations

# Weight of the newest call in the running share of slow calls (about the last 20 calls).
_WEIGHT = 0.05
# Calls measured before a handler may be waited behind.
_TRUSTED_AFTER = 4
# The share of slow calls above which a handler counts as slow (its p90 is over the bar).
_SLOW_SHARE = 0.1


class Durations:
    """Per-handler share of slow calls; `fast` holds the handlers a request may wait behind."""

    __slots__ = ("_calls", "_slow", "fast", "threshold")

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._slow: dict[bytes, float] = {}
        self._calls: dict[bytes, int] = {}
        self.fast: set[bytes] = set()

    def record(self, handler: bytes, seconds: float, count: int = 1) -> None:
        """One call (or a chunk of `count` calls) of `handler` ran for `seconds` in all."""
        slow = 1.0 if seconds > self.threshold * count else 0.0
        share = self._slow.get(handler)
        share = slow if share is None else share + _WEIGHT * (slow - share)
        self._slow[handler] = share
        calls = self._calls[handler] = self._calls.get(handler, 0) + 1
        if share < _SLOW_SHARE and calls >= _TRUSTED_AFTER:
            self.fast.add(handler)
        else:
            self.fast.discard(handler)

    def snapshot(self) -> dict[str, dict[str, float]]:
        """For `status`: each handler's share of slow calls and whether it is prefetched behind."""
        return {h.decode("utf-8", "replace"): {"slow_share": round(self._slow[h], 3),
                                                "prefetch": h in self.fast}
                for h in self._slow}
