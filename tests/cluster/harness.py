"""Three (or more) real masters with separate run dirs sharing one engine and one tick log."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.cluster.engines import Server
from tests.cluster.proxy import Proxy
from tests.support import ROOT, MasterProcess, base_config

INTERVAL = 0.25
LEASE = 1.0


@dataclass
class Node:
    name: str
    master: MasterProcess
    proxy: Proxy
    config: dict

    @property
    def pid(self) -> int:
        return self.master.pid

    def group_signal(self, signum: int) -> None:
        """To the whole node: master, scheduler, coordinator and workers."""
        os.killpg(self.master.pid, signum)


class Cluster:
    def __init__(self, server: Server, name: str, size: int = 3, on_engine_loss: str = "stop"):
        self.server = server
        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix="zs-cluster-"))
        self.log = self.dir / "ticks.log"
        self.log.touch()
        self.nodes: list[Node] = []
        for index in range(size):
            self.nodes.append(self._start(f"n{index}", on_engine_loss))
        for node in self.nodes:
            node.master.wait_ready()

    def _start(self, node_id: str, on_engine_loss: str) -> Node:
        proxy = Proxy(self.server.port)
        run_dir = self.dir / node_id / "run"
        config = base_config(
            run_dir, pool={"num_workers": 1, "destroy_timeout": "5s"},
            handlers={"beat": "tests.cluster.handlers:log_tick"},
            schedules=[{"name": "beat", "every": f"{int(INTERVAL * 1000)}ms",
                        "handler": "beat", "singleton": True}],
            cluster={"backend": proxy.url(self.server.kind), "name": self.name,
                     "node_id": node_id, "lease": f"{LEASE}s", "timeout": "200ms",
                     "claim_ahead": "100ms", "on_engine_loss": on_engine_loss})
        config["server"]["log"] = {"level": "info"}
        master = MasterProcess(config, env={"ZS_TICK_LOG": str(self.log)})
        return Node(node_id, master, proxy, config)

    def restart(self, node: Node) -> Node:
        """A fresh master with the same config in place of a stopped or killed one."""
        node.master.stop()
        shutil.rmtree(node.master.dir, ignore_errors=True)
        node.master = MasterProcess(node.config, env={"ZS_TICK_LOG": str(self.log)})
        node.master.wait_ready()
        return node

    def fleet(self) -> dict:
        """`supervisor status --cluster --json`, as an operator would run it."""
        out = subprocess.run([sys.executable, "-m", "supervisor", "status", "--cluster",
                              "--json", "-c", str(self.nodes[0].master.config_path)],
                             capture_output=True, text=True, timeout=20, cwd=ROOT)
        assert out.stdout, out.stderr
        return json.loads(out.stdout)

    def status(self, node: Node) -> dict:
        out = subprocess.run([sys.executable, "-m", "supervisor", "status", "--json", "-c",
                              str(node.master.config_path)], capture_output=True, text=True,
                             timeout=20, cwd=ROOT)
        return json.loads(out.stdout)

    def entries(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def wait_entries(self, predicate, timeout: float) -> list[dict]:
        """Wait (bounded) until the log satisfies `predicate`; the log is a file: poll it."""
        deadline = time.monotonic() + timeout
        while True:
            entries = self.entries()
            if predicate(entries):
                return entries
            if time.monotonic() > deadline:
                raise AssertionError(f"tick log condition not met within {timeout}s; "
                                     f"last entries: {entries[-5:]}")
            time.sleep(0.02)

    def wait_fired(self, count: int, timeout: float = 15.0, node: str | None = None) -> list:
        start = len(self.entries())
        return self.wait_entries(lambda e: sum(1 for x in e[start:] if node in (None, x["node"]))
                                 >= count, timeout)

    def leader(self) -> Node:
        last = self.wait_fired(1)[-1]["node"]
        return next(n for n in self.nodes if n.name == last)

    def stop(self) -> None:
        for node in self.nodes:
            node.group_signal(signal.SIGCONT) if node.master.proc.poll() is None else None
            node.master.stop()
            node.proxy.close()
            shutil.rmtree(node.master.dir, ignore_errors=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def doubles(entries: list[dict]) -> list[int]:
    """Slots fired more than once (degraded ticks aside)."""
    seen: dict[int, int] = {}
    for entry in entries:
        if not entry["degraded"]:
            seen[entry["slot"]] = seen.get(entry["slot"], 0) + 1
    return sorted(slot for slot, count in seen.items() if count > 1)
