"""Hypothesis-built protobuf requests against every RPC of every service, over native gRPC through
the front door (Envoy, with the demo admin's token) and straight at each service's own port (with
the identity headers Envoy would set). Requests come from a generic strategy that walks each
request message's DESCRIPTOR: edge values of every scalar type (0, -1, extremes, NaN, infinities),
odd and huge strings, unknown enum numbers, huge repeated fields, nested messages to a depth
bound, timestamps and durations out of range. Every answer must be a documented status, never
INTERNAL or UNKNOWN, and every service must still report SERVING afterwards."""

from __future__ import annotations

import importlib
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import hypothesis
import hypothesis.strategies as st
from google.protobuf import descriptor as _descriptor
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import Message
from hypothesis import HealthCheck, Phase

from mesh.launcher import LocalMesh, grpc_health
from mesh.services import SERVICES
from services.runtime.identity import HEADER_REGION, HEADER_ROLES, HEADER_USER
from tests.fuzz.conftest import Viewer, create_title, sign_up
from tests.fuzz.report import report

FD = _descriptor.FieldDescriptor
GEN = Path(__file__).resolve().parents[2] / "gen" / "python"
MAX_EXAMPLES = 40
"""Generated requests per RPC and route (plus a few raw wire payloads): 72 RPCs x 2 routes x 50
took ~45 s on the idle 2-core machine and 76 s with other suites running beside it; 40 keeps a
margin inside the 120 s budget."""
MAX_DEPTH = 4
CALL_TIMEOUT_S = 10.0
ALLOWED = frozenset(
    {
        grpc.StatusCode.OK,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.UNIMPLEMENTED,  # internal RPCs are not routed at the front door
    }
)

# -- edge values -------------------------------------------------------------------------------

I32 = (0, -1, 1, 2**31 - 1, -(2**31))
U32 = (0, 1, 2**32 - 1)
I64 = (0, -1, 1, 2**63 - 1, -(2**63), 2**53 + 1)
U64 = (0, 1, 2**64 - 1)
DOUBLES = (0.0, -0.0, -1.0, math.nan, math.inf, -math.inf, 1e308, 5e-324, 2.0**63)
FLOATS = (0.0, -1.0, math.nan, math.inf, -math.inf, 3.4028234663852886e38, 1.401298464324817e-45)
ODD_STRINGS = (
    "",
    " ",
    "\x00",
    "\ufeff\u202e\u200b",
    "e\u0301\u0301\u0301",
    "\U0010ffff\U0001f3ac",
    "../../etc/passwd",
    "%2F%00",
    "' OR 1=1 --",
    "titles/",
    "titles/*",
    "users//profiles/",
    "\n\r\t",
    "a" * 64,
)
HUGE_STRING = "\U0001f3ac" * 250_000  # 1 MB of UTF-8
TS_SECONDS = (0, -1, -62135596800, -62135596801, 253402300799, 253402300800, 2**63 - 1, -(2**63))
NANOS = (0, -1, 999_999_999, 1_000_000_000, 2**31 - 1, -(2**31))
DURATION_SECONDS = (0, -1, 315_576_000_000, 315_576_000_001, -315_576_000_001, 2**63 - 1)


