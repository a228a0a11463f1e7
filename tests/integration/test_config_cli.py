"""The command line on bad configs: exit code 2 and one clear line, for every kind of mistake."""

import subprocess
import sys
from pathlib import Path

import pytest

from supervisor import config
from supervisor.errors import ConfigError
from tests.support import ROOT
from tests.unit.config.test_loader import BAD, write


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
}


@pytest.mark.parametrize("text", sorted(SCHEDULE_BAD))
def test_bad_schedules_fail_check_with_one_line(tmp_path, text):
    path = write(tmp_path, f"handlers: {{tick: 'workers.ticker:on_tick'}}\n{text}\n")
    result = _cli("check", "-c", str(path))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"supervisor: {path}: ")
    assert SCHEDULE_BAD[text] in result.stderr
