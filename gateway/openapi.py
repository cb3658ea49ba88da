"""OpenAPI 3.0 document built from the protos' google.api.http bindings.

`build_document()` reads gen/descriptor/vod.binpb (a FileDescriptorSet with source info) and
maps every non-INTERNAL RPC with an HTTP rule to an operation, following the
grpc-json-transcoder rules (lowerCamelCase JSON names, int64 as string, enums as names).
Partial: validation rules (vod.common.v1.rules) are not yet mapped into the schemas.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from google.api import annotations_pb2, http_pb2  # noqa: F401  (registers the extension)
from google.protobuf import descriptor_pb2
from vod.common.v1 import access_pb2  # registers the access option before parsing

DESCRIPTOR_SET = Path(__file__).resolve().parent.parent / "gen" / "descriptor" / "vod.binpb"
ACCESS_FIELD = 51003
ACCESS_PUBLIC, ACCESS_INTERNAL = 1, 4
F = descriptor_pb2.FieldDescriptorProto
_INT64 = {F.TYPE_INT64, F.TYPE_UINT64, F.TYPE_SINT64, F.TYPE_FIXED64, F.TYPE_SFIXED64}
_INT32 = {F.TYPE_INT32, F.TYPE_UINT32, F.TYPE_SINT32, F.TYPE_FIXED32, F.TYPE_SFIXED32}
_WKT = {
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
_ERRORS = {
    "400": "Invalid argument",
    "401": "Unauthenticated",
    "403": "Permission denied",
    "404": "Not found",
    "409": "Conflict",
    "429": "Resource exhausted",
    "503": "Unavailable",
}


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
        if fld.label == F.LABEL_REPEATED:
            entry = self.messages.get(fld.type_name)
            if entry is not None and entry.options.map_entry:
                return {"type": "object", "additionalProperties": self.field_schema(entry.field[1])}
            return {"type": "array", "items": s}
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
        schema: dict = {"type": "object", "properties": {}}
        if not skip:
            self.schemas[key] = schema
        for fld in self.messages[name].field:
            if fld.name not in skip:
                schema["properties"][fld.json_name] = self.field_schema(fld)
        return schema


def _path_template(path: str) -> tuple[str, list[tuple[str, str]]]:
    """/v1/{name=titles/*} -> ("/v1/{name}", [("name", "^titles/[^/]+$")])."""
    params: list[tuple[str, str]] = []

    def repl(m: re.Match) -> str:
        var, _, pat = m.group(1).partition("=")
        if not pat or pat in ("*", "**"):
            params.append((var, "^[^/]+$" if pat != "**" else "^.+$"))
            return "{" + var.replace(".", "_") + "}"
        if pat.count("*") == 1 and pat.endswith("/*"):
            # keep the literal prefix in the path so {name=titles/*} and {name=jobs/*} differ
            params.append((var, "^[^/]+$"))
            return pat[:-1] + "{" + var.replace(".", "_") + "}"
        # literal segments stay in the path so /v1/{name=titles/*} and {name=jobs/*} differ
        rx = "^" + re.escape(pat).replace(r"\*\*", ".+").replace(r"\*", "[^/]+") + "$"
        params.append((var, rx))
        return "{" + var.replace(".", "_") + "}"

    return re.sub(r"\{([^}]+)\}", repl, path), params


def _http_rule(method: descriptor_pb2.MethodDescriptorProto):
    rule = method.options.Extensions[annotations_pb2.http]
    kind = rule.WhichOneof("pattern")
    if kind is None or kind == "custom":
        return None
    return kind, getattr(rule, kind), rule.body


def _access(method: descriptor_pb2.MethodDescriptorProto) -> int:
    return int(method.options.Extensions[access_pb2.access])


def _out(b: _Builder, name: str) -> dict:
    b.message(name)
    return _ref(name)


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
                path, params = _path_template(template)
                in_path = {p for p, _ in params}
                op: dict = {
                    "operationId": f"{f.package}.{svc.name}.{m.name}",
                    "tags": [f"{f.package}.{svc.name}"],
                    "parameters": [
                        {
                            "name": p.replace(".", "_"),
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": rx},
                        }
                        for p, rx in params
                    ],
                    "responses": {
                        "200": {
                            "description": "OK",
                            "content": {"application/json": {"schema": _out(b, m.output_type)}},
                        },
                        **{
                            code: {
                                "description": text,
                                "content": {
                                    "application/json": {"schema": _ref("google.rpc.Status")}
                                },
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
                paths.setdefault(path, {})[verb] = op
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
