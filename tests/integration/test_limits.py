"""What a peer can make the master hold: frame sizes, field sizes, floods, gone clients."""

import contextlib
import mmap
import multiprocessing
import resource
import socket
import threading
import time
from pathlib import Path

import psutil
import pytest
import zmq

from bench.flood import never_reading, taken
from supervisor import Client, wire
from supervisor.errors import BadRequest, HandlerError
from supervisor.ops.control import ControlClient

HANDLERS = {"echo": "tests.handlers:echo", "big": "tests.handlers:big"}


def _control(master) -> ControlClient:
    return ControlClient(master.endpoint.replace("exec.sock", "control.sock"))


def _raw(endpoint: str) -> zmq.Socket:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(endpoint)
    return sock


def _answer(sock: zmq.Socket) -> tuple[int, dict | bytes]:
    assert sock.poll(5000), "no answer"
    (frame,) = sock.recv_multipart()
    _, status, _ = wire.ANSWER.unpack_from(frame)
    body = frame[wire.ANSWER.size:]
    return status, wire.load_json(body) if status == wire.S_ERR else body


def test_bodies_over_the_limit_are_refused_and_results_over_it_fail(start_master):
    master = start_master(handlers=HANDLERS, server={"limits": {"message_size": "64KB"}})
    with Client(master.endpoint) as client:
        with pytest.raises(BadRequest, match=r"body of 70000 bytes exceeds server\.limits\."):
            client.exec("echo", b"x" * 70_000)
        with pytest.raises(HandlerError, match="ResultTooLarge"):
            client.exec("big", b"70000")
        assert len(client.exec("big", b"60000")) == 60_000
    raw = _raw(master.endpoint)
    try:
        raw.send(wire.request(wire.CALL, 1, b"echo", b"x" * 200_000))  # over twice the limit
        assert not raw.poll(500)  # never read: ZeroMQ dropped the connection at the frame's size
    finally:
        raw.close()
    with Client(master.endpoint) as client:
        assert client.exec("echo", b"alive") == b"alive"


def test_fields_are_bounded_and_errors_never_echo_much_of_the_input(start_master):
    master = start_master(handlers=HANDLERS)
    raw = _raw(master.endpoint)
    try:
        raw.send_multipart([b"r1", b"h" * 100_000, b"x"])  # version 1, huge handler name
        raw.send_multipart([b"r2", b"echo", b"x", b'{"k": "' + b"v" * 70_000 + b'"}'])
        raw.send_multipart([b"r3", b"echo", b"x", b"c", *[b"f"] * 10_000])
        replies = {}
        while len(replies) < 3:
            assert raw.poll(5000)
            req_id, _, body = raw.recv_multipart()
            replies[req_id] = body
        raw.send(wire.request(wire.CALL, 7, b"nope" * 30, b"x"))
        status, error = _answer(raw)
        chunk = wire.pack_bodies([b"x"] * (wire.MAX_CHUNK + 1))
        raw.send(wire.request(wire.CHUNK, 8, b"echo", chunk))
        chunk_status, chunk_error = _answer(raw)
    finally:
        raw.close()
    assert all(len(body) < 1000 for body in replies.values())
    assert b"handler name must be" in replies[b"r1"]
    assert b"context frame is not a JSON object" in replies[b"r2"]
    assert b"got 10004" in replies[b"r3"]
    assert (status, error["code"]) == (wire.S_ERR, "BadRequest") and len(error["message"]) < 300
    assert chunk_status == wire.S_ERR and "a chunk carries" in chunk_error["message"]


# --- a 1 GB frame to a memory-limited master ---

