"""Without a `cluster` section nothing of the cluster is imported, and the extras stay optional."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml

from tests.support import ROOT, base_config

PROBE = """
import json, sys
from supervisor.master import rundir, services
from supervisor.master.logs import Logs
from supervisor.master.loop import Master
from supervisor.tars import settings
cfg = settings.load(sys.argv[1])
rundir.prepare(cfg)
master = Master(cfg, Logs(cfg.log))
services.add_all(master)
import supervisor.scheduling.scheduler
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('redis', 'etcd3gw')
                        or m.startswith('supervisor.cluster'))))
master.context.destroy(linger=0)
"""

def _loaded(tmp_path, **overrides) -> list[str]:
    path = tmp_path / "supervisor.yaml"
    path.write_text(yaml.safe_dump(base_config(tmp_path / "run", **overrides)))
    out = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True,
                         text=True, cwd=ROOT, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_a_master_without_a_cluster_section_imports_no_engine(tmp_path):
    assert _loaded(tmp_path, ticker={"interval": "1s", "handler": "echo"}) == []


def test_with_a_cluster_section_only_the_coordinator_imports_the_engine(tmp_path):
    loaded = _loaded(tmp_path, ticker={"interval": "1s", "handler": "echo", "singleton": True},
                     cluster={"backend": "redis://127.0.0.1:6379", "name": "x"})
    assert "supervisor.cluster.link" in loaded
    assert not any(m == "redis" or m.startswith("supervisor.cluster.redis") for m in loaded)
