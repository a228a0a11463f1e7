"""Requests through a real master and real workers: answers, handler errors, limits."""

import json
import multiprocessing
import os
import signal
import time

import pytest

from supervisor import Client
from supervisor.errors import BadRequest, HandlerError, NoFreeWorkers, QueueFull, WorkerLost


def test_echo_and_worker_environment(start_master):
    master = start_master()
    with Client(master.endpoint) as client:
        assert client.exec("echo", b"hi") == b"hi"
        seen = {json.loads(client.exec("whoami"))["id"] for _ in range(20)}
        info = json.loads(client.exec("whoami"))
    assert seen == {0, 1}
    assert info["mode"] == "worker"
    assert sorted(master.worker_pids()) == [0, 1]


def test_context_reaches_the_handler(start_master):
    master = start_master()
    with Client(master.endpoint) as client:
        assert json.loads(client.exec("context", b"", context={"a": [1, 2]})) == {"a": [1, 2]}


def test_handler_error_keeps_the_worker(start_master):
    master = start_master(pool={"num_workers": 1})
    with Client(master.endpoint) as client:
        before = json.loads(client.exec("whoami"))["pid"]
        with pytest.raises(HandlerError) as caught:
            client.exec("boom", b"bad input")
        after = json.loads(client.exec("whoami"))["pid"]
    assert caught.value.type == "ValueError"
    assert caught.value.message == "boom: bad input"
    assert after == before
    master.wait_for(r"worker 0 \(pid \d+\) handler 'boom' raised ValueError: boom: bad input")
    master.wait_for(r"Traceback")


def test_unserialisable_result_is_a_handler_error(start_master):
    master = start_master(pool={"num_workers": 1})
    with Client(master.endpoint) as client, pytest.raises(HandlerError) as caught:
        client.exec("unserialisable")
    assert caught.value.type == "TypeError"
    assert "not None, bytes, str or JSON-serialisable" in caught.value.message


def test_unknown_handler_is_a_bad_request(start_master):
    master = start_master()
    with Client(master.endpoint) as client, pytest.raises(BadRequest, match="unknown handler"):
        client.exec("nope", b"x")


def test_worker_output_reaches_the_master_log_tagged(start_master):
    master = start_master(pool={"num_workers": 1})
    with Client(master.endpoint) as client:
        assert client.exec("talk") == b"said"
    pid = master.worker_pids()[0]
    master.wait_for(rf"\[worker 0 {pid}\] stdout: hello from stdout")
    master.wait_for(rf"\[worker 0 {pid}\] stderr: raw write to fd 2")
    master.wait_for(rf"WARNING \[worker 0 {pid}\] tests.talk: a warning from the handler")


def _hammer(endpoint: str, count: int, results: multiprocessing.Queue) -> None:
    wrong = 0
    with Client(endpoint) as client:
        sock = client._sock  # pipelined: every request is in flight at once
        for i in range(count):
            sock.send_multipart([i.to_bytes(8, "big"), b"echo", f"{os.getpid()}-{i}".encode()])
        for _ in range(count):
            req_id, status, body = sock.recv_multipart()
            i = int.from_bytes(req_id, "big")
            wrong += status != b"ok" or body != f"{os.getpid()}-{i}".encode()
    results.put((count, wrong))


def test_thousand_concurrent_requests_from_four_processes(start_master):
    master = start_master()
    results = multiprocessing.Queue()
    clients = [multiprocessing.Process(target=_hammer, args=(master.endpoint, 250, results))
               for _ in range(4)]
    for proc in clients:
        proc.start()
    totals = [results.get(timeout=60) for _ in clients]
    for proc in clients:
        proc.join(10)
    assert sum(count for count, _ in totals) == 1000
    assert sum(wrong for _, wrong in totals) == 0


def test_queue_full_and_no_free_workers(start_master):
    master = start_master(pool={"num_workers": 1, "max_queue_size": 2,
                                "allocate_timeout": "300ms"})
    with Client(master.endpoint) as client:
        sock = client._sock
        for i in range(6):
            sock.send_multipart([bytes([i + 1]), b"sleep", b"1"])
        replies = {}
        started = time.monotonic()
        while len(replies) < 6:
            assert client._sock.poll(5000), "a request was left without an answer"
            req_id, status, body = sock.recv_multipart()
            replies[req_id[0]] = (status, json.loads(body))
        elapsed = time.monotonic() - started
    assert replies[1][0] == b"ok"
    codes = sorted(body["code"] for status, body in replies.values() if status == b"err")
    assert codes == [NoFreeWorkers.code] * 2 + [QueueFull.code] * 3
    assert elapsed < 3.0


def test_sigkill_mid_request_gives_worker_lost(start_master):
    master = start_master(pool={"num_workers": 1})
    with Client(master.endpoint) as client:
        victim = json.loads(client.exec("whoami"))["pid"]
        client._sock.send_multipart([b"slow", b"sleep", b"30"])
        master.wait_for(r"stdout: sleeping 30s")
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        assert client._sock.poll(1000)
        req_id, status, body = client._sock.recv_multipart()
        assert time.monotonic() - killed < 1.0
        assert (req_id, status, json.loads(body)["code"]) == (b"slow", b"err", WorkerLost.code)
        info = json.loads(client.exec("whoami", timeout=10))
    assert info["id"] == 0 and info["pid"] != victim


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_other_start_methods_serve_and_restart(start_master, method):
    master = start_master(pool={"num_workers": 1, "start_method": method})
    with Client(master.endpoint) as client:
        first = json.loads(client.exec("whoami"))
        os.kill(first["pid"], signal.SIGKILL)
        master.wait_for(rf"worker 0 \(pid {first['pid']}\) exited unexpectedly")
        second = json.loads(client.exec("whoami", timeout=10))
    assert (first["id"], second["id"]) == (0, 0) and first["pid"] != second["pid"]
