"""The stand-in node: what it records, and its console as `supervisor tars-node` shows it."""

from __future__ import annotations

import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from supervisor.tars import codec
from supervisor.tars.conf import parse_endpoint
from supervisor.tars.node import NodeClient
from supervisor.tars.standin import Call, StandInNode


def test_records_calls_and_the_gap_per_adapter() -> None:
    seen: list[Call] = []
    with StandInNode(on_call=seen.append) as node, NodeClient(node.endpoint) as client:
        client.keep_alive("App", "Server", 10, "A")
        client.keep_alive("App", "Server", 10, "B")
        client.keep_alive("App", "Server", 10, "A")
        assert node.wait_for(3, timeout=5)
    first_a, first_b, second_a = node.keepalives()
    assert first_a.since_last is None and first_b.since_last is None
    assert second_a.since_last is not None and second_a.since_last >= 0
    assert seen == node.calls


def test_garbage_closes_the_connection_and_is_noted() -> None:
    with StandInNode() as node, socket.create_connection(("127.0.0.1", node.port), 2) as sock:
        sock.sendall(b"\x00\x00\x00\x09garbage")
        sock.settimeout(2)
        assert sock.recv(10) == b""
        assert node.errors and "malformed" in node.errors[0]


def test_frames_split_across_writes_are_reassembled() -> None:
    frame = codec.keep_alive(codec.ServerInfo("App", "Server", 5, "A"), request_id=9)
    with StandInNode() as node, socket.create_connection(("127.0.0.1", node.port), 2) as sock:
        for i in range(0, len(frame), 7):
            sock.sendall(frame[i : i + 7])
        sock.settimeout(2)
        reply = sock.recv(4096)
    assert codec.decode_reply(reply[4:]).request_id == 9


def test_call_line_names_everything_an_operator_needs() -> None:
    call = Call(
        "keepAlive", 1, False, 3, "App", "Server", 77, "App.Server.ObjAdapter", "", 0, 29.96
    )
    line = call.line()
    for part in ("keepAlive", "app=App", "server=Server", "adapter=App.Server.ObjAdapter"):
        assert part in line
    assert "pid=77" in line and "since_last=30.0s" in line and "(v1 normal)" in line
    empty = Call("keepAlive", 3, True, 3, "App", "Server", 77, "", "", 0, None)
    assert "adapter=(all)" in empty.line() and "since_last=-" in empty.line()


def _lines(stream) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return lines


@pytest.fixture
def console() -> Iterator[tuple[subprocess.Popen[str], queue.Queue[str]]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "supervisor.tars.standin", "--listen", "tcp -h 127.0.0.1 -p 0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield process, _lines(process.stdout)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=5)


def test_console_prints_one_line_per_call(console) -> None:
    process, lines = console
    banner = lines.get(timeout=10)
    assert banner.startswith("tars node stand-in listening on tcp -h 127.0.0.1 -p ")
    endpoint = parse_endpoint(banner.split(" on ", 1)[1])
    with NodeClient(endpoint, version=3) as client:
        client.report_version("App", "Server", "0.1.0")
        client.keep_alive("App", "Server", 31, "App.Server.ObjAdapter")
        client.keep_alive("App", "Server", 31, "App.Server.ObjAdapter")
    version_line = lines.get(timeout=5)
    first, second = lines.get(timeout=5), lines.get(timeout=5)
    assert "reportVersion app=App server=Server version=0.1.0 (v3 normal)" in version_line
    assert "adapter=App.Server.ObjAdapter pid=31 since_last=- " in first
    assert "since_last=0.0s" in second
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=5) == 0


def test_console_rejects_a_bad_listen_address() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "supervisor.tars.standin", "--listen", "tcp -h 127.0.0.1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "-p PORT" in result.stderr
