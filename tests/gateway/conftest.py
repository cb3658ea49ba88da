"""Gateway fixtures: the real catalog, transcoding (one tiny clip ingested, so playback has
something to play), playback, recommendations and search services on their own Postgres
database and NATS, a viewer who watched a quarter of that clip (continue watching, trending),
and a fresh gateway per test (fresh breakers and metrics) started with its production
`running()`. Search runs as a subprocess so tests can SIGSTOP and SIGKILL it; playback,
recommendations and catalog sit behind `FaultProxy`s that can hold or refuse calls."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import grpc
import pytest
from prometheus_client import CollectorRegistry
from vod.catalog.v1 import catalog_pb2 as cpb
from vod.catalog.v1 import catalog_pb2_grpc
from vod.gateway.v1 import gateway_pb2 as gpb
from vod.gateway.v1 import gateway_pb2_grpc
from vod.playback.v1 import playback_pb2 as ppb
from vod.playback.v1 import playback_pb2_grpc
from vod.recommendations.v1 import recommendations_pb2 as rpb
from vod.recommendations.v1 import recommendations_pb2_grpc
from vod.search.v1 import search_pb2 as spb
from vod.search.v1 import search_pb2_grpc
from vod.transcoding.v1 import transcoding_pb2_grpc

from gateway.home.config import BreakerSettings, HomeSettings
from gateway.home.server import Running
from gateway.home.server import running as gateway_running
from mesh.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from services.catalog.server import running as catalog_running
from services.playback.server import running as playback_running
from services.recommendations.server import RecsDeps
from services.recommendations.server import running as recs_running
from services.runtime.config import RuntimeSettings
from services.transcoding.server import running as transcoding_running
from services.transcoding.worker import run_worker
from tests.catalog.conftest import catalog_settings
from tests.gateway.faults import FaultProxy, SearchProcess
from tests.playback.conftest import (
    InTestAccountsDirectory,
    TestEdge,
    _ingest,
    at,
    identity,
    playback_settings,
    start_request,
    wait_for,
)
from tests.recommendations.conftest import recs_settings
from tests.transcoding.conftest import transcoding_settings
from tests.transcoding.helpers import make_video

REGIONS = ("US", "GB")
MOVIE = "titles/gw-movie"


@dataclass(frozen=True)
class Seed:
    title_id: str
    rating: int
    genres: tuple[str, ...]
    year: int
    regions: tuple[str, ...] = REGIONS
    since: datetime = datetime(2024, 1, 1, tzinfo=UTC)


SEEDS = (
    Seed("gw-movie", cpb.MATURITY_RATING_PG_13, ("Dramas",), 2020),
    Seed("gw-drama-1", cpb.MATURITY_RATING_TV_14, ("Dramas",), 2019),
    Seed("gw-drama-2", cpb.MATURITY_RATING_PG_13, ("Dramas",), 2021),
    Seed("gw-comedy-1", cpb.MATURITY_RATING_PG, ("Comedies",), 2018),
    Seed("gw-comedy-2", cpb.MATURITY_RATING_TV_PG, ("Comedies",), 2022),
    Seed("gw-kids-1", cpb.MATURITY_RATING_TV_Y, ("Kids' TV",), 2023),
    Seed("gw-thriller-1", cpb.MATURITY_RATING_R, ("Thrillers",), 2017),
    Seed("gw-thriller-2", cpb.MATURITY_RATING_TV_MA, ("Thrillers", "Dramas"), 2016),
    Seed(
        "gw-us-only",
        cpb.MATURITY_RATING_PG,
        ("Comedies",),
        2024,
        ("US",),
        datetime(2025, 1, 1, tzinfo=UTC),
    ),
    Seed(
        "gw-gb-only",
        cpb.MATURITY_RATING_PG,
        ("Comedies",),
        2024,
        ("GB",),
        datetime(2025, 1, 1, tzinfo=UTC),
    ),
)


def artwork_of(title_id: str) -> tuple[str, str]:
    """(thumbnail, poster) URLs of a seeded title."""
    return (
        f"https://img.example/{title_id}/thumb.jpg",
        f"https://img.example/{title_id}/poster.jpg",
    )


def _title(seed: Seed) -> cpb.Title:
    thumb, poster = artwork_of(seed.title_id)
    title = cpb.Title(
        type=cpb.TITLE_TYPE_MOVIE,
        display_name=seed.title_id.replace("-", " ").title(),
        synopsis=f"The story of {seed.title_id}.",
        release_year=seed.year,
        maturity_rating=seed.rating,  # type: ignore[arg-type]
        genres=list(seed.genres),
        countries=["United States"],
    )
    title.artwork.add(kind=cpb.ARTWORK_KIND_POSTER, uri=poster)
    title.artwork.add(kind=cpb.ARTWORK_KIND_THUMBNAIL, uri=thumb)
    for region in seed.regions:
        title.availability.add(region_code=region).start_time.FromDatetime(seed.since)
    return title


class FakeClock:
    """The breakers' clock: tests move it past a cool-down instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class GatewayMesh:
    viewer: str  # the profile who watched a quarter of MOVIE
    resume: ppb.ResumePoint  # what playback says about it
    catalog_address: str
    playback: FaultProxy
    recommendations: FaultProxy
    catalog: FaultProxy
    search: SearchProcess
    recs_deps: RecsDeps
    accounts: InTestAccountsDirectory
    search_stub: search_pb2_grpc.SearchServiceStub
    recs_stub: recommendations_pb2_grpc.RecommendationsServiceStub
    catalog_stub: catalog_pb2_grpc.CatalogServiceStub
    nats_url: str = ""
    """The NATS the catalog publishes its events on."""
    transcoding_address: str = ""
    """The real transcoding service MOVIE was encoded by."""

    def proxies(self) -> dict[str, FaultProxy]:
        return {
            "playback": self.playback,
            "recommendations": self.recommendations,
            "catalog": self.catalog,
        }


