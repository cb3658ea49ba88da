"""Interactions: what an event says about a profile's taste, with a weight per signal, and the
per-profile rate limiter that keeps a flood of events from dominating training.

Weights: a completion counts most, a like a lot, a play that followed a search more than a view,
a view by how much was watched, a start a little; a dislike, a "not interested" and an abandon
after a few minutes are negative.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from vod.common.v1 import event_pb2
from vod.events.v1 import feedback_events_pb2 as fev
from vod.events.v1 import playback_events_pb2 as pev
from vod.recommendations.v1 import recommendations_pb2 as pb

__all__ = [
    "BLOCKING_KINDS",
    "Interaction",
    "RateLimiter",
    "from_feedback",
    "from_playback_started",
    "from_playback_stopped",
    "weight_of",
]

# Kinds after which the title is hidden from the profile's rows.
BLOCKING_KINDS = frozenset({pb.FEEDBACK_KIND_DISLIKE, pb.FEEDBACK_KIND_NOT_INTERESTED})
# Watching less than this fraction but for longer than ABANDON_AFTER_S is an abandon.
ABANDON_FRACTION = 0.15
ABANDON_AFTER_S = 180.0
START_WEIGHT = 0.5
# A play the profile went looking for (search → play) says more than a start from a row.
SEARCH_PLAY_WEIGHT = 2.0


@dataclass(frozen=True, slots=True)
class Interaction:
    event_id: str
    profile: str
    title: str
    kind: int  # FeedbackKind
    weight: float
    watched_fraction: float
    occur_time: float  # epoch seconds
    region_code: str = ""
    source: str = "feedback"
    throttled: bool = False

    @property
    def positive(self) -> bool:
        return self.weight > 0

    @property
    def finished(self) -> bool:
        return self.kind == pb.FEEDBACK_KIND_COMPLETE


def weight_of(kind: int, watched_fraction: float) -> float:
    fraction = min(max(watched_fraction, 0.0), 1.0)
    if kind == pb.FEEDBACK_KIND_COMPLETE:
        return 3.0
    if kind == pb.FEEDBACK_KIND_LIKE:
        return 2.5
    if kind == pb.FEEDBACK_KIND_VIEW:
        return 1.0 + 1.5 * fraction
    if kind == pb.FEEDBACK_KIND_SEARCH_PLAY:
        return SEARCH_PLAY_WEIGHT
    if kind == pb.FEEDBACK_KIND_ABANDON:
        return -1.0
    if kind == pb.FEEDBACK_KIND_DISLIKE:
        return -3.0
    if kind == pb.FEEDBACK_KIND_NOT_INTERESTED:
        return -5.0
    return 0.0


def _time(meta: event_pb2.EventMeta) -> float:
    if meta.HasField("occur_time"):
        return meta.occur_time.ToDatetime(tzinfo=UTC).timestamp()
    return datetime.now(UTC).timestamp()


def from_feedback(event: fev.FeedbackRecorded) -> Interaction:
    return Interaction(
        event_id=event.meta.event_id,
        profile=event.profile,
        title=event.title,
        kind=event.kind,
        weight=weight_of(event.kind, event.watched_fraction),
        watched_fraction=event.watched_fraction,
        occur_time=_time(event.meta),
    )


def from_playback_started(event: pev.PlaybackStarted) -> Interaction:
    return Interaction(
        event_id=event.meta.event_id,
        profile=event.profile,
        title=event.title,
        kind=pb.FEEDBACK_KIND_VIEW,
        weight=START_WEIGHT,
        watched_fraction=0.0,
        occur_time=_time(event.meta),
        region_code=event.region_code,
        source="playback",
    )


def from_playback_stopped(event: pev.PlaybackStopped) -> Interaction:
    fraction = min(max(event.watched_fraction, 0.0), 1.0)
    watched_s = (
        event.watch_time.ToTimedelta().total_seconds() if event.HasField("watch_time") else 0.0
    )
    if event.completed:
        kind = pb.FEEDBACK_KIND_COMPLETE
    elif fraction < ABANDON_FRACTION and watched_s >= ABANDON_AFTER_S:
        kind = pb.FEEDBACK_KIND_ABANDON
    else:
        kind = pb.FEEDBACK_KIND_VIEW
    weight = weight_of(kind, fraction)
    if kind == pb.FEEDBACK_KIND_VIEW:
        weight -= START_WEIGHT  # the start event counted already
    return Interaction(
        event_id=event.meta.event_id,
        profile=event.profile,
        title=event.title,
        kind=kind,
        weight=weight,
        watched_fraction=fraction,
        occur_time=_time(event.meta),
        region_code=event.region_code,
        source="playback",
    )


class RateLimiter:
    """A token bucket per profile (LRU-bounded): `rate_per_s` sustained, `burst` at once."""

    def __init__(self, rate_per_s: float, burst: int, *, max_profiles: int = 100_000) -> None:
        self._rate = rate_per_s
        self._burst = float(burst)
        self._max = max_profiles
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, profile: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(profile, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        allowed = tokens >= 1.0
        self._buckets[profile] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return allowed
