"""Publishing back: a client for Centrifugo's gRPC server API (`CentrifugoApi`).

`supervisor.centrifugo.api()` in a worker returns a client set up from the config's
`api_address`, `api_key` and `api_timeout` (the master hands them to its children in
`SUPERVISOR_CENTRIFUGO_API`); elsewhere pass them as arguments. gRPC is imported on the
first call of `api()`, so a worker that never publishes never loads it.

Results are plain dicts with the proto's field names (bytes stay bytes). Errors are typed:
`ApiError(code, message)` for an error in the response body, `ApiUnauthorized` for a
refused API key, `ApiUnavailable` when Centrifugo does not answer within `api_timeout`.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from supervisor.centrifugo.results import payload_bytes

API_ENV = "SUPERVISOR_CENTRIFUGO_API"
SERVICE = "CentrifugoApi"
DEFAULT_TIMEOUT = 2.0


class ApiError(Exception):
    """Centrifugo answered with an error (`code` as Centrifugo numbers them, 0 for transport)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ApiUnauthorized(ApiError):
    """The API key was refused (gRPC UNAUTHENTICATED)."""


class ApiUnavailable(ApiError):
    """Centrifugo could not be reached or did not answer within `api_timeout`."""


_clients: dict[tuple, ApiClient] = {}
_lock = threading.Lock()


def api(address: str | None = None, key: str | None = None,
        timeout: float | None = None) -> ApiClient:
    """The API client for this process (one per address, key and timeout; reused)."""
    configured = json.loads(os.environ.get(API_ENV) or "{}")
    address = address or configured.get("address")
    if not address:
        raise ApiError(0, "no Centrifugo API address: configure centrifugo.api_address "
                          "or pass address=")
    key = key if key is not None else configured.get("key")
    timeout = timeout if timeout is not None else configured.get("timeout") or DEFAULT_TIMEOUT
    ident = (os.getpid(), address, key, timeout)
    with _lock:
        client = _clients.get(ident)
        if client is None:
            client = _clients[ident] = ApiClient(address, key, float(timeout))
        return client


