"""Config loading: defaults, expansion, and one clear line for every kind of mistake."""

import subprocess
import sys
from pathlib import Path

import pytest

from supervisor import config
from supervisor.errors import ConfigError
from tests.support import ROOT


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "supervisor.yaml"
    path.write_text(text)
    return path


def test_defaults_from_an_empty_file(tmp_path):
    loaded = config.load(write(tmp_path, ""), environ={})
    assert loaded.pool.num_workers == 2
    assert loaded.pool.allocate_timeout == 60.0
    assert loaded.pool.start_method == "forkserver"
    assert loaded.listen.startswith("ipc://") and loaded.listen.endswith("/run/exec.sock")
    assert loaded.schedules == []
    assert loaded.keepalive_interval == 30.0


def test_shipped_config_loads():
    loaded = config.load(ROOT / "conf" / "supervisor.yaml", environ={})
    assert loaded.handlers["tick"] == "workers.ticker:on_tick"
    assert [(s.name, s.every, s.handler) for s in loaded.schedules] == [("ticker", 1.0, "tick")]


def test_environment_expansion(tmp_path):
    path = write(tmp_path, "pool: {num_workers: '${N}', max_jobs: '${J:-7}'}\n"
                           "server: {listen: 'tcp://*:${PORT:-5555}'}\n")
    loaded = config.load(path, environ={"N": "3"})
    assert (loaded.pool.num_workers, loaded.pool.max_jobs) == (3, 7)
    assert loaded.listen == "tcp://127.0.0.1:5555"


def test_durations_and_sizes(tmp_path):
    path = write(tmp_path, "pool:\n  allocate_timeout: 500ms\n  destroy_timeout: 1m\n"
                           "  supervisor: {max_worker_memory: 1GB, exec_ttl: 2s}\n")
    loaded = config.load(path, environ={})
    assert loaded.pool.allocate_timeout == 0.5
    assert loaded.pool.destroy_timeout == 60.0
    assert loaded.pool.supervisor.max_worker_memory == 1024.0
    assert loaded.pool.supervisor.exec_ttl == 2.0


def test_zero_workers_means_cpu_count(tmp_path):
    import os

    loaded = config.load(write(tmp_path, "pool: {num_workers: 0}\n"), environ={})
    assert loaded.pool.num_workers == os.cpu_count()


