"""The run directory's checks and the watch on it, on real directories (no process started)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import zmq

from supervisor.master import rundir
from supervisor.master.pidfile import PidFile, lock_holder, not_master
from supervisor.master.watch import RunDirWatch, _events
from tests.fakes import make_config


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_missing_run_dir_is_created_private_whatever_the_umask(tmp_path):
    config = make_config(tmp_path)
    old = os.umask(0o277)
    try:
        rundir.prepare(config)
    finally:
        os.umask(old)
    assert _mode(config.run_dir) == 0o700


def test_an_existing_run_dir_is_checked_not_trusted(tmp_path):
    config = make_config(tmp_path)
    config.run_dir.mkdir(mode=0o700)
    os.chmod(config.run_dir, 0o770)
    with pytest.raises(rundir.RunDirError, match=r"writable by group or others \(mode 0770\)"):
        rundir.prepare(config)
    with pytest.raises(rundir.RunDirError):
        rundir.check(config)
    assert _mode(config.run_dir) == 0o770


def test_check_leaves_a_missing_run_dir_missing(tmp_path):
    config = make_config(tmp_path)
    rundir.check(config)
    assert not config.run_dir.exists()


def test_a_run_dir_that_is_a_file_is_refused(tmp_path):
    config = make_config(tmp_path)
    config.run_dir.write_text("")
    with pytest.raises(rundir.RunDirError, match="Not a directory"):
        rundir.prepare(config)


def test_the_pid_file_names_its_holder_to_the_kernel(tmp_path):
    path = tmp_path / "supervisor.pid"
    pid_file = PidFile(path)
    pid_file.acquire()
    try:
        assert _mode(path) == 0o600
        assert lock_holder(path) == os.getpid()
        assert "not a supervisor master" in not_master(path, os.getpid())
        assert "is held by pid" in not_master(path, 1)
    finally:
        pid_file.release()
    assert not path.exists()


def test_a_released_pid_file_that_was_replaced_stays(tmp_path):
    path = tmp_path / "supervisor.pid"
    pid_file = PidFile(path)
    pid_file.acquire()
    path.unlink()
    path.write_text("another master's\n")
    pid_file.release()
    assert path.read_text() == "another master's\n"


class _Master:
    exit_code = 0
    stopped: bool | None = None

    def stop(self, graceful: bool) -> None:
        self.stopped = graceful


def _watch(directory: Path) -> tuple[RunDirWatch, zmq.Poller, _Master]:
    poller, master = zmq.Poller(), _Master()
    return RunDirWatch(directory, poller, master), poller, master


def test_removing_a_file_of_the_master_stops_it(tmp_path):
    (tmp_path / "control.sock").touch()
    (tmp_path / "start-12.sock").touch()
    watch, poller, master = _watch(tmp_path)
    try:
        (tmp_path / "start-12.sock").unlink()  # a waiting `supervisor start`'s own socket
        watch.after_poll(dict(poller.poll(1000)), 0.0)
        assert master.stopped is None
        (tmp_path / "control.sock").unlink()
        watch.after_poll(dict(poller.poll(1000)), 0.0)
        assert master.stopped is True and master.exit_code == 1
    finally:
        watch.close()


def test_a_socket_file_made_again_by_a_bind_is_not_a_loss(tmp_path):
    (tmp_path / "control.sock").touch()
    watch, poller, master = _watch(tmp_path)
    try:
        (tmp_path / "control.sock").unlink()
        (tmp_path / "control.sock").touch()
        watch.after_poll(dict(poller.poll(1000)), 0.0)
        assert master.stopped is None
    finally:
        watch.close()


def test_without_inotify_the_watch_looks_every_few_seconds(tmp_path, monkeypatch):
    import supervisor.master.watch as watch_module

    monkeypatch.setattr(watch_module, "_inotify", lambda directory: None)
    (tmp_path / "supervisor.pid").touch()
    watch, _, master = _watch(tmp_path)
    first = watch.next_deadline()
    assert first is not None
    watch.after_poll({}, first)
    assert master.stopped is None
    (tmp_path / "supervisor.pid").unlink()
    watch.after_poll({}, watch.next_deadline())
    assert master.stopped is True


def test_inotify_events_are_read_with_their_names():
    import struct

    data = struct.pack("iIII", 1, 0x200, 0, 16) + b"control.sock\0\0\0\0" + \
        struct.pack("iIII", 1, 0x400, 0, 0)
    assert _events(data) == [(0x200, "control.sock"), (0x400, "")]
