"""Recommendations process: wiring of settings, database, events, trainer and the gRPC server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from vod.recommendations.v1 import recommendations_pb2, recommendations_pb2_grpc

from services.recommendations.config import RecsSettings, load_settings
from services.recommendations.consumers import Consumers
from services.recommendations.domain import RecommendationsDomain
from services.recommendations.ranking import Engine
from services.recommendations.repository import PostgresRecsRepository
from services.recommendations.servicer import RecommendationsServicer
from services.recommendations.signals import RateLimiter
from services.recommendations.trainer import ModelWatcher, TrainingScheduler
from services.runtime import lifecycle
from services.runtime.metrics import RpcMetrics
from services.runtime.server import (
    Registration,
    ServerHandle,
    build_server,
)

__all__ = ["MIGRATIONS", "SERVICE_NAME", "RecsDeps", "create_server", "main", "running"]

SERVICE_NAME = recommendations_pb2.DESCRIPTOR.services_by_name["RecommendationsService"].full_name
MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class RecsDeps:
    domain: RecommendationsDomain
    scheduler: TrainingScheduler | None = None
    watcher: ModelWatcher | None = None


def create_server(settings: RecsSettings, *, deps: RecsDeps) -> tuple[ServerHandle, int]:
    """The recommendations gRPC server bound to the configured address (not started)."""
    handle = build_server(
        settings.runtime.grpc_address,
        [
            Registration(
                SERVICE_NAME,
                recommendations_pb2_grpc.add_RecommendationsServiceServicer_to_server,
                RecommendationsServicer(deps.domain),
            )
        ],
        metrics=RpcMetrics.create(),
    )
    return handle, handle.port


@asynccontextmanager
async def running(
    settings: RecsSettings,
    *,
    serve_metrics: bool = True,
    handle_signals: bool = False,
    deps_out: list[RecsDeps] | None = None,
) -> AsyncIterator[ServerHandle]:
    """Open the pool and NATS, start consumers, relay, trainer and model watcher, start the
    server; close all on exit. `deps_out`, when given, receives the wiring (for tests and
    in-process benchmarks)."""
    runtime = settings.runtime
    async with AsyncExitStack() as stack:
        db = await lifecycle.open_database(stack, runtime, settings.schema, MIGRATIONS)
        bus, relay = await lifecycle.open_events(stack, runtime, "recommendations", db)
        repo = PostgresRecsRepository(db, on_commit=relay.notify if relay else lambda: None)
        engine = Engine(realtime_window_s=settings.realtime_window_s)
        scheduler = TrainingScheduler(
            repo,
            engine,
            settings.train,
            interval_s=settings.train_interval_s,
            after_events=settings.train_after_events,
            min_interactions=settings.train_min_interactions,
        )
        domain = RecommendationsDomain(
            repo,
            engine,
            RateLimiter(settings.rate_per_s, settings.rate_burst),
            on_new_event=scheduler.notify,
        )
        await domain.warm_up()
        watcher = ModelWatcher(repo, engine, poll_s=settings.model_poll_s)
        await watcher.check()
        lifecycle.background(stack, "training-scheduler", scheduler.run())
        lifecycle.background(stack, "model-watcher", watcher.run())
        if settings.train_on_start and not engine.model_version:
            scheduler.notify_now()
        if bus is not None:
            Consumers(domain).start(bus)
        deps = RecsDeps(domain, scheduler, watcher)
        if deps_out is not None:
            deps_out.append(deps)
        handle, _ = create_server(settings, deps=deps)
        await lifecycle.serve(
            stack, handle, runtime, serve_metrics=serve_metrics, handle_signals=handle_signals
        )
        yield handle


def main() -> None:
    lifecycle.run_service("recommendations", load_settings, running)


if __name__ == "__main__":
    main()
