"""The HTTP side of the metrics address: metrics, health checks and the live status page.

    /metrics      Prometheus text format
    /healthz      200 while the master loop answers, else 503
    /readyz       200 while `supervisor status` would exit 0 (running or reloading, not
                  degraded, not starting, not stopping), else 503
    /             the status page (one HTML file, no external assets)
    /status.json  what the page shows: the `status` and `workers` control replies
    anything else 404

The server runs in threads of the master process, but never reads the master's state itself:
it asks the master loop over the control socket, as `supervisor status` does, so every answer
comes from the one thread that owns that state, and a wedged loop shows as unhealthy.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from supervisor.errors import SupervisorError
from supervisor.ops.control import ControlClient

log = logging.getLogger("supervisor.web")

PROBE_TIMEOUT = 2.0
"""Seconds the master loop has to answer a health probe before it counts as not alive."""

Exposition = Callable[[], tuple[bytes, str]]


class WebServer:
    """An HTTP server on its own threads; `close()` stops it."""

    def __init__(self, host: str, port: int, control_endpoint: str | None,
                 exposition: Exposition) -> None:
        page = resources.files("supervisor.ops").joinpath("status.html").read_bytes()
        routes = _Routes(control_endpoint, exposition, page)
        handler = type("Handler", (_Handler,), {"routes": routes})
        family = ThreadingHTTPServer
        if ":" in host:
            import socket

            family = type("Server6", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6})
        self.server = family((host, port), handler)
        self.server.daemon_threads = True
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, name="web", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Routes:
    def __init__(self, control_endpoint: str | None, exposition: Exposition, page: bytes) -> None:
        self.control = control_endpoint
        self.exposition = exposition
        self.page = page

    def get(self, path: str) -> tuple[int, str, bytes]:
        """(HTTP status, content type, body) for one GET."""
        if path == "/metrics":
            body, content_type = self.exposition()
            return 200, content_type, body
        if path == "/":
            return 200, "text/html; charset=utf-8", self.page
        if path == "/healthz":
            reply = self._ask("ping")
            return _json(200 if "error" not in reply else 503, {"alive": "error" not in reply,
                                                                **reply})
        if path == "/readyz":
            status = self._ask("status")
            ready = bool(status.get("healthy"))
            return _json(200 if ready else 503, {"ready": ready,
                                                 "state": status.get("state", "not answering"),
                                                 **({"error": status["error"]}
                                                    if "error" in status else {})})
        if path == "/status.json":
            status = self._ask("status")
            if "error" in status:
                return _json(503, status)
            return _json(200, {"status": status, "workers": self._ask("workers")})
        return _json(404, {"error": f"no such page: {path}", "pages": [
            "/", "/metrics", "/healthz", "/readyz", "/status.json"]})

    def _ask(self, command: str) -> dict[str, Any]:
        """The master loop's answer to one control command, or {"error": why not}."""
        if self.control is None:
            return {"error": "no control socket"}
        try:
            with ControlClient(self.control, timeout=PROBE_TIMEOUT) as client:
                return client.call(command)
        except (SupervisorError, OSError, ValueError) as exc:
            return {"error": str(exc)}


def _json(code: int, value: Any) -> tuple[int, str, bytes]:
    return code, "application/json", json.dumps(value).encode()


class _Handler(BaseHTTPRequestHandler):
    routes: _Routes
    server_version = "zmq-supervisor"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        try:
            code, content_type, body = self.routes.get(path)
        except Exception:
            log.exception("failed to answer GET %s", path)
            code, content_type, body = _json(500, {"error": "internal error"})
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)
