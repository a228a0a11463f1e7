"""The control client leaves no ZeroMQ socket open, however its construction or call ends:
an open socket makes the context's termination at exit wait for ever."""

from __future__ import annotations

import pytest
import zmq

from supervisor.errors import NotRunning
from supervisor.ops.control import ControlClient


def test_a_client_that_cannot_connect_closes_what_it_opened():
    # The ZeroMQ leak guard (tests/zmq_guard.py) fails this test if a socket or context stays open.
    with pytest.raises(zmq.ZMQError):
        ControlClient("nosuchtransport://here")


def test_close_after_an_unanswered_call_leaves_nothing_open(tmp_path):
    endpoint = f"ipc://{tmp_path}/control.sock"
    listener = zmq.Context.instance().socket(zmq.ROUTER)  # takes the request, never answers
    listener.bind(endpoint)
    try:
        client = ControlClient(endpoint, timeout=0.05)
        with pytest.raises(NotRunning, match="no answer"):
            client.call("status")
        client.close()
        assert client.socket.closed and client.context.closed
    finally:
        listener.close(0)
