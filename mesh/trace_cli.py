"""`vod trace <request id or trace id>`: the span tree of a request, from the local span files.

Services without `VOD_OTLP_ENDPOINT` keep their finished spans in `$VOD_HOME/traces/*.jsonl`
(see `services.runtime.tracing`). This command finds the spans whose request id or trace id is
the one asked for, takes every span of those traces (so services the request id did not reach
are included), and prints each trace as a tree: service, span name, duration, status.

    trace 0af7651916cd43dd8448eb211c80319c · 4 spans · 12.500 ms
    gateway  vod.gateway.v1.GatewayService/GetHome  12.500 ms  OK
      gateway  vod.catalog.v1.CatalogService/ListTitles  5.000 ms  OK
        catalog  vod.catalog.v1.CatalogService/ListTitles  4.000 ms  OK
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Span", "cmd_trace", "find_traces", "format_trace", "read_spans", "register"]

_GRPC_CODES = {
    0: "OK",
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    6: "ALREADY_EXISTS",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    10: "ABORTED",
    11: "OUT_OF_RANGE",
    12: "UNIMPLEMENTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    15: "DATA_LOSS",
    16: "UNAUTHENTICATED",
}


@dataclass(frozen=True)
class Span:
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    service: str
    start_ns: int
    end_ns: int
    status: str
    """gRPC status name for RPC spans, else OK or ERROR."""
    request_id: str

    @property
    def duration_ms(self) -> float:
        return max(self.end_ns - self.start_ns, 0) / 1e6

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Span:
        attributes = record.get("attributes") or {}
        code = attributes.get("rpc.grpc.status_code")
        if isinstance(code, int) and code in _GRPC_CODES:
            status = _GRPC_CODES[code]
        else:
            status = "ERROR" if record.get("status") == "ERROR" else "OK"
        return cls(
            trace_id=str(record["trace_id"]),
            span_id=str(record["span_id"]),
            parent_span_id=str(record.get("parent_span_id") or ""),
            name=str(record.get("name", "")),
            service=str(record.get("service", "")),
            start_ns=int(record.get("start_ns") or 0),
            end_ns=int(record.get("end_ns") or 0),
            status=status,
            request_id=str(record.get("request_id") or ""),
        )


def read_spans(directory: Path) -> Iterator[Span]:
    """Every span in the span files under `directory` (rotated ones too); lines that are not
    span records (a write cut short) are skipped."""
    files = sorted(directory.glob("*.jsonl")) + sorted(directory.glob("*.jsonl.1"))
    for path in files:
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                yield Span.from_record(json.loads(line))
            except (ValueError, KeyError, TypeError):
                continue


def find_traces(spans: Iterable[Span], wanted: str) -> list[list[Span]]:
    """The traces (each a list of its spans) with a span whose request id or trace id is
    `wanted`, earliest first. The same span read twice (a file and its rotation) counts once."""
    wanted = wanted.strip()
    by_trace: dict[str, dict[str, Span]] = {}
    matching: set[str] = set()
    for span in spans:
        by_trace.setdefault(span.trace_id, {})[span.span_id] = span
        if wanted and (span.request_id == wanted or span.trace_id == wanted.lower()):
            matching.add(span.trace_id)
    traces = [list(by_trace[trace_id].values()) for trace_id in matching]
    return sorted(traces, key=lambda t: min(s.start_ns for s in t))


def format_trace(spans: list[Span]) -> list[str]:
    """One trace as lines: a heading, then each span under its parent, children in start
    order. A span whose parent is not among the recorded spans (Envoy's, or the caller's
    outside the mesh) is shown at the top level, marked `(remote parent)`."""
    ids = {s.span_id for s in spans}
    children: dict[str, list[Span]] = {}
    roots: list[Span] = []
    for span in spans:
        if span.parent_span_id and span.parent_span_id in ids:
            children.setdefault(span.parent_span_id, []).append(span)
        else:
            roots.append(span)
    start = min(s.start_ns for s in spans)
    end = max(s.end_ns for s in spans)
    count = "1 span" if len(spans) == 1 else f"{len(spans)} spans"
    lines = [f"trace {spans[0].trace_id} · {count} · {(end - start) / 1e6:.3f} ms"]

    def walk(span: Span, depth: int) -> None:
        remote = "  (remote parent)" if depth == 0 and span.parent_span_id else ""
        lines.append(
            f"{'  ' * depth}{span.service}  {span.name}  {span.duration_ms:.3f} ms  "
            f"{span.status}{remote}"
        )
        for child in sorted(children.get(span.span_id, []), key=_order):
            walk(child, depth + 1)

    for root in sorted(roots, key=_order):
        walk(root, 0)
    return lines


def _order(span: Span) -> tuple[int, str]:
    return span.start_ns, span.span_id


def cmd_trace(args: argparse.Namespace) -> int:
    from mesh.local import load_local_settings

    directory = load_local_settings(home=getattr(args, "home", None)).home / "traces"
    traces = find_traces(read_spans(directory), args.id)
    if not traces:
        where = directory if directory.is_dir() else f"{directory} (which does not exist)"
        sys.stderr.write(
            f"no spans for {args.id} in {where}; spans reach these files about a second after a "
            "request, and only from services running without VOD_OTLP_ENDPOINT\n"
        )
        return 1
    out: list[str] = []
    for trace in traces:
        if out:
            out.append("")
        out += format_trace(trace)
    sys.stdout.write("\n".join(out) + "\n")
    return 0


def register(subparsers: Any) -> None:
    """Add `vod trace` to the `vod` command's subparsers."""
    trace = subparsers.add_parser(
        "trace", help="the span tree of a request (request id or trace id), from local spans"
    )
    trace.add_argument("id", help="a request id (x-request-id) or a 32-hex-digit trace id")
    trace.add_argument("--home", default=argparse.SUPPRESS, help="data directory")
    trace.set_defaults(func=cmd_trace)
