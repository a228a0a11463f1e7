"""Small things a new user trips over: tracebacks of failed imports, a second Ctrl-C, how a
killed worker is named, process titles, the reopened log's mode, quiet ticks."""

from __future__ import annotations

import logging
import os
import signal
import stat

import psutil
import pytest

from supervisor import Client, Payload
from supervisor.errors import WorkerLost
from tests.ops_support import cli, write_config
from tests.support import ROOT, MasterProcess, base_config, wait_until


def _broken_module(directory) -> str:
    (directory / "broken_handlers.py").write_text(
        "import os\n\n\ndef helper():\n    return undefined_name\n\n\nVALUE = helper()\n")
    return str(directory / "broken_handlers.py")


def test_handler_import_failure_shows_the_traceback_in_check_and_run(tmp_path):
    filename = _broken_module(tmp_path)
    config = write_config(tmp_path, server={"chdir": str(tmp_path)},
                          handlers={"bad": "broken_handlers:helper"})
    checked = cli("check", "-c", str(config))
    assert checked.returncode == 2
    assert f'File "{filename}", line 8, in <module>' in checked.stderr
    assert f'File "{filename}", line 5, in helper' in checked.stderr
    assert "importlib" not in checked.stderr
    assert checked.stderr.strip().splitlines()[-1] == (
        f"supervisor: {config}: handlers.bad: cannot import module 'broken_handlers': "
        "NameError: name 'undefined_name' is not defined")
    run = cli("run", "-c", str(config))
    assert run.returncode == 2
    assert f'File "{filename}", line 5, in helper' in run.stderr


def test_a_second_ctrl_c_stops_at_once_and_the_first_says_so(start_master):
    master = start_master(pool={"num_workers": 1, "destroy_timeout": "30s"})
    with Client(master.endpoint) as client:
        client._sock.send_multipart([b"\x01", b"sleep", b"30"])
        master.wait_for(r"stdout: sleeping 30s")
        master.signal(signal.SIGINT)
        master.wait_for(r"stopping: draining 1 running .*Ctrl-C or SIGINT again stops at once")
        master.signal(signal.SIGINT)
        master.wait_for(r"interrupted again: stopping at once, killing 1 worker")
        assert master.wait_exit(10) == 0
        assert client._sock.poll(5000)
        assert client._sock.recv_multipart()[1] == b"err"


def test_killed_workers_are_named_by_signal_and_the_forkserver_has_a_title(start_master):
    master = start_master(pool={"num_workers": 1})
    titles = {" ".join(p.cmdline()).strip() for p in master.descendants()}
    assert "supervisor: forkserver" in titles, titles
    pid = master.worker_pids()[0]
    with Client(master.endpoint) as client:
        client._sock.send_multipart([b"\x01", b"sleep", b"30"])
        master.wait_for(r"stdout: sleeping 30s")
        os.kill(pid, signal.SIGKILL)
        assert client._sock.poll(10_000)
        _, status, body = client._sock.recv_multipart()
    assert status == b"err" and WorkerLost.code.encode() in body
    assert f"worker 0 (pid {pid}) killed by SIGKILL while running this request".encode() in body
    master.wait_for(rf"worker 0 \(pid {pid}\) exited unexpectedly \(killed by SIGKILL\)")
    assert master.count(r"code -9") == 0


def test_a_log_file_made_by_a_reopen_keeps_the_old_files_mode(tmp_path):
    log_file = tmp_path / "logs" / "supervisor.log"
    log_file.parent.mkdir()
    log_file.touch(mode=0o600)
    log_file.chmod(0o600)
    config = base_config(tmp_path / "run", pool={"num_workers": 1})
    config["server"]["log"] = {"level": "info", "file": str(log_file)}
    master = MasterProcess(config)
    try:
        wait_until(lambda: "pool ready" in log_file.read_text(), timeout=20)
        log_file.rename(tmp_path / "logs" / "supervisor.log.1")
        master.signal(signal.SIGUSR1)
        wait_until(log_file.exists, timeout=10)
        assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    finally:
        master.stop()


def test_ticks_are_logged_at_debug(caplog):
    import workers.ticker

    payload = Payload(b'{"tick": 3}', {"lastTick": None, "schedule": "ticker"})
    with caplog.at_level(logging.INFO, logger="workers.ticker"):
        assert workers.ticker.on_tick(payload) == "OK"
    assert caplog.records == []
    with caplog.at_level(logging.DEBUG, logger="workers.ticker"):
        workers.ticker.on_tick(payload)
    assert [r.getMessage() for r in caplog.records] == [
        "tick 3 (schedule ticker, previous at None)"]


@pytest.mark.parametrize("count, text", [(1, "1 worker"), (2, "2 workers")])
def test_counts_read_in_the_right_number(count, text):
    from supervisor.config.values import counted

    assert counted(count, "worker") == text
    assert psutil.Process().is_running() and ROOT.is_dir()
