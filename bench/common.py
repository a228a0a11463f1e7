"""What every benchmark family shares: a real `supervisor run` to measure, statistics, results.

Every figure is a `Figure`: our value, the baseline measured in the same run
(when the figure has one), their ratio and the target it is checked against, so
`__main__` can print one table and write one JSON file without knowing the
families.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
import yaml

ROOT = Path(__file__).resolve().parent.parent
# The tick body the ticker sends (`{"tick": N}`): the small payload every family uses.
TICK_BODY = b'{"tick": 123456}'


def echo(body: bytes) -> bytes:
    """The baselines' task: the same work as `workers.echo:echo` (module level, so it pickles)."""
    return body


@dataclass
class Figure:
    """One row of the table. `better` says which way is good for the ratio ('higher'/'lower')."""

    family: str
    name: str
    ours: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    target: str = ""
    passed: bool | None = None
    better: str = "lower"
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or not self.baseline:
            return None
        return self.ours / self.baseline

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def percentile(values: Iterable[float], pct: float) -> float:
    """Nearest-rank percentile: the value at or below which `pct` % of the samples fall."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def server_config(run_dir: Path, workers: int = 2, **sections: Any) -> dict[str, Any]:
    """A config for a benchmark master: debug log (the harness reads its lines), no ticker."""
    config: dict[str, Any] = {
        "server": {"run_dir": str(run_dir), "listen": f"ipc://{run_dir}/exec.sock",
                   "log": {"level": "debug"}},
        "pool": {"num_workers": workers, "destroy_timeout": "10s"},
        "handlers": {"echo": "workers.echo:echo", "tick": "bench.handlers:record_tick",
                     "sleep1ms": "bench.handlers:sleep_1ms", "slow": "bench.handlers:sleep_50ms"},
        "ticker": None,
    }
    config.update(sections)
    return config


class Server:
    """A `supervisor run` subprocess in a temporary run_dir, its log read line by line.

    The log is the only place the master says *when* something happened (pool
    ready, a worker ready), so the reader thread stamps each line on arrival.
    """

    def __init__(self, workers: int = 2, env: dict[str, str] | None = None,
                 **sections: Any) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="sv-bench-"))
        self.run_dir = self.dir / "run"
        self.endpoint = f"ipc://{self.run_dir}/exec.sock"
        config_path = self.dir / "supervisor.yaml"
        config_path.write_text(yaml.safe_dump(server_config(self.run_dir, workers, **sections)))
        self.lines: list[tuple[float, str]] = []
        self._changed = threading.Condition()
        self.launched = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "supervisor", "run", "-c", str(config_path)], cwd=ROOT,
            env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            stamped = (time.perf_counter(), raw.decode("utf-8", "replace").rstrip("\n"))
            with self._changed:
                self.lines.append(stamped)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: str, start: int = 0, timeout: float = 30.0) -> float:
        """The arrival time (perf_counter) of the first line from `start` on matching `pattern`."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for stamp, line in self.lines[start:]:
                    if regex.search(line):
                        return stamp
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    tail = "\n".join(line for _, line in self.lines[-30:])
                    raise RuntimeError(f"no log line matching {pattern!r}:\n{tail}")
                self._changed.wait(0.5)

    def mark(self) -> int:
        """The index of the next log line, to wait for lines after an action."""
        with self._changed:
            return len(self.lines)

    def ready(self, timeout: float = 30.0) -> Server:
        self.wait_for(r"pool ready", timeout=timeout)
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def worker_pids(self) -> dict[int, int]:
        """Worker id -> pid, from the process titles (`supervisor: worker N`)."""
        found = {}
        for child in psutil.Process(self.pid).children(recursive=True):
            try:
                match = re.fullmatch(r"supervisor: worker (\d+)", " ".join(child.cmdline()).strip())
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            if match:
                found[int(match.group(1))] = child.pid
        return found

    def control(self, command: str, **args: Any) -> Any:
        from supervisor.ops.control import ControlClient

        with ControlClient(f"ipc://{self.run_dir}/control.sock") as client:
            return client.call(command, **args)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._reader.join(5)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def rounds(count: int, steps: dict[str, Callable[[], Any]]) -> dict[str, list[Any]]:
    """Run every step once per round, rotating the order so no side always goes first."""
    results: dict[str, list[Any]] = {name: [] for name in steps}
    names = list(steps)
    for index in range(count):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            results[name].append(steps[name]())
    return results
