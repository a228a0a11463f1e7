"""A stand-in Tars node: answers ServerF calls so the keepalive can be watched without a platform.

It speaks the node's side of the protocol (versions 1 and 3, normal and one-way), returns 0 (or
-1 for a server it was told it does not know, as the real node does), records every call, and
`main` prints one line per call with the time since the previous keepAlive of the same adapter,
which is what an operator wants to see when tuning the interval against `hearttimeout`.
"""

from __future__ import annotations

import argparse
import selectors
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from supervisor.tars import codec
from supervisor.tars.conf import Endpoint, parse_endpoint

DEFAULT_LISTEN = "tcp -h 127.0.0.1 -p 19386"


@dataclass(frozen=True)
class Call:
    """One ServerF call as the stand-in decoded it; `since_last` only for keepAlive."""

    func: str
    version: int
    oneway: bool
    request_id: int
    application: str
    server_name: str
    pid: int = 0
    adapter: str = ""
    app_version: str = ""
    time: float = 0.0
    since_last: float | None = None

    def line(self) -> str:
        """Human-readable line for the console."""
        stamp = time.strftime("%H:%M:%S", time.localtime(self.time))
        kind = f"v{self.version} {'one-way' if self.oneway else 'normal'}"
        who = f"app={self.application} server={self.server_name}"
        if self.func == "reportVersion":
            return f"{stamp} reportVersion {who} version={self.app_version} ({kind})"
        since = "-" if self.since_last is None else f"{self.since_last:.1f}s"
        return (
            f"{stamp} {self.func} {who} adapter={self.adapter or '(all)'} pid={self.pid} "
            f"since_last={since} ({kind})"
        )


class StandInNode:
    """TCP server on `host:port` (0 = ephemeral) in a background thread.

    `known` limits which `App.Server` names get 0 back (others get -1); None accepts all.
    `on_call` runs in the server thread for every call, after it is recorded.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        known: Collection[str] | None = None,
        on_call: Callable[[Call], None] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.known = None if known is None else set(known)
        self.on_call = on_call
        self.errors: list[str] = []
        self._calls: list[Call] = []
        self._last_seen: dict[tuple[str, str, str], float] = {}
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: socket.socket | None = None

    @property
    def endpoint(self) -> Endpoint:
        """Where clients reach it (the real port once started on port 0)."""
        return Endpoint(self.host, self.port, 3000)

    @property
    def calls(self) -> list[Call]:
        """A copy of every call so far, oldest first."""
        with self._changed:
            return list(self._calls)

    def keepalives(self) -> list[Call]:
        """Only the keepAlive/keepActiving calls."""
        return [c for c in self.calls if c.func in ("keepAlive", "keepActiving")]

    def wait_for(self, count: int, timeout: float) -> bool:
        """Block until at least `count` calls were recorded, at most `timeout` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._calls) >= count, timeout)

    def start(self) -> StandInNode:
        """Bind and serve in a daemon thread; returns self so `StandInNode().start()` reads."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="tars-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection; the port can be bound again at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> StandInNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        assert self._listener is not None
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ, None)
        buffers: dict[socket.socket, bytearray] = {}
        try:
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=0.05):
                    if key.fileobj is self._listener:
                        conn, _ = self._listener.accept()
                        conn.settimeout(1.0)
                        buffers[conn] = bytearray()
                        selector.register(conn, selectors.EVENT_READ, None)
                        continue
                    conn = key.fileobj
                    assert isinstance(conn, socket.socket)
                    if not self._receive(conn, buffers[conn]):
                        selector.unregister(conn)
                        del buffers[conn]
                        conn.close()
        finally:
            for conn in buffers:
                conn.close()
            selector.close()
            self._listener.close()

    def _receive(self, conn: socket.socket, buffer: bytearray) -> bool:
        """Read what arrived and answer complete frames; False when the connection is done."""
        try:
            data = conn.recv(65536)
        except OSError:
            return False
        if not data:
            return False
        buffer += data
        while len(buffer) >= 4:
            try:
                length = codec.frame_length(bytes(buffer[:4]))
            except codec.TarsDecodeError as exc:
                self.errors.append(str(exc))
                return False
            if len(buffer) < length:
                break
            body = bytes(buffer[4:length])
            del buffer[:length]
            try:
                reply = self._handle(body)
                if reply:
                    conn.sendall(reply)
            except codec.TarsDecodeError as exc:
                self.errors.append(str(exc))
                return False
            except OSError:
                return False
        return True

    def _handle(self, body: bytes) -> bytes:
        request = codec.decode_request(body)
        call = codec.decode_call(request)
        now = time.time()
        common = (call.func, request.version, request.packet_type == codec.ONEWAY,
                  request.request_id)
        if call.info is not None:
            info = call.info
            key = (info.application, info.server_name, info.adapter)
            last = self._last_seen.get(key)
            self._last_seen[key] = now
            record = Call(*common, info.application, info.server_name, pid=info.pid,
                          adapter=info.adapter, time=now,
                          since_last=None if last is None else now - last)
        else:
            record = Call(*common, call.app, call.server_name, app_version=call.app_version,
                          time=now)
        with self._changed:
            self._calls.append(record)
            self._changed.notify_all()
        if self.on_call is not None:
            self.on_call(record)
        if request.packet_type == codec.ONEWAY:
            return b""
        name = f"{record.application}.{record.server_name}"
        result = 0 if self.known is None or name in self.known else -1
        return codec.encode_reply(request, result)


def main(argv: Sequence[str] | None = None) -> int:
    """`supervisor tars-node`: run the stand-in in the foreground until interrupted."""
    parser = argparse.ArgumentParser(
        prog="supervisor tars-node",
        description="Stand-in Tars node: answers keepAlive/reportVersion and prints each call.",
    )
    parser.add_argument("--listen", default=DEFAULT_LISTEN, help=f"default: {DEFAULT_LISTEN}")
    parser.add_argument(
        "--known", action="append", metavar="APP.SERVER", help="answer -1 to any other server"
    )
    args = parser.parse_args(argv)
    try:
        endpoint = parse_endpoint(args.listen)
    except ValueError as exc:
        parser.error(str(exc))

    def show(call: Call) -> None:
        print(call.line(), flush=True)

    node = StandInNode(endpoint.host, endpoint.port, known=args.known, on_call=show)
    try:
        node.start()
    except OSError as exc:
        print(f"cannot listen on {endpoint}: {exc}", file=sys.stderr)
        return 1
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print(f"tars node stand-in listening on {node.endpoint}", flush=True)
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        node.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
