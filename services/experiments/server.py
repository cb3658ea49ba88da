"""Experiments process: settings, database, events (the outbox relay and the playback/QoE
consumers), the in-memory assignment cache and the gRPC server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from vod.experiments.v1 import experiments_pb2, experiments_pb2_grpc

from services.experiments.config import ExperimentsSettings, load_settings
from services.experiments.consumers import Consumers
from services.experiments.domain import ExperimentsDomain, Policy
from services.experiments.repository import PostgresExperimentsRepository
from services.experiments.servicer import ExperimentsServicer
from services.runtime import lifecycle
from services.runtime.metrics import RpcMetrics
from services.runtime.server import Registration, ServerHandle, build_server

__all__ = ["MIGRATIONS", "SERVICE_NAME", "ExperimentsRuntime", "main", "running", "started"]

SERVICE_NAME = experiments_pb2.DESCRIPTOR.services_by_name["ExperimentsService"].full_name
MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class ExperimentsRuntime:
    handle: ServerHandle
    domain: ExperimentsDomain
    repository: PostgresExperimentsRepository


@asynccontextmanager
async def started(
    settings: ExperimentsSettings, *, serve_metrics: bool = True, handle_signals: bool = False
) -> AsyncIterator[ExperimentsRuntime]:
    runtime = settings.runtime
    async with AsyncExitStack() as stack:
        engine = await lifecycle.open_database(stack, runtime, settings.schema, MIGRATIONS)
        bus, relay = await lifecycle.open_events(stack, runtime, "experiments", engine)
        repository = PostgresExperimentsRepository(
            engine, on_commit=relay.notify if relay is not None else lambda: None
        )
        domain = ExperimentsDomain(
            repository,
            policy=Policy(holdout_percent=settings.holdout_percent, refresh_s=settings.refresh_s),
        )
        await domain.start()
        stack.push_async_callback(domain.stop)
        if bus is not None:
            Consumers(repository).start(bus)
        handle = build_server(
            runtime.grpc_address,
            [
                Registration(
                    SERVICE_NAME,
                    experiments_pb2_grpc.add_ExperimentsServiceServicer_to_server,
                    ExperimentsServicer(domain),
                )
            ],
            metrics=RpcMetrics.create(),
        )
        await lifecycle.serve(
            stack, handle, runtime, serve_metrics=serve_metrics, handle_signals=handle_signals
        )
        yield ExperimentsRuntime(handle, domain, repository)


@asynccontextmanager
async def running(
    settings: ExperimentsSettings, *, serve_metrics: bool = True, handle_signals: bool = False
) -> AsyncIterator[ServerHandle]:
    async with started(
        settings, serve_metrics=serve_metrics, handle_signals=handle_signals
    ) as service:
        yield service.handle


def main() -> None:
    lifecycle.run_service("experiments", load_settings, running)


if __name__ == "__main__":
    main()
