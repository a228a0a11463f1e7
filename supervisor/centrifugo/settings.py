"""The `centrifugo:` config section, checked strictly like the rest of the config.

    centrifugo:
      proxy_listen: tcp://127.0.0.1:10001   # where Centrifugo's gRPC proxy calls arrive
      timeout: 5s                           # cap per call (the caller's deadline may be less)
      max_concurrent: 64                    # calls served at once; more get RESOURCE_EXHAUSTED
      credentials: {key: x-proxy-token, value: "${PROXY_TOKEN}"}   # optional, every call
      handlers: {connect: app:on_connect, rpc: app:on_rpc}          # event -> module:function
      interceptors: {"*": [app:trace], connect: [app:auth]}         # "*" runs outermost
      api_address: 127.0.0.1:10000          # Centrifugo's gRPC API, for supervisor.centrifugo.api()
      api_key: "${CENTRIFUGO_API_KEY}"
      api_timeout: 2s

Each event's handler joins the pool's handler table as `centrifugo.<event>`, with the event's
adapter (`supervisor.centrifugo.events`) first in its interceptor chain.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from supervisor.centrifugo.api import DEFAULT_TIMEOUT
from supervisor.centrifugo.events import EVENTS, HANDLER_PREFIX
from supervisor.config import _duration as duration
from supervisor.config import _handler_path as handler_path
from supervisor.config import _Invalid as Invalid
from supervisor.config import _mapping as mapping
from supervisor.config import _optional as optional
from supervisor.config import _section as check_section
from supervisor.config import _string as non_empty_string
from supervisor.config import check_endpoint
from supervisor.errors import ConfigError

SECTION = "centrifugo"
EXTRA = "zmq-supervisor[centrifugo]"
MAX_CONCURRENT = 1024
_METADATA_KEY = re.compile(r"^[a-z0-9_.-]+$")


@dataclass(frozen=True)
class Credentials:
    """A metadata pair every proxy call must carry (Centrifugo's `grpc.credentials_key`)."""

    key: str
    value: str = field(repr=False)


@dataclass(frozen=True)
class CentrifugoConfig:
    proxy_listen: str = "tcp://127.0.0.1:10001"
    timeout: float = 5.0
    max_concurrent: int = 64
    credentials: Credentials | None = None
    handlers: dict[str, str] = field(default_factory=dict)
    interceptors: dict[str, list[str]] = field(default_factory=dict)
    api_address: str = "127.0.0.1:10000"
    api_key: str | None = field(default=None, repr=False)
    api_timeout: float = 2.0

    @property
    def grpc_address(self) -> str:
        """`proxy_listen` as gRPC writes it: HOST:PORT."""
        return self.proxy_listen[len("tcp://"):]

    def pool_handlers(self) -> dict[str, str]:
        return {EVENTS[event].handler: target for event, target in self.handlers.items()}

    def pool_interceptors(self) -> dict[str, list[str]]:
        """Per event: its adapter, then the section's `"*"`, then the event's own chain."""
        star = self.interceptors.get("*", [])
        return {EVENTS[event].handler: [f"supervisor.centrifugo.events:{event}", *star,
                                        *self.interceptors.get(event, [])]
                for event in self.handlers}


def _listen(value: Any) -> str:
    endpoint = check_endpoint(value)
    if not endpoint.startswith("tcp://"):
        raise ValueError(f"expected tcp://HOST:PORT (gRPC listens on TCP), got {value!r}")
    return endpoint


def _address(value: Any) -> str:
    host, sep, port = non_empty_string(value).rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or " " in host:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return value if host else f"127.0.0.1:{port}"


def _concurrency(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_CONCURRENT:
        raise ValueError(f"expected an integer in 1..{MAX_CONCURRENT}, got {value!r}")
    return value


def _credentials(value: Any) -> Credentials | None:
    if value is None:
        return None
    entry = check_section(value, f"{SECTION}.credentials",
                                        {"key": (None, non_empty_string),
                                         "value": (None, non_empty_string)})
    key = entry["key"]
    if not _METADATA_KEY.match(key) or key.endswith("-bin") or key.startswith("grpc-"):
        raise Invalid(f"{SECTION}.credentials.key",
                                    "expected a lower-case gRPC metadata key (a-z 0-9 _ . -), "
                                    f"not ending in -bin nor starting with grpc-, got {key!r}")
    if not entry["value"].isprintable() or not entry["value"].isascii():
        raise Invalid(f"{SECTION}.credentials.value",
                                    "expected printable ASCII (it travels as gRPC metadata)")
    return Credentials(key, entry["value"])


_SPEC: dict[str, tuple[Any, Callable[[Any], Any]]] = {
    "proxy_listen": ("tcp://127.0.0.1:10001", _listen),
    "timeout": ("5s", duration(positive=True)),
    "max_concurrent": (64, _concurrency),
    "credentials": (None, lambda value: value),
    "handlers": (None, mapping),
    "interceptors": (None, mapping),
    "api_address": ("127.0.0.1:10000", _address),
    "api_key": (None, optional(non_empty_string)),
    "api_timeout": (DEFAULT_TIMEOUT, duration(positive=True)),
}


def extra_missing() -> str | None:
    """The first module of the extra that is not installed (found without importing it)."""
    for module in ("grpc", "google.protobuf"):
        try:
            if importlib.util.find_spec(module) is None:
                return module
        except ModuleNotFoundError:
            return module
    return None


def parse(raw: Any, missing: Callable[[], str | None] = extra_missing) -> CentrifugoConfig:
    """The section as a frozen dataclass; ConfigError naming the key path if it is wrong."""
    try:
        return _parse(raw, missing)
    except Invalid as exc:
        raise ConfigError(f"{exc.key}: {exc}") from None


def _parse(raw: Any, missing: Callable[[], str | None]) -> CentrifugoConfig:
    values = check_section(raw, SECTION, _SPEC)
    absent = missing()
    if absent is not None:
        raise Invalid(SECTION, f"needs the centrifugo extra ({absent} is not "
                                             f"installed): pip install '{EXTRA}'")
    handlers = {}
    for event, target in values["handlers"].items():
        key = f"{SECTION}.handlers.{event}"
        if event not in EVENTS:
            raise Invalid(key, f"unknown event (expected one of: "
                                             f"{', '.join(EVENTS)})")
        try:
            handlers[event] = handler_path(target)
        except ValueError as exc:
            raise Invalid(key, str(exc)) from None
    interceptors = {}
    for name, chain in values["interceptors"].items():
        key = f"{SECTION}.interceptors.{name}"
        if name != "*" and name not in handlers:
            raise Invalid(key, f"expected '*' or an event with a handler "
                                             f"({', '.join(handlers) or 'none'}), got {name!r}")
        if not isinstance(chain, list):
            raise Invalid(key, "expected a list of 'module:function'")
        try:
            interceptors[str(name)] = [handler_path(item) for item in chain]
        except ValueError as exc:
            raise Invalid(key, str(exc)) from None
    return CentrifugoConfig(
        proxy_listen=values["proxy_listen"], timeout=values["timeout"],
        max_concurrent=values["max_concurrent"],
        credentials=_credentials(values["credentials"]), handlers=handlers,
        interceptors=interceptors, api_address=values["api_address"],
        api_key=values["api_key"], api_timeout=values["api_timeout"])


def apply(config: Any, raw: Any) -> Any:
    """`config` with the section parsed and its events added to the pool's handler table."""
    section = parse(raw)
    taken = sorted(name for name in config.handlers if name.startswith(HANDLER_PREFIX))
    if taken:
        raise ConfigError(f"handlers.{taken[0]}: names starting with {HANDLER_PREFIX!r} are "
                          "reserved for the centrifugo section's events")
    return dataclasses.replace(
        config, centrifugo=section, handlers={**config.handlers, **section.pool_handlers()},
        interceptors={**config.interceptors, **section.pool_interceptors()})
