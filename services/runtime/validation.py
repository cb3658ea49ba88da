"""Request validation from the `(vod.common.v1.rules)` field options in the protos.

The rules live in the contracts; this module reads them from the message descriptors once per
message type and checks requests against them, collecting every violation (not just the first)
so a client can fix a whole form at once.
"""

from __future__ import annotations

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
        if rules is not None or fd.type == _FD.TYPE_MESSAGE:
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
        nested_partial = partial or (rules is not None and rules.partial)
        return violations(value, prefix=f"{path}.", partial=nested_partial)
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
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in value):
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
