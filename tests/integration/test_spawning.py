"""Starting many workers never stalls the master loop; resets fail no request.

The loop's stalls are measured by a probe pinging the control socket every 10 ms
(`tests.probe`) while the pool grows to 100 workers and while 100 workers are
replaced at once.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import zmq

from bench.stall import StallProbe
from supervisor import Client
from supervisor.config import loader
from supervisor.lifecycle.slots import Workers
from supervisor.ops.control import ControlClient
from supervisor.pool.allocator import Pool
from supervisor.pool.states import State
from tests.ops_support import write_config
from tests.support import wait_until


def _control_endpoint(master) -> str:
    run_dir = master.endpoint[len("ipc://"):].rsplit("/", 1)[0]
    return f"ipc://{run_dir}/control.sock"


def _control(master) -> ControlClient:
    return ControlClient(_control_endpoint(master), timeout=10.0)


def _status(master) -> dict:
    with _control(master) as control:
        return control.call("status")


def test_scale_to_100_and_reset_100_never_stall_the_loop(start_master, capsys):
    master = start_master(pool={"num_workers": 2})
    endpoint = _control_endpoint(master)
    with StallProbe(endpoint) as idle:
        time.sleep(0.5)
    with StallProbe(endpoint) as probe, _control(master) as control:
        started = time.monotonic()
        assert control.call("scale", workers=100) == {"size": 100}
        wait_until(lambda: _status(master)["pool"]["ready"] == 100, timeout=120, interval=0.2)
        scaled = time.monotonic() - started
        assert control.call("reset") == {"replacing": 100}
        wait_until(lambda: _status(master)["state"] == "running" and
                   _status(master)["pool"]["processes"] == 100, timeout=120, interval=0.2)
        reset = time.monotonic() - scaled - started
    with capsys.disabled():
        print(f"\n[stall] idle longest {idle.longest * 1000:.1f} ms; scale to 100 in "
              f"{scaled:.1f}s and reset of 100 in {reset:.1f}s: longest {probe.longest * 1000:.1f}"
              f" ms over {len(probe.delays)} pings")
    assert probe.unanswered == 0
    # Starting a worker inside the loop stalled it 4.6 s here; the 50 ms goal is a benchmark
    # figure (python -m bench --only stall): this bound only catches a return to that.
    assert probe.longest < 0.250, probe.longest


def test_reset_storms_under_load_fail_no_request(start_master, start_load, capsys):
    """A reset retires a worker that is still starting before killing it, so the READY it
    may already have sent cannot hand it a request that would then die with it."""
    master = start_master(pool={"num_workers": 2})
    load = start_load(master.endpoint, clients=2, timeout=10).wait_running()
    with _control(master) as control:
        started = time.monotonic()
        for _ in range(50):
            for _ in range(100):
                control.call("reset")
            wait_until(lambda: control.call("status")["state"] == "running", timeout=30,
                       interval=0.02)
        storms = time.monotonic() - started
        outcomes, _ = load.stop()
        restarts = control.call("status")["restarts"]
    with capsys.disabled():
        print(f"\n[reset storms] 50 x 100 resets in {storms:.1f}s: {dict(outcomes)}, "
              f"restarts {restarts}")
    assert set(outcomes) == {"ok"}, outcomes


def test_reset_retires_a_worker_still_starting_before_killing_it(tmp_path):
    """Its READY may already be on the way: retired first, it can take no request."""
    config = loader.load(write_config(tmp_path, pool={"num_workers": 1}))
    os.makedirs(config.run_dir, mode=0o700)
    context = zmq.Context()
    backend = context.socket(zmq.ROUTER)
    backend.bind(config.worker_endpoint)
    poller, pool = zmq.Poller(), Pool(0, 60.0)
    workers = Workers(config, pool, backend, poller, lambda reason: None)
    try:
        workers.start_all(time.monotonic())
        wait_until(lambda: (poller.poll(100) and workers.on_launched(time.monotonic())) or
                   workers.processes)
        [first] = workers.processes
        assert pool.workers[first].state is State.STARTING
        workers.reset(time.monotonic())
        assert pool.workers[first].state is State.STOPPING
    finally:
        workers.close()
        backend.close(0)
        context.term()


def test_a_worker_killed_while_starting_takes_no_request(start_master):
    """100 resets in one batch: each kills the successor the one before started. A killed
    successor's READY, read after its kill, must not hand it the request that waits."""
    master = start_master(pool={"num_workers": 1})

    def call(handler: str, body: bytes) -> bytes:
        with Client(master.endpoint) as client:
            return client.exec(handler, body, timeout=20)

    with ThreadPoolExecutor(2) as calls:
        running = calls.submit(call, "sleep", b"1.5")
        master.wait_for(r"stdout: sleeping 1.5s")
        queued = calls.submit(call, "echo", b"queued")
        wait_until(lambda: _status(master)["queue"] == 1)
        with zmq.Context() as context, context.socket(zmq.DEALER) as control:
            control.linger = 0
            control.connect(_control_endpoint(master))
            for _ in range(100):
                control.send(json.dumps({"command": "reset"}).encode())
            replies = [json.loads(control.recv()) for _ in range(100) if control.poll(10_000)]
        assert len(replies) == 100 and all(reply["ok"] for reply in replies)
        assert queued.result(timeout=20) == b"queued"
        assert json.loads(running.result(timeout=20))["slept"] == 1.5
