"""Turn `module:function` names from the config into callables wrapped by interceptors."""

from __future__ import annotations

import importlib
import traceback
from collections.abc import Callable
from functools import partial
from typing import Any

Handler = Callable[[Any], Any]


class HandlerLoadError(Exception):
    """A configured handler or interceptor cannot be used; `key` is its config path."""

    def __init__(self, key: str, message: str, trace: str = "") -> None:
        super().__init__(message)
        self.key = key
        self.trace = trace


def user_traceback(exc: BaseException) -> str:
    """The traceback of a failed import in the user's own files: importlib's frames and ours
    left out; empty when none is left (the module simply does not exist)."""
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__)
              if not frame.filename.startswith("<frozen")
              and frame.filename not in (__file__, importlib.__file__)]
    if not frames and not isinstance(exc, SyntaxError):
        return ""
    return "Traceback (most recent call last):\n" + "".join(
        traceback.format_list(frames) + traceback.format_exception_only(exc)).rstrip()


def resolve(target: str, key: str) -> Callable:
    """Import `module:attr` (attr may be dotted) and check that it is callable."""
    module_name, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise HandlerLoadError(key, f"cannot import module {module_name!r}: "
                                    f"{type(exc).__name__}: {exc}", user_traceback(exc)) from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise HandlerLoadError(key, f"module {module_name!r} has no attribute "
                                        f"{attr!r}") from None
    if not callable(obj):
        raise HandlerLoadError(key, f"{target!r} is a {type(obj).__name__}, not callable")
    return obj


def _intercepted(interceptor: Callable, call_next: Handler, payload: Any) -> Any:
    return interceptor(payload, call_next)


def build(handlers: dict[str, str], interceptors: dict[str, list[str]]) -> dict[str, Handler]:
    """Every handler by name, wrapped so that the first listed interceptor runs outermost.

    The `"*"` chain wraps outside the per-handler chain.
    """
    built = {}
    for name, target in handlers.items():
        call = resolve(target, f"handlers.{name}")
        chain = [(key, path) for key in ("*", name)
                 for path in interceptors.get(key, [])]
        for key, path in reversed(chain):
            call = partial(_intercepted, resolve(path, f"interceptors.{key}"), call)
        built[name] = call
    return built
