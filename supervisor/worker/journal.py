"""A worker's journal: which request it started last, and its latest answers.

A worker holds several requests (`pool.pipeline`) and runs them in order. If it
dies, the master must know which of them started: those that did must never run
again, those that did not go back to the queue. Messages cannot tell: an answer
or a start mark sent over ZeroMQ may still sit in the dead worker's send queue.
So the worker writes to a small shared file before it runs a request (its number)
and after (its answer, when small), with plain memory stores that outlive the
process; the master reads the file once the process is gone.

    offset 0           u64 number of the request started last
    offset 64 + i*SLOT answer slot i = number % SLOTS:
                       u64 number, u8 status, 3 pad, u32 length, data (written first)
"""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path

SLOTS = 16
SLOT = 16384
_HEADER = 64
SIZE = _HEADER + SLOTS * SLOT
_SEQ = struct.Struct("<Q")
_ANSWER = struct.Struct("<QB3xI")
MAX_ANSWER = SLOT - _ANSWER.size


def path_for(run_dir: str | Path, ident: bytes) -> Path:
    return Path(run_dir) / f"worker-{ident.decode()}.journal"


def create(path: Path) -> None:
    """A fresh, private, zeroed journal (master side, before the worker starts)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.ftruncate(fd, SIZE)
    finally:
        os.close(fd)


def read(path: Path) -> tuple[int, dict[int, tuple[int, bytes]]]:
    """(number started last, {number: (status, answer)}) from a dead worker's journal."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return 0, {}
    try:
        data = os.pread(fd, SIZE, 0)
    finally:
        os.close(fd)
    if len(data) < SIZE:
        return 0, {}
    answers = {}
    for slot in range(SLOTS):
        offset = _HEADER + slot * SLOT
        seq, status, length = _ANSWER.unpack_from(data, offset)
        if seq and length <= MAX_ANSWER:
            start = offset + _ANSWER.size
            answers[seq] = (status, data[start:start + length])
    return _SEQ.unpack_from(data)[0], answers


def remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def remove_all(run_dir: str | Path) -> None:
    """Journals left in run_dir by workers of a master that is gone."""
    for path in Path(run_dir).glob("worker-*.journal"):
        path.unlink(missing_ok=True)


class Journal:
    """The worker's side: a shared mapping of the file the master created."""

    def __init__(self, path: str | Path) -> None:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
        try:
            self._map = mmap.mmap(fd, SIZE)
        finally:
            os.close(fd)

    def started(self, seq: int) -> None:
        _SEQ.pack_into(self._map, 0, seq)

    def answered(self, seq: int, status: int, body: bytes) -> None:
        """Keep a small answer; its number is written last, so a torn write reads as absent."""
        offset = _HEADER + (seq % SLOTS) * SLOT
        _SEQ.pack_into(self._map, offset, 0)
        if len(body) > MAX_ANSWER:
            return
        start = offset + _ANSWER.size
        self._map[start:start + len(body)] = body
        _ANSWER.pack_into(self._map, offset, 0, status, len(body))
        _SEQ.pack_into(self._map, offset, seq)

    def close(self) -> None:
        self._map.close()
