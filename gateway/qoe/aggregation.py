"""QoE arithmetic, no I/O: how a batch of player events folds into per title/region/edge/rendition
counters, the fixed time-to-first-frame histogram they keep instead of samples, and how summed
counters become the contract's `QoeAggregate` numbers (percentiles, ratios)."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields

from vod.gateway.v1 import qoe_pb2

__all__ = [
    "TTFF_BOUNDS_MS",
    "Counters",
    "Key",
    "SessionState",
    "Summary",
    "fold_batch",
    "percentile",
    "summarize",
    "ttff_bucket",
]


def _bounds() -> tuple[int, ...]:
    bounds: list[int] = []
    for limit, step in ((1_000, 10), (5_000, 50), (20_000, 250), (60_000, 1_000)):
        start = bounds[-1] if bounds else 0
        bounds.extend(range(start + step, limit + 1, step))
    return tuple(bounds)


TTFF_BOUNDS_MS: tuple[int, ...] = _bounds()
"""Upper bounds (inclusive) of the TTFF histogram buckets: 10 ms wide up to 1 s, 50 ms to 5 s,
250 ms to 20 s, 1 s to 60 s; one more bucket holds anything slower. A percentile is reported as
its bucket's upper bound, so it is exact for samples on a bound and at most one bucket (≤ 5 %)
high otherwise; the store keeps counts per bucket, never the samples."""


def ttff_bucket(value_ms: float) -> int:
    """Index of the bucket holding `value_ms` (len(TTFF_BOUNDS_MS) for the overflow bucket)."""
    return bisect.bisect_left(TTFF_BOUNDS_MS, value_ms)


def percentile(histogram: dict[int, int], q: float) -> float:
    """Nearest-rank percentile `q` (0-1) of a bucket histogram, as the bucket's upper bound
    (the overflow bucket reports the last bound); 0 when empty."""
    total = sum(histogram.values())
    if total <= 0:
        return 0.0
    rank = max(1, -(-int(q * total * 1_000_000) // 1_000_000))  # ceil(q * total), float-safe
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return float(TTFF_BOUNDS_MS[min(bucket, len(TTFF_BOUNDS_MS) - 1)])
    return float(TTFF_BOUNDS_MS[-1])


@dataclass(frozen=True, order=True)
class Key:
    """What an aggregate is grouped by (all four, in storage)."""

    title: str
    region: str
    edge: str
    rendition: str


@dataclass
class Counters:
    """Additive QoE counters of one key (and one minute, in storage)."""

    plays: int = 0
    errors: int = 0
    """Sessions whose first error fell on this key."""
    played_ms: int = 0
    rebuffer_ms: int = 0
    stalls: int = 0
    downswitches: int = 0
    upswitches: int = 0
    dropped_frames: int = 0
    bitrate_sum: int = 0
    bitrate_samples: int = 0

    def add(self, other: Counters) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class SessionState:
    """What must survive between a session's batches: whether its play and its error were
    counted already, and the rendition and bitrate it is on (to attribute time and switches)."""

    played: bool = False
    errored: bool = False
    rendition: str = ""
    bitrate_bps: int = 0


@dataclass
class BatchDelta:
    """What one batch adds: counters per key, TTFF samples per key, the session's new state."""

    counters: dict[Key, Counters] = field(default_factory=dict)
    ttff_ms: list[tuple[Key, int]] = field(default_factory=list)
    state: SessionState = field(default_factory=SessionState)

    def at(self, key: Key) -> Counters:
        return self.counters.setdefault(key, Counters())


