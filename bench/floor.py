"""Floors: the least the same work can cost over ZeroMQ on this machine.

The ZeroMQ floor is a `zmq.proxy` ROUTER/DEALER broker in C with Python echo
workers: the same frames over the same ipc transport as our master, with no
pool logic, so it costs what ZeroMQ plus a Python `recv`/`send` per message
cost. The one-at-a-time floor is a bare Python broker that, like our master,
gives each worker one request at a time: the ceiling of that design.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import shutil
import tempfile
from collections import deque
from pathlib import Path

import zmq

_SPAWN = multiprocessing.get_context("spawn")


def _broker(frontend: str, backend: str) -> None:
    context = zmq.Context()
    front, back = context.socket(zmq.ROUTER), context.socket(zmq.DEALER)
    for sock in (front, back):
        sock.sndhwm = sock.rcvhwm = 0
    front.bind(frontend)
    back.bind(backend)
    with contextlib.suppress(zmq.ContextTerminated):
        zmq.proxy(front, back)


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


def _lru_broker(frontend: str, backend: str) -> None:
    """The least a Python master must do: one request per worker, the rest queued.

    Same frames as ours (`[id, handler, body]` in, `[id, ok, body]` out), no
    checks, no accounting: the floor of one-at-a-time dispatch from Python.
    """
    context = zmq.Context()
    front, back = context.socket(zmq.ROUTER), context.socket(zmq.ROUTER)
    front.bind(frontend)
    back.bind(backend)
    poller = zmq.Poller()
    poller.register(front, zmq.POLLIN)
    poller.register(back, zmq.POLLIN)
    idle: deque[bytes] = deque()
    waiting: deque[list[bytes]] = deque()
    running: dict[bytes, list[bytes]] = {}
    while True:
        events = dict(poller.poll())
        while back in events and back.get(zmq.EVENTS) & zmq.POLLIN:
            ident, status, *body = back.recv_multipart()
            if ident in running:
                client, req_id = running.pop(ident)
                front.send_multipart([client, req_id, status, *body])
            if waiting:
                client, req_id, handler, data = waiting.popleft()
                running[ident] = [client, req_id]
                back.send_multipart([ident, handler, data, b""])
            else:
                idle.append(ident)
        while front in events and front.get(zmq.EVENTS) & zmq.POLLIN:
            client, req_id, handler, data = front.recv_multipart()
            if idle:
                ident = idle.popleft()
                running[ident] = [client, req_id]
                back.send_multipart([ident, handler, data, b""])
            else:
                waiting.append([client, req_id, handler, data])


def _lru_worker(backend: str, ident: bytes) -> None:
    sock = zmq.Context().socket(zmq.DEALER)
    sock.identity = ident
    sock.connect(backend)
    sock.send_multipart([b"ready"])
    while True:
        _handler, body, _context = sock.recv_multipart()
        sock.send_multipart([b"ok", body])


class Floor:
    """A broker and `workers` echo processes; `endpoint` is where clients connect.

    `kind` is "dealer" (pipelined, many requests in flight: clients use DEALER
    and send `[id, body]`), "rep" (strict round trips: clients use REQ) or
    "lru" (a Python broker dispatching one request per worker, spoken to like
    our master).
    """

    def __init__(self, workers: int = 2, kind: str = "dealer") -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="sv-floor-"))
        self.endpoint = f"ipc://{self.dir}/front.sock"
        backend = f"ipc://{self.dir}/back.sock"
        broker = _lru_broker if kind == "lru" else _broker
        self.processes = [_SPAWN.Process(target=broker, args=(self.endpoint, backend),
                                         daemon=True)]
        for index in range(workers):
            target, args = {"dealer": (_dealer_echo, (backend,)), "rep": (_rep_echo, (backend,)),
                            "lru": (_lru_worker, (backend, b"w%d" % index))}[kind]
            self.processes.append(_SPAWN.Process(target=target, args=args, daemon=True))
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
