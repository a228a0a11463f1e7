import shutil
import tempfile
from pathlib import Path

import pytest

from tests.load import Load
from tests.support import MasterProcess, base_config

pytest_plugins = ["tests.zmq_guard", "tests.ops_support", "tests.fakes"]


@pytest.fixture
def start_load():
    """Start client load processes; any still running at tear-down are stopped."""
    started: list[Load] = []

    def start(endpoint: str, **options) -> Load:
        load = Load(endpoint, **options)
        started.append(load)
        return load

    yield start
    for load in started:
        load.terminate()


@pytest.fixture
def start_master():
    """Start masters for a test; each is stopped and its files removed afterwards."""
    started: list[MasterProcess] = []

    def start(ready: bool = True, config: dict | None = None, env: dict | None = None,
              **overrides) -> MasterProcess:
        run_dir = Path(tempfile.mkdtemp(prefix="sv-run-")) / "run"
        master = MasterProcess(config or base_config(run_dir, **overrides), env=env)
        started.append(master)
        return master.wait_ready() if ready else master

    yield start
    for master in started:
        master.stop()
        shutil.rmtree(master.dir, ignore_errors=True)
