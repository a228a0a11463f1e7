"""The master's Waiter on real ZeroMQ sockets: no message is left waiting behind a consumed
descriptor signal, plain descriptors are reported as poll reports them."""

import os
import time

import pytest
import zmq

from supervisor import wire
from supervisor.master.waiter import Waiter


@pytest.fixture
def pair(tmp_path):
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    dealer = context.socket(zmq.DEALER)
    for sock in (router, dealer):
        sock.linger = 0
    router.bind(f"ipc://{tmp_path}/w.sock")
    dealer.connect(f"ipc://{tmp_path}/w.sock")
    yield router, dealer
    router.close(0)
    dealer.close(0)
    context.term()


def _arrived(sock: zmq.Socket) -> None:
    deadline = time.monotonic() + 5
    while not wire.more(sock):  # reading the events consumes the descriptor's signal
        assert time.monotonic() < deadline
        time.sleep(0.001)


def test_a_message_whose_signal_was_consumed_is_still_reported_at_once(pair):
    router, dealer = pair
    waiter = Waiter()
    waiter.register(router)
    dealer.send(b"one")
    _arrived(router)  # as a send or an events check in the loop would do
    started = time.monotonic()
    assert waiter.poll(5000) == [(router, zmq.POLLIN)]
    assert time.monotonic() - started < 1


def test_a_message_arriving_while_asleep_wakes_the_waiter(pair):
    router, dealer = pair
    waiter = Waiter()
    waiter.register(router)
    assert waiter.poll(0) == []
    dealer.send(b"one")
    assert waiter.poll(5000) == [(router, zmq.POLLIN)]
    assert wire.recv(router, wire.NOBLOCK)[1] == b"one"
    assert waiter.poll(50) == []  # read empty: nothing reported, the timeout passed


def test_plain_descriptors_and_unregistering(pair):
    router, _ = pair
    waiter = Waiter()
    read, write = os.pipe()
    try:
        waiter.register(read)
        waiter.register(router)
        os.write(write, b"x")
        assert waiter.poll(5000) == [(read, zmq.POLLIN)]
        waiter.unregister(read)
        assert waiter.poll(0) == []
        with pytest.raises(KeyError):
            waiter.unregister(read)
    finally:
        os.close(read)
        os.close(write)
