"""The Node harness as Python objects: a fake Centrifugo and a stand-in Centrifugo API server.

Both run `tests/centrifugo/node/*.js` on @grpc/grpc-js with the reference protos, installed by
`npm ci` from the committed lock file (scripts/test does it). Without node or its packages
the tests skip, except on CI (`CI` set), where they fail.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

NODE_DIR = Path(__file__).parent / "node"
REFERENCE = NODE_DIR / "reference"


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"the Centrifugo interop harness cannot run on CI: {reason}")
    pytest.skip(reason)


def node_binary() -> str:
    """node, with the harness's packages installed (scripts/test runs npm ci for them)."""
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed")
    if not (NODE_DIR / "node_modules" / "@grpc" / "grpc-js").is_dir():
        unavailable(f"the harness's packages are not installed: npm ci in {NODE_DIR} "
                    "(scripts/test does it)")
    return node


class _NodeProcess:
    """A harness script; its JSON lines are matched to commands by id or queued as events."""

    def __init__(self, node: str, script: str, *args: str) -> None:
        self.process = subprocess.Popen([node, script, *args], cwd=NODE_DIR,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.answers: dict[int, dict[str, Any]] = {}
        self.stderr: list[str] = []
        self._changed = threading.Condition()
        self._ids = itertools.count(1)
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=self._pump_stderr, daemon=True).start()

    def _pump(self) -> None:
        for line in self.process.stdout:
            message = json.loads(line)
            if "id" in message:
                with self._changed:
                    self.answers[message["id"]] = message
                    self._changed.notify_all()
            else:
                self.events.put(message)
        with self._changed:
            self._changed.notify_all()

    def _pump_stderr(self) -> None:
        for line in self.process.stderr:
            self.stderr.append(line.rstrip())

    def event(self, timeout: float = 10.0) -> dict[str, Any]:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no event within {timeout}s; "
                                 f"stderr: {self.stderr[-20:]}") from None

    def send(self, **command: Any) -> int:
        """Send a command without waiting; `result(id)` waits for its answer."""
        ident = next(self._ids)
        self.process.stdin.write(json.dumps({"id": ident, **command}) + "\n")
        self.process.stdin.flush()
        return ident

    def result(self, ident: int, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while ident not in self.answers:
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    raise AssertionError(f"no answer to command {ident} within {timeout}s; "
                                         f"stderr: {self.stderr[-20:]}")
                self._changed.wait(left)
            return self.answers.pop(ident)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


class FakeCentrifugo(_NodeProcess):
    """Calls the proxy as Centrifugo does; each answer says what Centrifugo would decide."""

    def __init__(self, node: str, target: str) -> None:
        super().__init__(node, "centrifugo.js")
        assert self.event(20).get("event") == "ready"
        self.target = target

    def command(self, op: str, timeout: float = 30.0, **args: Any) -> dict[str, Any]:
        return self.result(self.send(op=op, target=self.target, **args), timeout)

    def call(self, method: str, request: dict | None = None, metadata: dict | None = None,
             timeout_ms: int = 3000, **args: Any) -> dict[str, Any]:
        return self.command("call", method=method, request=request or {},
                            metadata=metadata or {}, timeout_ms=timeout_ms, **args)

    def many(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for call in calls:
            call.setdefault("target", self.target)
        return self.command("many", calls=calls, timeout=60)["results"]


class ApiStandIn(_NodeProcess):
    """Centrifugo's API as a stand-in; `calls()` returns what it recorded."""

    def __init__(self, node: str, key: str) -> None:
        super().__init__(node, "api.js", "--key", key)
        ready = self.event(20)
        assert ready.get("event") == "listening", ready
        self.address = f"127.0.0.1:{ready['port']}"

    def recorded(self, timeout: float = 5.0) -> dict[str, Any]:
        return self.event(timeout)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
