"""Blocking client for the node's `tars.tarsnode.ServerObj` (the ServerF interface).

One TCP connection, opened on first use and replaced after any failure, so a node that restarts
is picked up by the next call. Every call is bounded by one deadline (the endpoint's `-t` unless
the caller gives a shorter one) covering connect, send and the whole reply: the keepalive loop
must never hang on a node that accepts and then says nothing.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from supervisor.tars import codec
from supervisor.tars.conf import Endpoint


class NodeError(Exception):
    """A ServerF call that did not succeed; `kind` says how, the message says it for a log line.

    kinds: `refused`, `unreachable`, `timeout`, `closed` (the node hung up), `bad-reply`
    (garbage, wrong request id, non-zero iRet) and `rejected` (the node answered a non-zero
    return value, e.g. -1 when it does not know the server).
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class NodeClient:
    """`keep_alive` / `report_version` against one node endpoint.

    `version` is 1 (TARS) or 3 (TUP); `oneway=True` sends without waiting for a reply, as TarsCpp
    does, which also means the node's verdict is never seen.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        servant: str = codec.NODE_SERVANT,
        *,
        version: int = codec.TARS_VERSION,
        oneway: bool = False,
        timeout: float | None = None,
    ) -> None:
        if version not in (codec.TARS_VERSION, codec.TUP_VERSION):
            raise ValueError(f"packet version must be 1 or 3, not {version}")
        self.endpoint = endpoint
        self.servant = servant
        self.version = version
        self.oneway = oneway
        self.timeout = endpoint.timeout if timeout is None else timeout
        self._sock: socket.socket | None = None
        self._last_id = 0
        self._budget = self.timeout
        self._lock = threading.Lock()

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop the connection; the next call opens a new one."""
        with self._lock:
            self._drop()

    def keep_alive(
        self, app: str, server: str, pid: int, adapter: str = "", *, timeout: float | None = None
    ) -> int:
        """Tell the node `app.server` (process `pid`) is alive on `adapter` ("" = all adapters)."""
        info = codec.ServerInfo(app, server, pid, adapter)

        def build(request_id: int, timeout_ms: int) -> bytes:
            return codec.keep_alive(info, **self._packet(request_id, timeout_ms))

        return self._call("keepAlive", build, timeout)

    def report_version(
        self, app: str, server: str, version: str, *, timeout: float | None = None
    ) -> int:
        """Tell the node which version of the framework runs `app.server`."""

        def build(request_id: int, timeout_ms: int) -> bytes:
            return codec.report_version(app, server, version,
                                        **self._packet(request_id, timeout_ms))

        return self._call("reportVersion", build, timeout)

    def _packet(self, request_id: int, timeout_ms: int) -> dict[str, Any]:
        """The packet settings every call shares."""
        return {"request_id": request_id, "version": self.version, "oneway": self.oneway,
                "timeout_ms": timeout_ms, "servant": self.servant}

    def _call(self, func: str, build: Callable[[int, int], bytes], timeout: float | None) -> int:
        budget = self.timeout if timeout is None else min(timeout, self.timeout)
        deadline = time.monotonic() + budget
        with self._lock:
            self._budget = budget
            try:
                return self._exchange(func, build, deadline, budget)
            except NodeError as exc:
                if exc.kind != "rejected":
                    self._drop()
                raise

    def _exchange(
        self, func: str, build: Callable[[int, int], bytes], deadline: float, budget: float
    ) -> int:
        sock = self._connected(deadline)
        self._last_id = self._last_id % (2**31 - 1) + 1
        request_id = self._last_id
        data = build(request_id, max(1, int(budget * 1000)))
        try:
            sock.settimeout(self._remaining(deadline, func))
            sock.sendall(data)
            if self.oneway:
                return 0
            header = self._read(sock, 4, deadline, func)
            body = self._read(sock, codec.frame_length(header) - 4, deadline, func)
            reply = codec.decode_reply(body)
        except codec.TarsDecodeError as exc:
            raise NodeError("bad-reply", f"{self._where()}: bad reply to {func}: {exc}") from None
        except TimeoutError:
            raise self._timeout(func) from None
        except OSError as exc:
            raise NodeError("closed", f"{self._where()}: {func} failed: {exc}") from None
        if reply.request_id != request_id:
            raise NodeError(
                "bad-reply",
                f"{self._where()}: reply to {func} carries request id {reply.request_id}, "
                f"expected {request_id}",
            )
        if reply.ret != 0:
            detail = f" ({reply.desc})" if reply.desc else ""
            raise NodeError(
                "bad-reply", f"{self._where()}: {func} failed with iRet={reply.ret}{detail}"
            )
        if reply.result is None:
            raise NodeError("bad-reply", f"{self._where()}: reply to {func} has no return value")
        if reply.result != 0:
            raise NodeError(
                "rejected",
                f"{self._where()}: {func} returned {reply.result}"
                " (is the server known to the node?)",
            )
        return reply.result

    def _where(self) -> str:
        return f"tars node {self.servant}@{self.endpoint}"

    def _timeout(self, func: str) -> NodeError:
        return NodeError("timeout", f"{self._where()}: {func} timed out after {self._budget:g}s")

    def _remaining(self, deadline: float, func: str) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise self._timeout(func)
        return left

    def _read(self, sock: socket.socket, size: int, deadline: float, func: str) -> bytes:
        chunks = bytearray()
        while len(chunks) < size:
            sock.settimeout(self._remaining(deadline, func))
            chunk = sock.recv(size - len(chunks))
            if not chunk:
                raise NodeError("closed", f"{self._where()}: connection closed during {func}")
            chunks += chunk
        return bytes(chunks)

    def _connected(self, deadline: float) -> socket.socket:
        if self._sock is not None and self._stale(self._sock):
            self._drop()
        if self._sock is None:
            address = (self.endpoint.host, self.endpoint.port)
            try:
                sock = socket.create_connection(
                    address, timeout=self._remaining(deadline, "connect")
                )
            except ConnectionRefusedError:
                raise NodeError("refused", f"{self._where()}: connection refused") from None
            except TimeoutError:
                raise self._timeout("connect") from None
            except OSError as exc:
                raise NodeError("unreachable", f"{self._where()}: {exc}") from None
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
        return self._sock

    @staticmethod
    def _stale(sock: socket.socket) -> bool:
        """True when the node closed the connection (or left bytes nobody asked for)."""
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
