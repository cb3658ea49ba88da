"""OpenAPI 3.0 document built from the protos' google.api.http bindings.

`build_document()` reads gen/descriptor/vod.binpb (a FileDescriptorSet with source info) and
maps every non-INTERNAL RPC with an HTTP rule to an operation, following the
grpc-json-transcoder rules (lowerCamelCase JSON names, int64 as string, enums as names).
Validation rules (vod.common.v1.rules) become JSON Schema keywords where JSON can say them the
same way (string lengths and patterns, 32-bit bounds, maxItems); `required` is not mapped, since
the same messages are also responses and updates (partial).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from google.api import annotations_pb2, http_pb2  # noqa: F401  (registers the extension)
from google.protobuf import descriptor_pb2
from vod.common.v1 import (
    access_pb2,  # registers the access option before parsing
    validation_pb2,  # and the validation rules
)

DESCRIPTOR_SET = Path(__file__).resolve().parent.parent / "gen" / "descriptor" / "vod.binpb"
ACCESS_FIELD = 51003
ACCESS_PUBLIC, ACCESS_VIEWER, ACCESS_ADMIN, ACCESS_INTERNAL = 1, 2, 3, 4
F = descriptor_pb2.FieldDescriptorProto
_INT64 = {F.TYPE_INT64, F.TYPE_UINT64, F.TYPE_SINT64, F.TYPE_FIXED64, F.TYPE_SFIXED64}
_INT32 = {F.TYPE_INT32, F.TYPE_UINT32, F.TYPE_SINT32, F.TYPE_FIXED32, F.TYPE_SFIXED32}
_WKT: dict[str, dict[str, Any]] = {
    ".google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    ".google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?s$"},
    ".google.protobuf.StringValue": {"type": "string", "nullable": True},
    ".google.protobuf.BoolValue": {"type": "boolean", "nullable": True},
    ".google.protobuf.Int32Value": {"type": "integer", "nullable": True},
    ".google.protobuf.Int64Value": {"type": "string", "nullable": True},
    ".google.protobuf.DoubleValue": {"type": "number", "nullable": True},
    ".google.protobuf.FieldMask": {"type": "string"},
    ".google.protobuf.Empty": {"type": "object"},
    ".google.protobuf.Struct": {"type": "object"},
    ".google.protobuf.Value": {},
}
_STATUS = {
    "type": "object",
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string"},
        "details": {"type": "array", "items": {"type": "object"}},
    },
}
_ERROR_CONTENT = {
    # A service's error: the google.rpc.Status the transcoder renders.
    "application/json": {"schema": {"$ref": "#/components/schemas/google.rpc.Status"}},
    # Envoy's own: a body the transcoder cannot parse into the request message (400), a missing
    # or invalid token (401), an access class the token lacks (403).
    "text/plain": {"schema": {"type": "string"}},
}
_ERRORS = {
    "400": "Invalid argument",
    "401": "Unauthenticated",
    "403": "Permission denied",
    "404": "Not found",
    "409": "Conflict",
    "429": "Resource exhausted",
    "503": "Unavailable",
}


def _constrained(schema: dict, fld: descriptor_pb2.FieldDescriptorProto, rules) -> dict:
    """The field's (vod.common.v1.rules) as JSON Schema keywords, where JSON can say them the
    same way: string lengths and patterns, 32-bit integer bounds (int64 travels as a string)."""
    schema = dict(schema)
    if fld.type == F.TYPE_STRING:
        if rules.HasField("min_len"):
            schema["minLength"] = rules.min_len
        if rules.HasField("max_len"):
            schema["maxLength"] = rules.max_len
        if rules.pattern:
            # An optional field left empty is not checked against its pattern (and responses
            # print it as "": the transcoder always prints primitive fields).
            blank_ok = not rules.required and not rules.min_len
            schema["pattern"] = f"^$|{rules.pattern}" if blank_ok else rules.pattern
    elif fld.type in _INT32:
        if rules.HasField("gte"):
            schema["minimum"] = rules.gte
        if rules.HasField("lte"):
            schema["maximum"] = rules.lte
    return schema


def _ref(name: str) -> dict:
    return {"$ref": "#/components/schemas/" + name.lstrip(".")}


class _Builder:
    def __init__(self, fds: descriptor_pb2.FileDescriptorSet) -> None:
        self.messages: dict[str, descriptor_pb2.DescriptorProto] = {}
        self.enums: dict[str, descriptor_pb2.EnumDescriptorProto] = {}
        self.schemas: dict[str, dict] = {"google.rpc.Status": _STATUS}
        for f in fds.file:
            self._index("." + f.package if f.package else "", f.message_type, f.enum_type)

    def _index(self, prefix, messages, enums) -> None:
        for e in enums:
            self.enums[f"{prefix}.{e.name}"] = e
        for m in messages:
            name = f"{prefix}.{m.name}"
            self.messages[name] = m
            self._index(name, m.nested_type, m.enum_type)

    def field_schema(self, fld: descriptor_pb2.FieldDescriptorProto) -> dict:
        s = self._scalar(fld)
        rules = (
            fld.options.Extensions[validation_pb2.rules]
            if fld.options.HasExtension(validation_pb2.rules)
            else None
        )
        if rules is not None:
            s = _constrained(s, fld, rules)
        if fld.label == F.LABEL_REPEATED:
            entry = self.messages.get(fld.type_name)
            if entry is not None and entry.options.map_entry:
                return {"type": "object", "additionalProperties": self.field_schema(entry.field[1])}
            array = {"type": "array", "items": s}
            if rules is not None and rules.HasField("max_items"):
                array["maxItems"] = rules.max_items
            return array
        return s

    def _scalar(self, fld) -> dict:
        t = fld.type
        if t in _INT64:
            return {"type": "string", "pattern": r"^-?[0-9]+$"}
        if t in _INT32:
            return {"type": "integer", "format": "int32"}
        if t in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
            return {"type": "number"}
        if t == F.TYPE_BOOL:
            return {"type": "boolean"}
        if t == F.TYPE_STRING:
            return {"type": "string"}
        if t == F.TYPE_BYTES:
            return {"type": "string", "format": "byte"}
        if t == F.TYPE_ENUM:
            self._enum(fld.type_name)
            return _ref(fld.type_name)
        if fld.type_name in _WKT:
            return dict(_WKT[fld.type_name])
        self.message(fld.type_name)
        return _ref(fld.type_name)

    def _enum(self, name: str) -> None:
        key = name.lstrip(".")
        if key not in self.schemas:
            self.schemas[key] = {"type": "string", "enum": [v.name for v in self.enums[name].value]}

    def message(self, name: str, skip: frozenset = frozenset()) -> dict:
        key = name.lstrip(".")
        if key in self.schemas and not skip:
            return self.schemas[key]
        # The transcoder rejects unknown fields (400) and never writes one.
        schema: dict = {"type": "object", "properties": {}, "additionalProperties": False}
        if not skip:
            self.schemas[key] = schema
        for fld in self.messages[name].field:
            if fld.name not in skip:
                schema["properties"][fld.json_name] = self.field_schema(fld)
        return schema


def _path_template(
    path: str, patterns: dict[str, str] | None = None
) -> tuple[str, list[tuple[str, str]]]:
    """/v1/{name=titles/*} -> ("/v1/titles/{name}", [("name", "^[^/]+$")]).

    Literal segments stay in the path, so {name=titles/*} and {name=jobs/*} differ; every `*`
    is a path parameter of its own, since an OpenAPI path parameter never holds a `/` (a client
    percent-encodes it, and the transcoder then matches no route):
    /v1/{name=users/*/profiles/*} -> /v1/users/{name_users}/profiles/{name}. The last `*`
    keeps the variable's name; one before it is named after its collection.

    `patterns` (variable -> the field's validation pattern) narrows each parameter to its part
    of the pattern, where the pattern splits on `/` into the template's segments."""
    params: list[tuple[str, str]] = []
    patterns = patterns or {}

    def repl(m: re.Match) -> str:
        field, _, pat = m.group(1).partition("=")
        var = field.replace(".", "_")
        if not pat or pat in ("*", "**"):
            rx = patterns.get(field) or ("^[^/]+$" if pat != "**" else "^.+$")
            params.append((var, rx))
            return "{" + var + "}"
        segments = pat.split("/")
        stars = [i for i, seg in enumerate(segments) if seg == "*"]
        if "**" in segments or any("*" in seg for seg in segments if seg != "*"):
            raise ValueError(f"unsupported path template {path!r}")
        parts = _pattern_segments(patterns.get(field, ""), segments)
        for i in stars:
            name = var if i == stars[-1] else f"{var}_{segments[i - 1] if i else 'parent'}"
            params.append((name, f"^{parts[i]}$" if parts else "^[^/]+$"))
            segments[i] = "{" + name + "}"
        return "/".join(segments)

    return re.sub(r"\{([^}]+)\}", repl, path), params


def _pattern_segments(pattern: str, segments: list[str]) -> list[str] | None:
    """`^users/[a-z]+/profiles/[a-z]+$` against ["users", "*", "profiles", "*"] -> its parts,
    or None when the pattern does not split into the template's segments."""
    if not (pattern.startswith("^") and pattern.endswith("$")):
        return None
    parts = pattern[1:-1].split("/")
    if len(parts) != len(segments):
        return None
    for part, segment in zip(parts, segments, strict=True):
        if segment != "*" and part != re.escape(segment) and part != segment:
            return None
        if part.count("[") != part.count("]") or part.count("(") != part.count(")"):
            return None
    return parts


def _field_patterns(b: _Builder, message: str, template: str) -> dict[str, str]:
    """Path variable -> the validation pattern of the request field it fills."""
    out: dict[str, str] = {}
    for var in re.findall(r"\{([^}=]+)", template):
        fld = None
        owner = b.messages.get(message)
        for name in var.split("."):
            fld = next((f for f in owner.field if f.name == name), None) if owner else None
            owner = b.messages.get(fld.type_name) if fld is not None else None
        if fld is not None and fld.options.HasExtension(validation_pb2.rules):
            pattern = fld.options.Extensions[validation_pb2.rules].pattern
            if pattern:
                out[var] = pattern
    return out


def _http_rule(method: descriptor_pb2.MethodDescriptorProto):
    rule = method.options.Extensions[annotations_pb2.http]
    kind = rule.WhichOneof("pattern")
    if kind is None or kind == "custom":
        return None
    return kind, getattr(rule, kind), rule.body


def _access(method: descriptor_pb2.MethodDescriptorProto) -> int:
    return int(method.options.Extensions[access_pb2.access])


def _methods(fds: descriptor_pb2.FileDescriptorSet):
    for f in fds.file:
        for svc in f.service:
            for m in svc.method:
                yield f"{f.package}.{svc.name}.{m.name}", m


@functools.cache
def access_classes() -> dict[str, int]:
    """operationId -> access class (ACCESS_PUBLIC, ACCESS_VIEWER, ACCESS_ADMIN) of every
    operation in the document."""
    fds = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes())
    return {
        op_id: _access(m)
        for op_id, m in _methods(fds)
        if _http_rule(m) is not None and _access(m) != ACCESS_INTERNAL
    }


def _out(b: _Builder, method: descriptor_pb2.MethodDescriptorProto) -> dict:
    """The 200 body: the response message, or for a server-streaming RPC the JSON array of
    every message streamed (how the transcoder prints a stream without
    `stream_newline_delimited`)."""
    b.message(method.output_type)
    if method.server_streaming:
        return {"type": "array", "items": _ref(method.output_type)}
    return _ref(method.output_type)


@functools.cache
def build_document() -> dict:
    """The OpenAPI 3.0 document for every HTTP-bound, non-INTERNAL RPC (cached)."""
    fds = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes())
    b = _Builder(fds)
    paths: dict[str, dict] = {}
    for f in fds.file:
        for svc in f.service:
            for m in svc.method:
                rule = _http_rule(m)
                if rule is None or _access(m) == ACCESS_INTERNAL:
                    continue
                verb, template, body = rule
                path, params = _path_template(template, _field_patterns(b, m.input_type, template))
                in_path = set(re.findall(r"\{([^}=]+)", template))
                op: dict = {
                    "operationId": f"{f.package}.{svc.name}.{m.name}",
                    "tags": [f"{f.package}.{svc.name}"],
                    "parameters": [
                        {
                            "name": p,
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": rx},
                        }
                        for p, rx in params
                    ],
                    "responses": {
                        "200": {
                            "description": "OK",
                            "content": {"application/json": {"schema": _out(b, m)}},
                        },
                        **{
                            code: {
                                "description": text,
                                "content": _ERROR_CONTENT,
                            }
                            for code, text in _ERRORS.items()
                        },
                    },
                }
                req = b.messages[m.input_type]
                if body == "*":
                    schema = b.message(m.input_type, skip=frozenset(in_path) | {""})
                    op["requestBody"] = {
                        "required": True,
                        "content": {"application/json": {"schema": schema}},
                    }
                elif body:
                    fld = next(x for x in req.field if x.name == body)
                    op["requestBody"] = {
                        "required": True,
                        "content": {"application/json": {"schema": b.field_schema(fld)}},
                    }
                if body != "*":
                    for fld in req.field:
                        if fld.name in in_path or fld.name == body:
                            continue
                        if fld.type == F.TYPE_MESSAGE and fld.type_name not in _WKT:
                            continue
                        op["parameters"].append(
                            {"name": fld.json_name, "in": "query", "schema": b.field_schema(fld)}
                        )
                if _access(m) != ACCESS_PUBLIC:
                    op["security"] = [{"bearer": []}]
                taken = paths.setdefault(path, {}).get(verb)
                if taken is not None:
                    raise ValueError(
                        f"{op['operationId']} and {taken['operationId']} share {verb} {path}"
                    )
                paths[path][verb] = op
    return {
        "openapi": "3.0.3",
        "info": {"title": "vodmesh", "version": "v1"},
        "paths": paths,
        "components": {
            "schemas": b.schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
