"""Daemon mode: `supervisor start`, `stop` and `restart` for hosts without systemd (Tars scripts).

`start` double-forks a master into its own session and waits for it to say
READY=1 over the same notify protocol systemd uses (a datagram socket in
run_dir), so it returns 0 only once the pool is ready. A pipe whose write end
the master holds tells the waiting command at once if the master dies instead,
and with which exit code. The pid file's lock (see `supervisor.pidfile`)
decides whether a master runs, so a file left by a killed master is ignored.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import select
import signal
import socket
import sys
import time
from pathlib import Path

import psutil

from supervisor import wire
from supervisor.config import Config
from supervisor.errors import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, ConfigError
from supervisor.master import rundir
from supervisor.master.logs import LOG_FLAGS, LOG_MODE, file_refusal
from supervisor.master.pidfile import not_master, read_pid
from supervisor.ops.notify import START_SOCKET_ENV

STOP_MARGIN = 10.0
LEFTOVER_WAIT = 1.0
"""After the master exited, how long its former children get before they are killed."""
LOG_TAIL = 10


def pid_path(config: Config) -> Path:
    return config.run_dir / "supervisor.pid"


def running_pid(config: Config) -> int | None:
    """The pid of the live master of this config's run_dir, or None; RunDirError (exit 2)
    when run_dir or the pid file cannot be trusted."""
    rundir.check(config)
    return read_pid(pid_path(config))


def log_path(config: Config) -> str:
    """Where a daemon writes: the configured file, else run_dir/supervisor.log."""
    return os.path.abspath(config.log.file or str(config.run_dir / "supervisor.log"))


def start(config: Config, timeout: float) -> int:
    """Start a daemonised master; 0 once its pool is ready, else the reason and non-zero."""
    pid = running_pid(config)
    if pid is not None:
        print(f"supervisor: already running with pid {pid} ({pid_path(config)})", file=sys.stderr)
        return EXIT_FAILURE
    rundir.prepare(config)
    logfile = log_path(config)
    os.makedirs(os.path.dirname(logfile), exist_ok=True)
    try:
        os.close(os.open(logfile, LOG_FLAGS, LOG_MODE))
    except OSError as exc:
        raise ConfigError(f"server.log.file: {file_refusal(logfile, exc)}") from None
    config = dataclasses.replace(config, log=dataclasses.replace(config.log, file=logfile))
    offset = os.path.getsize(logfile) if os.path.exists(logfile) else 0
    listener, address = _listen(config.run_dir)
    exit_r, exit_w = os.pipe()
    try:
        child = os.fork()
        if child == 0:
            listener.close()
            os.close(exit_r)
            _become_daemon(config, address, logfile, exit_w)
        os.close(exit_w)
        os.waitpid(child, 0)
        return _await_ready(listener, exit_r, timeout, logfile, offset)
    finally:
        listener.close()
        os.close(exit_r)
        if not address.startswith("@"):
            Path(address).unlink(missing_ok=True)


def _listen(run_dir: Path) -> tuple[socket.socket, str]:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    path = str(run_dir / f"start-{os.getpid()}.sock")
    if len(path.encode()) < 100:
        Path(path).unlink(missing_ok=True)
        with wire.private_umask():
            listener.bind(path)
        return listener, path
    name = f"supervisor-start-{os.getpid()}-{secrets.token_hex(8)}"
    listener.bind(b"\0" + name.encode())
    return listener, "@" + name


def _become_daemon(config: Config, address: str, logfile: str, exit_w: int) -> None:
    """In the forked child: new session, second fork, output to the log, run the master."""
    code = EXIT_FAILURE
    try:
        os.setsid()
        if os.fork() != 0:
            os._exit(EXIT_OK)  # the first child: the grandchild runs on
        devnull = os.open(os.devnull, os.O_RDONLY)
        out = os.open(logfile, LOG_FLAGS, LOG_MODE)
        os.dup2(devnull, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(devnull)
        os.close(out)
        for variable in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
            os.environ.pop(variable, None)
        os.environ[START_SOCKET_ENV] = address
        code, reason = run_master(config)
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        with contextlib.suppress(OSError):
            os.write(exit_w, f"{code} {reason}".encode())
        os._exit(code)


def run_master(config: Config) -> tuple[int, str]:
    """Run a master in this process until it exits: its exit code, and the one-line reason
    when it could not start (also printed to stderr)."""
    from supervisor.errors import StartupError
    from supervisor.master.logs import Logs
    from supervisor.master.loop import Master
    from supervisor.master.pidfile import AlreadyRunning

    os.chdir(config.base_dir)
    try:
        return Master(config, Logs(config.log)).run(), ""
    except (AlreadyRunning, StartupError) as exc:
        print(f"supervisor: {exc}", file=sys.stderr)
        return EXIT_FAILURE, str(exc)
    except ConfigError as exc:  # an untrusted run_dir, pid file or log file
        print(f"supervisor: {exc}", file=sys.stderr)
        return EXIT_CONFIG, str(exc)


def _await_ready(listener: socket.socket, exit_r: int, timeout: float, logfile: str,
                 offset: int) -> int:
    poller = select.poll()
    poller.register(listener, select.POLLIN)
    poller.register(exit_r, select.POLLIN)
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        for fd, _ in poller.poll(int(left * 1000) + 1):
            if fd == exit_r:
                code, reason = _exit_code(exit_r)
                if reason:
                    print(f"supervisor: {reason}", file=sys.stderr)
                    return code or EXIT_FAILURE
                print(f"supervisor: the master exited with code {code} before its pool was "
                      f"ready; the end of {logfile}:", file=sys.stderr)
                print(_tail(logfile, offset), file=sys.stderr)
                return code or EXIT_FAILURE
            fields = _fields(listener.recv(4096))
            if fields.get("READY") == "1":
                print(f"supervisor: started, master pid {fields.get('MAINPID', '?')}: "
                      f"{fields.get('STATUS', 'ready')} (log: {logfile})")
                return EXIT_OK
    print(f"supervisor: the pool was not ready within {timeout:g}s; the master is still "
          f"starting (`supervisor status`, `supervisor stop`); the end of {logfile}:",
          file=sys.stderr)
    print(_tail(logfile, offset), file=sys.stderr)
    return EXIT_FAILURE


def _exit_code(exit_r: int) -> tuple[int, str]:
    """What the daemon wrote when its master ended: `CODE REASON`, the reason maybe empty."""
    data = b""
    while chunk := os.read(exit_r, 4096):
        data += chunk
    code, _, reason = data.decode("utf-8", "replace").partition(" ")
    return (int(code) if code.isdigit() else EXIT_FAILURE), reason.strip()


def _fields(datagram: bytes) -> dict[str, str]:
    pairs = (line.partition("=") for line in datagram.decode("utf-8", "replace").splitlines())
    return {key: value for key, sep, value in pairs if sep}


def _tail(logfile: str, offset: int) -> str:
    try:
        with open(logfile, "rb") as stream:
            stream.seek(offset)
            lines = stream.read().decode("utf-8", "replace").splitlines()
    except OSError as exc:
        return f"(cannot read the log: {exc})"
    return "\n".join(lines[-LOG_TAIL:]) or "(nothing was logged)"


def stop(config: Config, timeout: float | None = None) -> int:
    """Graceful stop (SIGTERM); after destroy_timeout plus a margin, SIGKILL whatever is left.

    Returns once the master and every process under it have exited; processes that
    outlive the master (a handler's child that left its worker's process group) get
    LEFTOVER_WAIT, then are killed: they never hold `stop` up. The pid is signalled
    only when it is this run_dir's master (see `supervisor.master.pidfile.not_master`).
    """
    pid = running_pid(config)
    if pid is None:
        print("supervisor: not running", file=sys.stderr)
        return EXIT_OK
    reason = not_master(pid_path(config), pid)
    if reason is not None:
        print(f"supervisor: {pid_path(config)} names pid {pid}, but {reason}; not signalling it",
              file=sys.stderr)
        return EXIT_CONFIG
    try:
        master = psutil.Process(pid)
        processes = [master, *master.children(recursive=True)]
        master.send_signal(signal.SIGTERM)
    except psutil.NoSuchProcess:
        return EXIT_OK
    budget = config.pool.destroy_timeout + STOP_MARGIN if timeout is None else timeout
    if wait_gone(processes[:1], budget):
        alive = wait_gone(processes, 0.0)
        print(f"supervisor: still running after {budget:g}s; killing "
              f"{', '.join(str(p.pid) for p in alive)}", file=sys.stderr)
    elif alive := wait_gone(processes[1:], LEFTOVER_WAIT):
        print(f"supervisor: killing what outlived the master: "
              f"{', '.join(str(p.pid) for p in alive)}", file=sys.stderr)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    wait_gone(alive, 5.0)
    print(f"supervisor: stopped (master pid {pid})")
    return EXIT_OK


def wait_gone(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until every process has exited (a zombie counts as exited); return those left.

    These are not our children, so we cannot wait(2) for them: a pidfd per
    process becomes readable when it terminates.
    """
    watched: dict[int, psutil.Process] = {}
    poller = select.poll()
    for process in processes:
        try:
            fd = os.pidfd_open(process.pid)
        except ProcessLookupError:
            continue
        if process.is_running():
            watched[fd] = process
            poller.register(fd, select.POLLIN)
        else:
            os.close(fd)
    deadline = time.monotonic() + timeout
    try:
        while watched and (left := deadline - time.monotonic()) > 0:
            for fd, _ in poller.poll(int(left * 1000) + 1):
                poller.unregister(fd)
                os.close(fd)
                del watched[fd]
    finally:
        for fd in watched:
            os.close(fd)
    return list(watched.values())
