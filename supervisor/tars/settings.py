"""A Tars server conf turned into settings: what the platform decides overrides the YAML.

The node writes the conf for every start, so whatever it says (ports, worker count, paths) is
the truth for this deployment; the YAML keeps everything the conf has no word for (handlers,
schedules, limits, metrics). The mapping, also in the README:

    <server> app, server      keepalive application and serverName
    <server> node             keepalive node (servant and endpoint)
    <server> logpath          server.log.file = LOGPATH/App/Server/App.Server.log
    <server> datapath         server.run_dir
    obj adapter endpoint      server.listen = tcp://HOST:PORT (tcp only)
    obj adapter threads       pool.num_workers (0 = number of CPUs)
    obj adapter allow         server.allow (peers permitted on that endpoint)
    every <...Adapter>        keepAlive adapters, plus AdminAdapter
    keepalive.enabled unset   on

The obj adapter is the one whose name ends in `ObjAdapter` (any case), else the first adapter.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from supervisor import config as config_loader
from supervisor.config import Config
from supervisor.config.values import check_peers
from supervisor.errors import ConfigError
from supervisor.tars import conf as tars_conf
from supervisor.tars.conf import Adapter, Block, TarsServerConf


def load(path: str | os.PathLike | None, tars_config: str | None = None,
         environ: dict[str, str] | None = None) -> Config:
    """The YAML config with the Tars conf it names (or `tars_config`, which wins) applied."""
    return resolve(config_loader.load(path, environ), tars_config)


def resolve(config: Config, tars_config: str | None = None) -> Config:
    """`config` with the Tars conf it names (or `tars_config`, which wins) applied."""
    path = tars_config or config.tars_config
    if not path:
        if config.keepalive_enabled:
            raise ConfigError(f"{config.path}: keepalive.enabled: needs tars.config (the node "
                              "to report to and the adapters come from the Tars conf)")
        if config.cluster is not None and not config.cluster.name:
            raise ConfigError(f"{config.path}: cluster.name: expected a name (the key prefix "
                              "shared by every node of the cluster); only under Tars does it "
                              "default to App.Server")
        return config
    return apply(config, tars_conf.load(path))


def obj_adapter(conf: TarsServerConf) -> Adapter | None:
    """The adapter whose endpoint clients use: `...ObjAdapter`, else the first one."""
    named = [a for a in conf.adapters if a.name.lower().endswith("objadapter")]
    return (named or conf.adapters or [None])[0]


def apply(config: Config, conf: TarsServerConf) -> Config:
    """Settings from `conf` over `config`; ConfigError (file:line: what) if one cannot be used."""
    changes: dict = {"tars_config": conf.path, "tars": conf}
    if config.keepalive_enabled is None:
        changes["keepalive_enabled"] = True
    if config.cluster is not None and not config.cluster.name:
        changes["cluster"] = config.cluster.named(f"{conf.app}.{conf.server}")
    if conf.logpath:
        name = f"{conf.app}.{conf.server}.log"
        log_file = os.path.join(os.path.abspath(conf.logpath), conf.app, conf.server, name)
        changes["log"] = dataclasses.replace(config.log, file=log_file)
    if conf.datapath:
        run_dir = Path(os.path.abspath(conf.datapath))
        changes["run_dir"] = run_dir
        if config.listen == f"ipc://{config.run_dir}/exec.sock":
            changes["listen"] = f"ipc://{run_dir}/exec.sock"
    adapter = obj_adapter(conf)
    if adapter is not None:
        block = conf.tree.find("tars", "application", "server", adapter.name)
        assert block is not None
        changes["listen"] = _listen(adapter, block, conf.path)
        if "threads" in block.values:
            threads = adapter.threads or os.cpu_count() or 1
            changes["pool"] = dataclasses.replace(config.pool, num_workers=threads)
        if adapter.allow:
            changes["allow"] = _allow(adapter, block, conf.path)
    return dataclasses.replace(config, **changes)


def _where(block: Block, key: str, path: str) -> str:
    return f"{path}:{block.value_lines.get(key, block.line)}"


def _listen(adapter: Adapter, block: Block, path: str) -> str:
    endpoint = adapter.endpoint
    if endpoint.protocol != "tcp":
        raise ConfigError(f"{_where(block, 'endpoint', path)}: <{adapter.name}> endpoint: "
                          f"clients are served over tcp only, got {endpoint.protocol}")
    if endpoint.port == 0:
        raise ConfigError(f"{_where(block, 'endpoint', path)}: <{adapter.name}> endpoint: "
                          "needs a port above 0")
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    return f"tcp://{host}:{endpoint.port}"


def _allow(adapter: Adapter, block: Block, path: str) -> list[str]:
    try:
        return check_peers(adapter.allow)
    except ValueError as exc:
        raise ConfigError(f"{_where(block, 'allow', path)}: <{adapter.name}> allow: {exc}") \
            from None
