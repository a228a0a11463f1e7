"""The gRPC side of the helper: serves `CentrifugoProxy` by handing each call to the pool.

Imported only in the helper process. Everything runs on one asyncio loop: grpc's asyncio
server and one `supervisor.AsyncClient`, so a call costs no thread hand-off of ours (a
thread per call waiting on a shared client cost the helper about 40 context switches and
twice the CPU per call). A call is checked (credentials, concurrency, event
configured, base64 well-formed), decoded to JSON and sent to the master as the request
`centrifugo.<event>`, whose context carries the event type and the call's metadata; the
worker's JSON answer is encoded back into the event's `XxxResponse`. Every way a call can
fail ends in a gRPC status (see `failures.STATUS`), never in an empty response, which
Centrifugo would read as a decision.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import math
from collections import Counter
from functools import partial
from typing import Any

import grpc

from supervisor import wire
from supervisor.centrifugo import codec, protocol
from supervisor.centrifugo.events import EVENTS, Event
from supervisor.centrifugo.failures import CANCELLED, OK, status_for
from supervisor.client import AsyncClient
from supervisor.errors import SupervisorError

log = logging.getLogger("supervisor.centrifugo")
# grpc's asyncio layer logs a debug line per call ("Loaded running loop"); with the master
# at debug level each would cross the log socket and be written by the master.
logging.getLogger("grpc._cython.cygrpc").setLevel(logging.INFO)

SERVICE = "CentrifugoProxy"


class _Refused(Exception):
    def __init__(self, status: str, details: str) -> None:
        super().__init__(details)
        self.status = status
        self.details = details


class ProxyServicer:
    """One method handler per event; counts every call by event and gRPC status.

    Used from the loop's thread only (grpc runs the deserializers there too).
    """

    def __init__(self, client: AsyncClient, events: list[str], timeout: float,
                 max_concurrent: int, credentials: tuple[str, str] | None) -> None:
        self.client = client
        self.events = frozenset(events)
        self.timeout = timeout
        self.max_concurrent = max_concurrent
        self.credentials = credentials
        self.in_flight = 0
        self.calls: Counter[tuple[str, str]] = Counter()
        self.proto = protocol.load("proxy.proto")

    def count(self, event: str, status: str) -> None:
        self.calls[event, status] += 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (event, status), count in self.calls.items():
            out.setdefault(event, {})[status] = count
        return out

    def handler(self) -> grpc.GenericRpcHandler:
        methods = self.proto.methods[SERVICE]
        handlers = {}
        for event in EVENTS.values():
            request_cls, response_cls = methods[event.method]
            # The request arrives as bytes and is parsed in `serve`: a malformed one then
            # ends in INTERNAL and is counted (grpc.aio would answer UNKNOWN).
            handlers[event.method] = grpc.unary_unary_rpc_method_handler(
                partial(self.serve, event, request_cls),  # a coroutine function: run on the loop
                response_serializer=response_cls.SerializeToString)
        return grpc.method_handlers_generic_handler(f"{self.proto.package}.{SERVICE}", handlers)

    async def serve(self, event: Event, request_cls: type, data: bytes,
                    context: grpc.aio.ServicerContext) -> Any:
        try:
            headers = self._authenticate(context)
            try:
                request = request_cls.FromString(data)
            except Exception as exc:
                raise _Refused("INTERNAL", f"cannot deserialize the request: {exc}") from None
            if event.name not in self.events:
                raise _Refused("UNIMPLEMENTED", f"no handler is configured for {event.name}")
            if self.in_flight >= self.max_concurrent:
                raise _Refused("RESOURCE_EXHAUSTED",
                               f"over max_concurrent ({self.max_concurrent} calls)")
            self.in_flight += 1
            try:
                response = await self._call(event, request, headers, context)
            finally:
                self.in_flight -= 1
        except _Refused as refused:
            self.count(event.name, refused.status)
            await context.abort(getattr(grpc.StatusCode, refused.status), refused.details)
        except asyncio.CancelledError:  # the caller cancelled or its deadline passed
            self.count(event.name, CANCELLED)
            raise
        except Exception as exc:  # a bug here still ends the call in a status, and is counted
            log.exception("the %s call failed in the helper", event.name)
            self.count(event.name, "INTERNAL")
            await context.abort(grpc.StatusCode.INTERNAL, f"{type(exc).__name__} in the helper")
        self.count(event.name, OK)
        return response

    def _authenticate(self, context: grpc.aio.ServicerContext) -> dict[str, str]:
        """The call's metadata as headers (without the credentials), once they are checked."""
        headers: dict[str, str] = {}
        presented = None
        for key, value in context.invocation_metadata():
            if self.credentials is not None and key == self.credentials[0]:
                presented = value
                continue
            text = base64.b64encode(value).decode() if isinstance(value, bytes) else value
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        if self.credentials is not None and (
                not isinstance(presented, str) or
                not hmac.compare_digest(presented.encode(), self.credentials[1].encode())):
            raise _Refused("UNAUTHENTICATED", "missing or wrong proxy credentials")
        return headers

    async def _call(self, event: Event, request: Any, headers: dict[str, str],
                    context: grpc.aio.ServicerContext) -> Any:
        remaining = context.time_remaining()
        timeout = min(self.timeout, math.inf if remaining is None else remaining)
        if timeout <= 0:
            raise _Refused("DEADLINE_EXCEEDED", "the deadline passed before the call started")
        body = json.dumps(request_body(request)).encode()
        try:
            reply = await self.client.exec(event.handler, body, timeout,
                                           {"type": event.name, "metadata": headers})
        except SupervisorError as exc:
            raise _Refused(status_for(exc), f"{type(exc).__name__}: {exc}") from None
        response_cls = self.proto.methods[SERVICE][event.method][1]
        try:
            return codec.from_dict(response_cls, wire.load_json(reply))
        except (wire.WireError, codec.CodecError) as exc:
            raise _Refused("INTERNAL", f"malformed answer from the handler: {exc}") from None


def request_body(request: Any) -> dict[str, Any]:
    """The request as the worker's JSON: bytes as base64, `b64data` folded into `data`."""
    body = codec.to_dict(request)
    encoded = body.pop("b64data", None)
    if encoded:
        try:
            base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise _Refused("INVALID_ARGUMENT", "b64data is not valid base64") from None
        body["data"] = encoded
    return body


class BindError(Exception):
    """The proxy address cannot be listened on."""


async def start_server(servicer: ProxyServicer, address: str) -> grpc.aio.Server:
    """Bind and start; port reuse is off, so a second server cannot share the port."""
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((servicer.handler(),))
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise BindError(str(exc)) from None
    if port == 0:
        raise BindError(f"cannot listen on {address}")
    await server.start()
    return server
