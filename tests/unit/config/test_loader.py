"""Config loading: defaults, expansion, and one clear line for every kind of mistake."""

from pathlib import Path

from supervisor import config
from tests.support import ROOT


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "supervisor.yaml"
    path.write_text(text)
    return path


def test_defaults_from_an_empty_file(tmp_path):
    loaded = config.load(write(tmp_path, ""), environ={})
    assert loaded.pool.num_workers == 2
    assert loaded.pool.allocate_timeout == 60.0
    assert loaded.pool.start_method == "forkserver"
    assert loaded.listen.startswith("ipc://") and loaded.listen.endswith("/run/exec.sock")
    assert loaded.schedules == []
    assert loaded.keepalive_interval == 30.0


def test_shipped_config_loads():
    loaded = config.load(ROOT / "conf" / "supervisor.yaml", environ={})
    assert loaded.handlers["tick"] == "workers.ticker:on_tick"
    assert [(s.name, s.every, s.handler) for s in loaded.schedules] == [("ticker", 1.0, "tick")]


def test_environment_expansion(tmp_path):
    path = write(tmp_path, "pool: {num_workers: '${N}', max_jobs: '${J:-7}'}\n"
                           "server: {listen: 'tcp://*:${PORT:-5555}'}\n")
    loaded = config.load(path, environ={"N": "3"})
    assert (loaded.pool.num_workers, loaded.pool.max_jobs) == (3, 7)
    assert loaded.listen == "tcp://127.0.0.1:5555"


def test_durations_and_sizes(tmp_path):
    path = write(tmp_path, "pool:\n  allocate_timeout: 500ms\n  destroy_timeout: 1m\n"
                           "  supervisor: {max_worker_memory: 1GB, exec_ttl: 2s}\n")
    loaded = config.load(path, environ={})
    assert loaded.pool.allocate_timeout == 0.5
    assert loaded.pool.destroy_timeout == 60.0
    assert loaded.pool.supervisor.max_worker_memory == 1024.0
    assert loaded.pool.supervisor.exec_ttl == 2.0


def test_zero_workers_means_cpu_count(tmp_path):
    import os

    loaded = config.load(write(tmp_path, "pool: {num_workers: 0}\n"), environ={})
    assert loaded.pool.num_workers == os.cpu_count()


BAD = {
    "unknown key": ("pool: {num_wrokers: 2}\n", "pool.num_wrokers: unknown key"),
    "wrong type": ("pool: {num_workers: two}\n", "pool.num_workers: expected an integer"),
    "negative workers": ("pool: {num_workers: -1}\n", "pool.num_workers: expected an integer >= 0"),
    "bad duration": ("pool: {allocate_timeout: 5 parsecs}\n",
                     "pool.allocate_timeout: expected a duration"),
    "zero duration": ("ticker: {interval: 0s, handler: tick}\nhandlers: {tick: 'a:b'}\n",
                      "ticker.interval: expected a duration above zero"),
    "bad endpoint": ("server: {listen: 'http://localhost:80'}\n",
                     "server.listen: expected ipc://PATH or tcp://HOST:PORT"),
    "bad port": ("server: {listen: 'tcp://127.0.0.1:99999'}\n", "server.listen: expected"),
    "invalid YAML": ("pool: {num_workers: 2\n", "invalid YAML"),
    "unset variable": ("pool: {num_workers: '${NOPE_NOT_SET}'}\n",
                       "pool.num_workers: environment variable NOPE_NOT_SET is not set"),
    "bad placeholder": ("server: {run_dir: '${1BAD}'}\n", "server.run_dir: bad placeholder"),
    "unterminated placeholder": ("server: {run_dir: '${HOME'}\n",
                                 "server.run_dir: unterminated"),
    "handler path": ("handlers: {tick: 'no_colon'}\n",
                     "handlers.tick: expected 'module:function'"),
    "unknown ticker handler": ("ticker: {interval: 1s, handler: nope}\n",
                               "ticker.handler: names unknown handler 'nope'"),
    "bad log format": ("server: {log: {format: xml}}\n",
                       "server.log.format: expected one of text, json"),
    "section not a mapping": ("pool: 3\n", "pool: expected a mapping"),
    "interceptor target": ("handlers: {a: 'm:f'}\ninterceptors: {b: ['m:f']}\n",
                           "interceptors.b: expected '*' or a handler name"),
}
