"""The server conf a Tars node writes for each server (`conf/<App>.<Server>.config.conf`).

The format is the one TarsCpp's TC_Config reads: nested `<name>` ... `</name>` blocks, lines of
`key=value` (split at the first unescaped `=`, both sides trimmed, `\\=`, `\\\\`, `\\n`, `\\r`,
`\\t` escapes), bare words such as `allow` meaning an empty value, and `#` comment lines. Where
TC_Config is lenient (text outside every block, a second block of the same name merged into the
first) this parser refuses, because a conf the platform generated never does that and an
operator who wrote one by hand wants to hear about it. Every error names the file and the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from supervisor.errors import ConfigError

DEFAULT_ENDPOINT_TIMEOUT_MS = 3000
"""What TC_Endpoint assumes when an endpoint has no `-t`."""

_PROTOCOLS = ("tcp", "udp", "ssl")
_ESCAPES = {"\\": "\\", "r": "\r", "n": "\n", "t": "\t", "=": "="}


@dataclass(frozen=True)
class Endpoint:
    """`tcp -h HOST -p PORT -t TIMEOUT_MS`; `timeout` gives the timeout in seconds."""

    host: str
    port: int
    timeout_ms: int = DEFAULT_ENDPOINT_TIMEOUT_MS
    protocol: str = "tcp"

    @property
    def timeout(self) -> float:
        """Seconds, as socket timeouts want them."""
        return self.timeout_ms / 1000.0

    def __str__(self) -> str:
        return f"{self.protocol} -h {self.host} -p {self.port} -t {self.timeout_ms}"


@dataclass
class Block:
    """One `<name>` block: its values in order of appearance and its sub-blocks."""

    name: str
    line: int
    values: dict[str, str] = field(default_factory=dict)
    value_lines: dict[str, int] = field(default_factory=dict)
    children: list[Block] = field(default_factory=list)

    def child(self, name: str) -> Block | None:
        """The direct sub-block called `name`, if any."""
        return next((c for c in self.children if c.name == name), None)

    def find(self, *path: str) -> Block | None:
        """Nested block by names, e.g. `root.find("tars", "application", "server")`."""
        block: Block | None = self
        for name in path:
            block = block.child(name) if block else None
        return block


@dataclass(frozen=True)
class Adapter:
    """An `<...Adapter>` block of `<server>`: its name is what keepAlive reports."""

    name: str
    endpoint: Endpoint
    servant: str
    threads: int = 1
    maxconns: int = 128
    protocol: str = "tars"
    allow: list[str] = field(default_factory=list)
    deny: list[str] = field(default_factory=list)
    line: int = 0


@dataclass
class TarsServerConf:
    """What the supervisor needs from a Tars server conf, plus the whole parsed tree."""

    path: str
    app: str
    server: str
    node: Endpoint
    node_servant: str
    adapters: list[Adapter]
    tree: Block
    localip: str = ""
    logpath: str = ""
    datapath: str = ""
    basepath: str = ""
    local: Endpoint | None = None

    @property
    def name(self) -> str:
        """`App.Server`, the name the node knows the server by."""
        return f"{self.app}.{self.server}"


def _unescape(text: str, where: str) -> str:
    out: list[str] = []
    chars = iter(text)
    for ch in chars:
        if ch != "\\":
            out.append(ch)
            continue
        nxt = next(chars, "")
        if nxt not in _ESCAPES:
            raise ConfigError(f"{where}: invalid escape '\\{nxt}'")
        out.append(_ESCAPES[nxt])
    return "".join(out)


def _split_value(line: str, where: str) -> tuple[str, str]:
    match = re.search(r"(?<!\\)=", line)
    if match is None:
        return _unescape(line.strip(), where), ""
    key = _unescape(line[: match.start()].strip(), where)
    if not key:
        raise ConfigError(f"{where}: '=' with no key before it")
    return key, _unescape(line[match.end() :].strip(), where)


def parse_tree(text: str, filename: str = "<string>") -> Block:
    """Block tree of a conf; the returned root is nameless and holds the top-level blocks."""
    root = Block("", 0)
    stack = [root]
    for number, raw in enumerate(text.splitlines(), start=1):
        where = f"{filename}:{number}"
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("<"):
            closing = line.startswith("</")
            name = line[2 if closing else 1 :]
            if not name.endswith(">") or ">" in name[:-1] or "<" in name:
                raise ConfigError(f"{where}: malformed tag {line!r}, expected <name> or </name>")
            name = name[:-1].strip()
            if not name:
                raise ConfigError(f"{where}: empty tag name")
            if closing:
                if len(stack) == 1:
                    raise ConfigError(f"{where}: </{name}> closes a block that was never opened")
                if stack[-1].name != name:
                    top = stack[-1]
                    raise ConfigError(
                        f"{where}: </{name}> does not match <{top.name}> opened at line {top.line}"
                    )
                stack.pop()
                continue
            parent = stack[-1]
            twin = parent.child(name)
            if twin is not None:
                raise ConfigError(f"{where}: duplicate <{name}> (first at line {twin.line})")
            block = Block(name, number)
            parent.children.append(block)
            stack.append(block)
            continue
        if len(stack) == 1:
            raise ConfigError(f"{where}: {line[:40]!r} is outside any <block>")
        key, value = _split_value(line, where)
        stack[-1].values[key] = value
        stack[-1].value_lines[key] = number
    if len(stack) > 1:
        top = stack[-1]
        raise ConfigError(f"{filename}:{top.line}: <{top.name}> is never closed")
    return root


def parse_endpoint(text: str) -> Endpoint:
    """Endpoint from `tcp -h HOST -p PORT [-t MS]` (TC_Endpoint syntax); ValueError if bad."""
    words = text.split()
    if not words or words[0].lower() not in _PROTOCOLS:
        raise ValueError(f"endpoint {text!r} must start with tcp, udp or ssl")
    options: dict[str, str] = {}
    rest = words[1:]
    while rest:
        flag = rest.pop(0)
        if not re.fullmatch(r"-[a-zA-Z]", flag):
            raise ValueError(f"endpoint {text!r}: unexpected {flag!r}")
        options[flag[1]] = rest.pop(0) if rest and not rest[0].startswith("-") else ""
    host = options.get("h", "")
    if not host:
        raise ValueError(f"endpoint {text!r} has no -h HOST")
    port_text = options.get("p", "")
    if not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"endpoint {text!r} needs -p PORT between 0 and 65535")
    timeout_text = options.get("t", str(DEFAULT_ENDPOINT_TIMEOUT_MS))
    if not timeout_text.isdigit() or int(timeout_text) == 0:
        raise ValueError(f"endpoint {text!r} needs -t MILLISECONDS > 0")
    return Endpoint(host, int(port_text), int(timeout_text), words[0].lower())


def parse_proxy(text: str) -> tuple[str, list[Endpoint]]:
    """`Servant@ep1:ep2` (as in `node=` and `locator=`) into the servant and its endpoints."""
    servant, at, endpoints = text.partition("@")
    if not at or not servant.strip():
        raise ValueError(f"{text!r} must read SERVANT@tcp -h HOST -p PORT")
    return servant.strip(), [parse_endpoint(part) for part in endpoints.split(":")]


def _split_list(value: str) -> list[str]:
    return [item.strip() for item in re.split(r"[;,]", value) if item.strip()]


def _int(block: Block, key: str, default: int, filename: str) -> int:
    if key not in block.values or block.values[key] == "":
        return default
    text = block.values[key]
    if not re.fullmatch(r"\d+", text):
        line = block.value_lines[key]
        raise ConfigError(f"{filename}:{line}: {key}={text!r} is not a whole number")
    return int(text)


def _endpoint(block: Block, key: str, filename: str) -> Endpoint:
    where = f"{filename}:{block.value_lines.get(key, block.line)}"
    if not block.values.get(key):
        raise ConfigError(f"{where}: <{block.name}> has no {key}=tcp -h HOST -p PORT")
    try:
        return parse_endpoint(block.values[key])
    except ValueError as exc:
        raise ConfigError(f"{where}: {key}: {exc}") from None


def _adapter(block: Block, filename: str) -> Adapter:
    servant = block.values.get("servant", "")
    if not servant:
        raise ConfigError(f"{filename}:{block.line}: <{block.name}> has no servant=")
    return Adapter(
        name=block.name,
        endpoint=_endpoint(block, "endpoint", filename),
        servant=servant,
        threads=_int(block, "threads", 1, filename),
        maxconns=_int(block, "maxconns", 128, filename),
        protocol=block.values.get("protocol", "") or "tars",
        allow=_split_list(block.values.get("allow", "")),
        deny=_split_list(block.values.get("deny", "")),
        line=block.line,
    )


def parse_server_conf(text: str, filename: str = "<string>") -> TarsServerConf:
    """TarsServerConf from conf text; ConfigError (file:line: what) when it cannot be used."""
    tree = parse_tree(text, filename)
    server = tree.find("tars", "application", "server")
    if server is None:
        outer = tree.find("tars", "application") or tree.find("tars") or tree
        raise ConfigError(f"{filename}:{max(outer.line, 1)}: no <tars><application><server> block")
    for key in ("app", "server", "node"):
        if not server.values.get(key):
            raise ConfigError(f"{filename}:{server.line}: <server> has no {key}=")
    node_line = server.value_lines["node"]
    try:
        node_servant, node_endpoints = parse_proxy(server.values["node"])
    except ValueError as exc:
        raise ConfigError(f"{filename}:{node_line}: node: {exc}") from None
    adapters = [_adapter(b, filename) for b in server.children if b.name.endswith("Adapter")]
    return TarsServerConf(
        path=filename,
        app=server.values["app"],
        server=server.values["server"],
        node=node_endpoints[0],
        node_servant=node_servant,
        adapters=adapters,
        tree=tree,
        localip=server.values.get("localip", ""),
        logpath=server.values.get("logpath", ""),
        datapath=server.values.get("datapath", ""),
        basepath=server.values.get("basepath", ""),
        local=_endpoint(server, "local", filename) if server.values.get("local") else None,
    )


def load(path: str | Path) -> TarsServerConf:
    """Read and parse a Tars server conf file; unreadable files are ConfigErrors too."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"{path}: cannot read the Tars conf: {reason}") from None
    return parse_server_conf(text, str(path))
