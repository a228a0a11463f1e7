"""The Tars server conf parser: a generated conf, allow lists, endpoints, and errors by line."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor.errors import ConfigError
from supervisor.tars import conf
from supervisor.tars.conf import Endpoint, parse_endpoint, parse_proxy, parse_server_conf

GENERATED = """\
<tars>
  <application>
    enableset=n
    setdivision=NULL
    <server>
      node=tars.tarsnode.ServerObj@tcp -h 172.25.0.5 -p 19386 -t 60000
      app=PHPTest
      server=swoft
      localip=172.25.0.5
      local=tcp -h 127.0.0.1 -p 9100 -t 3000
      basepath=/usr/local/app/tars/tarsnode/data/PHPTest.swoft/bin/
      datapath=/usr/local/app/tars/tarsnode/data/PHPTest.swoft/data/
      logpath=/usr/local/app/tars/app_log/
      log=tars.tarslog.LogObj
      <PHPTest.swoft.objAdapter>
        allow
        endpoint=tcp -h 172.25.0.5 -p 9100 -t 60000
        maxconns=200000
        protocol=not_tars
        servant=PHPTest.swoft.obj
        threads=5
      </PHPTest.swoft.objAdapter>
    </server>
    <client>
      locator=tars.tarsregistry.QueryObj@tcp -h 172.25.0.3 -p 17890
      sync-invoke-timeout=20000
    </client>
  </application>
