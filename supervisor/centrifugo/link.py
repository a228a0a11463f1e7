"""The helper's way into the pool: one thread-safe `supervisor.Client` for every gRPC thread.

The gRPC server's threads share the client's one socket; each call waits for its own
answer while the others' requests stay in flight (`supervisor.client.sync`).
"""

from __future__ import annotations

import threading

from supervisor.client import Client


class PoolLink:
    """Calls into the pool through the master's client endpoint, from any thread."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._client: Client | None = None
        self._lock = threading.Lock()

    def submit(self, handler: str, body: bytes, context: dict, timeout: float) -> bytes:
        """Run `handler` on one worker; the answer's body, or the pool's typed error."""
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = Client(self.endpoint)
                client = self._client
        return client.exec(handler, body, timeout=timeout, context=context)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
