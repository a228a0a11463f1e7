"""Client processes that drive a master: raw pipelined sockets, the public `Client`, mixed load.

`Drivers` starts its processes once, so no measurement pays for a process start;
each command runs in every driver that is asked, starting together at an agreed
instant, and returns what the harness needs (the end time, or latencies).
"""

from __future__ import annotations

import multiprocessing
import random
import time
from typing import Any

import zmq

from supervisor import wire

WINDOW = 64
PROCESSES = 4
_SPAWN = multiprocessing.get_context("spawn")


def _wait_until(start_at: float) -> None:
    while time.perf_counter() < start_at:
        time.sleep(0.0005)


def raw(endpoint: str, handler: bytes, body: bytes, count: int, start_at: float,
        envelope: bool = True) -> float:
    """Keep WINDOW requests in flight on a bare DEALER (wire version 2 requests, or bare
    bodies for the C floor when `envelope` is off); return the end time."""
    context = zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.sndhwm = sock.rcvhwm = 0
    sock.linger = 0
    sock.connect(endpoint)
    frames = [wire.request(wire.CALL, i + 1, handler, body) if envelope else body
              for i in range(count)]
    send, recv = sock.send, sock.recv_multipart
    _wait_until(start_at)
    sent = min(WINDOW, count)
    for frame in frames[:sent]:
        send(frame)
    answered = 0
    while answered < count:
        got = len(recv())
        answered += got
        for _ in range(got):
            if sent < count:
                send(frames[sent])
                sent += 1
    end = time.perf_counter()
    sock.close()
    context.term()
    return end


def public(endpoint: str, handler: str, body: bytes, count: int, start_at: float,
           chunksize: int = 1) -> float:
    """`Client.map` over `count` bodies; return the end time."""
    from supervisor import Client

    with Client(endpoint) as client:
        client.exec("echo", b"warm")
        _wait_until(start_at)
        for _ in client.map(handler, [body] * count, chunksize=chunksize):
            pass
        return time.perf_counter()


def mixed(endpoint: str, count: int, window: int, slow_share: float,
          seed: int = 7) -> list[float]:
    """`window` requests in flight, a share of them to the 50 ms handler; the echo requests'
    latencies in seconds."""
    context = zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.sndhwm = sock.rcvhwm = 0
    sock.linger = 0
    sock.connect(endpoint)
    rng = random.Random(seed)
    kinds = [b"slow" if rng.random() < slow_share else b"echo" for _ in range(count)]
    sent_at: dict[int, float] = {}
    latencies = []
    clock = time.perf_counter

    def send(index: int) -> None:
        sent_at[index + 1] = clock()
        sock.send(wire.request(wire.CALL, index + 1, kinds[index], b"{}"))

    sent = min(window, count)
    for index in range(sent):
        send(index)
    answered = 0
    while answered < count:
        frames = sock.recv_multipart()
        now = clock()
        for frame in frames:
            req_id = wire.ANSWER.unpack_from(frame)[2]
            if kinds[req_id - 1] == b"echo":
                latencies.append(now - sent_at[req_id])
            answered += 1
            if sent < count:
                send(sent)
                sent += 1
    sock.close()
    context.term()
    return latencies


_COMMANDS = {"raw": raw, "public": public, "mixed": mixed}


def _main(conn: Any) -> None:
    while (command := conn.recv()) is not None:
        name, args = command
        conn.send(_COMMANDS[name](*args))


class Drivers:
    """PROCESSES driver processes; `rate` and `call` run a command in some of them."""

    def __init__(self) -> None:
        self.conns, self.processes = [], []
        for _ in range(PROCESSES):
            parent, child = _SPAWN.Pipe()
            process = _SPAWN.Process(target=_main, args=(child,), daemon=True)
            process.start()
            self.conns.append(parent)
            self.processes.append(process)

    def rate(self, name: str, total: int, processes: int, *args: Any, **options: Any) -> float:
        """Requests per second over `processes` drivers sharing `total` requests."""
        start_at = time.perf_counter() + 0.05
        share = total // processes
        for conn in self.conns[:processes]:
            endpoint, handler, body = args
            conn.send((name, (endpoint, handler, body, share, start_at, *options.values())))
        ends = [conn.recv() for conn in self.conns[:processes]]
        return share * processes / (max(ends) - start_at)

    def call(self, name: str, *args: Any) -> Any:
        """Run one command in the first driver and return its result."""
        self.conns[0].send((name, args))
        return self.conns[0].recv()

    def close(self) -> None:
        for conn in self.conns:
            conn.send(None)
        for process in self.processes:
            process.join(5)

    def __enter__(self) -> Drivers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
