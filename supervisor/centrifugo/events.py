"""The six proxy events, and the worker-side adapter between the pool and typed handlers.

Each event is served by the pool handler `centrifugo.<event>`. Its chain, built by the
worker like any other, is: the global `"*"` interceptors (they see the `Payload`), then the
event's adapter below, then the section's `"*"` and per-event interceptors, then the
user's function; everything inside the adapter sees the typed request and returns the
typed result. The adapter turns what comes back into the JSON the gRPC helper expects,
and refuses what Centrifugo would misread (see `Event.none_ok`, `Event.refusals`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from supervisor.centrifugo import requests, results

HANDLER_PREFIX = "centrifugo."


@dataclass(frozen=True)
class Event:
    name: str
    method: str
    request: type[requests.ProxyRequest]
    result: type
    none_ok: bool
    """Whether returning None is safe: an empty result reads as "no credentials" for connect,
    "expired" for refresh and sub_refresh, and (here, by choice) a subscription must be
    allowed explicitly; for publish it publishes the data as sent, for rpc it answers empty."""
    refusals: bool
    """Whether Error and Disconnect are read: refresh and sub_refresh ignore them."""

    @property
    def handler(self) -> str:
        """The pool handler name serving this event."""
        return HANDLER_PREFIX + self.name


EVENTS: dict[str, Event] = {e.name: e for e in (
    Event("connect", "Connect", requests.ConnectRequest, results.ConnectResult, False, True),
    Event("refresh", "Refresh", requests.RefreshRequest, results.RefreshResult, False, False),
    Event("subscribe", "Subscribe", requests.SubscribeRequest, results.SubscribeResult,
          False, True),
    Event("publish", "Publish", requests.PublishRequest, results.PublishResult, True, True),
    Event("rpc", "RPC", requests.RPCRequest, results.RPCResult, True, True),
    Event("sub_refresh", "SubRefresh", requests.SubRefreshRequest, results.SubRefreshResult,
          False, False),
)}


def outcome_to_wire(event: Event, outcome: Any) -> dict[str, Any]:
    """The response a handler's outcome stands for: `{"result"|"error"|"disconnect": ...}`.

    Raises TypeError naming the event and what was returned when Centrifugo would read
    the answer as something the handler did not mean.
    """
    if isinstance(outcome, event.result):
        return {"result": outcome.to_wire()}
    if isinstance(outcome, results.Error | results.Disconnect):
        if not event.refusals:
            raise TypeError(f"{event.name} handler answered {outcome!r}, which Centrifugo "
                            f"ignores for {event.name}; return {event.result.__name__}"
                            "(expired=True) to end it")
        return {"error" if isinstance(outcome, results.Error) else "disconnect":
                outcome.to_wire()}
    if outcome is None and event.none_ok:
        return {}
    expected = f"{event.result.__name__}, Error or Disconnect" if event.refusals \
        else event.result.__name__
    if outcome is None:
        raise TypeError(f"{event.name} handler returned None; Centrifugo would read an "
                        f"empty answer as {_EMPTY[event.name]}: return {expected}")
    raise TypeError(f"{event.name} handler returned {type(outcome).__name__}; "
                    f"expected {expected}")


_EMPTY = {"connect": "no credentials", "refresh": "expired", "sub_refresh": "expired",
          "subscribe": "allowed with the namespace's defaults"}


def _adapt(event: Event, payload: Any, call_next: Callable[[Any], Any]) -> dict[str, Any]:
    metadata = payload.context.get("metadata") or {}
    request = event.request.from_wire(payload.json(), metadata)
    try:
        outcome = call_next(request)
    except (results.Error, results.Disconnect) as refusal:
        outcome = refusal
    return outcome_to_wire(event, outcome)


# One adapter per event, named `supervisor.centrifugo.events:<event>` in the handler's chain.
connect = partial(_adapt, EVENTS["connect"])
refresh = partial(_adapt, EVENTS["refresh"])
subscribe = partial(_adapt, EVENTS["subscribe"])
publish = partial(_adapt, EVENTS["publish"])
rpc = partial(_adapt, EVENTS["rpc"])
sub_refresh = partial(_adapt, EVENTS["sub_refresh"])
