"""Centrifugo proxy: RPC calls per second through the gRPC helper, against the pool called directly.

One master with 2 workers and a `centrifugo:` section serving `rpc` with an echo handler.
Ours: `IN_FLIGHT` concurrent `CentrifugoProxy/RPC` calls (the default `max_concurrent`, what
the helper is set up to serve at once) on one HTTP/2 connection, as Centrifugo sends them,
driven by h2load (nghttp2's C load generator, standing in for Centrifugo's Go client so
that the driver's own cost stays small); every call is checked afterwards in the helper's
counts (`OK` by gRPC status, not just HTTP 200). Baseline, in the same rounds: the same
handler (`centrifugo.rpc`, typed adapter included) with the same body and context, through
`supervisor.Client` from `IN_FLIGHT` threads, one client each. The ratio
is what the gRPC layer costs. Needs the `centrifugo` extra and h2load
(`apt-get install nghttp2-client`).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import Figure, Server, median, rounds
from supervisor.centrifugo.settings import CentrifugoConfig

IN_FLIGHT = CentrifugoConfig().max_concurrent
MINIMUM = 0.5
_DATA = b'{"tick": 123456}'
_PATH = "/centrifugal.centrifugo.proxy.CentrifugoProxy/RPC"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _h2load(port: int, body: Path, count: int) -> float:
    """Calls per second from h2load; every call must have been answered (HTTP level)."""
    done = subprocess.run(
        ["h2load", "-n", str(count), "-c", "1", "-m", str(IN_FLIGHT),
         "-H", "content-type: application/grpc", "-H", "te: trailers", "-d", str(body),
         f"http://127.0.0.1:{port}{_PATH}"], capture_output=True, text=True, check=True)
    rate = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", done.stdout)
    succeeded = re.search(r"(\d+) succeeded", done.stdout)
    if rate is None or succeeded is None or int(succeeded.group(1)) != count:
        raise RuntimeError(f"h2load did not complete every call:\n{done.stdout}")
    return float(rate.group(1))


def _threads_rate(call: Any, count: int, make: Any) -> float:
    """Calls per second with IN_FLIGHT threads sharing `count` calls, `make()` a state each."""
    left = [count]
    lock = threading.Lock()
    go = threading.Barrier(IN_FLIGHT + 1)
    failures: list[BaseException] = []

    def lane() -> None:
        state = make()
        go.wait()
        try:
            while True:
                with lock:
                    if left[0] <= 0:
                        return
                    left[0] -= 1
                call(state)
        except BaseException as exc:  # reported after the run
            failures.append(exc)
        finally:
            state.close()

    threads = [threading.Thread(target=lane) for _ in range(IN_FLIGHT)]
    for thread in threads:
        thread.start()
    go.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} lanes failed: {failures[0]!r}")
    return count / elapsed


def run(quick: bool = False) -> list[Figure]:
    from supervisor.centrifugo import protocol
    from supervisor.client import Client

    if shutil.which("h2load") is None:
        raise RuntimeError("the centrifugo bench needs h2load: apt-get install nghttp2-client")
    count, repeats = (2000, 3) if quick else (6000, 5)
    request_cls = protocol.load("proxy.proto").methods["CentrifugoProxy"]["RPC"][0]
    message = request_cls(client="c1", user="42", method="echo", data=_DATA).SerializeToString()
    body = json.dumps({"client": "c1", "user": "42", "method": "echo",
                       "data": base64.b64encode(_DATA).decode()}).encode()
    context = {"type": "rpc", "metadata": {}}
    expected = base64.b64encode(_DATA).decode()
    port = _free_port()
    section = {"proxy_listen": f"tcp://127.0.0.1:{port}", "max_concurrent": IN_FLIGHT,
               "handlers": {"rpc": "bench.handlers:rpc_echo"}}
    with tempfile.NamedTemporaryFile(suffix=".grpc") as framed, \
            Server(workers=2, centrifugo=section) as server:
        framed.write(b"\x00" + struct.pack(">I", len(message)) + message)  # gRPC framing
        framed.flush()
        server.ready()
        server.wait_for(r"serving Centrifugo's proxy")

        def via_client(client: Client) -> None:
            reply = client.exec("centrifugo.rpc", body, timeout=10, context=context)
            if json.loads(reply)["result"]["data"] != expected:
                raise RuntimeError("wrong answer through the client")

        steps = {"ours": lambda: _h2load(port, Path(framed.name), count),
                 "client": lambda: _threads_rate(via_client, count,
                                                 lambda: Client(server.endpoint))}
        rounds(1, steps)  # warm-up: the connection made, every thread's client connected
        results = {name: median(values) for name, values in rounds(repeats, steps).items()}
        ok = _proxy_ok(server, count * (repeats + 1))
    ratio = results["ours"] / results["client"]
    return [Figure("centrifugo", "proxy RPC through the helper, 2 workers", results["ours"],
                   "calls/s", results["client"], "supervisor.Client, same handler",
                   f">= {MINIMUM:g}x", ratio >= MINIMUM, better="higher",
                   detail={"calls": count, "rounds": repeats, "in_flight": IN_FLIGHT,
                           "answered_ok": ok})]


def _proxy_ok(server: Server, expected: int, timeout: float = 5.0) -> int:
    """The helper's count of RPC calls answered OK, once it reported all of them."""
    deadline = time.monotonic() + timeout
    while True:
        calls = server.control("status")["centrifugo"]["calls"].get("rpc", {})
        if calls.get("OK", 0) >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if calls != {"OK": expected}:
        raise RuntimeError(f"expected {expected} RPC calls answered OK, the helper counted {calls}")
    return calls["OK"]
