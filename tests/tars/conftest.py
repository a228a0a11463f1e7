"""Fake nodes for the client tests: one that never answers, one that answers what it is told."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from supervisor.tars import codec
from supervisor.tars.conf import Endpoint


@pytest.fixture
def silent_node() -> Iterator[Endpoint]:
    """A port whose connections are accepted (by the kernel's backlog) and never answered."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield Endpoint("127.0.0.1", listener.getsockname()[1], 300)


Responder = Callable[[bytes], bytes]


class ScriptedNode:
    """Accepts connections one after another and answers each frame with `respond(body)`;
    with `hang_up` it closes the connection after its first answer."""

    def __init__(self, respond: Responder, hang_up: bool = False) -> None:
        self.respond = respond
        self.hang_up = hang_up
        self.connections = 0
        self._conn: socket.socket | None = None
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint("127.0.0.1", self._listener.getsockname()[1], 1000)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            self._conn = conn
            with conn:
                conn.settimeout(2)
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        try:
            while not self._stop.is_set():
                header = conn.recv(4, socket.MSG_WAITALL)
                if len(header) < 4:
                    return
                body = conn.recv(codec.frame_length(header) - 4, socket.MSG_WAITALL)
                conn.sendall(self.respond(body))
                if self.hang_up:
                    return
        except OSError:
            return

    def close(self) -> None:
        self._stop.set()
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)
        self._listener.close()


@pytest.fixture
def scripted_node() -> Iterator[Callable[..., ScriptedNode]]:
    nodes: list[ScriptedNode] = []

    def make(respond: Responder, hang_up: bool = False) -> ScriptedNode:
        nodes.append(ScriptedNode(respond, hang_up))
        return nodes[-1]

    yield make
    for node in nodes:
        node.close()