BAD = {
    "unknown key": ("pool: {num_wrokers: 2}\n", "pool.num_wrokers: unknown key"),
    "wrong type": ("pool: {num_workers: two}\n", "pool.num_workers: expected an integer"),
    "negative workers": ("pool: {num_workers: -1}\n", "pool.num_workers: expected an integer >= 0"),
    "bad duration": ("pool: {allocate_timeout: 5 parsecs}\n",
                     "pool.allocate_timeout: expected a duration"),
    "zero duration": ("ticker: {interval: 0s, handler: tick}\nhandlers: {tick: 'a:b'}\n",
                      "ticker.interval: expected a duration above zero"),
    "bad endpoint": ("server: {listen: 'http://localhost:80'}\n",
                     "server.listen: expected ipc://PATH or tcp://HOST:PORT"),
    "bad port": ("server: {listen: 'tcp://127.0.0.1:99999'}\n", "server.listen: expected"),
    "invalid YAML": ("pool: {num_workers: 2\n", "invalid YAML"),
    "unset variable": ("pool: {num_workers: '${NOPE_NOT_SET}'}\n",
                       "pool.num_workers: environment variable NOPE_NOT_SET is not set"),
    "bad placeholder": ("server: {run_dir: '${1BAD}'}\n", "server.run_dir: bad placeholder"),
    "unterminated placeholder": ("server: {run_dir: '${HOME'}\n",
                                 "server.run_dir: unterminated"),
    "handler path": ("handlers: {tick: 'no_colon'}\n",
                     "handlers.tick: expected 'module:function'"),
    "unknown ticker handler": ("ticker: {interval: 1s, handler: nope}\n",
                               "ticker.handler: names unknown handler 'nope'"),
    "bad log format": ("server: {log: {format: xml}}\n",
                       "server.log.format: expected one of text, json"),
    "section not a mapping": ("pool: 3\n", "pool: expected a mapping"),
    "interceptor target": ("handlers: {a: 'm:f'}\ninterceptors: {b: ['m:f']}\n",
                           "interceptors.b: expected '*' or a handler name"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_config_exits_2_with_one_clear_line(tmp_path, case):
    text, expected = BAD[case]
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        config.load(path, environ={})
    assert expected in str(caught.value)
    result = _cli("check", "-c", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == f"supervisor: {caught.value}\n"
    assert result.stderr.startswith(f"supervisor: {path}: ")


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "supervisor", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


CLI_BAD = {
    "missing handler module": ("handlers: {tick: 'workers.no_such_module:on_tick'}\n",
                               "handlers.tick: cannot import module 'workers.no_such_module'"),
    "handler not callable": ("handlers: {x: 'tests.handlers:NOT_CALLABLE'}\n",
                             "handlers.x: 'tests.handlers:NOT_CALLABLE' is a int, not callable"),
    "missing attribute": ("handlers: {x: 'tests.handlers:nothing_here'}\n",
                          "handlers.x: module 'tests.handlers' has no attribute"),
    "unknown key": ("pool: {num_wrokers: 2}\n", "pool.num_wrokers: unknown key"),
}


@pytest.mark.parametrize("command", ["check", "run"])
@pytest.mark.parametrize("case", sorted(CLI_BAD))
def test_cli_exits_2_with_one_line(tmp_path, command, case):
    text, expected = CLI_BAD[case]
    path = write(tmp_path, f"server: {{run_dir: '{tmp_path}/run'}}\n{text}")
    result = _cli(command, "-c", str(path))
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if expected in line]
    assert lines and str(path) in lines[0], result.stderr


def test_unreadable_file_exits_2(tmp_path):
    result = _cli("check", "-c", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"supervisor: {tmp_path}/missing.yaml: cannot read: " \
                                    "No such file or directory"
    result = _cli("check", "-c", str(tmp_path))
    assert (result.returncode, result.stderr.strip()) == \
        (2, f"supervisor: {tmp_path}: cannot read: Is a directory")


def test_check_accepts_the_shipped_config():
    result = _cli("check", "-c", "conf/supervisor.yaml")
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


SCHEDULE_BAD = {
    "ticker: {interval: -1s, handler: tick}": "ticker.interval: expected a duration",
    "ticker: {interval: 1x, handler: tick}": "ticker.interval: expected a duration",
    "schedules: [{name: a, cron: '61 * * * * *', handler: tick}]": "schedules[0].cron:",
    "schedules: [{name: a, cron: '* * * * *', handler: tick}]": "expected 6 cron fields",
    "schedules: [{name: a, every: 1s, handler: nope}]": "schedules[0].handler: names unknown",
    "schedules: [{name: a, handler: tick}]": "expected exactly one of 'every' or 'cron'",
    "schedules: [{name: a, every: 1s, handler: tick, overlap: maybe}]": "expected one of skip",
    "schedules: [{name: a, cron: '@daily', tz: Mars/Olympus, handler: tick}]":
        "schedules[0].tz: expected an IANA time zone name such as Europe/Berlin",
    "schedules: [{name: a, cron: '@daily', dst: later, handler: tick}]":
        "schedules[0].dst: expected one of shift, skip, got 'later'",
    "schedules: [{name: a, every: 1s, tz: UTC, handler: tick}]":
        "schedules[0].tz: applies to cron schedules only",
    "schedules: [{name: a, every: 1s, catch_up: all, handler: tick}]":
        "schedules[0].catch_up: expected one of latest, none",
}


@pytest.mark.parametrize("text", sorted(SCHEDULE_BAD))
def test_bad_schedules_fail_check_with_one_line(tmp_path, text):
    path = write(tmp_path, f"handlers: {{tick: 'workers.ticker:on_tick'}}\n{text}\n")
    result = _cli("check", "-c", str(path))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"supervisor: {path}: ")
    assert SCHEDULE_BAD[text] in result.stderr
