"""Handlers the integration tests configure; each one exists to provoke one behaviour."""

import os
import time

from supervisor import Payload


def echo(payload: Payload) -> bytes:
    return payload.body


def whoami(payload: Payload) -> dict:
    return {"id": int(os.environ["SUPERVISOR_WORKER_ID"]), "pid": os.getpid(),
            "mode": os.environ["SUPERVISOR_MODE"]}


def whoami_after_5ms(payload: Payload) -> dict:
    """A short real handler: a worker then lives long enough for a successor to start."""
    time.sleep(0.005)
    return whoami(payload)


def sleep(payload: Payload) -> dict:
    seconds = float(payload.body or b"1")
    print(f"sleeping {seconds:g}s", flush=True)
    time.sleep(seconds)
    return {"slept": seconds, "pid": os.getpid()}


def boom(payload: Payload) -> None:
    raise ValueError(f"boom: {payload.body.decode()}")


def unserialisable(payload: Payload) -> object:
    return object()


def context(payload: Payload) -> dict:
    return payload.context


def shout(payload: Payload, call_next) -> bytes:
    return call_next(payload).upper()


def bracket(payload: Payload, call_next) -> bytes:
    return b"[" + call_next(payload) + b"]"


def talk(payload: Payload) -> str:
    print("hello from stdout")
    os.write(2, b"raw write to fd 2\n")
    import logging

    logging.getLogger("tests.talk").warning("a warning from the handler")
    return "said"


NOT_CALLABLE = 42


_HELD: list[bytearray] = []


def hoard(payload: Payload) -> dict:
    """Keeps 10 MB more on every call, like a leaking handler."""
    _HELD.append(bytearray(10 * 2**20))
    for block in _HELD[-1:]:
        block[:: 4096] = b"x" * len(block[:: 4096])
    return {"pid": os.getpid(), "held_mb": 10 * len(_HELD)}


def record_tick(payload: Payload) -> str:
    """Appends what a tick looked like on arrival to $TICK_LOG; sleeps $TICK_SLEEP seconds."""
    import json

    received = time.time()
    with open(os.environ["TICK_LOG"], "a") as log:
        log.write(json.dumps({"body": payload.json(), "context": payload.context,
                              "received": received, "pid": os.getpid()}) + "\n")
    time.sleep(float(os.environ.get("TICK_SLEEP", "0")))
    return "OK"


def spawn_sleep(payload: Payload) -> dict:
    """Starts `sleep 1000` and returns at once, leaving it running."""
    import subprocess

    child = subprocess.Popen(["sleep", "1000"], stdin=subprocess.DEVNULL)
    return {"pid": child.pid, "worker": os.getpid()}


def fork_child(payload: Payload) -> dict:
    """Forks a child that sleeps for ever, and returns in the parent."""
    pid = os.fork()
    if pid == 0:
        try:
            time.sleep(1000)
        finally:
            os._exit(0)
    return {"pid": pid, "worker": os.getpid()}


def exit_with(payload: Payload) -> None:
    """Ends the worker process with the code in the body, as sys.exit does."""
    import sys

    sys.exit(int(payload.body))


def shout_lines(payload: Payload) -> str:
    """Writes the number of bytes in the body, as one line without a newline, to stdout."""
    import sys

    sys.stdout.write("x" * int(payload.body))
    sys.stdout.flush()
    return "written"
_ID_LOG: list[int] = []


def record_id(payload: Payload) -> bytes:
    """Appends the request's id (its body) to $ID_LOG before answering: a record of every run."""
    if not _ID_LOG:
        _ID_LOG.append(os.open(os.environ["ID_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
    os.write(_ID_LOG[0], payload.body + b"\n")
    return payload.body


def picky(payload: Payload) -> bytes:
    """Echoes, but raises for a body starting with '!': one bad item in a chunk."""
    if payload.body.startswith(b"!"):
        raise ValueError(f"refused {payload.body.decode()}")
    return payload.body


def nap(payload: Payload) -> bytes:
    """Sleeps the number of seconds in the body."""
    time.sleep(float(payload.body))
    return payload.body


def big(payload: Payload) -> bytes:
    """Returns as many bytes as the body says."""
    return b"x" * int(payload.body)
