"""Floors: the least the same work can cost over ZeroMQ on this machine.

The ZeroMQ floor is a `zmq.proxy` ROUTER/DEALER broker in C with Python echo
workers: the same transport as our master, with no pool logic, so it costs what
ZeroMQ plus a Python `recv`/`send` per message cost. The Python floor is the same
broker written in Python (a poll, then `recv`/`send` with plain int flags and
nothing else): the least a broker in Python, as our master is, can cost.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import shutil
import tempfile
from pathlib import Path

import zmq

_SPAWN = multiprocessing.get_context("spawn")


def _bound_pair(frontend: str, backend: str) -> tuple[zmq.Socket, zmq.Socket]:
    """A broker's ROUTER for clients and DEALER for workers, unbounded queues."""
    context = zmq.Context()
    front, back = context.socket(zmq.ROUTER), context.socket(zmq.DEALER)
    for sock in (front, back):
        sock.sndhwm = sock.rcvhwm = 0
    front.bind(frontend)
    back.bind(backend)
    return front, back


def _broker(frontend: str, backend: str) -> None:
    front, back = _bound_pair(frontend, backend)
    with contextlib.suppress(zmq.ContextTerminated):
        zmq.proxy(front, back)


def _python_broker(frontend: str, backend: str) -> None:
    """`zmq.proxy` in Python: every message read is forwarded as it is, nothing more."""
    front, back = _bound_pair(frontend, backend)
    poller = zmq.Poller()
    poller.register(front, zmq.POLLIN)
    poller.register(back, zmq.POLLIN)
    other = {front: back, back: front}
    noblock, sndmore = int(zmq.NOBLOCK), int(zmq.SNDMORE)
    while True:
        for sock, _ in poller.poll():
            send, recv = other[sock].send, sock.recv
            while True:
                try:
                    frame = recv(noblock, copy=False)
                except zmq.Again:
                    break
                while frame.more:
                    send(frame, sndmore)
                    frame = recv(noblock, copy=False)
                send(frame, 0)


def _dealer_echo(backend: str) -> None:
    """Pipelined worker: the envelope comes with the frames and goes back with them."""
    sock = zmq.Context().socket(zmq.DEALER)
    sock.sndhwm = sock.rcvhwm = 0
    sock.connect(backend)
    while True:
        sock.send_multipart(sock.recv_multipart())


def _rep_echo(backend: str) -> None:
    """One request at a time, as REP strips and restores the envelope."""
    sock = zmq.Context().socket(zmq.REP)
    sock.connect(backend)
    while True:
        sock.send_multipart(sock.recv_multipart())


class Floor:
    """A broker and `workers` echo processes; `endpoint` is where clients connect.

    `kind` is "dealer" (pipelined, many requests in flight: clients use DEALER
    and send bare bodies) or "rep" (strict round trips: clients use REQ);
    `broker` is "c" (`zmq.proxy`) or "python" (the same loop in Python).
    """

    def __init__(self, workers: int = 2, kind: str = "dealer", broker: str = "c") -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="sv-floor-"))
        self.endpoint = f"ipc://{self.dir}/front.sock"
        backend = f"ipc://{self.dir}/back.sock"
        loop = {"c": _broker, "python": _python_broker}[broker]
        self.processes = [_SPAWN.Process(target=loop, args=(self.endpoint, backend),
                                         daemon=True)]
        target = {"dealer": _dealer_echo, "rep": _rep_echo}[kind]
        for _ in range(workers):
            self.processes.append(_SPAWN.Process(target=target, args=(backend,), daemon=True))
        for process in self.processes:
            process.start()

    def close(self) -> None:
        for process in self.processes:
            process.kill()
        for process in self.processes:
            process.join(5)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Floor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
