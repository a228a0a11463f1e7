"""Interoperability with the official Node.js Tars implementation (@tars/rpc + @tars/stream).

`peer/peer.js` is a ServerF node stand-in whose framing, packet decoding, dispatch and replies
are done by those packages. Our frames must decode there to the same application, server, pid
and adapter, and their replies (a ResponsePacket for v1, a TUP packet for v3) must decode here.
The peer's packages are pinned by `peer/package-lock.json` and installed with `npm ci` on first
use. Without node or npm the tests skip, except on CI (`CI` set), where they fail.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from supervisor.tars import codec
from supervisor.tars.conf import Endpoint
from supervisor.tars.keepalive import KeepAlive
from supervisor.tars.node import NodeClient, NodeError

PEER_DIR = Path(__file__).parent / "peer"
APP, SERVER, OBJ = "App", "Server", "App.Server.ObjAdapter"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"interop peer unavailable on CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        _unavailable("node is not installed")
    if not (PEER_DIR / "node_modules" / "@tars" / "rpc").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            _unavailable("npm is not installed")
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=PEER_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            _unavailable(f"npm ci failed: {result.stderr.strip()[-500:]}")
    return node


class Peer:
    """The Node.js peer as a child process; its JSON lines arrive on a queue."""

    def __init__(self, node: str, ret: int = 0) -> None:
        self.process = subprocess.Popen(
            [node, "peer.js", "--host", "127.0.0.1", "--port", "0", "--ret", str(ret)],
            cwd=PEER_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stderr: list[str] = []
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._pump_stdout, daemon=True).start()
        threading.Thread(target=self._pump_stderr, daemon=True).start()
        ready = self.event(timeout=20)
        assert ready.get("event") == "listening", ready
        self.endpoint = Endpoint("127.0.0.1", ready["port"], 3000)

    def _pump_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._events.put(json.loads(line))

    def _pump_stderr(self) -> None:
        assert self.process.stderr is not None
        self.stderr.extend(self.process.stderr)

    def event(self, timeout: float = 5) -> dict[str, Any]:
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            stderr = "".join(self.stderr)[-1000:]
            raise AssertionError(
                f"no event from the peer in {timeout}s; stderr: {stderr}"
            ) from None

    def calls(self, count: int) -> list[dict[str, Any]]:
        return [self.event() for _ in range(count)]

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


@pytest.fixture(scope="module")
def peer(node_binary: str) -> Iterator[Peer]:
    running = Peer(node_binary)
    yield running
    running.close()


@pytest.fixture
def rejecting_peer(node_binary: str) -> Iterator[Peer]:
    running = Peer(node_binary, ret=-1)
    yield running
    running.close()


@pytest.mark.parametrize(
    ("version", "oneway"), [(1, False), (1, True), (3, False), (3, True)], ids=str
)
def test_official_peer_decodes_our_calls(peer: Peer, version: int, oneway: bool) -> None:
    with NodeClient(peer.endpoint, version=version, oneway=oneway) as client:
        assert client.report_version(APP, SERVER, "zmq-supervisor 0.1.0") == 0
        assert client.keep_alive(APP, SERVER, 31337, OBJ) == 0
        assert client.keep_alive(APP, SERVER, 31337, "AdminAdapter") == 0
    reported, obj, admin = peer.calls(3)
    for call in (reported, obj, admin):
        assert call["version"] == version
        assert call["packetType"] == (1 if oneway else 0)
        assert call["servant"] == "tars.tarsnode.ServerObj"
        assert call["timeout"] == 3000
        assert (call["application"], call["serverName"]) == (APP, SERVER)
    assert (reported["func"], reported["appVersion"]) == ("reportVersion", "zmq-supervisor 0.1.0")
    assert (obj["func"], obj["pid"], obj["adapter"]) == ("keepAlive", 31337, OBJ)
    assert (admin["func"], admin["pid"], admin["adapter"]) == ("keepAlive", 31337, "AdminAdapter")
    assert [c["requestId"] for c in (reported, obj, admin)] == [1, 2, 3]


def test_reference_frame_gets_an_official_response_packet(peer: Peer) -> None:
    frame = codec.keep_alive(codec.ServerInfo(APP, SERVER, 1234, OBJ), request_id=1)
    assert len(frame) == 98
    with socket.create_connection(("127.0.0.1", peer.endpoint.port), timeout=5) as sock:
        sock.sendall(frame)
        header = sock.recv(4, socket.MSG_WAITALL)
        body = sock.recv(codec.frame_length(header) - 4, socket.MSG_WAITALL)
    call = peer.event()
    assert (call["application"], call["serverName"], call["pid"], call["adapter"]) == (
        APP,
        SERVER,
        1234,
        OBJ,
    )
    fields = codec.decode_raw(body)
    assert (fields[1], fields[3], fields[5]) == (1, 1, 0)  # iVersion, iRequestId, iRet
    reply = codec.decode_reply(body)
    assert (reply.version, reply.request_id, reply.ret, reply.result) == (1, 1, 0, 0)


@pytest.mark.parametrize("version", [1, 3])
def test_official_non_zero_return_is_rejected(rejecting_peer: Peer, version: int) -> None:
    with NodeClient(rejecting_peer.endpoint, version=version) as client:
        with pytest.raises(NodeError) as caught:
            client.keep_alive(APP, SERVER, 1, OBJ)
        assert caught.value.kind == "rejected"
        assert "returned -1" in str(caught.value)
    assert rejecting_peer.event()["adapter"] == OBJ


def test_keepalive_round_against_the_official_peer(peer: Peer) -> None:
    reporter = KeepAlive(
        app=APP,
        server=SERVER,
        adapters=[OBJ, "App.Server.HttpAdapter"],
        node=peer.endpoint,
        probe=lambda: True,
        pid=4242,
        interval=30,
        app_version="zmq-supervisor 0.1.0",
        packet_version=3,
    )
    try:
        assert reporter.report_round()
    finally:
        reporter.close()
    calls = peer.calls(4)
    assert [c["func"] for c in calls] == ["reportVersion"] + ["keepAlive"] * 3
    assert [c.get("adapter") for c in calls[1:]] == [OBJ, "App.Server.HttpAdapter", "AdminAdapter"]
    assert {c.get("pid") for c in calls[1:]} == {4242}
    assert reporter.state == "ok"
