"""The project's own protocol definitions: read right, and the same protocol as Centrifugo's.

`protoc` (from grpcio-tools, a test dependency) is the independent reader here: it must read
our `.proto` files to exactly the descriptors our run-time reader builds, and the reference
files (Centrifugo's own, tests/centrifugo/node/reference) to the same names and numbers.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2
from grpc_tools import protoc

from supervisor.centrifugo import protocol
from tests.centrifugo.harness import REFERENCE
from tests.support import ROOT

FILES = ("proxy.proto", "api.proto")
SHARED = ROOT.parent / "shared" / "centrifugo"


def compiled(include: Path, name: str) -> descriptor_pb2.FileDescriptorProto:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.pb"
        code = protoc.main(["protoc", f"-I{include}", f"--descriptor_set_out={out}",
                            str(include / name)])
        assert code == 0, f"protoc failed on {name}"
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]


@pytest.mark.parametrize("name", FILES)
def test_protoc_reads_our_files_to_the_same_descriptors(name):
    ours = protocol.parse((protocol.PROTO_DIR / name).read_text(), protocol.POOL_PREFIX + name)
    assert ours == compiled(ROOT, protocol.POOL_PREFIX + name)


def _fields(message) -> dict:
    return {f.name: (f.number, f.type, f.label, f.type_name.rsplit(".", 1)[-1])
            for f in message.field}


@pytest.mark.parametrize("name", FILES)
def test_our_definitions_are_a_subset_of_centrifugos_with_the_same_names_and_numbers(name):
    ours = protocol.parse((protocol.PROTO_DIR / name).read_text(), name)
    reference = compiled(REFERENCE, name)
    assert ours.package == reference.package
    theirs = {m.name: m for m in reference.message_type}
    for message in ours.message_type:
        assert message.name in theirs, message.name
        expected = theirs[message.name]
        if message.name in ("Command", "Reply"):  # we carry only the commands we call
            expected_fields = {k: v for k, v in _fields(expected).items()
                               if k in _fields(message)}
        else:
            expected_fields = _fields(expected)
        assert _fields(message) == expected_fields, message.name
        assert [(e.name, _fields(e)) for e in message.nested_type] == \
            [(e.name, _fields(e)) for e in expected.nested_type if e.name in
             {n.name for n in message.nested_type}], message.name
        assert [(r.start, r.end) for r in message.reserved_range] == \
            [(r.start, r.end) for r in expected.reserved_range], message.name
    their_methods = {m.name: (m.input_type, m.output_type)
                     for s in reference.service for m in s.method}
    for service in ours.service:
        assert service.name in {s.name for s in reference.service}
        for method in service.method:
            assert their_methods[method.name] == (method.input_type, method.output_type)


def test_the_proxy_service_has_exactly_the_six_unary_events():
    methods = protocol.load("proxy.proto").methods["CentrifugoProxy"]
    assert set(methods) == {"Connect", "Refresh", "Subscribe", "Publish", "RPC", "SubRefresh"}


@pytest.mark.skipif(not SHARED.is_dir(), reason="no ../shared/centrifugo beside this checkout")
@pytest.mark.parametrize("name", [*FILES, "LICENSE"])
def test_the_test_copy_of_the_reference_is_unchanged(name):
    assert (REFERENCE / name).read_bytes() == (SHARED / name).read_bytes()


@pytest.mark.parametrize("text", [
    'syntax = "proto2";',
    'syntax = "proto3"; message A { oneof x { string a = 1; } }',
    'syntax = "proto3"; enum E { A = 0; }',
    'syntax = "proto3"; message A { string a = x; }',
    'syntax = "proto3"; message A { string a = 1 }',
    'syntax = "proto3"; message A { string a = 1; ',
    'syntax = "proto3"; message A { string a = 1; } ~',
])
def test_the_reader_refuses_what_is_outside_its_subset(text):
    with pytest.raises(protocol.ProtoSyntaxError):
        protocol.parse(text, "x.proto")
