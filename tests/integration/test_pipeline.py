"""Workers that hold requests they have not started: every planned change drains them, none fails.

Recycling at `max_jobs`, a reset, scaling down and a graceful stop all take workers
out of service while clients keep 32 requests in flight each; every request must
end answered (or, once the master stops, refused before it ran), and none may run
twice.
"""

import collections
import signal
import time

import pytest

from tests.load import PipelinedLoad
from tests.ops_support import cli

HANDLERS = {"record_id": "tests.handlers:record_id"}


def _run(start_master, tmp_path, action, **pool):
    id_log = tmp_path / "ids.log"
    master = start_master(env={"ID_LOG": str(id_log)}, handlers=HANDLERS,
                          pool={"num_workers": 2, "pipeline": 4, **pool})
    load = PipelinedLoad(master.endpoint, clients=2, window=32)
    try:
        load.wait_running()
        time.sleep(0.5)  # traffic flowing, workers measured fast and holding requests
        action(master)
        time.sleep(1.0)
        outcomes = load.stop()
    finally:
        load.terminate()
    ran = collections.Counter(id_log.read_text().split())
    assert {body: n for body, n in ran.items() if n > 1} == {}
    assert all(body in ran for body, end in outcomes.items() if end == "ok")
    return master, collections.Counter(outcomes.values()), ran, outcomes


def test_max_jobs_recycling_drains_held_requests(start_master, tmp_path):
    master, ends, _, _ = _run(start_master, tmp_path, lambda m: None, max_jobs=300)
    assert set(ends) == {"ok"}, ends
    assert master.count(r"recycling worker \d") >= 2


@pytest.mark.parametrize("action", ["reset", "scale down"])
def test_reset_and_scale_down_fail_nothing(start_master, tmp_path, action):
    def act(master):
        if action == "reset":
            assert cli("reset", "-c", str(master.config_path)).returncode == 0
            master.wait_for(r"reset done")
        else:
            master.signal(signal.SIGTTOU)
            master.wait_for(r"pool size is now 1")

    _, ends, _, _ = _run(start_master, tmp_path, act)
    assert set(ends) == {"ok"}, ends


def test_graceful_stop_runs_what_workers_hold_and_refuses_the_rest(start_master, tmp_path):
    def stop(master):
        master.signal(signal.SIGTERM)
        assert master.wait_exit(15) == 0

    _, ends, ran, outcomes = _run(start_master, tmp_path, stop)
    # Refused (NotRunning), or still on its way when the master closed (ConnectionLost).
    assert set(ends) <= {"ok", "NotRunning", "ConnectionLost"}, ends
    assert ends["ok"] > 0 and ends["NotRunning"] > ends["ConnectionLost"]
    assert not any(body in ran for body, end in outcomes.items() if end != "ok")
