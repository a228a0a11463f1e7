"""The control endpoint: JSON requests and replies on an ipc socket in run_dir.

request   {"command": "scale", "args": {"delta": 1}, "id": <optional, echoed>}
reply     {"ok": true, "result": {...}} or {"ok": false, "error": {"code", "message"}}

The master serves it from its own poll loop, so nothing here may block: replies
go out with NOBLOCK and are dropped if the peer is gone. A request must be one
JSON frame of at most `MAX_REQUEST` bytes; larger ones get an error reply
(beyond `HARD_LIMIT` ZeroMQ drops the connection without reading them). The
socket file is 0600 inside the 0700 run_dir: only the master's user may use it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import zmq

from supervisor import wire
from supervisor.errors import NotRunning, SupervisorError

log = logging.getLogger("supervisor.control")

MAX_REQUEST = 64 * 1024
MAX_REPLY = 1024 * 1024
HARD_LIMIT = 1024 * 1024
BATCH = 100

Command = Callable[[dict[str, Any]], Any]


class CommandError(Exception):
    """Raised by a command to answer with an error instead of a result."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Later:
    """A reply that comes later: a command that must wait for something (a stack dump, a
    reload's import check) returns one, and calls `done` or `fail` once, from the loop."""

    def __init__(self) -> None:
        self._send: Callable[[dict[str, Any]], None] | None = None
        self._early: dict[str, Any] | None = None

    def done(self, result: Any) -> None:
        self._finish({"ok": True, "result": result})

    def fail(self, code: str, message: str) -> None:
        self._finish({"ok": False, "error": {"code": code, "message": message}})

    def attach(self, send: Callable[[dict[str, Any]], None]) -> None:
        """Where the reply goes (set by the server); one given before this goes out now."""
        self._send = send
        if self._early is not None:
            send(self._early)

    def _finish(self, reply: dict[str, Any]) -> None:
        if self._send is None:
            self._early = reply
        else:
            self._send(reply)


class ControlError(SupervisorError):
    """The master answered a control request with an error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ControlServer:
    """A ROUTER socket answering `{"command": ...}` requests with the registered functions."""

    def __init__(self, context: zmq.Context, endpoint: str, commands: dict[str, Command]) -> None:
        self.commands = commands
        self.endpoint = endpoint
        self.socket = context.socket(zmq.ROUTER)
        self.socket.linger = 0
        self.socket.sndhwm = self.socket.rcvhwm = 1000
        self.socket.setsockopt(zmq.MAXMSGSIZE, HARD_LIMIT)
        wire.bind(self.socket, endpoint)
        self.path = endpoint[len("ipc://"):] if endpoint.startswith("ipc://") else None
        self.identity = _identity(self.path)

    def drain(self) -> None:
        """Answer up to BATCH waiting requests; the rest wait for the next loop turn."""
        for _ in range(BATCH):
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            envelope = frames[:-1]
            reply, request_id = self._reply(frames[-1] if len(frames) > 1 else b"")
            if isinstance(reply, Later):
                reply.attach(lambda done, env=envelope, rid=request_id:
                             self._answer(env, _encode(done, rid)))
            else:
                self._answer(envelope, _encode(reply, request_id))

    def handle(self, data: bytes) -> bytes:
        """The encoded reply to one request frame (not for commands answering later)."""
        reply, request_id = self._reply(data)
        assert not isinstance(reply, Later)
        return _encode(reply, request_id)

    def _reply(self, data: bytes) -> tuple[dict[str, Any] | Later, Any]:
        """The reply to one request frame, or a `Later` that will carry it; never raises."""
        request_id = None
        try:
            request = _parse(data)
            request_id = request.get("id")
            name = request["command"]
            command = self.commands.get(name)
            if command is None:
                raise CommandError("UnknownCommand", f"unknown command {name!r} (expected one of: "
                                   f"{', '.join(sorted(self.commands))})")
            result = command(request["args"])
            if isinstance(result, Later):
                return result, request_id
            reply: dict[str, Any] = {"ok": True, "result": result}
        except (CommandError, SupervisorError) as exc:  # a service's commands raise the latter
            reply = {"ok": False, "error": {"code": exc.code, "message": str(exc)}}
        except Exception as exc:
            log.exception("control command failed")
            reply = {"ok": False, "error": {"code": "InternalError",
                                            "message": f"{type(exc).__name__}: {exc}"}}
        return reply, request_id

    def _answer(self, envelope: list[bytes], reply: bytes) -> None:
        try:
            self.socket.send_multipart([*envelope, reply], zmq.NOBLOCK)
        except zmq.ZMQError as exc:
            log.debug("control reply dropped: %s", exc)

    def close(self) -> None:
        self.socket.close(0)
        if self.path is not None and _identity(self.path) == self.identity:
            with contextlib.suppress(OSError):
                os.unlink(self.path)  # only our own file: another master may own the path now


def _identity(path: str | None) -> tuple[int, int] | None:
    try:
        info = os.lstat(path) if path else None
    except OSError:
        return None
    return None if info is None else (info.st_dev, info.st_ino)


def _encode(reply: dict[str, Any], request_id: Any) -> bytes:
    if request_id is not None:
        reply = {**reply, "id": request_id}
    encoded = json.dumps(reply, default=str).encode()
    if len(encoded) > MAX_REPLY:
        encoded = json.dumps({"ok": False, "error": {
            "code": "TooLarge", "message": f"reply of {len(encoded)} bytes exceeds "
                                           f"{MAX_REPLY}"}}).encode()
    return encoded


def _parse(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_REQUEST:
        raise CommandError("TooLarge", f"request of {len(data)} bytes exceeds {MAX_REQUEST}")
    try:
        request = wire.load_json(data, limit=MAX_REQUEST)
    except wire.WireError as exc:
        raise CommandError("BadRequest", str(exc)) from None
    if not isinstance(request, dict) or not isinstance(request.get("command"), str):
        raise CommandError("BadRequest", 'expected {"command": NAME, "args": {...}}')
    args = request.setdefault("args", {})
    if not isinstance(args, dict):
        raise CommandError("BadRequest", "args must be a JSON object")
    return request


class ControlClient:
    """One connection to a master's control socket; `call` returns the command's result."""

    def __init__(self, endpoint: str, timeout: float = 5.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.context = zmq.Context()
        try:
            self.socket = self.context.socket(zmq.DEALER)
            self.socket.linger = 0
            self.socket.connect(endpoint)
        except BaseException:  # Ctrl-C included: a socket left open would hang the exit
            self.context.destroy(0)
            raise

    def call(self, command: str, **args: Any) -> Any:
        """Send one request and wait up to `timeout` for its answer."""
        if self.endpoint.startswith("ipc://") and not os.path.exists(self.endpoint[6:]):
            raise NotRunning(f"no master listens on {self.endpoint}")
        self.socket.send(json.dumps({"command": command, "args": args}).encode())
        deadline = time.monotonic() + self.timeout
        while (left := deadline - time.monotonic()) > 0:
            if self.socket.poll(int(left * 1000) + 1):
                reply = json.loads(self.socket.recv())
                if reply.get("ok"):
                    return reply.get("result")
                error = reply.get("error") or {}
                raise ControlError(str(error.get("code")), str(error.get("message")))
        raise NotRunning(f"no answer on {self.endpoint} within {self.timeout:g}s")

    def close(self) -> None:
        """Close the socket and the context, whatever state an interrupted call left."""
        self.context.destroy(0)

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
