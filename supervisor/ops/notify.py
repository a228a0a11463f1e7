"""The systemd notify protocol (sd_notify) and watchdog, hand-written: one datagram per message.

systemd passes `NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace)
and, with `WatchdogSec=`, `WATCHDOG_USEC`. Both are read once and removed from
the environment so that workers, which systemd would not listen to anyway
(`NotifyAccess=main`), never talk on the master's behalf. Without
`NOTIFY_SOCKET` everything here is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import MutableMapping

log = logging.getLogger("supervisor.notify")

# `supervisor start` waits for READY=1 on a socket of its own, named by this variable.
START_SOCKET_ENV = "SUPERVISOR_START_SOCKET"


def _address(value: str) -> str | bytes:
    return b"\0" + value[1:].encode() if value.startswith("@") else value


class Notifier:
    """Sends `KEY=VALUE` lines to the service manager; failures are logged once, never raised."""

    def __init__(self, address: str | None) -> None:
        self.address = address
        self.sock: socket.socket | None = None
        self.warned = False
        if address:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @classmethod
    def from_env(cls, environ: MutableMapping[str, str] | None = None) -> Notifier:
        environ = os.environ if environ is None else environ
        return cls(environ.pop("NOTIFY_SOCKET", None) or None)

    @property
    def enabled(self) -> bool:
        return self.sock is not None

    def send(self, **fields: object) -> bool:
        """Send one datagram, e.g. `send(READY=1, STATUS="2 workers")`; True when it went out."""
        if self.sock is None or self.address is None:
            return False
        text = "\n".join(f"{key}={value}" for key, value in fields.items())
        try:
            self.sock.sendto(text.encode(), _address(self.address))
        except OSError as exc:
            if not self.warned:
                self.warned = True
                log.warning("cannot notify %s: %s", self.address, exc)
            return False
        return True

    def ready(self, status: str) -> None:
        self.send(READY=1, STATUS=status, MAINPID=os.getpid())

    def reloading(self) -> None:
        """RELOADING=1 with the monotonic timestamp systemd >= 253 asks for."""
        self.send(RELOADING=1, MONOTONIC_USEC=time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)

    def stopping(self) -> None:
        self.send(STOPPING=1, STATUS="stopping")

    def status(self, text: str) -> None:
        self.send(STATUS=text)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class Watchdog:
    """When to send WATCHDOG=1: every half period, and only from the loop that calls `due`.

    A wedged or stopped master loop never reaches `ping`, so systemd sees the
    pings stop and acts (`WatchdogSec=`, `Restart=on-failure`).
    """

    def __init__(self, period: float | None, now: float) -> None:
        self.interval = period / 2 if period else None
        self.next_at = now

    @classmethod
    def from_env(cls, now: float, environ: MutableMapping[str, str] | None = None) -> Watchdog:
        environ = os.environ if environ is None else environ
        usec = environ.pop("WATCHDOG_USEC", "")
        owner = environ.pop("WATCHDOG_PID", "")
        if not usec.isdigit() or int(usec) == 0 or (owner and owner != str(os.getpid())):
            return cls(None, now)
        return cls(int(usec) / 1e6, now)

    def next_deadline(self) -> float | None:
        return self.next_at if self.interval else None

    def due(self, now: float) -> bool:
        """True when a ping is due now; the next one is then scheduled half a period later."""
        if not self.interval or now < self.next_at:
            return False
        self.next_at = now + self.interval
        return True
