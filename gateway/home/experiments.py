"""The home feed's side of A/B tests: the profile's assignments (one GetAssignments per profile
per `cache_ttl_s`, in parallel with the row calls, behind the experiments breaker), what they
change (row order, top row, artwork kind) and one exposure record per response served, sent
after the response and never awaited by it.

Parameters the home understands, on assignments of the layers it applies (`layers`):

    row_order  comma-separated row kinds, e.g. "TRENDING_NOW,TOP_PICKS" (the ROW_KIND_ prefix
               optional); rows not listed keep their default order after the listed ones
    top_row    one row kind moved to the top
    artwork    the artwork kind tiles prefer: "thumbnail" (default), "backdrop" or "poster"

Unknown values are ignored (the variant still counts as shown: a control has no parameters).

The cache is refreshed by events: with NATS configured the gateway follows
`vod.experiments.changed` (created, started, stopped, ramped, a QA override) and drops the cached
assignments it makes stale (the one profile's for an override, all for the rest), so a change
shows on the next home request rather than after the TTL. The TTL bounds staleness when an event
is missed (NATS down).
When experiments is unconfigured, failing or its circuit is open the home has no assignments:
default order, no exposure. Failed exposures are counted
(`gateway_experiment_exposures_total{result="failed"|"rejected"}`) and logged, never raised.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError
from vod.catalog.v1 import catalog_pb2 as cpb
from vod.events.v1 import experiment_events_pb2 as ev
from vod.experiments.v1 import experiments_pb2 as epb
from vod.gateway.v1 import gateway_pb2 as pb

from gateway.home.config import ExperimentsSettings
from gateway.home.deps import CIRCUIT_OPEN, ExperimentsSource, Metadata, SourceFailure
from gateway.home.metrics import HomeMetrics
from services.runtime.events import subject_of
from services.runtime.logs import get_logger

__all__ = [
    "CHANGED_SUBJECT",
    "DEFAULT_ROW_ORDER",
    "HomeExperiments",
    "Treatment",
    "parse_row_order",
]

_log = get_logger("gateway.experiments")

SURFACE = "home"
CHANGED_SUBJECT = subject_of(ev.ExperimentChanged)
DEFAULT_ROW_ORDER: tuple[int, ...] = (
    pb.ROW_KIND_CONTINUE_WATCHING,
    pb.ROW_KIND_TOP_PICKS,
    pb.ROW_KIND_BECAUSE_YOU_WATCHED,
    pb.ROW_KIND_TRENDING_NOW,
    pb.ROW_KIND_NEW_RELEASES,
)
DEFAULT_ARTWORK: tuple[int, ...] = (
    cpb.ARTWORK_KIND_THUMBNAIL,
    cpb.ARTWORK_KIND_BACKDROP,
    cpb.ARTWORK_KIND_POSTER,
)
_ARTWORK_KINDS = {
    "thumbnail": cpb.ARTWORK_KIND_THUMBNAIL,
    "backdrop": cpb.ARTWORK_KIND_BACKDROP,
    "poster": cpb.ARTWORK_KIND_POSTER,
}
_MAX_ARTWORK = 1000  # Exposure.artwork max_items


def _row_kind(token: str) -> int | None:
    name = token.strip().upper().replace("-", "_")
    if not name:
        return None
    if not name.startswith("ROW_KIND_"):
        name = f"ROW_KIND_{name}"
    try:
        kind = pb.RowKind.Value(name)
    except ValueError:
        return None
    return kind if kind in DEFAULT_ROW_ORDER else None


def parse_row_order(value: str, top_row: str = "") -> tuple[int, ...]:
    """The display order: `top_row` first, then the kinds `value` lists, then the rest in the
    default order. Unknown and repeated kinds are ignored."""
    listed = [_row_kind(top_row), *(_row_kind(t) for t in value.split(","))]
    ordered = [k for k in listed if k is not None]
    return tuple(dict.fromkeys([*ordered, *DEFAULT_ROW_ORDER]))


@dataclass(frozen=True)
class Treatment:
    """What the assignments change in one response."""

    applied: tuple[epb.Assignment, ...] = ()
    row_order: tuple[int, ...] = DEFAULT_ROW_ORDER
    artwork: tuple[int, ...] = DEFAULT_ARTWORK
    artwork_experiment: bool = False
    """True when an applied assignment chose the artwork kind (exposures then list it)."""

    @classmethod
    def of(cls, assignments: Sequence[epb.Assignment], layers: Sequence[str]) -> Treatment:
        applied = tuple(a for a in assignments if a.layer in layers)
        row_order, artwork, artwork_experiment = DEFAULT_ROW_ORDER, DEFAULT_ARTWORK, False
        for assignment in applied:
            params = assignment.parameters
            if "row_order" in params or "top_row" in params:
                row_order = parse_row_order(params.get("row_order", ""), params.get("top_row", ""))
            kind = _ARTWORK_KINDS.get(params.get("artwork", "").strip().lower())
            if kind is not None:
                artwork = (kind, *(k for k in DEFAULT_ARTWORK if k != kind))
            if "artwork" in params:
                artwork_experiment = True
        return cls(applied, row_order, artwork, artwork_experiment)


@dataclass
class _Cached:
    expires: float
    assignments: list[epb.Assignment]


@dataclass
class HomeExperiments:
    """Assignments with a per-profile TTL cache (concurrent misses for one profile share one
    call) and fire-and-forget exposure recording."""

    source: ExperimentsSource
    settings: ExperimentsSettings
    metrics: HomeMetrics
    clock: Callable[[], float] = time.monotonic
    _cache: OrderedDict[tuple[str, str, str], _Cached] = field(default_factory=OrderedDict)
    _inflight: dict[tuple[str, str, str], asyncio.Task[list[epb.Assignment]]] = field(
        default_factory=dict
    )
    _pending: set[asyncio.Task[None]] = field(default_factory=set)

    async def assignments(
        self, profile: str, region: str, plan: str, metadata: Metadata, timeout_s: float
    ) -> list[epb.Assignment]:
        """The profile's assignments, or none when experiments cannot say (never raises)."""
        key = (profile, region, plan)
        cached = self._cache.get(key)
        if cached is not None and cached.expires > self.clock():
            self._cache.move_to_end(key)
            self.metrics.assignments.labels("cache").inc()
            return cached.assignments
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._fetch(key, metadata, timeout_s))
            self._inflight[key] = task
            task.add_done_callback(lambda _: self._inflight.pop(key, None))
        else:  # another request for the profile is asking: share its answer
            self.metrics.assignments.labels("cache").inc()
        try:
            return await asyncio.shield(task)
        except SourceFailure:
            self.metrics.assignments.labels("failed").inc()
            return []
        except Exception:
            self.metrics.assignments.labels("failed").inc()
            _log.exception("experiments.assignments_failed", profile=profile)
            return []

    async def _fetch(
        self, key: tuple[str, str, str], metadata: Metadata, timeout_s: float
    ) -> list[epb.Assignment]:
        profile, region, plan = key
        found = await self.source.assignments(profile, region, plan, metadata, timeout_s)
        self.metrics.assignments.labels("fetched").inc()
        self._cache[key] = _Cached(self.clock() + self.settings.cache_ttl_s, found)
        self._cache.move_to_end(key)
        while len(self._cache) > self.settings.cache_size:
            self._cache.popitem(last=False)
        return found

    def invalidate(self, profile: str = "") -> int:
        """Drop cached assignments: `profile`'s (all its regions and plans), or every profile's
        when empty. Returns how many entries were dropped."""
        if not profile:
            dropped = len(self._cache)
            self._cache.clear()
        else:
            stale = [key for key in self._cache if key[0] == profile]
            for key in stale:
                del self._cache[key]
            dropped = len(stale)
        self.metrics.invalidations.labels("profile" if profile else "all").inc()
        return dropped

    def on_changed_payload(self, payload: bytes) -> None:
        """A `vod.experiments.changed` message; one that does not decode drops the whole cache
        (the safe reading of an unknown change)."""
        try:
            event = ev.ExperimentChanged.FromString(payload)
        except DecodeError:
            _log.warning("experiments.changed_undecodable", size=len(payload))
            self.invalidate()
            return
        self.on_changed(event)

    def on_changed(self, event: ev.ExperimentChanged) -> None:
        """Apply a `vod.experiments.changed` event to the cache."""
        forced = event.change == ev.EXPERIMENT_CHANGE_FORCED and event.profile
        dropped = self.invalidate(event.profile if forced else "")
        _log.info(
            "experiments.cache_invalidated",
            experiment=event.experiment,
            change=ev.ExperimentChange.Name(event.change),
            profile=event.profile,
            dropped=dropped,
        )

    def record(
        self,
        *,
        profile: str,
        region: str,
        response_id: str,
        treatment: Treatment,
        response: pb.GetHomeResponse,
        artwork_shown: Sequence[str],
        metadata: Metadata,
    ) -> None:
        """Send one RecordExposures for the response in the background (nothing when no
        assignment applied)."""
        if not treatment.applied:
            return
        rows = [pb.RowKind.Name(r.kind) for r in response.rows]
        request = epb.RecordExposuresRequest(
            profile=profile, response_id=response_id, surface=SURFACE, region_code=region
        )
        for assignment in treatment.applied:
            exposure = request.exposures.add(
                experiment=assignment.experiment,
                variant=assignment.variant,
                rows=rows,
                forced=assignment.forced,
            )
            if treatment.artwork_experiment and "artwork" in assignment.parameters:
                exposure.artwork.extend(artwork_shown[:_MAX_ARTWORK])
        task = asyncio.get_running_loop().create_task(self._send(request, metadata))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send(self, request: epb.RecordExposuresRequest, metadata: Metadata) -> None:
        try:
            await self.source.record_exposures(request, metadata, self.settings.exposure_deadline_s)
        except SourceFailure as failure:
            result = "rejected" if failure.reason == CIRCUIT_OPEN else "failed"
            self.metrics.exposures.labels(result).inc()
            _log.warning(
                "experiments.exposure_failed",
                response_id=request.response_id,
                profile=request.profile,
                reason=failure.reason,
                code=failure.code.name if failure.code is not None else "",
            )
        except Exception:
            self.metrics.exposures.labels("failed").inc()
            _log.exception("experiments.exposure_failed", response_id=request.response_id)
        else:
            self.metrics.exposures.labels("recorded").inc()

    @property
    def pending(self) -> int:
        """Exposure calls still in flight."""
        return len(self._pending)

    async def drain(self, timeout_s: float) -> None:
        """Wait (at most `timeout_s`) for exposure calls in flight, then cancel the rest."""
        pending = set(self._pending)
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=timeout_s)
        for task in late:
            task.cancel()
        if late:
            await asyncio.gather(*late, return_exceptions=True)
