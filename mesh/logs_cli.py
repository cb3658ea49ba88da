"""`vod logs [COMPONENT] [-f]`: the mesh's logs for people.

Every component writes one file in `<home>/logs/` (`catalog.log`, `transcode-worker-1.log`,
`postgres.log`, `envoy-access.log`, ...). Service logs are JSON lines (structlog); here each
becomes one readable line, `time component LEVEL event key=value ...`, with the request id and
trace id last so they are easy to grep. Lines that are not JSON (PostgreSQL, NATS) are shown as
they are. `--json` prints the raw lines; `--grep TEXT` keeps lines containing TEXT (a request id,
say); `-f` keeps following the files (through rotation and truncation) until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from mesh.local import load_local_settings

__all__ = ["format_line", "register"]

_FIRST = ("timestamp", "level", "event", "service", "logger")
_LAST = ("request_id", "trace_id")
_LEVEL_WIDTH = 5


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value if value and " " not in value and "=" not in value else json.dumps(value)
    return json.dumps(value, separators=(",", ":"), default=str)


def format_line(component: str, raw: str, width: int = 12) -> str:
    """One log line for people: JSON lines rendered, anything else as it was."""
    raw = raw.rstrip("\n")
    try:
        record = json.loads(raw)
    except ValueError:
        return f"{'':12} {component:<{width}} {raw}"
    if not isinstance(record, dict):
        return f"{'':12} {component:<{width}} {raw}"
    stamp = str(record.get("timestamp", ""))
    clock = stamp[11:23] if len(stamp) >= 23 else stamp
    level = str(record.get("level", "")).upper()[:_LEVEL_WIDTH]
    event = str(record.get("event", record.get("message", "")))
    rest = [f"{k}={_value(v)}" for k, v in record.items() if k not in _FIRST and k not in _LAST]
    ids = [f"{k}={record[k]}" for k in _LAST if record.get(k)]
    return " ".join(
        part
        for part in (f"{clock:<12}", f"{component:<{width}}", f"{level:<{_LEVEL_WIDTH}}", event)
        + tuple(rest)
        + tuple(ids)
        if part is not None
    ).rstrip()


def _timestamp(raw: str) -> str:
    try:
        record = json.loads(raw)
    except ValueError:
        return ""
    return str(record.get("timestamp", "")) if isinstance(record, dict) else ""


@dataclass
class _Follower:
    """Reads what is appended to one file, reopening it after rotation or truncation."""

    component: str
    path: Path
    handle: TextIO | None = None
    inode: int = -1
    pending: str = field(default="")

    def open(self, at_end: bool) -> None:
        try:
            stat = self.path.stat()
            handle = self.path.open("r", encoding="utf-8", errors="replace")
        except OSError:
            return
        if at_end:
            handle.seek(0, os.SEEK_END)
        self.handle, self.inode = handle, stat.st_ino

    def lines(self) -> Iterator[str]:
        if self.handle is None:
            self.open(at_end=False)
            if self.handle is None:
                return
        try:
            stat = self.path.stat()
        except OSError:
            stat = None
        if stat is not None and (stat.st_ino != self.inode or stat.st_size < self.handle.tell()):
            self.handle.close()
            self.handle = None
            self.pending = ""
            self.open(at_end=False)  # a new file: read it from its start
            if self.handle is None:
                return
        chunk = self.handle.read()
        if not chunk:
            return
        text = self.pending + chunk
        *complete, self.pending = text.split("\n")
        yield from complete


def _components(logs: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(logs.glob("*.log")) if p.is_file()}


def _tail(path: Path, count: int) -> list[str]:
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        return [line.rstrip("\n") for line in deque(handle, maxlen=count)]


def _show(component: str, raw: str, args: argparse.Namespace, out: TextIO, width: int) -> None:
    if not raw.strip() or (args.grep and args.grep not in raw):
        return
    out.write((raw if args.json else format_line(component, raw, width)) + "\n")


def _emit_all(
    items: Iterable[tuple[str, str]], args: argparse.Namespace, out: TextIO, width: int
) -> None:
    for component, raw in items:
        _show(component, raw, args, out, width)
    out.flush()


def cmd_logs(args: argparse.Namespace) -> int:
    if args.lines < 0:
        print("vod logs: --lines must be 0 or more")
        return 2
    settings = load_local_settings()
    available = _components(settings.logs)
    if not available:
        print(f"vod logs: no logs in {settings.logs}; start the mesh with `vod up` first")
        return 1
    if args.component:
        chosen = {
            name: path
            for name, path in available.items()
            if name == args.component or name.startswith(f"{args.component}-")
        }
        if not chosen:
            print(
                f"vod logs: no component {args.component!r} in {settings.logs}; "
                f"known: {', '.join(available)}"
            )
            return 2
    else:
        chosen = available
    width = max(len(name) for name in chosen)
    out = sys.stdout
    # The last lines of every chosen file, merged by time when the lines carry one.
    recent = [
        (name, raw) for name, path in chosen.items() for raw in _tail(path, args.lines) if raw
    ]
    if len(chosen) > 1:
        recent.sort(key=lambda item: _timestamp(item[1]))
    _emit_all(recent, args, out, width)
    if not args.follow:
        return 0
    followers = [_Follower(name, path) for name, path in chosen.items()]
    for follower in followers:
        follower.open(at_end=True)
    try:
        while True:
            got = False
            for follower in followers:
                for raw in follower.lines():
                    got = True
                    _show(follower.component, raw, args, out, width)
            if got:
                out.flush()
            else:
                time.sleep(0.2)  # a CLI polling files, as tail -f does
    except KeyboardInterrupt:
        return 0


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "logs",
        help="the mesh's logs, readable (-f follows)",
        description=(
            "Show the last lines of one component's log or of all of them, merged by time, as "
            "readable lines (request and trace ids last). Examples: `vod logs`, "
            "`vod logs catalog -f`, `vod logs --grep 3f2a9c0d` (a request id), "
            "`vod logs gateway --json`."
        ),
    )
    parser.add_argument(
        "component", nargs="?", help="catalog, gateway, envoy, postgres, transcode-worker, ..."
    )
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    parser.add_argument("-n", "--lines", type=int, default=20, help="last lines per file (20)")
    parser.add_argument("--grep", default="", help="only lines containing this text")
    parser.add_argument("--json", action="store_true", help="raw JSON lines")
    parser.add_argument("--home", default=argparse.SUPPRESS)
    parser.set_defaults(func=cmd_logs)
