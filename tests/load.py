"""Client processes that keep a master busy and count how every request ended."""

from __future__ import annotations

import multiprocessing
from collections import Counter

from supervisor import Client
from supervisor.errors import SupervisorError


def _run(endpoint: str, handler: str, stop, running, results, timeout: float) -> None:
    outcomes: Counter = Counter()
    pids: Counter = Counter()
    with Client(endpoint) as client:
        while not stop.is_set():
            if sum(outcomes.values()) == 1:
                running.release()
            try:
                reply = client.exec(handler, b"x", timeout=timeout)
            except SupervisorError as exc:
                outcomes[type(exc).__name__] += 1
            else:
                outcomes["ok"] += 1
                if handler == "whoami":
                    pids[reply] += 1
    results.put((dict(outcomes), dict(pids)))


class Load:
    """`clients` processes sending `handler` requests one after another until `stop()`.

    A request that sees no answer within `timeout` is counted as `ExecTimeout`: a hang.
    """

    def __init__(self, endpoint: str, clients: int = 2, handler: str = "echo",
                 timeout: float = 10.0) -> None:
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._running = context.Semaphore(0)
        self._results = context.Queue()
        self._procs = [context.Process(target=_run, args=(endpoint, handler, self._stop,
                                                          self._running, self._results, timeout))
                       for _ in range(clients)]
        for proc in self._procs:
            proc.start()

    def wait_running(self, timeout: float = 30.0) -> Load:
        """Block until every client has had at least one answer."""
        for _ in self._procs:
            if not self._running.acquire(timeout=timeout):
                raise AssertionError("a load client got no answer")
        return self

    def stop(self, timeout: float = 30.0) -> tuple[Counter, Counter]:
        self._stop.set()
        outcomes: Counter = Counter()
        pids: Counter = Counter()
        for _ in self._procs:
            done, seen = self._results.get(timeout=timeout)
            outcomes.update(done)
            pids.update(seen)
        for proc in self._procs:
            proc.join(timeout)
        return outcomes, pids

    def terminate(self) -> None:
        for proc in self._procs:
            if proc.is_alive():
                proc.kill()
            proc.join(5)


def _pipelined(endpoint: str, handler: str, prefix: str, window: int, stop, running,
               results, timeout: float) -> None:
    """Keep `window` requests in flight with unique bodies; report each id's outcome."""
    from collections import deque

    outcomes: dict[str, str] = {}
    with Client(endpoint) as client:
        in_flight: deque = deque()
        sequence = 0
        while not stop.is_set() or in_flight:
            while not stop.is_set() and len(in_flight) < window:
                body = f"{prefix}-{sequence}"
                sequence += 1
                in_flight.append((body, client.submit(handler, body, timeout=timeout)))
            body, future = in_flight.popleft()
            try:
                reply = future.result()
                outcomes[body] = "ok" if reply == body.encode() else f"wrong:{reply[:40]!r}"
            except SupervisorError as exc:
                outcomes[body] = type(exc).__name__
            if len(outcomes) == 1:
                running.release()
    results.put(outcomes)


class PipelinedLoad:
    """`clients` processes, each keeping `window` requests in flight through `Client.submit`.

    Every request body is a unique id; `stop()` returns {id: outcome} for all of them.
    """

    def __init__(self, endpoint: str, clients: int = 2, handler: str = "record_id",
                 window: int = 32, timeout: float = 10.0) -> None:
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._running = context.Semaphore(0)
        self._results = context.Queue()
        self._procs = [context.Process(target=_pipelined, args=(
            endpoint, handler, f"c{i}", window, self._stop, self._running, self._results,
            timeout)) for i in range(clients)]
        for proc in self._procs:
            proc.start()

    wait_running = Load.wait_running
    terminate = Load.terminate

    def stop(self, timeout: float = 30.0) -> dict[str, str]:
        self._stop.set()
        outcomes: dict[str, str] = {}
        for _ in self._procs:
            outcomes.update(self._results.get(timeout=timeout))
        for proc in self._procs:
            proc.join(timeout)
        return outcomes
