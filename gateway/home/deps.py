"""The gateway's dependencies: playback, recommendations, search and catalog over gRPC, each
behind its own circuit breaker, every call with an explicit deadline and the caller's forwarded
identity. A call that cannot give an answer raises `SourceFailure` with the reason the home
response shows for the row ("DEADLINE_EXCEEDED", "DEPENDENCY_UNAVAILABLE", "CIRCUIT_OPEN",
"DEPENDENCY_ERROR"); nothing from a dependency's error message reaches our clients."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from vod.catalog.v1 import catalog_pb2 as cpb
from vod.catalog.v1 import catalog_pb2_grpc
from vod.experiments.v1 import experiments_pb2 as epb
from vod.experiments.v1 import experiments_pb2_grpc
from vod.playback.v1 import playback_pb2 as ppb
from vod.playback.v1 import playback_pb2_grpc
from vod.recommendations.v1 import recommendations_pb2 as rpb
from vod.recommendations.v1 import recommendations_pb2_grpc
from vod.search.v1 import search_pb2 as spb
from vod.search.v1 import search_pb2_grpc

from gateway.home.breaker import CircuitBreaker
from gateway.home.metrics import HomeMetrics
from services.runtime.clients import idempotent_methods
from services.runtime.logs import get_logger
from services.runtime.title_cache import TitleCache

__all__ = [
    "BATCH_LIMIT",
    "CIRCUIT_OPEN",
    "DEADLINE_EXCEEDED",
    "DEPENDENCY_ERROR",
    "DEPENDENCY_UNAVAILABLE",
    "CatalogSource",
    "Dependency",
    "ExperimentsSource",
    "Metadata",
    "PlaybackSource",
    "RecommendationsSource",
    "SearchSource",
    "SourceFailure",
    "open_dependency_channel",
]

_log = get_logger("gateway.deps")

T = TypeVar("T")
Metadata = Sequence[tuple[str, str]]

DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
DEPENDENCY_UNAVAILABLE = "DEPENDENCY_UNAVAILABLE"
CIRCUIT_OPEN = "CIRCUIT_OPEN"
DEPENDENCY_ERROR = "DEPENDENCY_ERROR"

BATCH_LIMIT = 100
"""Most names BatchGetTitles takes in one request."""

# Codes that say the dependency is unwell: they count towards opening its circuit. Anything else
# (INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, ...) is an answer from a live service.
_UNWELL = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.DATA_LOSS,
    grpc.StatusCode.UNIMPLEMENTED,
}


class SourceFailure(Exception):
    """A dependency gave no usable answer; `reason` is what the response says about the row."""

    def __init__(self, reason: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


def open_dependency_channel(
    target: str, service: Any, *, reconnect_backoff_max_s: float = 1.0
) -> grpc.aio.Channel:
    """A channel like `services.runtime.clients.open_channel` (retry UNAVAILABLE on idempotent
    methods) with a bounded reconnect backoff: gRPC's default grows to 120 s while a dependency is
    down, which would keep failing the breaker's probes long after the dependency is back. Every
    call here passes its own deadline, so no default deadline is needed."""
    names = [{"service": service.full_name, "method": m} for m in idempotent_methods(service)]
    config = {
        "methodConfig": [
            {
                "name": names,
                "retryPolicy": {
                    "maxAttempts": 2,
                    "initialBackoff": "0.01s",
                    "maxBackoff": "0.05s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
    backoff_ms = max(int(reconnect_backoff_max_s * 1000), 100)
    return grpc.aio.insecure_channel(
        target,
        options=[
            ("grpc.enable_retries", 1),
            ("grpc.service_config", json.dumps(config)),
            ("grpc.initial_reconnect_backoff_ms", min(100, backoff_ms)),
            ("grpc.min_reconnect_backoff_ms", min(100, backoff_ms)),
            ("grpc.max_reconnect_backoff_ms", backoff_ms),
        ],
    )


class Dependency:
    """One dependency: its breaker and its call accounting."""

    def __init__(self, name: str, breaker: CircuitBreaker, metrics: HomeMetrics) -> None:
        self.name = name
        self.breaker = breaker
        self._metrics = metrics

    def _count(self, method: str, result: str) -> None:
        self._metrics.dependency_calls.labels(self.name, method, result).inc()

    async def call(
        self, method: str, invoke: Callable[[float], Awaitable[T]], timeout_s: float
    ) -> T:
        """`invoke(timeout_s)` through the breaker. Raises SourceFailure."""
        if timeout_s <= 0.001:
            self._count(method, "deadline_exceeded")
            raise SourceFailure(DEADLINE_EXCEEDED, grpc.StatusCode.DEADLINE_EXCEEDED)
        if not self.breaker.allow():
            self._count(method, "rejected")
            raise SourceFailure(CIRCUIT_OPEN)
        try:
            result = await invoke(timeout_s)
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if code in _UNWELL:
                self.breaker.record_failure()
                deadline = code == grpc.StatusCode.DEADLINE_EXCEEDED
                self._count(method, "deadline_exceeded" if deadline else "unavailable")
                _log.warning(
                    "dependency.failed", dependency=self.name, method=method, code=code.name
                )
                raise SourceFailure(
                    DEADLINE_EXCEEDED if deadline else DEPENDENCY_UNAVAILABLE, code
                ) from None
            self.breaker.record_success()
            self._count(method, "error")
            raise SourceFailure(DEPENDENCY_ERROR, code) from exc
        except BaseException:  # cancelled by our caller: nothing learned about the dependency
            self.breaker.record_abandoned()
            raise
        self.breaker.record_success()
        self._count(method, "ok")
        return result


class PlaybackSource:
    def __init__(self, channel: grpc.aio.Channel, dependency: Dependency) -> None:
        self._stub = playback_pb2_grpc.PlaybackServiceStub(channel)
        self.dependency = dependency

    async def continue_watching(
        self, profile: str, page_size: int, metadata: Metadata, timeout_s: float
    ) -> list[ppb.ResumePoint]:
        async def invoke(timeout: float) -> ppb.ListContinueWatchingResponse:
            request = ppb.ListContinueWatchingRequest(profile=profile, page_size=page_size)
            return await self._stub.ListContinueWatching(
                request, timeout=timeout, metadata=metadata
            )

        response = await self.dependency.call("ListContinueWatching", invoke, timeout_s)
        return list(response.resume_points)


class RecommendationsSource:
    def __init__(self, channel: grpc.aio.Channel, dependency: Dependency) -> None:
        self._stub = recommendations_pb2_grpc.RecommendationsServiceStub(channel)
        self.dependency = dependency

    async def row(
        self,
        profile: str,
        kind: int,
        *,
        region: str,
        page_size: int,
        metadata: Metadata,
        timeout_s: float,
        seed_title: str = "",
    ) -> rpb.GetRecommendationsResponse:
        async def invoke(timeout: float) -> rpb.GetRecommendationsResponse:
            request = rpb.GetRecommendationsRequest(
                profile=profile,
                row_kind=kind,  # type: ignore[arg-type]
                region_code=region,
                seed_title=seed_title,
                page_size=page_size,
            )
            return await self._stub.GetRecommendations(request, timeout=timeout, metadata=metadata)

        response: rpb.GetRecommendationsResponse = await self.dependency.call(
            "GetRecommendations", invoke, timeout_s
        )
        return response


class SearchSource:
    """Trending and new releases: the same for every viewer of a region (the gateway applies
    each profile's maturity limit afterwards), so with `shared_ttl_s` > 0 an answer is kept that
    long and shared, and concurrent requests for the same row wait for one call instead of
    making their own. A failure is not kept: the next request asks again."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        dependency: Dependency,
        *,
        shared_ttl_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stub = search_pb2_grpc.SearchServiceStub(channel)
        self.dependency = dependency
        self._ttl_s = shared_ttl_s
        self._clock = clock
        self._kept: dict[tuple[str, str, int], tuple[float, list[spb.TitleSummary]]] = {}
        self._pending: dict[tuple[str, str, int], asyncio.Future[list[spb.TitleSummary]]] = {}

    async def trending(
        self, region: str, page_size: int, metadata: Metadata, timeout_s: float
    ) -> list[spb.TitleSummary]:
        async def invoke(timeout: float) -> spb.TrendingResponse:
            request = spb.TrendingRequest(region_code=region, page_size=page_size)
            return await self._stub.Trending(request, timeout=timeout, metadata=metadata)

        async def fetch() -> list[spb.TitleSummary]:
            response = await self.dependency.call("Trending", invoke, timeout_s)
            return [t.summary for t in response.titles]

        return await self._shared(("Trending", region, page_size), fetch, timeout_s)

    async def new_releases(
        self, region: str, page_size: int, metadata: Metadata, timeout_s: float
    ) -> list[spb.TitleSummary]:
        async def invoke(timeout: float) -> spb.NewReleasesResponse:
            request = spb.NewReleasesRequest(region_code=region, page_size=page_size)
            return await self._stub.NewReleases(request, timeout=timeout, metadata=metadata)

        async def fetch() -> list[spb.TitleSummary]:
            response = await self.dependency.call("NewReleases", invoke, timeout_s)
            return [r.summary for r in response.releases]

        return await self._shared(("NewReleases", region, page_size), fetch, timeout_s)

    async def _shared(
        self,
        key: tuple[str, str, int],
        fetch: Callable[[], Awaitable[list[spb.TitleSummary]]],
        timeout_s: float,
    ) -> list[spb.TitleSummary]:
        if self._ttl_s <= 0:
            return await fetch()
        kept = self._kept.get(key)
        if kept is not None and kept[0] > self._clock():
            return kept[1]
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(fetch())
            self._pending[key] = pending

            def settle(done: asyncio.Future[list[spb.TitleSummary]]) -> None:
                self._pending.pop(key, None)
                if not done.cancelled() and done.exception() is None:
                    self._kept[key] = (self._clock() + self._ttl_s, done.result())

            pending.add_done_callback(settle)
        # A waiter that gives up (its own deadline, its client gone) leaves the call running for
        # the others.
        try:
            return await asyncio.wait_for(asyncio.shield(pending), timeout_s)
        except TimeoutError:
            raise SourceFailure(DEADLINE_EXCEEDED, grpc.StatusCode.DEADLINE_EXCEEDED) from None


class ExperimentsSource:
    def __init__(self, channel: grpc.aio.Channel, dependency: Dependency) -> None:
        self._stub = experiments_pb2_grpc.ExperimentsServiceStub(channel)
        self.dependency = dependency

    async def assignments(
        self, profile: str, region: str, plan: str, metadata: Metadata, timeout_s: float
    ) -> list[epb.Assignment]:
        async def invoke(timeout: float) -> epb.GetAssignmentsResponse:
            request = epb.GetAssignmentsRequest(profile=profile, region_code=region, plan=plan)
            return await self._stub.GetAssignments(request, timeout=timeout, metadata=metadata)

        response = await self.dependency.call("GetAssignments", invoke, timeout_s)
        return list(response.assignments)

    async def record_exposures(
        self, request: epb.RecordExposuresRequest, metadata: Metadata, timeout_s: float
    ) -> int:
        async def invoke(timeout: float) -> epb.RecordExposuresResponse:
            return await self._stub.RecordExposures(request, timeout=timeout, metadata=metadata)

        response = await self.dependency.call("RecordExposures", invoke, timeout_s)
        return int(response.recorded)


def _missing_title(exc: grpc.aio.AioRpcError) -> str:
    """The title a NOT_FOUND from BatchGetTitles names in its ResourceInfo, or ""."""
    status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ResourceInfo.DESCRIPTOR):
            info = error_details_pb2.ResourceInfo()
            detail.Unpack(info)
            return info.resource_name
    return ""


