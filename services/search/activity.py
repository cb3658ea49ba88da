"""What people watch: time-decayed play counts per title and region (trending, popularity) and
per-profile history (preferences), from vod.playback.* and vod.feedback.* events.

Counts are kept in hourly buckets for the last 7 days; a score is the sum of the buckets' weights
halved every half-life. The store is rebuilt on start by replaying the last 7 days of the streams
(see `indexer.ActivityFeed`), and tolerates redelivery by remembering event ids.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Activity", "Window"]

HOUR = 3600
HORIZON_S = 7 * 24 * HOUR
_SEEN_KEPT = 500_000
_PROFILE_KEPT = 200
GLOBAL = ""  # the region of events that carry none (feedback)


@dataclass(frozen=True)
class Window:
    horizon_s: int
    half_life_s: float


DAY = Window(24 * HOUR, 6 * HOUR)
WEEK = Window(7 * 24 * HOUR, 36 * HOUR)


class Activity:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._buckets: dict[str, dict[tuple[str, int], float]] = defaultdict(dict)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._profiles: dict[str, deque[tuple[str, float]]] = {}
        self._changed: set[str] = set()
        self._cache: dict[tuple[str, Window], tuple[float, list[tuple[str, float]]]] = {}
        self.events = 0

    def record(
        self,
        event_id: str,
        title: str,
        *,
        weight: float,
        at_s: float,
        region: str = GLOBAL,
        profile: str = "",
    ) -> bool:
        """Count one interaction; False (and nothing counted) for an already seen event id."""
        if not title or (event_id and event_id in self._seen):
            return False
        if event_id:
            self._seen[event_id] = None
            if len(self._seen) > _SEEN_KEPT:
                self._seen.popitem(last=False)
        self.events += 1
        title_id = title.removeprefix("titles/")
        now = self._clock()
        if weight and now - at_s <= HORIZON_S:
            key = (region, int(at_s // HOUR))
            buckets = self._buckets[title_id]
            buckets[key] = buckets.get(key, 0.0) + weight
            self._changed.add(title_id)
            self._cache.clear()
        if profile:
            history = self._profiles.setdefault(profile, deque(maxlen=_PROFILE_KEPT))
            history.append((title_id, weight))
        return True

    def _score(
        self, buckets: dict[tuple[str, int], float], window: Window, region: str | None, now: float
    ) -> float:
        total = 0.0
        for (bucket_region, hour), weight in buckets.items():
            if region is not None and bucket_region not in (region, GLOBAL):
                continue
            age = now - (hour * HOUR + HOUR / 2)
            if age > window.horizon_s:
                continue
            factor = 0.5 if region is not None and bucket_region == GLOBAL else 1.0
            total += factor * weight * math.pow(0.5, max(age, 0.0) / window.half_life_s)
        return total

    def trending(self, region: str, window: Window) -> list[tuple[str, float]]:
        """(title id, decayed score) with a positive score, best first."""
        now = self._clock()
        cached = self._cache.get((region, window))
        if cached is not None and now - cached[0] < 1.0:
            return cached[1]
        scored = []
        for title_id, buckets in self._buckets.items():
            score = self._score(buckets, window, region, now)
            if score > 1e-9:
                scored.append((title_id, score))
        scored.sort(key=lambda item: (-item[1], item[0]))
        self._cache[(region, window)] = (now, scored)
        return scored

    def popularity(self, title_id: str) -> float:
        """Decayed plays over the last week in every region."""
        buckets = self._buckets.get(title_id)
        if not buckets:
            return 0.0
        return round(self._score(buckets, WEEK, None, self._clock()), 4)

    def drain_changed(self) -> set[str]:
        changed, self._changed = self._changed, set()
        return changed

    def profile_history(self, profile: str) -> list[tuple[str, float]]:
        return list(self._profiles.get(profile, ()))
