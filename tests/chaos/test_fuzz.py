"""Random and crafted multipart messages at every socket a peer can reach.

Bursts go to the client endpoint, to the worker endpoint (as an impostor worker), to the
control socket and to the log socket, from every kind of ZeroMQ socket that can connect
there. After each burst the master must answer a health probe at once; at the end it must
still serve, and its memory must be back where it started.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import psutil
import zmq

from supervisor import Client
from tests.ops_support import cli
from tests.support import wait_until

BURSTS = 40
BURST = 520
SOCKET_TYPES = {
    "client": (zmq.DEALER, zmq.REQ, zmq.ROUTER, zmq.PUSH, zmq.PAIR, zmq.PUB),
    "workers": (zmq.DEALER, zmq.REQ, zmq.ROUTER, zmq.PUSH),
    "control": (zmq.DEALER, zmq.REQ, zmq.ROUTER, zmq.PAIR),
    "logs": (zmq.PUSH, zmq.DEALER, zmq.PUB),
}


def _json_bomb(rng: random.Random) -> bytes:
    depth = rng.choice([33, 100, 1000, 20000])
    kind = rng.choice(["[", '{"a":'])
    return (kind * depth).encode() + rng.choice([b"", b"1" + (b"]" * depth)])


def _junk(rng: random.Random) -> bytes:
    choices = [
        lambda: b"",
        lambda: rng.randbytes(rng.randint(1, 64)),
        lambda: rng.randbytes(rng.randint(64, 4096)),
        lambda: _json_bomb(rng),
        lambda: b'{"pid": 1e999999, "level": Infinity, "key": [], "error": {}}',
        lambda: b'{"level": NaN, "name": "x", "msg": "\\ud800"}',
        lambda: json.dumps({"command": rng.choice(["status", "workers", "ping", "x"]),
                            "args": rng.choice([{}, [], None, {"a": [[[]]]}])}).encode(),
        lambda: json.dumps({"command": rng.choice(["scale", "stop"]),  # never a valid one
                            "args": rng.choice([[], {"delta": 10**30}, {"workers": -1},
                                                {"immediate": "yes"}, {"workers": "2"}])}).encode(),
        lambda: b'"' + b"\\" * rng.randint(1, 500) + b'"',
        lambda: b"\xff\xfe" + "é".encode("utf-16") * 50,
        lambda: b"x" * rng.randint(100_000, 300_000),
    ]
    return rng.choice(choices)()


def _message(target: str, rng: random.Random) -> list[bytes]:
    """One random or crafted message for `target`; at least one frame."""
    shape = rng.random()
    if shape < 0.05:
        return [rng.randbytes(rng.randint(0, 8)) for _ in range(rng.randint(500, 3000))]
    if shape < 0.25:
        return [_junk(rng) for _ in range(rng.randint(1, 8))]
    req_id = rng.choice([b"", b"1", rng.randbytes(rng.randint(1, 200))])
    if target == "client":
        handler = rng.choice([b"echo", b"nope", b"", rng.randbytes(300)])
        body = rng.choice([b"", b"x", _junk(rng)])
        return [req_id, handler, body, *rng.choice([[], [_json_bomb(rng)], [_junk(rng)],
                                                     [b'{"lastTick": null}'], [b"[]"]])]
    if target == "workers":
        kind = rng.choice([b"ok", b"err", b"ready", b"fatal", b"stop", b"?"])
        return [kind, *[_junk(rng) for _ in range(rng.randint(0, 3))]]
    if target == "control":
        return [_junk(rng)] if rng.random() < 0.5 else [b"", _junk(rng)]
    return [rng.choice([b"worker 0", b"", rng.randbytes(40)]), rng.choice([b"1", b"x", b""]),
            rng.choice([b"out", b"err", b"log", b"?"]), _junk(rng)]


def _connect(context: zmq.Context, kind: int, endpoint: str, rng: random.Random) -> zmq.Socket:
    sock = context.socket(kind)
    sock.linger = 1000  # closed right after its burst: what it queued still goes out
    sock.sndhwm = 0
    if kind in (zmq.DEALER, zmq.ROUTER, zmq.REQ, zmq.PAIR) and rng.random() < 0.5:
        sock.identity = rng.choice([b"0.999", b"impostor", rng.randbytes(rng.randint(1, 32))])
    sock.connect(endpoint)
    return sock


def _send(sock: zmq.Socket, kind: int, frames: list[bytes]) -> None:
    try:
        if kind == zmq.ROUTER:  # needs a peer identity first; none will route: dropped
            frames = [b"nobody", *frames]
        sock.send_multipart(frames, zmq.NOBLOCK)
    except zmq.ZMQError:
        pass  # REQ out of turn, no peer yet, a refused handshake: the message never went


def _probe(sock: zmq.Socket) -> float:
    """Seconds until the master answers `ping` (as the keepalive reporter asks it)."""
    started = time.monotonic()
    sock.send(json.dumps({"command": "ping"}).encode())
    assert sock.poll(5000), "the master did not answer a ping within 5 s"
    assert json.loads(sock.recv())["ok"]
    return time.monotonic() - started


def _settled_rss(process: psutil.Process) -> int:
    """RSS once two readings 200 ms apart agree within 1 MB (the master has caught up)."""
    previous = process.memory_info().rss

    def steady() -> bool:
        nonlocal previous
        time.sleep(0.2)
        current = process.memory_info().rss
        settled, previous = abs(current - previous) < 2**20, current
        return settled

    wait_until(steady, timeout=20, interval=0)
    return previous


def test_fuzzed_messages_to_every_endpoint_never_take_the_master_down(start_master, capsys):
    # Warnings about each malformed message would be 20,000 lines through the test's pipe.
    master = start_master(ready=False, pool={"num_workers": 2},
                          server={"log": {"level": "error"}})
    run_dir = Path(master.endpoint[len("ipc://"):]).parent
    endpoints = {"client": master.endpoint, "workers": f"ipc://{run_dir}/workers.sock",
                 "control": f"ipc://{run_dir}/control.sock",
                 "logs": f"ipc://{run_dir}/logs.sock"}
    wait_until(lambda: cli("status", "-c", str(master.config_path)).returncode == 0, timeout=30,
               interval=0.1)
    process = psutil.Process(master.pid)
    with Client(master.endpoint) as client:
        for _ in range(200):
            client.exec("echo", b"warm")
    context = zmq.Context()
    probe = context.socket(zmq.DEALER)
    probe.connect(endpoints["control"])
    _probe(probe)
    rss_before = _settled_rss(process)
    rng = random.Random(16)
    probes, sent, started = [], 0, time.monotonic()
    try:
        for burst in range(BURSTS):
            target = list(endpoints)[burst % len(endpoints)]
            socks = [(kind, _connect(context, kind, endpoints[target], rng))
                     for kind in SOCKET_TYPES[target]]
            for _ in range(BURST):
                kind, sock = rng.choice(socks)
                _send(sock, kind, _message(target, rng))
                sent += 1
            for _, sock in socks:
                sock.close()
            probes.append(_probe(probe))
            assert master.proc.poll() is None, "the master exited"
    finally:
        context.destroy(linger=0)
    fuzzing = time.monotonic() - started
    with Client(master.endpoint) as client:
        assert client.exec("echo", b"after", timeout=10) == b"after"
    rss_after = _settled_rss(process)
    with capsys.disabled():
        print(f"\n[fuzz] {sent} messages in {fuzzing:.1f}s; health probe after each burst: "
              f"median {sorted(probes)[len(probes) // 2] * 1000:.1f} ms, longest "
              f"{max(probes) * 1000:.1f} ms; RSS {rss_before / 2**20:.1f} -> "
              f"{rss_after / 2**20:.1f} MB")
    assert sent >= 20_000
    assert max(probes) < 0.100, probes
    assert rss_after - rss_before < 10 * 2**20
    assert master.count(r"failed while handling|the master loop failed") == 0