class CatalogSource:
    def __init__(
        self,
        channel: grpc.aio.Channel,
        dependency: Dependency,
        cache: TitleCache | None = None,
    ) -> None:
        self._stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        self.dependency = dependency
        self.cache = cache
        """Titles kept between requests, dropped on the catalog's events (None: none kept)."""

    async def titles(
        self, names: Sequence[str], metadata: Metadata, timeout_s: float
    ) -> dict[str, cpb.Title]:
        """The titles of `names` (from the cache, the rest at most 100 per request, the
        requests in parallel), by name. Titles the catalog no longer has are left out:
        BatchGetTitles fails the whole batch with NOT_FOUND naming one of them, so that one is
        dropped and the batch asked again."""
        found: dict[str, cpb.Title] = {}
        wanted = list(names)
        generation = 0
        if self.cache is not None:
            found, wanted = self.cache.get_many(wanted)
            generation = self.cache.generation
            if not wanted:
                return found
        chunks = [list(wanted[i : i + BATCH_LIMIT]) for i in range(0, len(wanted), BATCH_LIMIT)]
        for titles in await asyncio.gather(*(self._chunk(c, metadata, timeout_s) for c in chunks)):
            found.update((t.name, t) for t in titles)
            if self.cache is not None:
                self.cache.put_many(titles, generation)
        return found

    async def _chunk(
        self, names: list[str], metadata: Metadata, timeout_s: float
    ) -> list[cpb.Title]:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        missing: set[str] = set()

        async def invoke(timeout: float) -> list[cpb.Title]:
            while True:
                wanted = [n for n in names if n not in missing]
                if not wanted:
                    return []
                try:
                    response = await self._stub.BatchGetTitles(
                        cpb.BatchGetTitlesRequest(names=wanted),
                        timeout=max(end - loop.time(), 0.001),
                        metadata=metadata,
                    )
                except grpc.aio.AioRpcError as exc:
                    gone = _missing_title(exc) if exc.code() == grpc.StatusCode.NOT_FOUND else ""
                    if not gone or gone in missing or gone not in wanted:
                        raise
                    missing.add(gone)
                    continue
                return list(response.titles)

        return await self.dependency.call("BatchGetTitles", invoke, timeout_s)
