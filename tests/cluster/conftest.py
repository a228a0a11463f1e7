import itertools

import pytest

from tests.cluster.engines import STARTERS, Server

_names = itertools.count()


@pytest.fixture(scope="session")
def engine_servers():
    """Engines started on first use and shared by the whole session."""
    started: dict[str, Server] = {}

    def get(kind: str) -> Server:
        if kind not in started:
            started[kind] = STARTERS[kind]()
        return started[kind]

    yield get
    for server in started.values():
        server.stop()


@pytest.fixture(params=["redis", "etcd"])
def engine_server(request, engine_servers) -> Server:
    return engine_servers(request.param)


@pytest.fixture
def cluster_name() -> str:
    """A fresh key prefix per test, so tests sharing one engine never see each other."""
    return f"t{next(_names)}-{id(object()) % 100000}"
