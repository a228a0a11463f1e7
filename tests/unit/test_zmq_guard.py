"""The suite's guard against ZeroMQ objects a test leaves open (tests/zmq_guard.py), run on
small test files in a pytest of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

LEAKS = '''
import gc
import zmq

kept = []

def test_a_context_with_an_unsent_message():
    context = zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.connect("tcp://127.0.0.1:1")
    sock.send(b"never delivered")
    kept.append(sock)

def test_a_socket_on_the_shared_context():
    kept.append(zmq.Context.instance().socket(zmq.PUSH))

def test_a_context_collected_in_a_cycle():
    context = zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.connect("tcp://127.0.0.1:1")
    sock.send(b"never delivered")  # with the default infinite linger
    cycle = [context, sock]
    cycle.append(cycle)
    del context, sock, cycle
    gc.collect()  # would wait for ever in zmq_ctx_term without the guard

def test_closed_objects_pass():
    with zmq.Context() as context, context.socket(zmq.PUSH) as sock:
        sock.linger = 0
    zmq.Context.instance().socket(zmq.PULL).close()
'''


def test_each_leak_fails_its_own_test_with_the_line_that_made_it(tmp_path):
    (tmp_path / "test_leaks.py").write_text(LEAKS)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.zmq_guard", "-p", "no:cacheprovider",
         "-c", os.devnull, "--rootdir", str(tmp_path), "-q", str(tmp_path)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=60)
    out = result.stdout
    assert result.returncode == 1, out
    assert "4 passed, 3 errors" in out, out
    for name, line in [("test_a_context_with_an_unsent_message", "context = zmq.Context()"),
                       ("test_a_socket_on_the_shared_context", "zmq.Context.instance().socket"),
                       ("test_a_context_collected_in_a_cycle", "context = zmq.Context()")]:
        assert f"ERROR at teardown of {name}" in out, out
        section = out.split(f"ERROR at teardown of {name}", 1)[1].split("\n_", 1)[0]
        assert line in section, section
    assert "test_closed_objects_pass" not in out.split("short test summary")[1]
