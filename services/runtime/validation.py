"""Request validation from the `(vod.common.v1.rules)` field options in the protos.

The rules live in the contracts; this module reads them from the message descriptors once per
message type and checks requests against them, collecting every violation (not just the first)
so a client can fix a whole form at once.

Some checks need no annotation, because no value outside them can be used at all: every
`google.protobuf.Timestamp` must lie in 0001-01-01T00:00:00Z..9999-12-31T23:59:59.999999999Z with
nanos in 0..999999999 (what protobuf and `datetime` can convert), every `google.protobuf.Duration`
in the well-known type's range (|seconds| <= 315576000000, |nanos| < 10^9, signs agreeing), and
every double/float finite (no NaN or infinity; also inside `DoubleValue`/`FloatValue`). Bytes
fields honour `min_len`/`max_len` (in bytes) and `required`; numeric fields honour `gte`/`lte`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache

from google.protobuf import descriptor as _descriptor
from google.protobuf.message import Message
from vod.common.v1 import validation_pb2

from services.runtime.errors import FieldViolation, InvalidArgument

__all__ = ["check", "violations"]

_FD = _descriptor.FieldDescriptor


@dataclass(frozen=True)
class _FieldCheck:
    field: _descriptor.FieldDescriptor
    rules: validation_pb2.FieldRules | None
    pattern: re.Pattern[str] | None


@cache
def _checks(message_descriptor: _descriptor.Descriptor) -> tuple[_FieldCheck, ...]:
    checks = []
    for fd in message_descriptor.fields:
        options = fd.GetOptions()
        rules = (
            options.Extensions[validation_pb2.rules]
            if options.HasExtension(validation_pb2.rules)
            else None
        )
        pattern = re.compile(rules.pattern) if rules is not None and rules.pattern else None
        if rules is not None or fd.type in (_FD.TYPE_MESSAGE, _FD.TYPE_DOUBLE, _FD.TYPE_FLOAT):
            checks.append(_FieldCheck(fd, rules, pattern))
    return tuple(checks)


def violations(
    message: Message, prefix: str = "", *, partial: bool = False
) -> list[FieldViolation]:
    """Every rule violation in `message`, with dotted field paths (proto field names).

    With `partial`, `required` rules are skipped (a patch names only what it changes)."""
    found: list[FieldViolation] = []
    for check in _checks(message.DESCRIPTOR):
        fd = check.field
        path = f"{prefix}{fd.name}"
        value = getattr(message, fd.name)
        rules = check.rules
        if _is_repeated(fd):
            if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
                continue
            if rules is not None and rules.HasField("max_items") and len(value) > rules.max_items:
                found.append(
                    FieldViolation(
                        path, f"at most {rules.max_items} items allowed, got {len(value)}"
                    )
                )
                continue
            for index, item in enumerate(value):
                found.extend(
                    _check_value(fd, check, item, f"{path}[{index}]", present=True, partial=partial)
                )
        else:
            present = message.HasField(fd.name) if _has_presence(fd) else True
            found.extend(_check_value(fd, check, value, path, present=present, partial=partial))
    return found


def check(message: Message, prefix: str = "") -> None:
    """Raise InvalidArgument listing every violation, if any."""
    found = violations(message, prefix)
    if found:
        raise InvalidArgument.of(found)


def _is_repeated(fd: _descriptor.FieldDescriptor) -> bool:
    return bool(fd.is_repeated) if hasattr(fd, "is_repeated") else fd.label == _FD.LABEL_REPEATED


def _has_presence(fd: _descriptor.FieldDescriptor) -> bool:
    return bool(fd.has_presence)


def _check_value(
    fd: _descriptor.FieldDescriptor,
    check: _FieldCheck,
    value: object,
    path: str,
    *,
    present: bool,
    partial: bool,
) -> list[FieldViolation]:
    rules = check.rules
    if fd.type == _FD.TYPE_MESSAGE:
        if not present:
            if rules is not None and rules.required and not partial:
                return [FieldViolation(path, "is required")]
            return []
        assert isinstance(value, Message)
        special = _WELL_KNOWN.get(fd.message_type.full_name)
        if special is not None:
            return special(value, path)
        nested_partial = partial or (rules is not None and rules.partial)
        return violations(value, prefix=f"{path}.", partial=nested_partial)
    if fd.type in (_FD.TYPE_DOUBLE, _FD.TYPE_FLOAT):
        assert isinstance(value, float)
        return _check_float(rules, value, path)
    if rules is None:
        return []
    if partial and rules.required:
        relaxed = validation_pb2.FieldRules()
        relaxed.CopyFrom(rules)
        relaxed.required = False
        rules = relaxed
    if fd.type == _FD.TYPE_STRING:
        assert isinstance(value, str)
        return _check_string(rules, check.pattern, value, path)
    if fd.type == _FD.TYPE_ENUM:
        assert isinstance(value, int)
        return _check_enum(fd, rules, value, path)
    if fd.type in _INTEGER_TYPES:
        assert isinstance(value, int)
        return _check_integer(rules, value, path)
    if fd.type == _FD.TYPE_BYTES:
        assert isinstance(value, bytes)
        return _check_bytes(rules, value, path)
    return []


_INTEGER_TYPES = {
    _FD.TYPE_INT32,
    _FD.TYPE_INT64,
    _FD.TYPE_UINT32,
    _FD.TYPE_UINT64,
    _FD.TYPE_SINT32,
    _FD.TYPE_SINT64,
    _FD.TYPE_FIXED32,
    _FD.TYPE_FIXED64,
    _FD.TYPE_SFIXED32,
    _FD.TYPE_SFIXED64,
}


_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
"""C0 control characters other than tab, line feed and carriage return."""


def _check_string(
    rules: validation_pb2.FieldRules, pattern: re.Pattern[str] | None, value: str, path: str
) -> list[FieldViolation]:
    if not value.strip():
        if rules.required or (rules.HasField("min_len") and rules.min_len > 0):
            return [FieldViolation(path, "is required and must not be blank")]
        if not value:
            return []
    length = len(value)
    if rules.HasField("max_len") and length > rules.max_len:
        return [FieldViolation(path, f"must be at most {rules.max_len} characters, got {length}")]
    if rules.HasField("min_len") and length < rules.min_len:
        return [FieldViolation(path, f"must be at least {rules.min_len} characters, got {length}")]
    if _CONTROL_CHARACTER.search(value):
        return [FieldViolation(path, "must not contain control characters")]
    if pattern is not None and not pattern.fullmatch(value):
        hint = rules.pattern_hint or f"a value matching {rules.pattern}"
        return [FieldViolation(path, f"must be {hint}")]
    return []


def _check_enum(
    fd: _descriptor.FieldDescriptor, rules: validation_pb2.FieldRules, value: int, path: str
) -> list[FieldViolation]:
    enum_type = fd.enum_type
    if rules.defined_only and value not in enum_type.values_by_number:
        allowed = ", ".join(v.name for v in enum_type.values if v.number != 0)
        return [FieldViolation(path, f"unknown value {value}; allowed: {allowed}")]
    if rules.required and value == 0:
        allowed = ", ".join(v.name for v in enum_type.values if v.number != 0)
        return [FieldViolation(path, f"is required; one of {allowed}")]
    return []


def _check_integer(rules: validation_pb2.FieldRules, value: int, path: str) -> list[FieldViolation]:
    if rules.HasField("gte") and value < rules.gte:
        return [FieldViolation(path, f"must be >= {rules.gte}, got {value}")]
    if rules.HasField("lte") and value > rules.lte:
        return [FieldViolation(path, f"must be <= {rules.lte}, got {value}")]
    return []


def _check_bytes(rules: validation_pb2.FieldRules, value: bytes, path: str) -> list[FieldViolation]:
    length = len(value)
    if not value and (rules.required or (rules.HasField("min_len") and rules.min_len > 0)):
        return [FieldViolation(path, "is required and must not be empty")]
    if rules.HasField("max_len") and length > rules.max_len:
        return [FieldViolation(path, f"must be at most {rules.max_len} bytes, got {length}")]
    if rules.HasField("min_len") and length < rules.min_len:
        return [FieldViolation(path, f"must be at least {rules.min_len} bytes, got {length}")]
    return []


def _check_float(
    rules: validation_pb2.FieldRules | None, value: float, path: str
) -> list[FieldViolation]:
    if not math.isfinite(value):
        return [FieldViolation(path, f"must be a finite number, got {value}")]
    if rules is not None and rules.HasField("gte") and value < rules.gte:
        return [FieldViolation(path, f"must be >= {rules.gte}, got {value}")]
    if rules is not None and rules.HasField("lte") and value > rules.lte:
        return [FieldViolation(path, f"must be <= {rules.lte}, got {value}")]
    return []


# google.protobuf.Timestamp: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z
TIMESTAMP_MIN_SECONDS = -62_135_596_800
TIMESTAMP_MAX_SECONDS = 253_402_300_799
# google.protobuf.Duration: +-10,000 years
DURATION_MAX_SECONDS = 315_576_000_000
_NANOS = 1_000_000_000


def _check_timestamp(value: Message, path: str) -> list[FieldViolation]:
    seconds, nanos = value.seconds, value.nanos  # type: ignore[attr-defined]
    if not 0 <= nanos < _NANOS:
        return [FieldViolation(path, f"nanos must be in 0..999999999, got {nanos}")]
    if not TIMESTAMP_MIN_SECONDS <= seconds <= TIMESTAMP_MAX_SECONDS:
        return [
            FieldViolation(
                path,
                "must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999999Z, "
                f"got seconds={seconds}",
            )
        ]
    return []


def _check_duration(value: Message, path: str) -> list[FieldViolation]:
    seconds, nanos = value.seconds, value.nanos  # type: ignore[attr-defined]
    if not -_NANOS < nanos < _NANOS:
        return [FieldViolation(path, f"nanos must be in -999999999..999999999, got {nanos}")]
    if (seconds > 0 and nanos < 0) or (seconds < 0 and nanos > 0):
        return [FieldViolation(path, "seconds and nanos must have the same sign")]
    if not -DURATION_MAX_SECONDS <= seconds <= DURATION_MAX_SECONDS:
        return [
            FieldViolation(
                path,
                f"must be within +-{DURATION_MAX_SECONDS} seconds (10,000 years), "
                f"got seconds={seconds}",
            )
        ]
    return []


def _check_float_wrapper(value: Message, path: str) -> list[FieldViolation]:
    return _check_float(None, value.value, path)  # type: ignore[attr-defined]


_WELL_KNOWN = {
    "google.protobuf.Timestamp": _check_timestamp,
    "google.protobuf.Duration": _check_duration,
    "google.protobuf.DoubleValue": _check_float_wrapper,
    "google.protobuf.FloatValue": _check_float_wrapper,
}
