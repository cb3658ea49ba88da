"""Gateway (home feed) process: settings, one channel and one circuit breaker per dependency
(experiments only when configured), the gRPC server and its metrics. Owns nothing durable: no
database; with experiments and NATS configured it follows `vod.experiments.changed` to keep its
assignment cache fresh (plain NATS, no durable consumer)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from vod.catalog.v1 import catalog_pb2
from vod.experiments.v1 import experiments_pb2
from vod.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from vod.playback.v1 import playback_pb2
from vod.recommendations.v1 import recommendations_pb2
from vod.search.v1 import search_pb2

from gateway.home.breaker import CircuitBreaker
from gateway.home.config import HomeSettings, load_settings
from gateway.home.deps import (
    CatalogSource,
    Dependency,
    ExperimentsSource,
    PlaybackSource,
    RecommendationsSource,
    SearchSource,
    open_dependency_channel,
)
from gateway.home.domain import HomeDomain, Sources, Timing
from gateway.home.experiments import CHANGED_SUBJECT, HomeExperiments
from gateway.home.metrics import HomeMetrics
from gateway.home.servicer import GatewayServicer
from gateway.reflection import add_to_server as add_public_reflection
from gateway.web import start_from_env as start_web_from_env
from services.runtime import lifecycle
from services.runtime.follow import follow_subjects
from services.runtime.logs import get_logger
from services.runtime.metrics import RpcMetrics
from services.runtime.server import Registration, ServerHandle, build_server
from services.runtime.title_cache import REMOVED_SUBJECT, UPDATED_SUBJECT, TitleCache

__all__ = [
    "SERVICE_NAME",
    "Running",
    "create_server",
    "main",
    "open_experiments",
    "open_sources",
    "running",
]

SERVICE_NAME = gateway_pb2.DESCRIPTOR.services_by_name["GatewayService"].full_name
_log = get_logger("gateway.server")


@dataclass
class Running:
    """What `running` yields: the server, the dependencies (their breakers) and the metrics."""

    handle: ServerHandle
    sources: Sources
    metrics: HomeMetrics
    experiments: HomeExperiments | None = None

    @property
    def port(self) -> int:
        return self.handle.port

    def breaker(self, dependency: str) -> CircuitBreaker:
        source = (
            self.experiments.source
            if dependency == "experiments" and self.experiments is not None
            else getattr(self.sources, dependency)
        )
        breaker: CircuitBreaker = source.dependency.breaker
        return breaker


def _dependency(
    stack: AsyncExitStack,
    settings: HomeSettings,
    metrics: HomeMetrics,
    clock: Callable[[], float],
    name: str,
    target: str,
    service: object,
) -> tuple[object, Dependency]:
    channel = open_dependency_channel(
        target, service, reconnect_backoff_max_s=settings.reconnect_backoff_max_s
    )
    stack.push_async_callback(channel.close)
    breaker = CircuitBreaker(
        name,
        failure_threshold=settings.breaker.failure_threshold,
        reset_timeout_s=settings.breaker.reset_timeout_s,
        clock=clock,
        on_state_change=metrics.on_breaker_change,
    )
    return channel, Dependency(name, breaker, metrics)


def open_experiments(
    stack: AsyncExitStack,
    settings: HomeSettings,
    metrics: HomeMetrics,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> HomeExperiments | None:
    """The experiments dependency (channel, breaker, assignment cache), or None when
    `VOD_EXPERIMENTS_ADDRESS` is unset. Exposure calls in flight get `exposure_deadline_s` to
    finish when the stack closes."""
    if not settings.experiments.enabled:
        return None
    channel, dependency = _dependency(
        stack,
        settings,
        metrics,
        clock,
        "experiments",
        settings.experiments.address,
        experiments_pb2.DESCRIPTOR.services_by_name["ExperimentsService"],
    )
    experiments = HomeExperiments(
        ExperimentsSource(channel, dependency),  # type: ignore[arg-type]
        settings.experiments,
        metrics,
        clock=clock,
    )
    # Registered after the channel's close, so it runs first: drain, then close.
    stack.push_async_callback(experiments.drain, settings.experiments.exposure_deadline_s)
    return experiments


def open_sources(
    stack: AsyncExitStack,
    settings: HomeSettings,
    metrics: HomeMetrics,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> Sources:
    """A channel and a breaker per dependency, closed with `stack`."""

    def dependency(name: str, target: str, service: object) -> tuple[object, Dependency]:
        return _dependency(stack, settings, metrics, clock, name, target, service)

    return Sources(
        playback=PlaybackSource(
            *dependency(
                "playback",
                settings.playback_address,
                playback_pb2.DESCRIPTOR.services_by_name["PlaybackService"],
            )  # type: ignore[arg-type]
        ),
        recommendations=RecommendationsSource(
            *dependency(
                "recommendations",
                settings.recommendations_address,
                recommendations_pb2.DESCRIPTOR.services_by_name["RecommendationsService"],
            )  # type: ignore[arg-type]
        ),
        search=SearchSource(
            *dependency(
                "search",
                settings.search_address,
                search_pb2.DESCRIPTOR.services_by_name["SearchService"],
            ),  # type: ignore[arg-type]
            shared_ttl_s=settings.shared_rows_ttl_s,
            clock=clock,
        ),
        catalog=CatalogSource(
            *dependency(
                "catalog",
                settings.catalog_address,
                catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"],
            )  # type: ignore[arg-type]
        ),
    )


def create_server(
    settings: HomeSettings,
    *,
    sources: Sources,
    rpc_metrics: RpcMetrics,
    metrics: HomeMetrics,
    experiments: HomeExperiments | None = None,
) -> tuple[ServerHandle, int]:
    """The gateway gRPC server bound to the configured address (not started)."""
    domain = HomeDomain(
        sources,
        Timing(
            row_deadline_s=settings.row_deadline_s,
            catalog_deadline_s=settings.catalog_deadline_s,
            budget_s=settings.budget_s,
        ),
        metrics,
        experiments=experiments,
    )
    handle = build_server(
        settings.runtime.grpc_address,
        [
            Registration(
                SERVICE_NAME,
                gateway_pb2_grpc.add_GatewayServiceServicer_to_server,
                GatewayServicer(domain, default_region=settings.default_region),
            )
        ],
        metrics=rpc_metrics,
    )
    return handle, handle.port


@asynccontextmanager
async def running(
    settings: HomeSettings,
    *,
    serve_metrics: bool = True,
    handle_signals: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> AsyncIterator[Running]:
    """Open the dependencies' channels, start the server (SERVING); close all on exit. `clock`
    drives the breakers' cool-downs (tests pass one they advance)."""
    async with AsyncExitStack() as stack:
        rpc_metrics = RpcMetrics.create()
        metrics = HomeMetrics.create(rpc_metrics.registry)
        sources = open_sources(stack, settings, metrics, clock=clock)
        experiments = open_experiments(stack, settings, metrics, clock=clock)
        handle, _ = create_server(
            settings,
            sources=sources,
            rpc_metrics=rpc_metrics,
            metrics=metrics,
            experiments=experiments,
        )
        if settings.runtime.nats_url:
            await _follow_events(stack, settings, sources, experiments, metrics, clock)
        # The front door's reflection: public services only (Envoy routes it here).
        add_public_reflection(handle.server)
        await lifecycle.serve(
            stack,
            handle,
            settings.runtime,
            serve_metrics=serve_metrics,
            handle_signals=handle_signals,
        )
        # The web app (gateway/web.py) on VOD_GATEWAY_HTTP_ADDRESS, when the launcher sets it.
        web_server = await start_web_from_env()
        if web_server is not None:
            stack.push_async_callback(web_server.stop)
        _log.info("gateway.ready", port=handle.port)
        yield Running(handle, sources, metrics, experiments)


