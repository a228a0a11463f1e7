"""Hung workers explained: their Python stacks before an exec_ttl kill, and on demand."""

from __future__ import annotations

import inspect

import pytest

from supervisor import Client
from supervisor.errors import ExecTimeout
from tests import handlers
from tests.ops_support import cli
from tests.support import alive, wait_until


def _sleep_line() -> str:
    """`File ".../tests/handlers.py", line N in sleep`, N being the `time.sleep` call."""
    source, first = inspect.getsourcelines(handlers.sleep)
    offset = next(i for i, line in enumerate(source) if "time.sleep(" in line)
    return rf'File "{handlers.__file__}", line {first + offset} in sleep'


def test_exec_ttl_kill_logs_the_stack_with_the_handler_and_the_request_age(start_master):
    master = start_master(pool={"num_workers": 1, "supervisor": {"exec_ttl": "1s"}})
    pid = master.worker_pids()[0]
    with Client(master.endpoint) as client, pytest.raises(ExecTimeout):
        client.exec("sleep", b"30")
    found = master.wait_for(r"worker 0 \(pid (\d+)\) ran 'sleep' for (\d+\.\d)s, past exec_ttl "
                            r"1s; killing it. Its Python stacks:")
    assert int(found.group(1)) == pid and float(found.group(2)) >= 1.0
    master.wait_for(_sleep_line())
    wait_until(lambda: not alive(pid), timeout=5)
    wait_until(lambda: master.worker_pids().get(0) not in (None, pid), timeout=10)


def test_dump_prints_a_busy_workers_stack_and_it_keeps_running(start_master):
    master = start_master(pool={"num_workers": 1})
    pid = master.worker_pids()[0]
    with Client(master.endpoint) as client:
        client._sock.send_multipart([b"\x01", b"sleep", b"1.5"])
        master.wait_for(r"stdout: sleeping 1.5s")
        dumped = cli("dump", "0", "-c", str(master.config_path))
        assert dumped.returncode == 0, dumped.stderr
        header, *stack = dumped.stdout.splitlines()
        assert header.startswith(f"worker 0 (pid {pid}), running 'sleep' for ")
        assert any(line.strip().startswith(_sleep_line()) for line in stack), dumped.stdout
        assert client._sock.poll(10_000)
        assert client._sock.recv_multipart()[1] == b"ok"
    assert master.worker_pids() == {0: pid}
    master.wait_for(r"stacks of worker 0 \(pid \d+\) running 'sleep' for")
    assert cli("dump", "7", "-c", str(master.config_path)).returncode == 1
