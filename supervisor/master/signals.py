"""Signals as loop events: handlers only queue the signal; a wake-up fd stops the poll.

This is gunicorn's arbiter pattern: nothing runs inside a signal handler, so a
signal can never interrupt the master half-way through changing its state.
"""

from __future__ import annotations

import signal
import socket
from collections import deque


class SignalQueue:
    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.queue: deque[int] = deque()
        self._read, self._write = socket.socketpair()
        for end in (self._read, self._write):
            end.setblocking(False)
        signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        for name in names:
            signal.signal(getattr(signal, f"SIG{name}"), self._on_signal)

    def _on_signal(self, signum: int, frame: object) -> None:
        self.queue.append(signum)

    def fileno(self) -> int:
        return self._read.fileno()

    def pending(self) -> list[str]:
        """The names (`TERM`, `HUP`...) of the signals received since the last call."""
        try:
            while self._read.recv(4096):
                pass
        except BlockingIOError:
            pass
        names = []
        while self.queue:
            names.append(signal.Signals(self.queue.popleft()).name[3:])
        return names

    def close(self) -> None:
        signal.set_wakeup_fd(-1)
        for name in self.names:
            signal.signal(getattr(signal, f"SIG{name}"), signal.SIG_DFL)
        self._read.close()
        self._write.close()
