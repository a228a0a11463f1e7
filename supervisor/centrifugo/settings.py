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

The config loader keeps the section as read; `apply` (called by the command line, like the
Tars overlay) checks it and adds each event's handler to the pool's handler table as
`centrifugo.<event>`, with the event's adapter (`supervisor.centrifugo.events`) first in its
interceptor chain.
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
from supervisor.config import Config, section
from supervisor.config import values as v
from supervisor.config.model import setting
from supervisor.errors import ConfigError

SECTION = "centrifugo"
EXTRA = "zmq-supervisor[centrifugo]"
MAX_CONCURRENT = 1024
_METADATA_KEY = re.compile(r"^[a-z0-9_.-]+$")


class _Invalid(Exception):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _listen(value: Any) -> str:
    endpoint = v.endpoint(value)
    if not endpoint.startswith("tcp://"):
        raise ValueError(f"expected tcp://HOST:PORT (gRPC listens on TCP), got {value!r}")
    return endpoint


def _address(value: Any) -> str:
    """A gRPC target `HOST:PORT`; no host or `*` means loopback."""
    _, port = v.split_address(v.string(value))
    if not port:
        raise ValueError(f"expected HOST:PORT with a port above 0, got {value!r}")
    return value if value.rpartition(":")[0] not in ("", "*") else f"127.0.0.1:{port}"


def _concurrency(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_CONCURRENT:
        raise ValueError(f"expected an integer in 1..{MAX_CONCURRENT}, got {value!r}")
    return value


def _metadata_key(value: Any) -> str:
    key = v.string(value)
    if not _METADATA_KEY.match(key) or key.endswith("-bin") or key.startswith("grpc-"):
        raise ValueError("expected a lower-case gRPC metadata key (a-z 0-9 _ . -), not ending "
                         f"in -bin nor starting with grpc-, got {key!r}")
    return key


def _metadata_value(value: Any) -> str:
    text = v.string(value)
    if not (text.isascii() and text.isprintable()):
        raise ValueError("expected printable ASCII (it travels as gRPC metadata)")
    return text


@dataclass(frozen=True)
class Credentials:
    """A metadata pair every proxy call must carry (Centrifugo's `grpc.credentials_key`)."""

    key: str = setting(convert=_metadata_key)
    value: str = field(default=dataclasses.MISSING, repr=False,
                       metadata={"convert": _metadata_value})


@dataclass(frozen=True)
class CentrifugoConfig:
    proxy_listen: str = setting("tcp://127.0.0.1:10001", _listen)
    timeout: float = setting(5.0, v.duration(positive=True))
    max_concurrent: int = setting(64, _concurrency)
    credentials: Any = setting(None, v.optional(v.mapping))
    handlers: dict[str, str] = field(default_factory=dict, metadata={"convert": v.mapping})
    interceptors: dict[str, list[str]] = field(default_factory=dict,
                                               metadata={"convert": v.mapping})
    api_address: str = setting("127.0.0.1:10000", _address)
    api_key: str | None = field(default=None, repr=False,
                                metadata={"convert": v.optional(v.string)})
    api_timeout: float = setting(DEFAULT_TIMEOUT, v.duration(positive=True))

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
    """The section as a frozen dataclass; ConfigError `KEY.PATH: what was expected`."""
    try:
        return _parse(raw, missing)
    except _Invalid as exc:
        raise ConfigError(f"{exc.key}: {exc}") from None


def _checked(raw: Any, path: str, model: type) -> Any:
    try:
        return section(raw, path, model)
    except ConfigError as exc:  # the loader's error carries the key path
        raise _Invalid(getattr(exc, "key", path), str(exc)) from None


def _parse(raw: Any, missing: Callable[[], str | None]) -> CentrifugoConfig:
    values = _checked(raw, SECTION, CentrifugoConfig)
    absent = missing()
    if absent is not None:
        raise _Invalid(SECTION, f"needs the centrifugo extra ({absent} is not installed): "
                                f"pip install '{EXTRA}'")
    handlers = {}
    for event, target in values.handlers.items():
        key = f"{SECTION}.handlers.{event}"
        if event not in EVENTS:
            raise _Invalid(key, f"unknown event (expected one of: {', '.join(EVENTS)})")
        handlers[event] = _path(key, target)
    interceptors = {}
    for name, chain in values.interceptors.items():
        key = f"{SECTION}.interceptors.{name}"
        if name != "*" and name not in handlers:
            raise _Invalid(key, f"expected '*' or an event with a handler "
                                f"({', '.join(handlers) or 'none'}), got {name!r}")
        if not isinstance(chain, list):
            raise _Invalid(key, "expected a list of 'module:function'")
        interceptors[str(name)] = [_path(key, item) for item in chain]
    credentials = values.credentials
    if credentials is not None:
        credentials = _checked(credentials, f"{SECTION}.credentials", Credentials)
    return dataclasses.replace(values, handlers=handlers, interceptors=interceptors,
                               credentials=credentials)


def _path(key: str, target: Any) -> str:
    try:
        return v.handler_path(target)
    except ValueError as exc:
        raise _Invalid(key, str(exc)) from None


def apply(config: Config) -> Config:
    """`config` with its raw `centrifugo` section checked and its events in the handler table."""
    if config.centrifugo is None or isinstance(config.centrifugo, CentrifugoConfig):
        return config
    try:
        checked = parse(config.centrifugo)
    except ConfigError as exc:
        raise ConfigError(f"{config.path}: {exc}") from None
    taken = sorted(name for name in config.handlers if name.startswith(HANDLER_PREFIX))
    if taken:
        raise ConfigError(f"{config.path}: handlers.{taken[0]}: names starting with "
                          f"{HANDLER_PREFIX!r} are reserved for the centrifugo section's events")
    return dataclasses.replace(
        config, centrifugo=checked, handlers={**config.handlers, **checked.pool_handlers()},
        interceptors={**config.interceptors, **checked.pool_interceptors()})