def _ints(edges: tuple[int, ...], lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.sampled_from(edges) | st.integers(lo, hi)


def _strings(names: tuple[str, ...]) -> st.SearchStrategy[str]:
    # Real resource names first (Hypothesis leans to the first branch), so some requests get
    # past validation into storage and the domain.
    return st.one_of(
        st.sampled_from(names or ("",)),
        st.sampled_from(ODD_STRINGS),
        st.text(max_size=24),
        st.just(HUGE_STRING),
    )


def scalar(fd: FD, names: tuple[str, ...]) -> st.SearchStrategy[object]:
    """Values of one scalar (or enum) field."""
    t = fd.type
    if t in (FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32):
        return _ints(I32, -(2**31), 2**31 - 1)
    if t in (FD.TYPE_UINT32, FD.TYPE_FIXED32):
        return _ints(U32, 0, 2**32 - 1)
    if t in (FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64):
        return _ints(I64, -(2**63), 2**63 - 1)
    if t in (FD.TYPE_UINT64, FD.TYPE_FIXED64):
        return _ints(U64, 0, 2**64 - 1)
    if t == FD.TYPE_DOUBLE:
        return st.sampled_from(DOUBLES) | st.floats()
    if t == FD.TYPE_FLOAT:
        return st.sampled_from(FLOATS) | st.floats(width=32)
    if t == FD.TYPE_BOOL:
        return st.booleans()
    if t == FD.TYPE_STRING:
        return _strings(names)
    if t == FD.TYPE_BYTES:
        return st.binary(max_size=32) | st.just(b"\xff" * 1_000_000)
    if t == FD.TYPE_ENUM:
        known = [v.number for v in fd.enum_type.values]
        return st.sampled_from(known + [max(known) + 1, 999, -1, 2**31 - 1])
    raise AssertionError(f"unexpected field type {t} of {fd.full_name}")


def _message_class(descriptor: _descriptor.Descriptor) -> type[Message]:
    return message_factory.GetMessageClass(descriptor)


def _is_map(fd: FD) -> bool:
    return fd.message_type is not None and fd.message_type.GetOptions().map_entry


def _is_repeated(fd: FD) -> bool:
    return bool(fd.is_repeated) if hasattr(fd, "is_repeated") else fd.label == FD.LABEL_REPEATED


def messages(
    descriptor: _descriptor.Descriptor, names: tuple[str, ...] = (), depth: int = 0
) -> st.SearchStrategy[Message]:
    """Any message of this type: each field absent or set to an edgy value, recursively."""
    cls = _message_class(descriptor)
    if descriptor.full_name == "google.protobuf.Timestamp":
        return st.builds(cls, seconds=st.sampled_from(TS_SECONDS), nanos=st.sampled_from(NANOS))
    if descriptor.full_name == "google.protobuf.Duration":
        return st.builds(
            cls, seconds=st.sampled_from(DURATION_SECONDS), nanos=st.sampled_from(NANOS)
        )
    if depth >= MAX_DEPTH:
        return st.just(cls())

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        message = cls()
        for fd in descriptor.fields:
            if draw(st.integers(0, 2)) != 0:  # a third of the fields set: fewer errors mask
                continue
            _fill(draw, message, fd, names, depth)
        return message

    return build()


def _value(fd: FD, names: tuple[str, ...], depth: int) -> st.SearchStrategy[object]:
    if fd.type == FD.TYPE_MESSAGE:
        return st.deferred(lambda: messages(fd.message_type, names, depth + 1))
    return scalar(fd, names)


def _fill(draw: st.DrawFn, message: Message, fd: FD, names: tuple[str, ...], depth: int) -> None:
    target = getattr(message, fd.name)
    if _is_map(fd):
        key_fd, value_fd = (
            fd.message_type.fields_by_name["key"],
            fd.message_type.fields_by_name["value"],
        )
        entries = draw(
            st.dictionaries(
                scalar(key_fd, names).filter(lambda k: k != HUGE_STRING),
                _value(value_fd, names, depth),
                max_size=3,
            )
        )
        for key, value in entries.items():
            if isinstance(value, Message):
                target[key].CopyFrom(value)
            else:
                target[key] = value
        return
    if _is_repeated(fd):
        element = _value(fd, names, depth)
        if draw(st.integers(0, 9)) == 0:  # huge: 10k empty messages or 50k small scalars
            if fd.type == FD.TYPE_MESSAGE:
                items = [_message_class(fd.message_type)()] * 10_000
            else:
                items = [draw(element.filter(_small))] * 50_000
        else:
            items = draw(st.lists(element, max_size=3))
        target.extend(items)
        return
    value = draw(_value(fd, names, depth))
    if fd.type == FD.TYPE_MESSAGE:
        target.CopyFrom(value)
    else:
        setattr(message, fd.name, value)


def _small(value: object) -> bool:
    return not isinstance(value, str | bytes) or len(value) <= 64


# -- the RPCs ----------------------------------------------------------------------------------


def _import_contracts() -> None:
    for module in sorted((GEN / "vod").glob("*/v1/*_pb2.py")):
        importlib.import_module(".".join(module.relative_to(GEN).with_suffix("").parts))


def service_methods() -> Iterator[tuple[str, _descriptor.MethodDescriptor]]:
    """(mesh service name, method) for every RPC of every service the mesh runs."""
    _import_contracts()
    pool = descriptor_pool.Default()
    for entry in SERVICES:
        for method in pool.FindServiceByName(entry.grpc_service).methods:
            yield entry.name, method


@dataclass
class Outcome:
    codes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _call(
    channel: grpc.Channel,
    method: _descriptor.MethodDescriptor,
    request: Message | bytes,
    metadata: tuple[tuple[str, str], ...],
) -> tuple[grpc.StatusCode, str]:
    path = f"/{method.containing_service.full_name}/{method.name}"
    out = _message_class(method.output_type)
    kw = {"request_serializer": _serialize, "response_deserializer": out.FromString}
    try:
        if method.client_streaming:
            stub = channel.stream_unary(path, **kw)
            stub(iter([request, request]), timeout=CALL_TIMEOUT_S, metadata=metadata)
        elif method.server_streaming:
            stream = channel.unary_stream(path, **kw)(
                request, timeout=CALL_TIMEOUT_S, metadata=metadata
            )
            for _ in zip(range(3), stream, strict=False):
                pass
            stream.cancel()
        else:
            channel.unary_unary(path, **kw)(request, timeout=CALL_TIMEOUT_S, metadata=metadata)
    except grpc.RpcError as error:
        code = error.code()
        if code == grpc.StatusCode.CANCELLED:  # our own cancel after three stream messages
            return grpc.StatusCode.OK, ""
        return code, error.details() or ""
    return grpc.StatusCode.OK, ""


def fuzz_method(
    channel: grpc.Channel,
    method: _descriptor.MethodDescriptor,
    metadata: tuple[tuple[str, str], ...],
    names: tuple[str, ...],
    outcome: Outcome,
    max_examples: int = MAX_EXAMPLES,
) -> None:
    @hypothesis.settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(request=messages(method.input_type, names))
    def run(request: Message) -> None:
        code, details = _call(channel, method, request, metadata)
        outcome.codes[code.name] += 1
        if code not in ALLOWED and len(outcome.failures) < 3:
            outcome.failures.append(f"{code.name} ({details[:200]}): {_show(request)}")

    run()
    for raw in wire_payloads(method.input_type):
        code, details = _call(channel, method, raw, metadata)
        outcome.codes[code.name] += 1
        if code not in ALLOWED and len(outcome.failures) < 3:
            outcome.failures.append(f"{code.name} ({details[:200]}): raw {raw[:40]!r}")


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def wire_payloads(descriptor: _descriptor.Descriptor) -> list[bytes]:
    """Bytes no protobuf API would write: malformed wire data, unknown field numbers, and
    invalid UTF-8 in each string field (possible on the wire, never from a proto3 library)."""
    payloads = [
        b"\xff",  # field number 0 / bad wire type
        b"\x08",  # a varint cut short
        b"\x0a\xff\xff\xff\xff\x0f",  # a length far past the end
        _varint((536_870_911 << 3) | 0) + b"\x01",  # the highest unknown field number
    ]
    for fd in descriptor.fields:
        if fd.type == FD.TYPE_STRING:
            payloads.append(_varint((fd.number << 3) | 2) + b"\x02\xc3\x28")
    return payloads


def _show(request: Message) -> str:
    """The request in text format, long strings and lists cut, with its size."""
    text = " ".join(line.strip()[:120] for line in str(request).splitlines()[:40])
    return f"{text} ({request.ByteSize()} bytes)"


def fuzz_all(
    targets: dict[str, tuple[grpc.Channel, tuple[tuple[str, str], ...]]],
    route_of: Callable[[str], str],
    names: tuple[str, ...],
    max_examples: int = MAX_EXAMPLES,
) -> dict[str, Outcome]:
    """targets: route -> (channel, metadata); route_of(service) names the direct route."""
    outcomes: dict[str, Outcome] = {}
    for service, method in service_methods():
        for route in ("front", route_of(service)):
            channel, metadata = targets[route]
            outcome = outcomes.setdefault(f"{route}:{method.full_name}", Outcome())
            started = time.monotonic()
            fuzz_method(channel, method, metadata, names, outcome, max_examples)
            outcome.seconds += time.monotonic() - started
    return outcomes


def test_generated_messages_get_documented_statuses_and_services_stay_healthy(
    mesh: LocalMesh, admin_headers: dict[str, str]
) -> None:
    started = time.monotonic()
    viewer: Viewer = sign_up(mesh.settings.gateway_url, mesh.settings.regions[0])
    region = mesh.settings.regions[0]
    title = create_title(mesh.settings.gateway_url, admin_headers, region)
    names = (viewer.profile, title, viewer.user, region, "titles/none", "jobs/none", "sessions/x")
    direct_md = (
        (HEADER_USER, viewer.user),
        (HEADER_ROLES, "viewer admin"),
        (HEADER_REGION, region),
    )
    front = grpc.insecure_channel(mesh.settings.gateway_grpc)
    channels = {"front": (front, tuple(admin_headers.items()))}
    for entry in SERVICES:
        channels[entry.name] = (grpc.insecure_channel(mesh.grpc_address(entry)), direct_md)
    try:
        outcomes = fuzz_all(channels, lambda service: service, names)
    finally:
        for channel, _ in channels.values():
            channel.close()
    elapsed = time.monotonic() - started
    failures = report("grpc fuzz", outcomes, elapsed, lambda o: o.codes)
    health = {
        entry.name: (
            grpc_health(mesh.settings.gateway_grpc, entry.grpc_service, header=entry.name),
            grpc_health(mesh.grpc_address(entry), entry.grpc_service),
        )
        for entry in SERVICES
    }
    assert failures == {}
    assert health == {entry.name: ("SERVING", "SERVING") for entry in SERVICES}


def _serialize(message: Message | bytes) -> bytes:
    return message if isinstance(message, bytes) else message.SerializeToString()
