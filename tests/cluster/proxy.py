"""A TCP proxy in front of an engine, one per master, to cut that master off without root.

`blackhole()` keeps every connection open but moves no more bytes either way (and new
connections hang the same way), as a dropped route would; `reset()` closes them all with
RST and refuses new ones; `heal()` forwards again. One thread, selectors, bounded.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading


class Proxy:
    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.mode = "pass"
        self.pairs: dict[socket.socket, socket.socket] = {}
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ)
        self.lock = threading.Lock()
        self.closing = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def url(self, kind: str) -> str:
        return f"{kind}://127.0.0.1:{self.port}"

    def blackhole(self) -> None:
        self.mode = "blackhole"

    def reset(self) -> None:
        with self.lock:
            self.mode = "reset"
            for sock in list(self.pairs):
                self._drop(sock, rst=True)

    def heal(self) -> None:
        self.mode = "pass"

    def _run(self) -> None:
        while not self.closing:
            for key, _ in self.selector.select(0.05):
                with self.lock:
                    if key.fileobj is self.listener:
                        self._accept()
                    elif key.fileobj in self.pairs:
                        self._forward(key.fileobj)

    def _accept(self) -> None:
        try:
            client, _ = self.listener.accept()
        except OSError:
            return
        if self.mode == "reset":
            _rst(client)
            return
        try:
            upstream = socket.create_connection(self.target, timeout=1)
        except OSError:
            _rst(client)
            return
        for one, other in ((client, upstream), (upstream, client)):
            one.setblocking(False)
            self.pairs[one] = other
            self.selector.register(one, selectors.EVENT_READ)

    def _forward(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._drop(sock, rst=False)
        elif self.mode == "pass":
            try:
                self.pairs[sock].sendall(data)
            except OSError:
                self._drop(sock, rst=False)
        # blackhole: read and discard, so the peer's writes succeed and its reads time out

    def _drop(self, sock: socket.socket, rst: bool) -> None:
        other = self.pairs.pop(sock, None)
        for one in (sock, other):
            if one is None:
                continue
            self.pairs.pop(one, None)
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(one)
            if rst:
                _rst(one)
            else:
                one.close()

    def close(self) -> None:
        self.closing = True
        self.thread.join(2)
        with self.lock:
            for sock in list(self.pairs):
                self._drop(sock, rst=False)
        self.listener.close()
        self.selector.close()


def _rst(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