class ApiClient:
    """One gRPC channel to Centrifugo's API; safe to share between threads."""

    def __init__(self, address: str, key: str | None, timeout: float) -> None:
        import grpc

        from supervisor.centrifugo import codec, protocol

        self._grpc, self._codec = grpc, codec
        self.address = address
        self.timeout = timeout
        self._metadata = (("authorization", f"apikey {key}"),) if key else ()
        self._proto = protocol.load("api.proto")
        self._channel = grpc.insecure_channel(address)
        self._stubs: dict[str, Any] = {}

    def _invoke(self, method: str, request: dict[str, Any]) -> Any:
        request_cls, response_cls = self._proto.methods[SERVICE][method]
        stub = self._stubs.get(method)
        if stub is None:
            stub = self._stubs[method] = self._channel.unary_unary(
                self._proto.path(SERVICE, method),
                request_serializer=request_cls.SerializeToString,
                response_deserializer=response_cls.FromString)
        message = self._codec.from_dict(request_cls, request, binary=True)
        try:
            return stub(message, timeout=self.timeout, metadata=self._metadata)
        except self._grpc.RpcError as exc:
            raise self._failure(exc) from None

    def call(self, method: str, request: dict[str, Any]) -> dict[str, Any]:
        """Call `method` (e.g. "Publish") with the proto fields in `request`; return `result`."""
        response = self._invoke(method, request)
        if response.error.code:
            raise ApiError(response.error.code, response.error.message)
        return self._codec.to_dict(response.result, binary=True)

    def _failure(self, exc: Any) -> ApiError:
        code, details = exc.code(), exc.details() or ""
        status = self._grpc.StatusCode
        if code == status.UNAUTHENTICATED:
            return ApiUnauthorized(0, f"Centrifugo refused the API key: {details}")
        if code in (status.UNAVAILABLE, status.DEADLINE_EXCEEDED):
            return ApiUnavailable(0, f"Centrifugo API at {self.address}: {code.name}: {details}")
        return ApiError(0, f"{code.name}: {details}")

    # --- the API's methods ---

    def publish(self, channel: str, data: Any, *, skip_history: bool = False,
                tags: dict[str, str] | None = None, idempotency_key: str = "",
                delta: bool = False, version: int = 0, version_epoch: str = "") -> dict:
        """Publish `data` (bytes, text or a JSON value) into `channel`: `{offset, epoch}`."""
        return self.call("Publish", {
            "channel": channel, "data": payload_bytes(data, "data"),
            "skip_history": skip_history, "tags": tags, "idempotency_key": idempotency_key,
            "delta": delta, "version": version, "version_epoch": version_epoch})

    def broadcast(self, channels: list[str], data: Any, *, skip_history: bool = False,
                  tags: dict[str, str] | None = None, idempotency_key: str = "") -> dict:
        """Publish the same `data` into each of `channels`: `{responses: [...]}`."""
        return self.call("Broadcast", {
            "channels": list(channels), "data": payload_bytes(data, "data"),
            "skip_history": skip_history, "tags": tags, "idempotency_key": idempotency_key})

    def subscribe(self, user: str, channel: str, *, client: str = "", session: str = "",
                  expire_at: int = 0, info: Any = None, data: Any = None) -> dict:
        """Subscribe the user's connections (or one `client`) to `channel` from the server."""
        return self.call("Subscribe", {
            "user": user, "channel": channel, "client": client, "session": session,
            "expire_at": expire_at, "info": payload_bytes(info, "info"),
            "data": payload_bytes(data, "data")})

    def unsubscribe(self, user: str, channel: str, *, client: str = "",
                    session: str = "") -> dict:
        return self.call("Unsubscribe", {"user": user, "channel": channel, "client": client,
                                         "session": session})

    def disconnect(self, user: str, *, code: int = 0, reason: str = "", client: str = "",
                   session: str = "", whitelist: list[str] | None = None) -> dict:
        """Disconnect the user's connections; `code`/`reason` as `Disconnect` (0: default)."""
        disconnect = {"code": code, "reason": reason} if code else None
        return self.call("Disconnect", {"user": user, "disconnect": disconnect,
                                        "client": client, "session": session,
                                        "whitelist": whitelist})

    def refresh(self, user: str, *, client: str = "", session: str = "", expired: bool = False,
                expire_at: int = 0, info: Any = None) -> dict:
        return self.call("Refresh", {"user": user, "client": client, "session": session,
                                     "expired": expired, "expire_at": expire_at,
                                     "info": payload_bytes(info, "info")})

    def presence(self, channel: str) -> dict:
        """`{presence: {client id: {user, client, conn_info, chan_info}}}`."""
        return self.call("Presence", {"channel": channel})

    def presence_stats(self, channel: str) -> dict:
        return self.call("PresenceStats", {"channel": channel})

    def history(self, channel: str, *, limit: int = 0, since: dict | None = None,
                reverse: bool = False) -> dict:
        """`since` is `{"offset": N, "epoch": "..."}`; returns `{publications, epoch, offset}`."""
        return self.call("History", {"channel": channel, "limit": limit, "since": since,
                                     "reverse": reverse})

    def history_remove(self, channel: str) -> dict:
        return self.call("HistoryRemove", {"channel": channel})

    def channels(self, pattern: str = "") -> dict:
        return self.call("Channels", {"pattern": pattern})

    def info(self) -> dict:
        return self.call("Info", {})

    def rpc(self, method: str, params: Any = None) -> dict:
        return self.call("RPC", {"method": method, "params": payload_bytes(params, "params")})

    def batch(self, commands: list[dict[str, Any]], *, parallel: bool = False) -> list[dict]:
        """Several commands in one call, e.g. `[{"publish": {"channel": c, "data": b"..."}}]`.

        One reply per command, in order: `{"publish": {...}}` or `{"error": {...}}`; errors
        of single commands are returned, not raised.
        """
        response = self._invoke("Batch", {"commands": commands, "parallel": parallel})
        return self._codec.to_dict(response, binary=True).get("replies", [])

    def close(self) -> None:
        self._channel.close()
