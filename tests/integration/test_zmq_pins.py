"""What the data path relies on in pyzmq and libzmq, pinned (setup.cfg: pyzmq >=25,<28).

The master and clients call the compiled `send`/`recv` with plain int flags instead of
`send_multipart`/`recv_multipart`, watch sockets through their file descriptors, learn
each message's connection from ZMQ_SRCFD, and let ZeroMQ refuse frames over
MAXMSGSIZE. If an upgrade changes any of this, these tests say which part.
"""

import select
import time

import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

from supervisor import wire
from supervisor.master.peers import Peers


@pytest.fixture
def pair(tmp_path):
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.linger = 0
    router.bind(f"ipc://{tmp_path}/pin.sock")
    dealer = context.socket(zmq.DEALER)
    dealer.linger = 0
    dealer.connect(f"ipc://{tmp_path}/pin.sock")
    yield context, router, dealer, f"ipc://{tmp_path}/pin.sock"
    router.close(0)
    dealer.close(0)
    context.term()


def test_int_flags_send_multipart_and_frames_say_whether_more_follows(pair):
    _, router, dealer, _ = pair
    wire.send(dealer, [b"a", b"b", b"c"], wire.NOBLOCK)
    assert router.poll(2000)
    ident = router.recv(wire.NOBLOCK)
    frames = [router.recv(wire.NOBLOCK, copy=False) for _ in range(3)]
    assert ident and [f.bytes for f in frames] == [b"a", b"b", b"c"]
    assert [f.more for f in frames] == [True, True, False]
    wire.send(router, [ident, b"x", b"y"])
    assert dealer.poll(2000) and wire.recv(dealer) == [b"x", b"y"]
    with pytest.raises(wire.WireError, match="more than 2 frames"):
        wire.send(router, [ident, b"1", b"2", b"3"])
        assert dealer.poll(2000)
        wire.recv(dealer, most=2)
    assert not wire.more(dealer)  # the long message was read to its end


def test_getsockopt_events_is_a_plain_int(pair):
    _, router, dealer, _ = pair
    assert type(router.getsockopt(zmq.EVENTS)) is int  # `get` would build a PollEvent
    dealer.send(b"one")
    assert router.poll(2000) and wire.more(router)


def test_the_fd_fires_again_once_the_socket_was_read_empty(pair):
    _, router, dealer, _ = pair
    dealer.send(b"one")
    assert router.poll(2000)
    router.recv_multipart()
    assert not wire.more(router)  # read empty: ZeroMQ will signal the next message
    dealer.send(b"two")
    assert select.select([router.FD], [], [], 2.0)[0] == [router.FD]
    assert wire.more(router)


def test_srcfd_names_the_connection_the_monitor_reports(tmp_path):
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    monitor = router.get_monitor_socket(zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED)
    router.bind(f"ipc://{tmp_path}/fd.sock")
    dealer = context.socket(zmq.DEALER)
    dealer.connect(f"ipc://{tmp_path}/fd.sock")
    try:
        dealer.send(b"hello")
        assert router.poll(2000)
        router.recv(wire.NOBLOCK)
        frame = router.recv(wire.NOBLOCK, copy=False)
        events = set()
        while monitor.poll(500):
            event = recv_monitor_message(monitor)
            events.add((event["event"], event["value"]))
        assert (zmq.EVENT_ACCEPTED, frame.get(zmq.SRCFD)) in events
    finally:
        router.disable_monitor()
        for sock in (monitor, dealer, router):
            sock.close(0)
        context.term()


def test_peers_hear_of_a_closed_connection(pair):
    context, router, dealer, endpoint = pair
    peers = Peers(router)
    other = context.socket(zmq.DEALER)
    other.connect(endpoint)
    try:
        for sock in (dealer, other):
            sock.send(b"hi")
            assert router.poll(2000)
            ident = router.recv(wire.NOBLOCK)
            peers.seen(ident, router.recv(wire.NOBLOCK, copy=False))
        assert len(peers) == 2
        other.close(0)
        deadline = time.monotonic() + 2
        gone = []
        while not gone and time.monotonic() < deadline:
            gone = peers.gone()
            time.sleep(0.01)
        assert len(gone) == 1 and len(peers) == 1
    finally:
        peers.close()


def test_maxmsgsize_drops_a_larger_frame_unread(tmp_path):
    context = zmq.Context()
    router, dealer = context.socket(zmq.ROUTER), context.socket(zmq.DEALER)
    try:
        router.maxmsgsize = 1000
        router.bind(f"ipc://{tmp_path}/max.sock")
        dealer.connect(f"ipc://{tmp_path}/max.sock")
        dealer.send(b"x" * 2000)
        dealer.send(b"small")  # goes after the reconnection, or is lost with the first
        received = []
        while router.poll(500):
            received.append(router.recv_multipart()[1])
        assert b"x" * 2000 not in received
    finally:
        router.close(0)
        dealer.close(0)
        context.term()


def test_router_mandatory_tells_a_gone_peer_and_a_full_one(pair):
    _, router, dealer, _ = pair
    router.router_mandatory = 1
    router.sndhwm = 10
    dealer.rcvhwm = 1
    with pytest.raises(zmq.ZMQError) as unknown:
        router.send(b"nobody", wire.SNDMORE | wire.NOBLOCK)
    assert unknown.value.errno == zmq.EHOSTUNREACH
    dealer.send(b"hi")
    assert router.poll(2000)
    ident = router.recv_multipart()[0]
    with pytest.raises(zmq.Again):  # the peer reads nothing: its queue fills
        for _ in range(100_000):
            wire.send(router, [ident, b"x" * 1000], wire.NOBLOCK)
