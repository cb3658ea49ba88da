"""Recommendations fixtures: real Postgres and NATS (session fixtures of tests/conftest.py), the
real catalog server feeding titles through vod.catalog.* events, and the real recommendations
server on free ports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
import pytest
from vod.catalog.v1 import catalog_pb2 as cpb
from vod.catalog.v1 import catalog_pb2_grpc
from vod.recommendations.v1 import recommendations_pb2_grpc

from mesh.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from services.catalog.server import running as catalog_running
from services.recommendations.config import RecsSettings
from services.recommendations.model import TrainParams
from services.recommendations.server import RecsDeps
from services.recommendations.server import running as recs_running
from services.runtime.config import RuntimeSettings
from tests.catalog.conftest import catalog_settings

SMALL_MODEL = TrainParams(components=16, epochs=15, seed=5)

# A small catalog with known structure: two genre clusters, region-only and adult titles, a series.
GENRES = {"comedy": "Comedies", "doc": "Documentaries", "thriller": "Thrillers"}


@dataclass(frozen=True)
class TitleSpec:
    title_id: str
    genre: str
    regions: tuple[str, ...] = ("US", "GB")
    rating: int = cpb.MATURITY_RATING_PG
    kind: int = cpb.TITLE_TYPE_MOVIE
    people: tuple[str, ...] = ()


def _specs() -> list[TitleSpec]:
    specs = []
    for genre, crew in (
        ("comedy", ("Ann Laugh", "Bo Grin")),
        ("doc", ("Cy Fact", "Di True")),
        ("thriller", ("Ed Dark", "Fay Fear")),
    ):
        for i in range(12):
            specs.append(
                TitleSpec(
                    f"rt-{genre}-{i:02d}",
                    GENRES[genre],
                    people=(crew[i % 2],),
                    rating=cpb.MATURITY_RATING_R if genre == "thriller" else cpb.MATURITY_RATING_PG,
                )
            )
    specs += [TitleSpec(f"rt-jp-only-{i}", "Comedies", regions=("JP",)) for i in range(3)]
    specs.append(
        TitleSpec(
            "rt-series", "Comedies", kind=cpb.TITLE_TYPE_SERIES, rating=cpb.MATURITY_RATING_TV_PG
        )
    )
    return specs


SPECS = _specs()


def _title(spec: TitleSpec) -> cpb.Title:
    title = cpb.Title(
        type=spec.kind,
        display_name=spec.title_id.replace("-", " ").title(),
        release_year=2015,
        maturity_rating=spec.rating,
        genres=[spec.genre],
        countries=["United States"],
    )
    for person in spec.people:
        title.credits.add(person=person, role=cpb.CREDIT_ROLE_DIRECTOR)
    for region in spec.regions:
        title.availability.add(region_code=region).start_time.FromDatetime(
            datetime(2024, 1, 1, tzinfo=UTC)
        )
    return title


def recs_settings(database_url: str, nats_url: str) -> RecsSettings:
    return RecsSettings(
        runtime=RuntimeSettings(
            service="recommendations",
            grpc_address="127.0.0.1:0",
            metrics_address=f"127.0.0.1:{free_port()}",
            database_url=database_url,
            nats_url=nats_url,
            drain_grace_s=0.5,
        ),
        train_interval_s=3600.0,
        train_after_events=0,
        train_on_start=False,
        model_poll_s=0.2,
        rate_per_s=1.0,
        rate_burst=40,
        train=SMALL_MODEL,
    )


@dataclass
class RecsMesh:
    address: str
    settings: RecsSettings
    deps: RecsDeps
    catalog: catalog_pb2_grpc.CatalogServiceStub
    recs: recommendations_pb2_grpc.RecommendationsServiceStub
    nats_url: str


@pytest.fixture(scope="session")
async def recs_mesh(
    postgres: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RecsMesh]:
    """Own database and own NATS: the catalog streams of other suites (e.g. a full dataset
    import) would otherwise flow into this recommendations service. NATS is started here, not
    in a separate fixture, so it outlives the servers' shutdown (their drain needs it)."""
    database = postgres.create_database("recs_tests")
    data = tmp_path_factory.mktemp("recs-nats")
    with EmbeddedNats(data / "js", free_port(), monitor_port=free_port()) as nats_server:
        async for mesh in _mesh(database, nats_server):
            yield mesh


async def _mesh(database: str, nats_server: EmbeddedNats) -> AsyncIterator[RecsMesh]:
    settings = recs_settings(database, nats_server.url)
    deps_out: list[RecsDeps] = []
    async with catalog_running(
        catalog_settings(database, nats_server.url), serve_metrics=False
    ) as cat:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{cat.port}") as cat_channel:
            catalog = catalog_pb2_grpc.CatalogServiceStub(cat_channel)
            for spec in SPECS:
                try:
                    await catalog.CreateTitle(
                        cpb.CreateTitleRequest(title=_title(spec), title_id=spec.title_id)
                    )
                except grpc.aio.AioRpcError as exc:
                    if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
                        raise
            for season in (1,):
                await _create(
                    catalog,
                    cpb.Title(
                        type=cpb.TITLE_TYPE_SEASON,
                        display_name="Season 1",
                        parent="titles/rt-series",
                        number=season,
                    ),
                    "rt-series-s1",
                )
                for episode in (1, 2, 3):
                    await _create(
                        catalog,
                        cpb.Title(
                            type=cpb.TITLE_TYPE_EPISODE,
                            display_name=f"Episode {episode}",
                            parent="titles/rt-series-s1",
                            number=episode,
                        ),
                        f"rt-series-s1e{episode}",
                    )
            async with recs_running(settings, serve_metrics=False, deps_out=deps_out) as handle:
                deps = deps_out[0]
                for _ in range(300):  # the catalog events reach recommendations
                    if all(
                        deps.domain.engine.item(f"titles/{s.title_id}") for s in SPECS
                    ) and deps.domain.engine.item("titles/rt-series-s1e3"):
                        break
                    await asyncio.sleep(0.05)
                else:
                    raise AssertionError("catalog events did not reach recommendations")
                address = f"127.0.0.1:{handle.port}"
                async with grpc.aio.insecure_channel(address) as channel:
                    yield RecsMesh(
                        address,
                        settings,
                        deps,
                        catalog,
                        recommendations_pb2_grpc.RecommendationsServiceStub(channel),
                        nats_server.url,
                    )


async def _create(
    catalog: catalog_pb2_grpc.CatalogServiceStub, title: cpb.Title, title_id: str
) -> None:
    try:
        await catalog.CreateTitle(cpb.CreateTitleRequest(title=title, title_id=title_id))
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise
