"""Start a real master as a subprocess and watch what it logs."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parent.parent


def base_config(run_dir: Path, **overrides) -> dict:
    config = {
        "server": {"run_dir": str(run_dir), "listen": f"ipc://{run_dir}/exec.sock",
                   "log": {"level": "debug"}},
        "pool": {"num_workers": 2, "destroy_timeout": "10s"},
        "handlers": {"echo": "tests.handlers:echo", "whoami": "tests.handlers:whoami",
                     "sleep": "tests.handlers:sleep", "boom": "tests.handlers:boom",
                     "unserialisable": "tests.handlers:unserialisable",
                     "context": "tests.handlers:context", "talk": "tests.handlers:talk"},
    }
    for section, values in overrides.items():
        if isinstance(values, dict) and isinstance(config.get(section), dict):
            config[section] = {**config[section], **values}
        else:
            config[section] = values
    return config


class MasterProcess:
    """A `supervisor run` subprocess with its output collected line by line."""

    def __init__(self, config: dict | None, env: dict | None = None,
                 args: list[str] | None = None, endpoint: str | None = None):
        self.dir = Path(tempfile.mkdtemp(prefix="sv-"))
        self.config_path = self.dir / "supervisor.yaml"
        if config is not None:
            self.config_path.write_text(yaml.safe_dump(config))
        self.endpoint = endpoint or config["server"]["listen"]
        self.lines: list[str] = []
        self._changed = threading.Condition()
        command = args or [sys.executable, "-m", "supervisor", "run", "-c", str(self.config_path)]
        self.proc = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            with self._changed:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = 15.0, start: int = 0) -> re.Match:
        """Block until a line matching `pattern` appears (from line `start` on)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines[start:]:
                    match = regex.search(line)
                    if match:
                        return match
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"no line matching {pattern!r} within {timeout}s; "
                                         f"output:\n" + "\n".join(self.lines[-60:]))
                self._changed.wait(min(remaining, 0.5))

    def wait_count(self, pattern: str, count: int, timeout: float = 15.0) -> None:
        """Block until `count` lines match `pattern`."""
        deadline = time.monotonic() + timeout
        while self.count(pattern) < count:
            with self._changed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"fewer than {count} lines match {pattern!r}; output:\n"
                                         + "\n".join(self.lines[-60:]))
                self._changed.wait(min(remaining, 0.5))

    def count(self, pattern: str) -> int:
        regex = re.compile(pattern)
        with self._changed:
            return sum(1 for line in self.lines if regex.search(line))

    def wait_ready(self, timeout: float = 20.0) -> MasterProcess:
        self.wait_for(r"pool ready", timeout)
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def worker_pids(self) -> dict[int, int]:
        """Worker id -> pid, from the process titles (`supervisor: worker N`)."""
        found = {}
        for child in self.descendants():
            try:
                title = " ".join(child.cmdline())
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            match = re.fullmatch(r"supervisor: worker (\d+)", title.strip())
            if match:
                found[int(match.group(1))] = child.pid
        return found

    def signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def wait_exit(self, timeout: float = 30.0) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        """Tear-down: TERM, then KILL the whole session if it lingers."""
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._reader.join(5)


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02):
    """Poll a condition that has no event to await (process tables), bounded by `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def gone(pids: list[int]) -> bool:
    return not any(alive(pid) for pid in pids)


def kill_workers_randomly(master: MasterProcess, seconds: float = 10.0, every: float = 0.1,
                          seed: int = 7) -> int:
    """SIGKILL a random worker of `master` every `every` seconds for `seconds`; the kills."""
    rng = random.Random(seed)
    kills = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pids = list(master.worker_pids().values())
        if pids:
            try:
                os.kill(rng.choice(pids), signal.SIGKILL)
                kills += 1
            except ProcessLookupError:
                pass
        time.sleep(every)  # the fault rate under test
    return kills
