"""Tick precision: a 10 ms ticker on an otherwise idle pool, measured where the handler runs.

Lateness is the worker's arrival time minus the tick's `scheduledAt` (both wall
clock, on one machine). Drift is how far the last tick's `scheduledAt` is from
`anchor + k * interval`, with the anchor taken from tick 0. Ticks lost are
numbers below the last one emitted that never arrived and that the master did
not count as skipped or failed.

The baseline, measured side by side over the same seconds, is a bare Python
process sleeping to the same 10 ms deadlines: the lateness this machine's
scheduler imposes on any sleeper, which no server can beat.
"""

from __future__ import annotations

import multiprocessing
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import Figure, Server, percentile

INTERVAL = 0.010
_SPAWN = multiprocessing.get_context("spawn")


def _sleeper(duration: float, conn: object) -> None:
    """Sleep to absolute deadlines every INTERVAL; send back how late each wake-up was."""
    start = time.time() + INTERVAL
    lateness = []
    k = 0
    while (due := start + k * INTERVAL) < start + duration:
        pause = due - time.time()
        if pause > 0:
            time.sleep(pause)
        lateness.append(time.time() - due)
        k += 1
    conn.send(lateness)


def _read_ticks(path: Path) -> dict[int, tuple[float, float]]:
    ticks = {}
    for line in path.read_text().splitlines():
        tick, scheduled, arrival = line.split()
        ticks[int(tick)] = (float(scheduled), float(arrival))
    return ticks


def run(quick: bool = False) -> list[Figure]:
    duration = 5.0 if quick else 20.0
    log = Path(tempfile.mkdtemp(prefix="sv-ticks-")) / "ticks.log"
    with Server(workers=2, ticker={"interval": "10ms", "handler": "tick"},
                env={"BENCH_TICK_LOG": str(log)}) as server:
        server.ready()
        receiver, sender = _SPAWN.Pipe(duplex=False)
        sleeper = _SPAWN.Process(target=_sleeper, args=(duration, sender), daemon=True)
        sleeper.start()
        time.sleep(duration)
        stats = server.control("status")["schedules"]["ticker"]
        time.sleep(0.2)  # the last ticks' handlers finish writing
        ticks = _read_ticks(log)
        baseline = receiver.recv()
        sleeper.join(5)
    shutil.rmtree(log.parent, ignore_errors=True)
    emitted = stats["ticks"]
    numbers = [k for k in ticks if k < emitted]
    lateness = [ticks[k][1] - ticks[k][0] for k in numbers]
    first, last = min(numbers), max(numbers)
    drift = ticks[last][0] - (ticks[first][0] + (last - first) * INTERVAL)
    missing = emitted - len(numbers)
    accounted = stats["failed"] + sum(stats["skipped"].values())
    lost = max(0, missing - accounted)
    ms = 1000.0
    detail = {"duration_s": duration, "emitted": emitted, "arrived": len(numbers),
              "skipped": stats["skipped"], "failed": stats["failed"]}
    late_p99, base_p99 = percentile(lateness, 99) * ms, percentile(baseline, 99) * ms
    return [
        Figure("ticks", "tick lateness p50", percentile(lateness, 50) * ms, "ms",
               percentile(baseline, 50) * ms, "bare sleeper p50", detail=detail),
        Figure("ticks", "tick lateness p99", late_p99, "ms", base_p99, "bare sleeper p99",
               "<= 2 ms", late_p99 <= 2.0, detail=detail),
        Figure("ticks", "tick lateness max", max(lateness) * ms, "ms", max(baseline) * ms,
               "bare sleeper max", detail=detail),
        Figure("ticks", "tick drift at end", abs(drift) * ms, "ms", target="<= 1 ms",
               passed=abs(drift) <= 0.001, detail=detail),
        Figure("ticks", "ticks lost", lost, "ticks", target="0", passed=lost == 0,
               detail=detail),
    ]
