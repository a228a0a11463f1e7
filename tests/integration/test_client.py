"""The client API through a real master: threads, futures, map and chunks, asyncio, cancel."""

import asyncio
import json
import threading
from concurrent.futures import wait

import pytest
import zmq

from supervisor import AsyncClient, Client, wire
from supervisor.errors import ExecTimeout, HandlerError
from supervisor.ops.control import ControlClient
from tests.support import wait_until

HANDLERS = {"echo": "tests.handlers:echo", "picky": "tests.handlers:picky",
            "record_id": "tests.handlers:record_id", "nap": "tests.handlers:nap",
            "sleep": "tests.handlers:sleep", "whoami": "tests.handlers:whoami"}


@pytest.fixture
def master(start_master, tmp_path):
    master = start_master(env={"ID_LOG": str(tmp_path / "ids.log")}, handlers=HANDLERS)
    master.id_log = tmp_path / "ids.log"
    return master


def _ran(master) -> list[str]:
    return master.id_log.read_text().split() if master.id_log.exists() else []


def _status(master) -> dict:
    with ControlClient(master.endpoint.replace("exec.sock", "control.sock")) as control:
        return control.call("status")


def test_one_client_shared_by_16_threads(master):
    errors, calls = [], 10_000
    with Client(master.endpoint) as client:
        def run(thread: int) -> None:
            for i in range(calls // 16):
                body = f"{thread}:{i}".encode()
                if client.exec("echo", body) != body:
                    errors.append(body)

        threads = [threading.Thread(target=run, args=(t,)) for t in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in threads)
    assert errors == []


def test_submit_futures_resolve_to_results_and_typed_errors(master):
    with Client(master.endpoint) as client:
        futures = [client.submit("echo", str(i)) for i in range(500)]
        failing = client.submit("picky", b"!no")
        wait([*futures, failing], timeout=30)
        assert [f.result() for f in futures] == [str(i).encode() for i in range(500)]
        with pytest.raises(HandlerError, match="refused !no"):
            failing.result()
        assert client.exec("echo", b"after") == b"after"


def test_futures_resolve_while_the_caller_thread_only_waits(master):
    with Client(master.endpoint) as client:
        future = client.submit("nap", b"0.2")
        done = threading.Event()
        future.add_done_callback(lambda f: done.set())
        assert done.wait(10)
        assert future.result() == b"0.2"


@pytest.mark.parametrize("chunksize", [1, 8, 64])
def test_map_keeps_order_and_each_body_is_its_own_call(master, chunksize):
    bodies = [f"m{chunksize}-{i}" for i in range(300)]
    with Client(master.endpoint) as client:
        assert list(client.map("record_id", bodies, chunksize=chunksize)) == \
            [b.encode() for b in bodies]
    assert sorted(_ran(master)) == sorted(bodies)


def test_map_raises_a_failed_items_error_in_its_turn(master):
    bodies = ["a", "b", "!c", "d"]
    with Client(master.endpoint) as client:
        results = client.map("picky", bodies, chunksize=4)
        assert [next(results), next(results)] == [b"a", b"b"]
        with pytest.raises(HandlerError, match="refused !c"):
            next(results)


def test_a_map_of_large_bodies_waits_in_the_client_instead_of_filling_the_queue(start_master):
    """Against the default 64 MiB of queue memory, 100 bodies of 1 MiB all in flight at
    once failed with QueueFull; the map now keeps its byte budget and every body comes back."""
    master = start_master(handlers=HANDLERS, pool={"num_workers": 1})
    body = b"x" * 2**20
    with Client(master.endpoint) as client:
        assert sum(answer == body for answer in client.map("echo", [body] * 100)) == 100
    assert "QueueFull" not in _status(master)["requests"]


def test_a_timed_out_call_that_still_waits_in_the_queue_never_runs(start_master, tmp_path):
    master = start_master(env={"ID_LOG": str(tmp_path / "ids.log")}, handlers=HANDLERS,
                          pool={"num_workers": 1})
    with Client(master.endpoint) as client:
        busy = client.submit("nap", b"0.6")
        with pytest.raises(ExecTimeout):
            client.exec("record_id", b"late", timeout=0.2)
        cancelled = client.submit("record_id", b"cancelled")
        assert cancelled.cancel()
        assert busy.result(10) == b"0.6"
        assert client.exec("record_id", b"next") == b"next"
    assert (tmp_path / "ids.log").read_text().split() == ["next"]
    assert _status(master)["requests"].get("Cancelled") == 2  # a timed-out call is cancelled


def test_asyncio_1000_concurrent_calls_and_a_cancelled_one(master):
    async def main() -> None:
        async with AsyncClient(master.endpoint) as client:
            bodies = [f"a{i}".encode() for i in range(1000)]
            assert await asyncio.gather(*(client.exec("echo", b) for b in bodies)) == bodies
            slow = asyncio.ensure_future(client.exec("nap", b"0.5"))
            await asyncio.sleep(0.05)
            slow.cancel()
            with pytest.raises(asyncio.CancelledError):
                await slow
            assert client._calls == {}  # the cancelled call freed its place
            assert await client.exec("echo", b"after") == b"after"
            out = [item async for item in client.map("echo", [b"x", b"y", b"z"], chunksize=2)]
            assert out == [b"x", b"y", b"z"]
            with pytest.raises(HandlerError):
                await client.submit("picky", b"!")

    asyncio.run(main())


def test_exec_ttl_counts_from_the_start_of_a_prefetched_request(start_master):
    master = start_master(handlers=HANDLERS, pool={
        "num_workers": 1, "pipeline": 2, "supervisor": {"exec_ttl": "600ms"}})
    with Client(master.endpoint) as client:
        for _ in range(8):  # measured fast, so a request may wait behind it
            client.exec("nap", b"0.001")
        first, second = client.submit("nap", b"0.4"), client.submit("nap", b"0.4")
        assert (first.result(10), second.result(10)) == (b"0.4", b"0.4")


def test_version_1_frames_still_work(master):
    raw = zmq.Context.instance().socket(zmq.DEALER)
    raw.linger = 0
    raw.connect(master.endpoint)
    try:
        raw.send_multipart([b"one", b"echo", b"plain"])
        raw.send_multipart([b"two", b"whoami", b"", b'{"k": 1}'])
        replies = {}
        for _ in range(2):
            assert raw.poll(5000)
            req_id, status, body = raw.recv_multipart()
            replies[req_id] = (status, body)
    finally:
        raw.close()
    assert replies[b"one"] == (wire.OK, b"plain")
    assert replies[b"two"][0] == wire.OK and json.loads(replies[b"two"][1])["mode"] == "worker"


def test_queued_requests_of_a_client_that_disconnects_are_dropped_and_counted(start_master,
                                                                              tmp_path):
    master = start_master(env={"ID_LOG": str(tmp_path / "ids.log")}, handlers=HANDLERS,
                          pool={"num_workers": 1})
    with Client(master.endpoint) as client:
        busy = client.submit("nap", b"3.0")
        raw = zmq.Context.instance().socket(zmq.DEALER)
        raw.linger = 1000
        raw.connect(master.endpoint)
        for i in range(1000):
            raw.send(wire.request(wire.CALL, i + 1, b"record_id", b"%d" % i))
        wait_until(lambda: _status(master)["queue"] == 1000, timeout=5)
        raw.close()
        wait_until(lambda: _status(master)["requests"].get("ClientGone") == 1000, timeout=1.0)
        assert _status(master)["queue"] == 0
        assert busy.result(10) == b"3.0"
        assert client.exec("record_id", b"next") == b"next"
    assert (tmp_path / "ids.log").read_text().split() == ["next"]
