"""Who may connect to a tcp listen endpoint: the Tars adapter's `allow` list, enforced by ZAP.

ZeroMQ asks a ZAP handler (RFC 27) about every new connection to a socket that has a ZAP
domain, and drops the ones it refuses before a single frame is read. The handler here answers
from a thread of the master, so a busy or stopped master loop never delays a handshake, and it
needs no stopping: it ends when the master's context terminates. Entries are IP addresses or
patterns with `*` (`10.0.0.*`); an empty list allows everyone, as in Tars.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
from collections.abc import Iterable

import zmq

from supervisor.config.values import check_peers

log = logging.getLogger("supervisor.access")

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
ZAP_DOMAIN = b"supervisor"
# Refusals are logged once per address, for at most this many addresses.
_LOGGED_MAX = 1000


class PeerFilter:
    """The ZAP verdict for one address: allowed when the list is empty or an entry matches."""

    def __init__(self, allow: Iterable[str]) -> None:
        entries = check_peers(allow)
        self.exact = {entry for entry in entries if "*" not in entry}
        self.patterns = [entry for entry in entries if "*" in entry]

    def allows(self, address: str) -> bool:
        """ZeroMQ reports an IPv4 peer of a dual-stack socket as `::ffff:a.b.c.d`."""
        if not self.exact and not self.patterns:
            return True
        if address.startswith("::ffff:"):
            address = address[len("::ffff:"):]
        return address in self.exact or any(fnmatch.fnmatchcase(address, p)
                                            for p in self.patterns)


def guard(context: zmq.Context, sock: zmq.Socket, endpoint: str, allow: list[str]) -> None:
    """Before `sock` binds `endpoint`: refuse tcp peers not in `allow` (no-op otherwise)."""
    if not allow or not endpoint.startswith("tcp://"):
        return
    peers = PeerFilter(allow)
    # A Context object of its own over the same libzmq context: the master's destroy() closes
    # only its own sockets, and the handler's blocking recv ends with ContextTerminated.
    shadow = zmq.Context.shadow(context.underlying)
    handler = shadow.socket(zmq.REP)
    handler.linger = 0
    handler.bind(ZAP_ENDPOINT)
    sock.zap_domain = ZAP_DOMAIN
    threading.Thread(target=_serve, args=(handler, peers), name="zap", daemon=True).start()
    log.info("%s accepts connections only from %s", endpoint, ", ".join(allow))


def _serve(handler: zmq.Socket, peers: PeerFilter) -> None:
    logged: set[str] = set()
    try:
        while True:
            frames = handler.recv_multipart()
            handler.send_multipart(_answer(frames, peers, logged))
    except zmq.ContextTerminated:
        pass
    finally:
        handler.close(linger=0)


def _answer(frames: list[bytes], peers: PeerFilter, logged: set[str]) -> list[bytes]:
    """ZAP reply: version, request id, status code, status text, user id, metadata."""
    if len(frames) < 6 or frames[0] != b"1.0":
        return [b"1.0", frames[1] if len(frames) > 1 else b"", b"400", b"malformed", b"", b""]
    address = frames[3].decode("ascii", "replace")
    if peers.allows(address):
        return [b"1.0", frames[1], b"200", b"OK", b"", b""]
    if address not in logged and len(logged) < _LOGGED_MAX:
        logged.add(address)
        log.warning("refused a connection from %s: not in the allow list", address)
    return [b"1.0", frames[1], b"400", b"address not allowed", b"", b""]
