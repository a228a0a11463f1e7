"""Run the benchmark families in turn, print one table, write bench/results/latest.json.

Run: python -m bench [--quick] [--only FAMILY ...] [--json PATH]

Each family measures our side and its baseline in the same rounds, so the
ratios hold on a shared machine even when absolute figures wander.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench import (
    centrifugo,
    chunks,
    flood,
    idle,
    latency,
    prefetch,
    recovery,
    stall,
    startup,
    throughput,
    ticks,
)
from bench.common import ROOT, Figure

FAMILIES = {"throughput": throughput, "latency": latency, "prefetch": prefetch,
            "chunks": chunks, "ticks": ticks, "recovery": recovery, "startup": startup,
            "idle": idle, "centrifugo": centrifugo, "stall": stall,
            "flood": flood}
DEFAULT_JSON = ROOT / "bench" / "results" / "latest.json"


def machine() -> dict[str, object]:
    """What the figures were measured on: they only compare within one machine and run."""
    model = ""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines()
                      if line.startswith("Model name")), "")
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "platform": platform.platform(), "load_average": os.getloadavg()}


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def table(figures: list[Figure]) -> str:
    """The figures as aligned text: figure, ours, baseline, ratio, target, pass/fail."""
    rows = [("figure", "ours", "baseline", "ratio", "target", "result")]
    for f in figures:
        baseline = f"{_number(f.baseline)} {f.unit} ({f.baseline_name})" if f.baseline_name else "-"
        ratio = "-" if f.ratio is None else f"{f.ratio:.2f}x"
        result = {True: "pass", False: "FAIL", None: ""}[f.passed]
        rows.append((f.name, f"{_number(f.ours)} {f.unit}", baseline, ratio, f.target, result))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, shorter runs")
    parser.add_argument("--only", nargs="+", choices=list(FAMILIES), metavar="FAMILY",
                        help=f"run only these families ({', '.join(FAMILIES)})")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    args = parser.parse_args(argv)
    # A stopped run still stops the masters it started (their `with` blocks unwind).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    info = machine()
    figures: list[Figure] = []
    timings = {}
    started = time.perf_counter()
    for name in args.only or list(FAMILIES):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        family_started = time.perf_counter()
        figures += FAMILIES[name].run(quick=args.quick)
        timings[name] = round(time.perf_counter() - family_started, 1)
    elapsed = time.perf_counter() - started
    print(table(figures))
    failed = sum(1 for f in figures if f.passed is False)
    print(f"\n{len(figures)} figures, {failed} targets missed, {elapsed:.0f} s "
          f"({info['cpus']} CPUs, Python {info['python']})")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "quick": args.quick, "machine": info,
        "seconds": round(elapsed, 1), "family_seconds": timings,
        "figures": [f.as_dict() for f in figures]}, indent=2) + "\n")
    print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