</tars>
"""


def test_generated_conf() -> None:
    c = parse_server_conf(GENERATED, "PHPTest.swoft.config.conf")
    assert (c.app, c.server, c.name) == ("PHPTest", "swoft", "PHPTest.swoft")
    assert c.node == Endpoint("172.25.0.5", 19386, 60000)
    assert c.node.timeout == 60.0
    assert c.node_servant == "tars.tarsnode.ServerObj"
    assert c.localip == "172.25.0.5"
    assert c.local == Endpoint("127.0.0.1", 9100, 3000)
    assert c.logpath == "/usr/local/app/tars/app_log/"
    assert c.basepath.endswith("/bin/") and c.datapath.endswith("/data/")
    [adapter] = c.adapters
    assert adapter.name == "PHPTest.swoft.objAdapter"
    assert adapter.endpoint == Endpoint("172.25.0.5", 9100, 60000)
    assert (adapter.servant, adapter.threads, adapter.maxconns) == ("PHPTest.swoft.obj", 5, 200000)
    assert (adapter.protocol, adapter.allow, adapter.line) == ("not_tars", [], 15)
    client = c.tree.find("tars", "application", "client")
    assert client is not None and client.values["sync-invoke-timeout"] == "20000"
    assert c.tree.find("tars", "application").values["setdivision"] == "NULL"


def test_several_adapters_allow_lists_and_defaults() -> None:
    text = GENERATED.replace(
        "    </server>",
        """\
      # a second adapter, written by hand
      <PHPTest.swoft.AdminObjAdapter>
        allow=10.0.0.1;10.0.0.2, 127.0.0.1 ;
        deny=10.0.0.9
        endpoint=tcp -h 127.0.0.1 -p 9101
        servant=PHPTest.swoft.AdminObj
      </PHPTest.swoft.AdminObjAdapter>
      <notAnAdapterBlock>
        x=1
      </notAnAdapterBlock>
    </server>""",
    )
    c = parse_server_conf(text, "f.conf")
    assert [a.name for a in c.adapters] == [
        "PHPTest.swoft.objAdapter",
        "PHPTest.swoft.AdminObjAdapter",
    ]
    admin = c.adapters[1]
    assert admin.allow == ["10.0.0.1", "10.0.0.2", "127.0.0.1"]
    assert admin.deny == ["10.0.0.9"]
    assert admin.endpoint.timeout_ms == conf.DEFAULT_ENDPOINT_TIMEOUT_MS
    assert (admin.threads, admin.maxconns, admin.protocol) == (1, 128, "tars")


def test_values_keep_equals_signs_and_unescape() -> None:
    text = GENERATED.replace("      app=PHPTest\n", "      app=PHPTest\n      q = a=b \\= c\\\\d\n")
    server = parse_server_conf(text, "f.conf").tree.find("tars", "application", "server")
    assert server is not None
    assert server.values["q"] == "a=b = c\\d"


def test_comments_blank_lines_and_crlf() -> None:
    text = "# generated\r\n\r\n" + GENERATED.replace("\n", "\r\n")
    assert parse_server_conf(text, "f.conf").app == "PHPTest"


def test_load_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "PHPTest.swoft.config.conf"
    path.write_text(GENERATED)
    assert conf.load(path).path == str(path)


def test_load_missing_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.conf"
    with pytest.raises(ConfigError, match=r"nope\.conf"):
        conf.load(missing)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tcp -h 127.0.0.1 -p 19386 -t 60000", Endpoint("127.0.0.1", 19386, 60000)),
        ("tcp -h node.local -p 1", Endpoint("node.local", 1, 3000)),
        ("  TCP   -p 5 -h ::1 -t 10  ", Endpoint("::1", 5, 10)),
        ("udp -h 1.2.3.4 -p 7 -t 100", Endpoint("1.2.3.4", 7, 100, "udp")),
        ("tcp -h 1.2.3.4 -p 7 -t 100 -e 0 -w 5", Endpoint("1.2.3.4", 7, 100)),
    ],
)
def test_parse_endpoint(text: str, expected: Endpoint) -> None:
    assert parse_endpoint(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "http -h a -p 1",
        "tcp -p 1",
        "tcp -h a",
        "tcp -h a -p x",
        "tcp -h a -p 70000",
        "tcp -h a -p 1 -t 0",
        "tcp -h a -p 1 -t soon",
        "tcp -h a -p 1 junk",
    ],
)
def test_bad_endpoints(text: str) -> None:
    with pytest.raises(ValueError):
        parse_endpoint(text)


def test_endpoint_renders_back() -> None:
    assert str(parse_endpoint("tcp -h 10.1.1.1 -p 19386 -t 60000")) == (
        "tcp -h 10.1.1.1 -p 19386 -t 60000"
    )


def test_parse_proxy_with_several_endpoints() -> None:
    servant, endpoints = parse_proxy("tars.tarsregistry.QueryObj@tcp -h a -p 1:tcp -h b -p 2")
    assert servant == "tars.tarsregistry.QueryObj"
    assert [e.host for e in endpoints] == ["a", "b"]


def _server(body: str) -> str:
    return f"<tars>\n<application>\n<server>\n{body}</server>\n</application>\n</tars>\n"


NODE = "node=tars.tarsnode.ServerObj@tcp -h 127.0.0.1 -p 19386 -t 60000\n"
GOOD = "app=A\nserver=S\n" + NODE
ADAPTER = "<A.S.ObjAdapter>\nendpoint=tcp -h 127.0.0.1 -p 9100 -t 60000\nservant=A.S.Obj\n"

MALFORMED = [
    ("mismatched", "<tars>\n<application>\n<server>\n" + GOOD + "</application>\n", 7, "does not"),
    ("never closed", "<tars>\n<application>\n", 2, "<application> is never closed"),
    ("stray close", "</tars>\n", 1, "never opened"),
    ("outside", "app=A\n" + _server(GOOD), 1, "outside any"),
    ("after the end", _server(GOOD) + "server=S\n", 10, "outside any"),
    ("bad tag", "<tars\n", 1, "malformed tag"),
    ("empty tag", "<tars>\n<>\n</tars>\n", 2, "empty tag"),
    ("missing app", _server("server=S\n" + NODE), 3, "no app="),
    ("missing server", _server("app=A\n" + NODE), 3, "no server="),
    ("missing node", _server("app=A\nserver=S\n"), 3, "no node="),
    ("node without @", _server("app=A\nserver=S\nnode=tcp -h a -p 1\n"), 6, "SERVANT@"),
    ("node without port", _server("app=A\nserver=S\nnode=X@tcp -h a\n"), 6, "-p PORT"),
    ("no server block", "<tars>\n<application>\nx=1\n</application>\n</tars>\n", 2, "<server>"),
    (
        "adapter endpoint",
        _server(GOOD + ADAPTER.replace("9100", "99999") + "</A.S.ObjAdapter>\n"),
        8,
        "PORT",
    ),
    (
        "adapter without servant",
        _server(GOOD + "<A.S.ObjAdapter>\nendpoint=tcp -h a -p 1\n</A.S.ObjAdapter>\n"),
        7,
        "no servant=",
    ),
    (
        "adapter without endpoint",
        _server(GOOD + "<A.S.ObjAdapter>\nservant=A.S.Obj\n</A.S.ObjAdapter>\n"),
        7,
        "no endpoint=",
    ),
    ("threads", _server(GOOD + ADAPTER + "threads=many\n</A.S.ObjAdapter>\n"), 10, "whole number"),
    ("duplicate adapter", _server(GOOD + (ADAPTER + "</A.S.ObjAdapter>\n") * 2), 11, "duplicate"),
    ("bad escape", _server(GOOD + "x=a\\qb\n"), 7, "invalid escape"),
    ("no key", _server(GOOD + "=value\n"), 7, "no key"),
]


@pytest.mark.parametrize(
    ("text", "line", "words"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_conf_names_file_and_line(text: str, line: int, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_server_conf(text, "conf/A.S.config.conf")
    message = str(caught.value)
    assert message.startswith(f"conf/A.S.config.conf:{line}: "), message
    assert words in message
    assert "\n" not in message
