"""The master's log: file reopen on SIGUSR1, JSON lines, journald-friendly text."""

import json
import re
import signal

from supervisor import Client
from tests.support import wait_until


def _text(path) -> str:
    return path.read_text() if path.exists() else ""


def test_sigusr1_reopens_a_moved_log_file(start_master, tmp_path):
    log_file = tmp_path / "logs" / "supervisor.log"
    log_file.parent.mkdir()
    master = start_master(ready=False, server={"log": {"level": "info", "file": str(log_file)}})
    wait_until(lambda: "pool ready" in _text(log_file))
    rotated = log_file.with_suffix(".log.1")
    log_file.rename(rotated)
    master.signal(signal.SIGUSR1)
    wait_until(log_file.exists)
    with Client(master.endpoint) as client:
        assert client.exec("talk") == b"said"
    worker_pids = master.worker_pids()
    fresh = wait_until(lambda: "hello from stdout" in (text := _text(log_file)) and text)
    line = next(line for line in fresh.splitlines() if "hello from stdout" in line)
    worker_id, pid = map(int, re.search(r"\[worker (\d+) (\d+)\]", line).groups())
    assert worker_pids[worker_id] == pid
    old = rotated.read_text()
    assert "received SIGUSR1" in old and "hello from stdout" not in old
    assert master.lines == [], "with a log file nothing goes to stderr"


def test_json_lines_carry_process_and_pid(start_master):
    master = start_master(server={"log": {"level": "info", "format": "json"}})
    with Client(master.endpoint) as client:
        client.exec("talk")
    master.wait_for(r"a warning from the handler")
    entries = [json.loads(line) for line in list(master.lines)]
    assert all({"time", "level", "logger", "process", "pid", "msg"} <= set(e) for e in entries)
    ready = next(e for e in entries if e["msg"].startswith("pool ready"))
    assert ready["process"] == "master" and ready["pid"] == master.pid
    warning = next(e for e in entries if e["msg"] == "a warning from the handler")
    worker_id = int(warning["process"].split()[1])
    assert warning["level"] == "warning" and warning["logger"] == "tests.talk"
    assert master.worker_pids()[worker_id] == int(warning["pid"])


def test_text_lines_leave_timestamps_to_journald(start_master):
    plain = start_master()
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ \[master \d+\]", plain.lines[0])
    journald = start_master(env={"JOURNAL_STREAM": "8:12345"})
    assert all(re.match(r"(DEBUG|INFO|WARNING|ERROR|CRITICAL) \[", line)
               for line in journald.lines), journald.lines[:3]


def test_reopen_on_a_full_disk_keeps_logging_and_reports_once(capfd):
    """/dev/full fails every write with ENOSPC, as a full disk does."""
    import logging

    from supervisor.config import LogConfig
    from supervisor.master.logs import Logs

    logs = Logs(LogConfig(level="info", format="text", file="/dev/full"))
    try:
        log = logging.getLogger("test.full")
        for _ in range(50):
            log.info("a record that cannot be written")
        logs.reopen()  # closing the old handler flushes into ENOSPC
        log.info("still logging")
    finally:
        logging.getLogger().removeHandler(logs.handler)
    err = capfd.readouterr().err
    assert "Logging error" not in err
    assert err.count("cannot write the log") == 1
