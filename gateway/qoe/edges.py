"""The edges as the operations overview shows them: each region's cache hit ratio and requests
since the edge started, counted from its JSON access log (`mesh.edge` writes one object per
request, with nginx's `$upstream_cache_status`; the nginx build has no status module), and
whether it answers its health URL now.

Logs are read incrementally: each overview reads only the lines written since the last one (a
log that was replaced or truncated is counted again from its start). Where the logs live and
where the edges answer come from the platform (`VOD_EDGE_LOGS`, `VOD_EDGE_URLS`: `REGION=...`
pairs, set by `vod up`); elsewhere (an edge on another machine) an operator ships the access log
or leaves the variable empty, and the overview then lists no edges."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
from vod.gateway.v1 import qoe_pb2 as pb

from gateway.qoe.sessions import edge_of
from services.runtime.logs import get_logger

__all__ = ["EdgeLogs", "parse_pairs"]

_log = get_logger("qoe.edges")


def parse_pairs(items: Iterable[str], variable: str) -> dict[str, str]:
    """`("US=a", "GB=b")` -> {"US": "a", "GB": "b"}; a malformed item is a ValueError naming
    `variable`."""
    pairs: dict[str, str] = {}
    for item in items:
        region, sep, value = item.partition("=")
        region, value = region.strip().upper(), value.strip()
        if not sep or len(region) != 2 or not region.isalpha() or not value:
            raise ValueError(f"{variable}: expected REGION=value, got {item!r}")
        pairs[region] = value
    return pairs


@dataclass
class _Tally:
    inode: int = -1
    offset: int = 0
    requests: int = 0
    hits: int = 0
    through_cache: int = 0
    partial: bytes = b""

    def read(self, path: Path) -> None:
        """Count the lines added to `path` since the last read."""
        try:
            with path.open("rb") as fh:
                stat = os.fstat(fh.fileno())
                if stat.st_ino != self.inode or stat.st_size < self.offset:
                    self.__init__()  # type: ignore[misc]  # a new or truncated log: start over
                    self.inode = stat.st_ino
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()  # a line still being written waits for the next read
        for line in lines:
            if line.strip():
                self._count(line)

    def _count(self, line: bytes) -> None:
        try:
            entry = json.loads(line)
            int(entry["status"])
        except (ValueError, KeyError, TypeError):
            return
        self.requests += 1
        cache = entry.get("cache") or ""
        if cache and cache != "-":
            self.through_cache += 1
            if cache == "HIT":
                self.hits += 1


class EdgeLogs:
    def __init__(
        self,
        logs: Mapping[str, str],
        urls: Mapping[str, str],
        *,
        deadline_s: float,
        http: httpx.AsyncClient,
    ) -> None:
        self._logs = {region: Path(path) for region, path in logs.items()}
        self._urls = dict(urls)
        self._deadline_s = deadline_s
        self._http = http
        self._tallies = {region: _Tally() for region in self._logs}
        self._lock = asyncio.Lock()

    async def statuses(self) -> list[pb.EdgeStatus]:
        """Every edge with a log, in region order."""
        async with self._lock:  # one reader at a time keeps each tally's offset right
            await asyncio.to_thread(self._read_all)
        reachable = await asyncio.gather(*(self._reachable(r) for r in sorted(self._logs)))
        out = []
        for region, up in zip(sorted(self._logs), reachable, strict=True):
            tally = self._tallies[region]
            out.append(
                pb.EdgeStatus(
                    edge=edge_of(region),
                    region_code=region,
                    hit_ratio=tally.hits / tally.through_cache if tally.through_cache else 0.0,
                    requests=tally.requests,
                    reachable=up,
                )
            )
        return out

    def _read_all(self) -> None:
        for region, path in self._logs.items():
            self._tallies[region].read(path)

    async def _reachable(self, region: str) -> bool:
        base = self._urls.get(region)
        if not base:
            return False
        try:
            reply = await self._http.get(
                f"{base.rstrip('/')}/edge/health", timeout=self._deadline_s
            )
        except httpx.HTTPError as exc:
            _log.info("qoe.edge_unreachable", region=region, error=type(exc).__name__)
            return False
        return reply.status_code == 200
