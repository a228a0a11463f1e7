"""The status page in a real browser: Debian's chromium, headless, driven by playwright-core
(pinned by package-lock.json; scripts/test installs both). Without them the test skips, except
under CI=true, where it fails."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT, wait_until

HERE = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
OUTPUT = ROOT / "test-output" / "status_page"


def _needs(what: str) -> None:
    message = f"the status page test needs {what} (scripts/test installs it)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def browser_driver() -> list[str]:
    node = shutil.which("node")
    if node is None:
        _needs("node")
    if not os.access(CHROMIUM, os.X_OK):
        _needs(f"chromium at {CHROMIUM}")
    if not (HERE / "node_modules" / "playwright-core").is_dir():
        _needs("playwright-core (npm ci in tests/browser)")
    return [node, str(HERE / "status_page.js")]


def test_the_page_shows_the_pool_and_follows_a_killed_worker(start_master, browser_driver):
    master = start_master(pool={"num_workers": 2}, ticker={"interval": "1s", "handler": "echo"},
                          metrics={"address": "127.0.0.1:0"})
    url = master.wait_for(r"status page (http://\S+/)").group(1)
    pids = master.worker_pids()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    screenshot = OUTPUT / "status-page.png"
    screenshot.unlink(missing_ok=True)
    run = subprocess.run([*browser_driver, url, str(screenshot)], cwd=HERE,
                         capture_output=True, text=True, timeout=90)
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert {row["id"]: row["pid"] for row in seen["rows"]} == pids
    assert {row["state"] for row in seen["rows"]} <= {"ready", "working"}
    assert seen["before"] == pids[0] and seen["after"] != pids[0]
    assert seen["seconds"] < 3.0
    wait_until(lambda: master.worker_pids().get(0) == seen["after"], timeout=5)
    assert "crashed" in seen["restarts"] and f"pid {pids[0]}) killed by SIGKILL" in \
        seen["restarts"]
    assert seen["schedules"] == ["ticker"] and seen["state"] == "running"
    assert seen["external"] == []
    assert screenshot.stat().st_size > 10_000