def fold_batch(
    title: str,
    region: str,
    edge: str,
    state: SessionState,
    events: Sequence[qoe_pb2.QoeEvent],
) -> BatchDelta:
    """Fold a session's batch (in the player's order) onto its state. A play is counted once
    per session, on its first FIRST_FRAME or ERROR, under the rendition playing then; time
    played, stalls and dropped frames under the rendition playing when reported; a switch to a
    lower bitrate is a downswitch (of the rendition switched from)."""
    now = SessionState(state.played, state.errored, state.rendition, state.bitrate_bps)
    delta = BatchDelta(state=now)

    def key(rendition: str | None = None) -> Key:
        return Key(title, region, edge, now.rendition if rendition is None else rendition)

    for event in events:
        kind = event.kind
        if event.rendition and kind != qoe_pb2.QOE_EVENT_KIND_BITRATE_SWITCH:
            now.rendition = event.rendition
        if kind == qoe_pb2.QOE_EVENT_KIND_FIRST_FRAME:
            if not now.played:
                now.played = True
                delta.at(key()).plays += 1
                delta.ttff_ms.append((key(), int(event.value_ms)))
        elif kind == qoe_pb2.QOE_EVENT_KIND_ERROR:
            if not now.played:
                now.played = True
                delta.at(key()).plays += 1
            if not now.errored:
                now.errored = True
                delta.at(key()).errors += 1
        elif kind == qoe_pb2.QOE_EVENT_KIND_PLAYING:
            delta.at(key()).played_ms += int(event.value_ms)
        elif kind == qoe_pb2.QOE_EVENT_KIND_REBUFFER_START:
            delta.at(key()).stalls += 1
        elif kind == qoe_pb2.QOE_EVENT_KIND_REBUFFER_END:
            delta.at(key()).rebuffer_ms += int(event.value_ms)
        elif kind == qoe_pb2.QOE_EVENT_KIND_DROPPED_FRAMES:
            delta.at(key()).dropped_frames += int(event.dropped_frames)
        elif kind == qoe_pb2.QOE_EVENT_KIND_BITRATE_SWITCH:
            previous, bitrate = now.bitrate_bps, int(event.bitrate_bps)
            if previous and bitrate and bitrate < previous:
                delta.at(key()).downswitches += 1
            if event.rendition:
                now.rendition = event.rendition
            if previous and bitrate > previous:
                delta.at(key()).upswitches += 1
            if bitrate:
                now.bitrate_bps = bitrate
                delta.at(key()).bitrate_sum += bitrate
                delta.at(key()).bitrate_samples += 1
    return delta


@dataclass
class Summary:
    """Summed counters and TTFF histogram of a group of keys."""

    counters: Counters = field(default_factory=Counters)
    histogram: dict[int, int] = field(default_factory=dict)

    def add(self, counters: Counters, histogram: dict[int, int]) -> None:
        self.counters.add(counters)
        for bucket, count in histogram.items():
            self.histogram[bucket] = self.histogram.get(bucket, 0) + count

    def aggregate(self, group: Key) -> qoe_pb2.QoeAggregate:
        c = self.counters
        watched = c.played_ms + c.rebuffer_ms
        return qoe_pb2.QoeAggregate(
            title=group.title,
            region_code=group.region,
            edge=group.edge,
            rendition=group.rendition,
            plays=c.plays,
            ttff_p50_ms=percentile(self.histogram, 0.50),
            ttff_p95_ms=percentile(self.histogram, 0.95),
            ttff_p99_ms=percentile(self.histogram, 0.99),
            rebuffer_ratio=c.rebuffer_ms / watched if watched else 0.0,
            error_rate=c.errors / c.plays if c.plays else 0.0,
            downswitches=c.downswitches,
            dropped_frames=c.dropped_frames,
        )


def summarize(
    rows: Iterable[tuple[Key, Counters, dict[int, int]]], group: str | None
) -> dict[Key, Summary]:
    """Sum rows into groups: `group` is "title", "region", "edge", "rendition" or None (one
    total under the empty key)."""
    out: dict[Key, Summary] = {}
    for key, counters, histogram in rows:
        target = Key(
            key.title if group == "title" else "",
            key.region if group == "region" else "",
            key.edge if group == "edge" else "",
            key.rendition if group == "rendition" else "",
        )
        out.setdefault(target, Summary()).add(counters, histogram)
    return out
