"""Centrifugo proxy: RPC calls per second through the gRPC helper, against the pool called directly.

One master with 2 workers and a `centrifugo:` section serving `rpc` with an echo handler.
Ours: `IN_FLIGHT` concurrent `CentrifugoProxy/RPC` calls (the default `max_concurrent`, what
the helper is set up to serve at once) on one HTTP/2 connection, as Centrifugo sends them,
driven by h2load (nghttp2's C load generator, standing in for Centrifugo's Go client so
that the driver's own cost stays small); every call is checked afterwards in the helper's
counts (`OK` by gRPC status, not just HTTP 200). Baseline, in the same rounds: the same
handler (`centrifugo.rpc`, typed adapter included) with the same body and context, through
one `supervisor.Client` shared by `IN_FLIGHT` threads, as the helper had it before it
moved to `AsyncClient`. The ratio is what the gRPC layer costs.

The floor, in the same rounds and by the same h2load: the helper's own gRPC server and
servicer (`start_server`, `ProxyServicer`: credentials, limits, protobuf and JSON
conversions) in a process of its own, with a stand-in for the pool that answers at once:
what grpcio in Python allows on this machine before any pool work. Needs the `centrifugo`
extra and h2load (`apt-get install nghttp2-client`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, Figure, Server, median, rounds
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


def _threads_rate(call: Any, count: int) -> float:
    """Calls per second with IN_FLIGHT threads sharing `count` calls of `call()`."""
    left = [count]
    lock = threading.Lock()
    go = threading.Barrier(IN_FLIGHT + 1)
    failures: list[BaseException] = []

    def lane() -> None:
        go.wait()
        try:
            while True:
                with lock:
                    if left[0] <= 0:
                        return
                    left[0] -= 1
                call()
        except BaseException as exc:  # reported after the run
            failures.append(exc)

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
    port, floor_port = _free_port(), _free_port()
    section = {"proxy_listen": f"tcp://127.0.0.1:{port}", "max_concurrent": IN_FLIGHT,
               "handlers": {"rpc": "bench.handlers:rpc_echo"}}
    with tempfile.NamedTemporaryFile(suffix=".grpc") as framed, \
            Server(workers=2, centrifugo=section) as server, _Floor(floor_port) as floor, \
            Client(server.endpoint) as client:
        framed.write(b"\x00" + struct.pack(">I", len(message)) + message)  # gRPC framing
        framed.flush()
        server.ready()
        server.wait_for(r"serving Centrifugo's proxy")

        def via_client() -> None:
            reply = client.exec("centrifugo.rpc", body, timeout=10, context=context)
            if json.loads(reply)["result"]["data"] != expected:
                raise RuntimeError("wrong answer through the client")

        steps = {"ours": lambda: _h2load(port, Path(framed.name), count),
                 "floor": lambda: _h2load(floor_port, Path(framed.name), count),
                 "client": lambda: _threads_rate(via_client, count)}
        rounds(1, steps)  # warm-up: the connections made, the threads' first calls
        results = {name: median(values) for name, values in rounds(repeats, steps).items()}
        ok = _proxy_ok(server, count * (repeats + 1))
        floor_ok = floor.answered_ok()
    if floor_ok != count * (repeats + 1):
        raise RuntimeError(f"the floor answered {floor_ok} calls OK, not {count * (repeats + 1)}")
    ratio = results["ours"] / results["client"]
    detail = {"calls": count, "rounds": repeats, "in_flight": IN_FLIGHT, "answered_ok": ok}
    return [Figure("centrifugo", "proxy RPC through the helper, 2 workers", results["ours"],
                   "calls/s", results["client"], "supervisor.Client, same handler",
                   f">= {MINIMUM:g}x", ratio >= MINIMUM, better="higher", detail=detail),
            Figure("centrifugo", "bare gRPC floor: the helper's server, no pool",
                   results["floor"], "calls/s", results["client"],
                   "supervisor.Client, same handler", better="higher",
                   detail={**detail, "answered_ok": floor_ok}),
            Figure("centrifugo", "proxy RPC through the helper, 2 workers", results["ours"],
                   "calls/s", results["floor"], "bare gRPC floor", better="higher",
                   detail=detail)]


class _Floor:
    """`serve_floor` in a process of its own, listening on `port` until the context ends."""

    def __init__(self, port: int) -> None:
        main = f"from bench.centrifugo import serve_floor; serve_floor({port})"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", main], cwd=ROOT, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            self.proc.kill()
            raise RuntimeError("the gRPC floor did not start")

    def answered_ok(self) -> int:
        """Stop the floor; the calls it answered OK."""
        self.proc.send_signal(signal.SIGTERM)
        counts = json.loads(self.proc.communicate(timeout=10)[0])
        return counts.get("rpc", {}).get("OK", 0)

    def __enter__(self) -> _Floor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


class _AnswerAtOnce:
    """Stands in for the helper's `AsyncClient`: the echo handler's answer, without a pool."""

    def __init__(self) -> None:
        self.reply = json.dumps({"result": {"data": base64.b64encode(_DATA).decode()}}).encode()

    async def exec(self, handler: str, body: bytes, timeout: float, context: dict) -> bytes:
        json.dumps(context)  # what the client encodes for the wire
        return self.reply


def serve_floor(port: int) -> None:
    """Process main of the floor: the helper's server and servicer, answering at once."""
    from supervisor.centrifugo.server import ProxyServicer, start_server

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        servicer = ProxyServicer(_AnswerAtOnce(), ["rpc"], 10.0, IN_FLIGHT, None)
        server = await start_server(servicer, f"127.0.0.1:{port}")
        print("ready", flush=True)
        await stop.wait()
        await server.stop(None)
        print(json.dumps(servicer.snapshot()), flush=True)

    asyncio.run(main())


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
