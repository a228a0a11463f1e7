"""Tars server confs as a node writes them, for tests that run a master under one."""

from __future__ import annotations

import socket
from pathlib import Path

APP, SERVER = "App", "Server"
OBJ = f"{APP}.{SERVER}.ObjAdapter"
HTTP = f"{APP}.{SERVER}.HttpAdapter"
INTERVAL = 1.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def conf_text(*, node_port: int, obj_port: int, threads: int | None = 2, allow: str = "",
              datapath: Path | None = None, logpath: Path | None = None,
              basepath: Path | None = None, http_port: int | None = None) -> str:
    """A generated-looking conf with the obj adapter and (by default) an http adapter."""
    paths = "".join(f"      {key}={value}/\n" for key, value in
                    (("basepath", basepath), ("datapath", datapath), ("logpath", logpath))
                    if value is not None)
    threads_line = "" if threads is None else f"        threads={threads}\n"
    allow_line = f"        allow={allow}\n" if allow else "        allow\n"
    http = http_port or free_port()
    return (
        "<tars>\n  <application>\n    enableset=n\n    setdivision=NULL\n    <server>\n"
        f"      node=tars.tarsnode.ServerObj@tcp -h 127.0.0.1 -p {node_port} -t 60000\n"
        f"      app={APP}\n      server={SERVER}\n      localip=127.0.0.1\n"
        f"{paths}      log=tars.tarslog.LogObj\n"
        f"      <{OBJ}>\n{allow_line}"
        f"        endpoint=tcp -h 127.0.0.1 -p {obj_port} -t 60000\n"
        f"        maxconns=1024\n        protocol=not_tars\n        servant={APP}.{SERVER}.Obj\n"
        f"{threads_line}      </{OBJ}>\n"
        f"      <{HTTP}>\n        allow\n        endpoint=tcp -h 127.0.0.1 -p {http} -t 60000\n"
        f"        protocol=not_tars\n        servant={APP}.{SERVER}.Http\n        threads=1\n"
        f"      </{HTTP}>\n"
        "    </server>\n  </application>\n</tars>\n"
    )


def write_conf(directory: Path, **options) -> Path:
    """`conf_text(**options)` as `directory/App.Server.config.conf`."""
    path = directory / f"{APP}.{SERVER}.config.conf"
    path.write_text(conf_text(**options))
    return path
