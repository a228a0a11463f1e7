"""The helper's way into the pool: one `supervisor.Client` per gRPC worker thread.

`Client` keeps one request in flight and is not thread-safe, so each thread of the gRPC
server gets its own (created on its first call). Everything else in the helper calls
`submit`, so moving to a thread-safe client sharing one socket changes only this class.
"""

from __future__ import annotations

import threading

from supervisor.client import Client


class PoolLink:
    """Calls into the pool through the master's client endpoint, from any thread."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._local = threading.local()
        self._clients: list[Client] = []
        self._lock = threading.Lock()

    def submit(self, handler: str, body: bytes, context: dict, timeout: float) -> bytes:
        """Run `handler` on one worker; the answer's body, or the pool's typed error."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = Client(self.endpoint)
            with self._lock:
                self._clients.append(client)
        return client.exec(handler, body, timeout=timeout, context=context)

    def close(self) -> None:
        with self._lock:
            for client in self._clients:
                client.close()
            self._clients.clear()
