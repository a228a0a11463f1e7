"""Compare multiprocessing start methods: time to a ready pool, and to replace a killed worker.

Run: python -m bench.start_methods [--workers N] [--rounds R]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _wait_line(proc: subprocess.Popen, pattern: str, timeout: float = 60.0) -> float:
    regex = re.compile(pattern)
    deadline = time.monotonic() + timeout
    for raw in proc.stdout:
        if regex.search(raw.decode(errors="replace")):
            return time.perf_counter()
        if time.monotonic() > deadline:
            break
    raise RuntimeError(f"no line matching {pattern!r}")


def measure(method: str, workers: int) -> tuple[float, float]:
    """Seconds from launch to a ready pool, and from SIGKILL of a worker to its replacement."""
    run_dir = Path(tempfile.mkdtemp(prefix="sv-bench-")) / "run"
    config = {"server": {"run_dir": str(run_dir), "log": {"level": "debug"}},
              "pool": {"num_workers": workers, "start_method": method},
              "handlers": {"echo": "workers.echo:echo"}}
    path = run_dir.parent / "supervisor.yaml"
    path.write_text(yaml.safe_dump(config))
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "supervisor", "run", "-c", str(path)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        ready = _wait_line(proc, r"pool ready") - started
        victim = next(c for c in psutil.Process(proc.pid).children(recursive=True)
                      if "worker 0" in " ".join(c.cmdline()))
        killed = time.perf_counter()
        os.kill(victim.pid, signal.SIGKILL)
        _wait_line(proc, r"ready \(pid")
        return ready, time.perf_counter() - killed
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"{'method':<12}{'ready ' + str(args.workers) + ' workers':>22}{'replace one':>14}")
    for method in ("fork", "forkserver", "spawn"):
        rounds = [measure(method, args.workers) for _ in range(args.rounds)]
        ready = statistics.median(r for r, _ in rounds)
        replace = statistics.median(r for _, r in rounds)
        print(f"{method:<12}{ready * 1000:>19.0f} ms{replace * 1000:>11.0f} ms")


if __name__ == "__main__":
    main()