@pytest.fixture(scope="session")
async def gw_mesh(
    postgres: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[GatewayMesh]:
    database = postgres.create_database("gateway_tests")
    root = tmp_path_factory.mktemp("gateway")
    with EmbeddedNats(root / "js", free_port(), monitor_port=free_port()) as nats_server:
        tc_settings = transcoding_settings(database, nats_server.url, root / "tc")
        recs_out: list[RecsDeps] = []
        async with (
            catalog_running(
                catalog_settings(database, nats_server.url), serve_metrics=False
            ) as cat,
            transcoding_running(tc_settings, serve_metrics=False) as tcr,
            grpc.aio.insecure_channel(f"127.0.0.1:{cat.port}") as cat_channel,
            grpc.aio.insecure_channel(f"127.0.0.1:{tcr.port}") as tc_channel,
        ):
            catalog_address = f"127.0.0.1:{cat.port}"
            catalog = catalog_pb2_grpc.CatalogServiceStub(cat_channel)
            for seed in SEEDS:
                await catalog.CreateTitle(
                    cpb.CreateTitleRequest(title=_title(seed), title_id=seed.title_id)
                )
            stop = asyncio.Event()
            worker = asyncio.create_task(run_worker(tc_settings, stop, name="gateway-tests"))
            try:
                clip = make_video(root / "movie.mp4", seconds=4, size="320x240")
                tc = transcoding_pb2_grpc.TranscodingServiceStub(tc_channel)
                await _ingest(tc, catalog, clip, MOVIE, "gw-movie-1")
            finally:
                stop.set()
                await asyncio.wait_for(worker, 60)
            origin = f"http://127.0.0.1:{tcr.origin_port}"
            edge_secret = secrets.token_urlsafe(32)
            edges = {region: TestEdge(region, edge_secret, origin) for region in REGIONS}
            search = SearchProcess(
                root, nats_url=nats_server.url, catalog=catalog_address, data_dir=root / "search"
            )
            accounts = InTestAccountsDirectory()
            pb_settings = replace(
                playback_settings(
                    database,
                    nats_server.url,
                    edges={r: e.url for r, e in edges.items()},
                    origin=origin,
                    catalog=catalog_address,
                    tc=f"127.0.0.1:{tcr.port}",
                ),
                edge_secret=edge_secret,
            )
            await search.start()
            try:
                async with (
                    playback_running(pb_settings, accounts=accounts, serve_metrics=False) as pbr,
                    recs_running(
                        recs_settings(database, nats_server.url),
                        serve_metrics=False,
                        deps_out=recs_out,
                    ) as recs,
                    grpc.aio.insecure_channel(f"127.0.0.1:{pbr.port}") as pb_channel,
                    grpc.aio.insecure_channel(search.address) as search_channel,
                    grpc.aio.insecure_channel(f"127.0.0.1:{recs.port}") as recs_channel,
                ):
                    proxies = [
                        FaultProxy("playback", f"127.0.0.1:{pbr.port}"),
                        FaultProxy("recommendations", f"127.0.0.1:{recs.port}"),
                        FaultProxy("catalog", catalog_address),
                    ]
                    for proxy in proxies:
                        await proxy.start()
                    try:
                        mesh = GatewayMesh(
                            viewer="",
                            resume=ppb.ResumePoint(),
                            catalog_address=catalog_address,
                            playback=proxies[0],
                            recommendations=proxies[1],
                            catalog=proxies[2],
                            search=search,
                            recs_deps=recs_out[0],
                            accounts=accounts,
                            search_stub=search_pb2_grpc.SearchServiceStub(search_channel),
                            recs_stub=recommendations_pb2_grpc.RecommendationsServiceStub(
                                recs_channel
                            ),
                            catalog_stub=catalog,
                            nats_url=nats_server.url,
                            transcoding_address=f"127.0.0.1:{tcr.port}",
                        )
                        await _watch(mesh, playback_pb2_grpc.PlaybackServiceStub(pb_channel))
                        yield mesh
                    finally:
                        for proxy in proxies:
                            await proxy.close()
            finally:
                await search.stop()


async def _watch(mesh: GatewayMesh, playback: playback_pb2_grpc.PlaybackServiceStub) -> None:
    """A viewer watches the first second of MOVIE; wait until search and recommendations know
    every title and search counts the play as trending."""
    user = f"users/gw{secrets.token_hex(4)}"
    mesh.accounts.add_user(user, "plans/standard")
    mesh.viewer = f"{user}/profiles/main"
    meta = identity(mesh.viewer)
    started = await playback.StartPlayback(start_request(mesh.viewer, MOVIE), metadata=meta)
    stopped = await playback.StopPlayback(
        ppb.StopPlaybackRequest(session=started.session.name, position=at(1.0)), metadata=meta
    )
    mesh.resume = stopped.resume_point
    names = {f"titles/{s.title_id}" for s in SEEDS}

    async def ready() -> bool:
        known = all(mesh.recs_deps.domain.engine.item(n) for n in names)
        found = await mesh.search_stub.Search(
            spb.SearchRequest(filter=spb.SearchFilter(region_code="US"), page_size=50)
        )
        indexed = {h.summary.title for h in found.hits}
        trending = await mesh.search_stub.Trending(spb.TrendingRequest(region_code="US"))
        hot = [t.summary.title for t in trending.titles]
        return known and names - {"titles/gw-gb-only"} <= indexed and hot == [MOVIE]

    await wait_for(ready, timeout=60)


# -- the gateway under test ------------------------------------------------------------------

TEST_TIMING = {"row_deadline_s": 0.75, "catalog_deadline_s": 0.75, "budget_s": 2.0}
"""Deadlines for tests: every service runs in this one process and event loop (search aside),
so the production 150 ms would measure the test harness (and a busy machine), not the
gateway. A hung dependency still shows: it would hold a call forever."""


def gateway_settings(mesh: GatewayMesh, **overrides: object) -> HomeSettings:
    settings = HomeSettings(
        runtime=RuntimeSettings(
            service="gateway",
            grpc_address="127.0.0.1:0",
            metrics_address=f"127.0.0.1:{free_port()}",
            drain_grace_s=0.2,
        ),
        playback_address=mesh.playback.address,
        recommendations_address=mesh.recommendations.address,
        search_address=mesh.search.address,
        catalog_address=mesh.catalog.address,
        breaker=BreakerSettings(failure_threshold=2, reset_timeout_s=30.0),
        reconnect_backoff_max_s=0.1,
        shared_rows_ttl_s=0.0,  # every home asks search (test_home.py covers sharing)
        **TEST_TIMING,  # type: ignore[arg-type]
    )
    return replace(settings, **overrides)  # type: ignore[arg-type]


@dataclass
class Gateway:
    run: Running
    stub: gateway_pb2_grpc.GatewayServiceStub
    clock: FakeClock
    settings: HomeSettings

    @property
    def registry(self) -> CollectorRegistry:
        return self.run.handle.metrics.registry

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def gateway(gw_mesh: GatewayMesh) -> AsyncIterator[Gateway]:
    clock = FakeClock()
    settings = gateway_settings(gw_mesh)
    async with (
        gateway_running(settings, serve_metrics=False, clock=clock) as run,
        grpc.aio.insecure_channel(f"127.0.0.1:{run.port}") as channel,
    ):
        yield Gateway(run, gateway_pb2_grpc.GatewayServiceStub(channel), clock, settings)


@pytest.fixture(autouse=True)
def _healthy_dependencies(gw_mesh: GatewayMesh) -> Iterator[None]:
    """Whatever a test broke is mended for the next one (release held calls)."""
    yield
    for proxy in gw_mesh.proxies().values():
        proxy.release()


def home_request(profile: str, **kw: object) -> gpb.GetHomeRequest:
    return gpb.GetHomeRequest(profile=profile, **kw)  # type: ignore[arg-type]


__all__ = [
    "MOVIE",
    "SEEDS",
    "FakeClock",
    "Gateway",
    "GatewayMesh",
    "artwork_of",
    "gateway_settings",
    "home_request",
    "identity",
    "rpb",
]
