"""The worker's serving loop: run the requests the master sent, in order, one at a time.

The master may send several requests at once (`pool.pipeline`): they wait here
and run in the order sent. Before each runs, its number goes to the journal; its
answer goes to the journal and then to the master, so the master always knows,
even after a SIGKILL, which requests started (`supervisor.worker.journal`).
"""

from __future__ import annotations

import json
import time
import traceback
from collections import deque
from typing import Any

import zmq

from supervisor import wire
from supervisor.payload import Payload, encode_result
from supervisor.worker.journal import Journal

# The most requests one message from the master may carry.
MOST_PER_MESSAGE = 256


class Runtime:
    """A SIGTERM while idle ends the worker at once; while busy, after the answer is sent."""

    def __init__(self) -> None:
        self.busy = False
        self.stop_requested = False

    def on_term(self, signum: int, frame: Any) -> None:
        if not self.busy:
            raise SystemExit(0)
        self.stop_requested = True


class Runner:
    def __init__(self, sock: zmq.Socket, table: dict[str, Any], worker_id: int,
                 journal: Journal, runtime: Runtime, max_answer: int) -> None:
        self.sock = sock
        self.table = {name.encode(): call for name, call in table.items()}
        self.worker_id = worker_id
        self.journal = journal
        self.runtime = runtime
        self.max_answer = max_answer

    def serve(self) -> None:
        """Until STOP or SIGTERM: take the master's messages, run each request, answer."""
        waiting: deque[bytes] = deque()
        runtime, journal, sock, clock = self.runtime, self.journal, self.sock, time.perf_counter
        while not runtime.stop_requested:
            if not waiting:
                frames = wire.recv(sock, 0, MOST_PER_MESSAGE)
                if len(frames) == 1 and frames[0] == wire.STOP:
                    return
                waiting.extend(frames)
            job = waiting.popleft()
            seq, kind, handler, context, start = wire.parse_job(job)
            runtime.busy = True
            journal.started(seq)
            started = clock()
            if kind == wire.CHUNK:
                status, answer = wire.S_CHUNK, self._chunk(handler, job, start, context)
            else:
                status, answer = self._call(handler, job[start:], context)
            ran = clock() - started
            journal.answered(seq, status, answer)
            sock.send(wire.done(status, seq, ran) + answer)
            runtime.busy = False

    def _call(self, handler: bytes, body: bytes, context: bytes) -> tuple[int, bytes]:
        try:
            payload = Payload(body, json.loads(context) if context else {})
            result = encode_result(self.table[handler](payload))
        except Exception as exc:
            return wire.S_ERR, self._failure(exc)
        if len(result) > self.max_answer:
            return wire.S_ERR, self._too_large(len(result))
        return wire.S_OK, result

    def _chunk(self, handler: bytes, job: bytes, start: int, context: bytes) -> bytes:
        """Each body of a chunk is its own call with its own outcome; all go back as one.

        The calls run from C iterators (`map` into `list.extend`), so a body costs its
        `Payload` and its handler call and no bytecode of ours. A call that raises stops
        `extend` with the answers so far in place: its error takes the next place, and
        the same iterators go on with the next body. Results that are not bytes are
        encoded afterwards, and the size bound is checked once per chunk.
        """
        call, shared = self.table[handler], json.loads(context) if context else None
        contexts = iter(shared.copy if shared else dict, None)  # a fresh dict for each call
        results = map(call, map(Payload, wire.unpack_bodies(job, start), contexts))
        answers: list[Any] = []
        failed = []
        while True:
            try:
                answers.extend(results)
                break
            except Exception as exc:
                failed.append(len(answers))
                answers.append(self._failure(exc))
        if not wire.all_bytes(answers):
            self._encode(answers, failed)
        statuses = bytearray(len(answers))
        for index in failed:
            statuses[index] = wire.S_ERR
        if sum(map(len, answers)) + 5 * len(answers) > self.max_answer:
            self._bound(statuses, answers)
        return wire.pack_answers(statuses, answers)

    def _encode(self, answers: list[Any], failed: list[int]) -> None:
        """Results that are not bytes as `encode_result` makes them (or its error)."""
        for index, result in enumerate(answers):
            if type(result) is not bytes:
                try:
                    answers[index] = encode_result(result)
                except Exception as exc:
                    failed.append(index)
                    answers[index] = self._failure(exc)

    def _failure(self, exc: Exception) -> bytes:
        return wire.error_body("HandlerError", str(exc), type=type(exc).__name__,
                               worker=self.worker_id, traceback=traceback.format_exc())

    def _bound(self, statuses: bytearray, answers: list[bytes]) -> None:
        """Answers past the message size become `ResultTooLarge` errors, in order."""
        room = self.max_answer
        for index, answer in enumerate(answers):
            room -= len(answer) + 5
            if room < 0:
                statuses[index] = wire.S_ERR
                answers[index] = self._too_large(len(answer), "this chunk's answers")

    def _too_large(self, size: int, what: str = "the result") -> bytes:
        return wire.error_body("HandlerError", f"{what} ({size} bytes) would exceed "
                               f"server.limits.message_size ({self.max_answer} bytes)",
                               type="ResultTooLarge", worker=self.worker_id)
