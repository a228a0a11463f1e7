"""Starting worker processes on a thread of their own, so the master loop never waits for one.

A start costs a round trip to the forkserver (or a fork, or an exec) that takes
5-50 ms and more on a busy machine: a hundred of them inside the loop froze
requests, ticks and control for seconds. The loop hands starts to this thread
and learns of each one through a wake-up fd it polls.

The thread lives as long as the master: with the fork and spawn start methods
the kernel's parent-death signal follows the thread that started a worker, so
the thread must never end while its workers live. The loop sees the launcher as
one of its services (`supervisor.lifecycle.service`): it hands finished starts
to the slots, and a stopping master waits for the starts under way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from supervisor.lifecycle.spawn import start_child

log = logging.getLogger("supervisor.workers")


@dataclass(frozen=True, slots=True)
class Launched:
    """What became of one start: its process, or None when cancelled or failed (`error`)."""

    ident: bytes
    process: Any
    error: str | None = None


class Launcher:
    name = "worker starts"

    def __init__(self, method: str, window: int, finished: Callable[[float], None]) -> None:
        """At most `window` workers start at once (from their start until `release`);
        `finished(now)` is called on the loop when starts finished (it calls `collect`)."""
        self.method = method
        self.finished = finished
        self.holding: set[bytes] = set()
        self._window = threading.Semaphore(window)
        self.queued: set[bytes] = set()
        self.cancelled: set[bytes] = set()
        self.outstanding = 0
        self._todo: queue.SimpleQueue = queue.SimpleQueue()
        self._done: deque[Launched] = deque()
        self._finished = threading.Condition()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._thread = threading.Thread(target=self._run, name="launcher", daemon=True)
        self._thread.start()

    def fileno(self) -> int:
        """Readable when starts have finished (`collect`)."""
        return self._wake_r

    def submit(self, ident: bytes, target: Callable[..., Any], args: tuple, name: str,
               prepare: Callable[[], None] | None = None) -> None:
        """Start `target(*args)` in a new process, after the starts already submitted;
        `prepare()` runs first, on this thread too (file I/O the worker needs)."""
        self.queued.add(ident)
        self.outstanding += 1
        self._todo.put((ident, target, args, name, prepare))

    def cancel(self, ident: bytes) -> bool:
        """Do not start `ident` if it is still waiting; False when its start has begun."""
        if ident not in self.queued:
            return False
        self.cancelled.add(ident)
        return True

    def release(self, ident: bytes) -> None:
        """`ident` is ready, or gone: the next start may begin."""
        if ident in self.holding:
            self.holding.discard(ident)
            self._window.release()

    def collect(self) -> list[Launched]:
        """The starts that finished since the last call."""
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_r, 4096):
                pass
        finished = []
        while self._done:
            finished.append(self._done.popleft())
        self.outstanding -= len(finished)
        return finished

    def wait(self, timeout: float) -> bool:
        """Wait until every submitted start has finished (collected or not); False on timeout."""
        with self._finished:
            return self._finished.wait_for(
                lambda: len(self._done) >= self.outstanding, timeout)

    # --- as a service of the loop ---

    def sockets(self) -> dict:
        return {}

    def pool_ready(self, now: float) -> None:
        pass

    def after_poll(self, events: dict[Any, int], now: float) -> None:
        if self._wake_r in events:
            self.finished(now)

    def next_deadline(self) -> float | None:
        return None

    def stop(self) -> None:
        pass

    def draining(self) -> bool:
        """Starts under way: the master hears of each before it exits."""
        return self.outstanding > 0

    def close(self) -> None:
        pass

    # --- the thread ---

    def _run(self) -> None:
        while True:
            ident, target, args, name, prepare = self._todo.get()
            if ident not in self.cancelled:
                self._window.acquire()
                self.holding.add(ident)
            self.queued.discard(ident)
            if ident in self.cancelled:
                self.cancelled.discard(ident)
                self.release(ident)
                self._report(Launched(ident, None))
                continue
            try:
                if prepare is not None:
                    prepare()
                process = start_child(self.method, target, *args, name=name)
            except Exception as exc:  # no process: the slot backs off and tries again
                log.debug("starting %s failed", name, exc_info=True)
                self.release(ident)
                self._report(Launched(ident, None, f"{type(exc).__name__}: {exc}"))
            else:
                self._report(Launched(ident, process))

    def _report(self, launched: Launched) -> None:
        with self._finished:
            self._done.append(launched)
            self._finished.notify_all()
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"!")