def _limit_memory(pid: int, limit: int) -> str:
    """Hold `pid` to `limit` bytes: a memory cgroup (v1) when one can be made, else RLIMIT_AS."""
    line = next((entry for entry in Path("/proc/self/cgroup").read_text().splitlines()
                 if ":memory:" in entry), None)
    if line is not None:
        group = Path("/sys/fs/cgroup/memory") / line.split(":", 2)[2].lstrip("/") / f"sv-{pid}"
        with contextlib.suppress(OSError):
            group.mkdir()
            (group / "memory.limit_in_bytes").write_text(str(limit))
            (group / "cgroup.procs").write_text(str(pid))
            return f"memory cgroup {group}"
    used = psutil.Process(pid).memory_info().vms
    resource.prlimit(pid, resource.RLIMIT_AS, (used + limit, used + limit))
    return f"RLIMIT_AS {used + limit}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_1gb_frame_to_a_tcp_listener_leaves_a_memory_limited_master_serving(start_master,
                                                                               capsys):
    endpoint = f"tcp://127.0.0.1:{_free_port()}"
    master = start_master(handlers=HANDLERS, server={"listen": endpoint})
    master.endpoint = endpoint
    limit = 512 * 2**20
    how = _limit_memory(master.pid, limit)
    peak = [0]
    watching = threading.Event()

    def watch() -> None:
        process = psutil.Process(master.pid)
        while not watching.is_set():
            with contextlib.suppress(psutil.Error):
                peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    sender = _raw(endpoint)
    gigabyte = mmap.mmap(-1, 2**30)  # untouched pages: the sender holds no gigabyte itself
    try:
        sender.send(gigabyte, copy=False)  # one frame of 1 GB
        time.sleep(2.0)
        assert master.proc.poll() is None
        with Client(endpoint) as client:
            assert client.exec("echo", b"next") == b"next"
    finally:
        watching.set()
        watcher.join()
        sender.close()
    master.stop()
    if how.startswith("memory cgroup"):
        with contextlib.suppress(OSError):
            Path(how.split(" ", 2)[2]).rmdir()
    with capsys.disabled():
        print(f"\n[limits] 1 GB frame under {how}: master peak RSS {peak[0] / 2**20:.0f} MB")
    assert peak[0] < 2 * limit


# --- a flood from a client that never reads ---

def test_a_flood_that_never_reads_is_bounded_and_starves_nothing(start_master, capsys):
    count = 1_000_000
    master = start_master(handlers={**HANDLERS, "tick": "tests.handlers:echo"},
                          ticker={"interval": "100ms", "handler": "tick"})
    process = psutil.Process(master.pid)
    spawn = multiprocessing.get_context("spawn")
    close = spawn.Event()
    flood = spawn.Process(target=never_reading, args=(master.endpoint, count, close))
    waits, idle, peak_rss = [], [], 0
    try:
        with _control(master) as control:
            def probe(into: list[float] = waits) -> dict:
                nonlocal peak_rss
                started = time.monotonic()
                status = control.call("status")
                into.append(time.monotonic() - started)
                peak_rss = max(peak_rss, process.memory_info().rss)
                return status

            for _ in range(50):  # first the same probe with no flood: what the machine adds
                probe(idle)
                time.sleep(0.02)
            # A tick waits behind requests only of handlers measured fast; until echo has been,
            # a tick due while both workers run its first calls is skipped (counted
            # no_free_worker). The flood is of a handler already known, as in production.
            with Client(master.endpoint) as client:
                for _ in range(8):
                    client.exec("echo", b"known")
            flood.start()

            deadline = time.monotonic() + 180
            while taken(status := probe()) < count - 64:
                assert time.monotonic() < deadline, status
                time.sleep(0.02)
            queued, ran = status["queue"], status["requests"].get("ok", 0)
            ticks = status["schedules"]["ticker"]
            close.set()
            closed = time.monotonic()
            while (status := probe())["queue"]:
                assert time.monotonic() - closed < 1.0, status
                time.sleep(0.01)
            dropped_after = time.monotonic() - closed
            gone = status["requests"].get("ClientGone", 0)
            ran = status["requests"].get("ok", 0) - ran
    finally:
        close.set()
        if flood.pid is not None:
            flood.join(10)
            if flood.is_alive():
                flood.kill()
    waits.sort()
    idle.sort()
    p95, slowest = waits[int(len(waits) * 0.95)], waits[-1]
    idle_p95, idle_slowest = idle[int(len(idle) * 0.95)], idle[-1]
    with capsys.disabled():
        print(f"\n[limits] flood of {count}: peak RSS {peak_rss / 2**20:.0f} MB, status p95 "
              f"{p95 * 1000:.0f} ms, slowest {slowest * 1000:.0f} ms ({len(waits)} probes; "
              f"idle p95 {idle_p95 * 1000:.0f} ms, slowest {idle_slowest * 1000:.0f} ms), "
              f"ticks {ticks}, {queued} queued dropped in "
              f"{dropped_after:.2f}s ({gone} ClientGone), clients {status['clients']}")
    assert peak_rss < 200 * 2**20
    # The master answers `status` between slices of the flood: beyond what the same probe
    # waits with no flood on this machine now, 300 ms at p95 and a second at most, where a
    # starved probe would wait out the whole flood (tens of seconds). How promptly is a
    # timing goal: bench/flood.py's figure (on a loaded two-core machine the slices, and so
    # the p95, stretch with the CPU share the master gets: 45 to 170 ms seen).
    assert p95 < idle_p95 + 0.3 and slowest < idle_slowest + 1.0, (p95, slowest)
    assert ticks["skipped"]["no_free_worker"] == 0 and ticks["delivered"] > 0
    assert gone > 0 and gone + ran >= queued  # each queued request ran or was dropped
