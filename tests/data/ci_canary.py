"""Run only by tests/integration/test_scripts.py through .ci/run: passes or fails on demand."""

import os


def test_canary():
    assert os.environ.get("CANARY") == "pass"
