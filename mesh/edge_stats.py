"""Hit/miss counts of an edge, from its JSON access log (`mesh.edge` writes one object per
request: status, cache status, bytes, reason of a refusal).

The log is the counter because the nginx wheel has no `stub_status` module, and because it
answers more than live counters would: per cache status, per refusal reason, bytes served from
cache versus fetched through. `vod edge stats` prints `format_stats` of every edge.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["EdgeStats", "edge_stats", "format_stats"]


@dataclass(frozen=True)
class EdgeStats:
    """Counts over one edge's access log."""

    requests: int = 0
    """Every logged request (refusals included)."""
    by_cache: Mapping[str, int] = field(default_factory=dict)
    """Requests per `$upstream_cache_status` (HIT, MISS, EXPIRED, ...); refusals have none."""
    by_status: Mapping[int, int] = field(default_factory=dict)
    refusals: Mapping[str, int] = field(default_factory=dict)
    """Refused requests per reason: bad_token, expired, region_not_served, bad_path,
    client_blocked, method_not_allowed, not_found."""
    bytes: int = 0
    """Body bytes sent to clients."""
    bytes_through_cache: int = 0
    """Of those, bytes of requests that reached the cache (hits and misses)."""
    hit_bytes: int = 0
    """Of those, bytes of cache hits."""
    unparsed_lines: int = 0
    """Lines that were not JSON objects (e.g. a line cut off by a crash)."""

    @property
    def hits(self) -> int:
        return self.by_cache.get("HIT", 0)

    @property
    def misses(self) -> int:
        """Requests that went to the origin (every cache status but HIT)."""
        return sum(n for status, n in self.by_cache.items() if status != "HIT")

    @property
    def forbidden(self) -> int:
        """403 answers (token, region or client refused)."""
        return self.by_status.get(403, 0)

    @property
    def hit_ratio(self) -> float:
        """HITs over all requests that reached the cache (0.0 when none did)."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    @property
    def byte_hit_ratio(self) -> float:
        """Bytes served from cache over bytes of all requests that reached the cache."""
        cached_total = self.bytes_through_cache
        return self.hit_bytes / cached_total if cached_total else 0.0


def edge_stats(log_path: Path | str) -> EdgeStats:
    """Count one edge's access log; a missing log counts as an edge that served nothing."""
    by_cache: Counter[str] = Counter()
    by_status: Counter[int] = Counter()
    refusals: Counter[str] = Counter()
    requests = total_bytes = hit_bytes = through_cache = unparsed = 0
    try:
        fh = Path(log_path).open(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return EdgeStats()
    with fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                status = int(entry["status"])
                size = int(entry.get("bytes") or 0)
            except (ValueError, KeyError, TypeError):
                unparsed += 1
                continue
            requests += 1
            by_status[status] += 1
            total_bytes += size
            cache = entry.get("cache") or ""
            if cache and cache != "-":
                by_cache[cache] += 1
                through_cache += size
                if cache == "HIT":
                    hit_bytes += size
            reason = entry.get("reason") or ""
            if reason and reason != "-":
                refusals[reason] += 1
    return EdgeStats(
        requests=requests,
        by_cache=dict(by_cache),
        by_status=dict(by_status),
        refusals=dict(refusals),
        bytes=total_bytes,
        hit_bytes=hit_bytes,
        unparsed_lines=unparsed,
        bytes_through_cache=through_cache,
    )


def format_stats(stats: EdgeStats | Mapping[str, EdgeStats], region: str = "") -> str:
    """A small table, one row per edge (a mapping region -> stats, or one edge's stats)."""
    rows = dict(stats) if isinstance(stats, Mapping) else {region or "edge": stats}
    header = ("edge", "requests", "HIT", "MISS", "other", "hit%", "403", "bytes", "refusals")
    table = [header]
    for name, s in rows.items():
        other = s.misses - s.by_cache.get("MISS", 0)
        refusals = ", ".join(f"{k}={v}" for k, v in sorted(s.refusals.items())) or "-"
        table.append(
            (
                name,
                str(s.requests),
                str(s.hits),
                str(s.by_cache.get("MISS", 0)),
                str(other),
                f"{100 * s.hit_ratio:.1f}",
                str(s.forbidden),
                str(s.bytes),
                refusals,
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    lines = []
    for row in table:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines) + "\n"