async def _follow_events(
    stack: AsyncExitStack,
    settings: HomeSettings,
    sources: Sources,
    experiments: HomeExperiments | None,
    metrics: HomeMetrics,
    clock: Callable[[], float],
) -> None:
    """Keep the caches coherent with their owners' events: experiment assignments and, when
    enabled, catalog titles (the title cache is only used while its events are followed)."""
    titles = (
        TitleCache(
            settings.title_cache_ttl_s,
            settings.title_cache_size,
            metrics.title_cache_lookups,
            metrics.title_cache_invalidations,
            clock=clock,
        )
        if settings.title_cache_ttl_s > 0
        else None
    )
    handlers = {}
    if titles is not None:
        handlers[UPDATED_SUBJECT] = titles.on_updated
        handlers[REMOVED_SUBJECT] = titles.on_removed
    if experiments is not None:
        handlers[CHANGED_SUBJECT] = experiments.on_changed_payload
    if not handlers:
        return

    def on_reconnect() -> None:  # events may have been missed
        if titles is not None:
            titles.clear()
        if experiments is not None:
            experiments.invalidate()

    close = await follow_subjects(
        settings.runtime.nats_url, handlers, on_reconnect=on_reconnect, name="gateway"
    )
    if close is None:
        return  # no events: experiments fall back to their TTL, titles are not cached
    stack.push_async_callback(close)
    sources.catalog.cache = titles


def main() -> None:
    lifecycle.run_service("gateway", load_settings, running)


if __name__ == "__main__":
    main()
