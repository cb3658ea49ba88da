"""Home feed benchmark: p50/p99 latency and QPS of GatewayService.GetHome against the gateway
service (`python -m gateway.home`, its own process, production deadlines) in front of the real
catalog, playback, recommendations and search services (each a process of its own; the seeding
before them runs in this process), on embedded Postgres and NATS, seeded with titles, a
transcoded clip and a viewer who watched part of it, with all
dependencies healthy and with recommendations hung (held by a proxy): once with the breaker on
(default thresholds) and once with it off, to show the per-row deadline. A bare grpc.aio server
answering GetHome with a canned response of the same size (its own process too) is the
baseline. Prints numbers, asserts nothing. Not through Envoy: the front door takes identity
only from verified tokens, which needs accounts and its JWKS (see search_bench.py for the Envoy
hop on its own).

    .venv/bin/python benchmarks/home_bench.py [--rounds 2000] [--concurrency 8] [--rate 50 ...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "gen" / "python")]

import grpc  # noqa: E402
from grpc_health.v1 import health_pb2_grpc  # noqa: E402
from vod.catalog.v1 import catalog_pb2 as cpb  # noqa: E402
from vod.catalog.v1 import catalog_pb2_grpc  # noqa: E402
from vod.gateway.v1 import gateway_pb2 as gpb  # noqa: E402
from vod.gateway.v1 import gateway_pb2_grpc  # noqa: E402
from vod.playback.v1 import playback_pb2 as ppb  # noqa: E402
from vod.playback.v1 import playback_pb2_grpc  # noqa: E402
from vod.search.v1 import search_pb2 as spb  # noqa: E402
from vod.search.v1 import search_pb2_grpc  # noqa: E402
from vod.transcoding.v1 import transcoding_pb2_grpc  # noqa: E402

from mesh.embedded import EmbeddedNats, EmbeddedPostgres, free_port  # noqa: E402
from services.runtime.clients import wait_serving as runtime_wait_serving  # noqa: E402

GENRES = ("Dramas", "Comedies", "Thrillers", "Documentaries", "Kids' TV")
RATINGS = (cpb.MATURITY_RATING_PG, cpb.MATURITY_RATING_PG_13, cpb.MATURITY_RATING_TV_14)


def stats(name: str, samples: list[float], elapsed: float) -> None:
    samples.sort()
    p50 = statistics.median(samples) * 1000
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1000
    print(f"  {name:<52} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  {len(samples) / elapsed:7.0f} QPS")


async def load(
    name: str, call: Callable[[], Awaitable[object]], rounds: int, concurrency: int
) -> None:
    for _ in range(20):  # warm-up
        await call()
    samples: list[float] = []
    counter = iter(range(rounds))

    async def worker() -> None:
        for _ in counter:
            t = time.perf_counter()
            await call()
            samples.append(time.perf_counter() - t)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    stats(f"{name} x{concurrency}", samples, time.perf_counter() - start)


async def paced(
    name: str, call: Callable[[], Awaitable[object]], rate: float, seconds: float
) -> None:
    """Open-loop load: `rate` requests a second whatever the latency (as users arrive), so the
    percentiles are those of a stated load, not of a saturated closed loop."""
    samples: list[float] = []

    async def one() -> None:
        t = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - t)

    tasks = []
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    stats(f"{name} @ {rate:.0f}/s", samples, time.perf_counter() - start)


async def wait_serving(address: str, timeout_s: float = 60.0) -> None:
    await runtime_wait_serving(address, timeout_s=timeout_s)


@asynccontextmanager
async def process(
    args: list[str], env: dict[str, str], address: str
) -> AsyncIterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL
    )
    try:
        await wait_serving(address)
        yield proc
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        proc.wait(15)


# -- the bare baseline ----------------------------------------------------------------------


async def bare_server(port: int, response_file: str) -> None:
    """A grpc.aio server answering GetHome with a canned response: transport and serialisation
    only, the floor under the gateway's numbers."""
    from grpc_health.v1 import health

    canned = gpb.GetHomeResponse.FromString(Path(response_file).read_bytes())

    class Bare(gateway_pb2_grpc.GatewayServiceServicer):
        async def GetHome(self, request: gpb.GetHomeRequest, context: object) -> object:
            return canned

    server = grpc.aio.server()
    gateway_pb2_grpc.add_GatewayServiceServicer_to_server(Bare(), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


# -- the mesh -------------------------------------------------------------------------------


async def seed(database: str, nats_url: str, root: Path, n_titles: int) -> tuple[str, list[str]]:
    """Titles through the catalog API, one transcoded clip, and a viewer who watched its first
    second (playback in-process with an in-memory accounts directory, for this step only).
    Returns the viewer's profile and the titles."""
    from services.catalog.server import running as catalog_running
    from services.playback.server import running as playback_running
    from services.transcoding.server import running as transcoding_running
    from services.transcoding.worker import run_worker
    from tests.catalog.conftest import catalog_settings
    from tests.playback.conftest import (
        InTestAccountsDirectory,
        TestEdge,
        _ingest,
        at,
        identity,
        playback_settings,
        start_request,
    )
    from tests.transcoding.conftest import transcoding_settings
    from tests.transcoding.helpers import make_video

    tc_settings = transcoding_settings(database, nats_url, root / "tc")
    async with (
        catalog_running(catalog_settings(database, nats_url), serve_metrics=False) as cat,
        transcoding_running(tc_settings, serve_metrics=False) as tcr,
        grpc.aio.insecure_channel(f"127.0.0.1:{cat.port}") as cat_channel,
        grpc.aio.insecure_channel(f"127.0.0.1:{tcr.port}") as tc_channel,
    ):
        catalog = catalog_pb2_grpc.CatalogServiceStub(cat_channel)
        titles = []
        for i in range(n_titles):
            title = cpb.Title(
                type=cpb.TITLE_TYPE_MOVIE,
                display_name=f"Bench Title {i}",
                synopsis=f"Synopsis {i}.",
                release_year=2000 + i % 25,
                maturity_rating=RATINGS[i % len(RATINGS)],  # type: ignore[arg-type]
                genres=[GENRES[i % len(GENRES)]],
            )
            title.artwork.add(kind=cpb.ARTWORK_KIND_THUMBNAIL, uri=f"https://img.example/{i}.jpg")
            title.availability.add(region_code="US").start_time.FromDatetime(
                datetime(2024, 1, 1 + i % 28, tzinfo=UTC)
            )
            created = await catalog.CreateTitle(
                cpb.CreateTitleRequest(title=title, title_id=f"bench-{i}")
            )
            titles.append(created.title.name)
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(tc_settings, stop, name="home-bench"))
        try:
            clip = make_video(root / "clip.mp4", seconds=4, size="320x240")
            tc = transcoding_pb2_grpc.TranscodingServiceStub(tc_channel)
            await _ingest(tc, catalog, clip, titles[0], "bench-0-1")
        finally:
            stop.set()
            await asyncio.wait_for(worker, 60)
        origin = f"http://127.0.0.1:{tcr.origin_port}"
        edge_secret = secrets.token_urlsafe(32)
        edge = TestEdge("US", edge_secret, origin)
        accounts = InTestAccountsDirectory()
        accounts.add_user("users/bench", "plans/standard")
        viewer = "users/bench/profiles/main"
        pb_settings = replace(
            playback_settings(
                database,
                nats_url,
                edges={"US": edge.url},
                origin=origin,
                catalog=f"127.0.0.1:{cat.port}",
                tc=f"127.0.0.1:{tcr.port}",
            ),
            edge_secret=edge_secret,
        )
        async with (
            playback_running(pb_settings, accounts=accounts, serve_metrics=False) as pbr,
            grpc.aio.insecure_channel(f"127.0.0.1:{pbr.port}") as pb_channel,
        ):
            playback = playback_pb2_grpc.PlaybackServiceStub(pb_channel)
            meta = identity(viewer)
            started = await playback.StartPlayback(start_request(viewer, titles[0]), metadata=meta)
            await playback.StopPlayback(
                ppb.StopPlaybackRequest(session=started.session.name, position=at(1.0)),
                metadata=meta,
            )
        await edge.stop()
    return viewer, titles


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="home-bench-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        with (
            EmbeddedPostgres(root / "pg", free_port(), fast=True) as pg,
            EmbeddedNats(root / "js", free_port(), monitor_port=free_port()) as nats_server,
        ):
            database = pg.create_database("home_bench")
            viewer, _titles = await seed(database, nats_server.url, root, args.titles)
            ports = {
                name: free_port() for name in ("catalog", "playback", "recommendations", "search")
            }
            addresses = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
            common = {
                "VOD_DATABASE_URL": database,
                "VOD_NATS_URL": nats_server.url,
                "VOD_LOG_LEVEL": "WARNING",
                **{f"VOD_{n.upper()}_ADDRESS": a for n, a in addresses.items()},
                **{f"VOD_{n.upper()}_GRPC_ADDRESS": a for n, a in addresses.items()},
                **{f"VOD_{n.upper()}_METRICS_ADDRESS": f"127.0.0.1:{free_port()}" for n in ports},
                "VOD_PLAYBACK_SECRET": secrets.token_urlsafe(32),
                "VOD_EDGE_SECRET": secrets.token_urlsafe(32),
                "VOD_PLAYBACK_HTTP_ADDRESS": f"127.0.0.1:{free_port()}",
                "VOD_ACCOUNTS_ADDRESS": "127.0.0.1:1",  # not used by ListContinueWatching
                "VOD_RECS_TRAIN_ON_START": "0",
                "VOD_SEARCH_DATA_DIR": str(root / "search"),
            }
            async with (
                process(["-m", "services.catalog"], common, addresses["catalog"]),
                process(["-m", "services.playback"], common, addresses["playback"]),
                process(
                    ["-m", "services.recommendations"], common, addresses["recommendations"]
                ) as recs,
                process(["-m", "services.search"], common, addresses["search"]),
                grpc.aio.insecure_channel(addresses["search"]) as search_channel,
            ):
                search_stub = search_pb2_grpc.SearchServiceStub(search_channel)
                while True:  # search indexed the titles and counted the play
                    hot = await search_stub.Trending(spb.TrendingRequest(region_code="US"))
                    fresh = await search_stub.NewReleases(
                        spb.NewReleasesRequest(region_code="US", page_size=args.titles)
                    )
                    if hot.titles and len(fresh.releases) == args.titles:
                        break
                    await asyncio.sleep(0.1)
                await bench(args, root, viewer, common, recs)


async def dependencies(
    args: argparse.Namespace,
    env: dict[str, str],
    sample: gpb.GetHomeResponse,
    meta: tuple[tuple[str, str], ...],
) -> None:
    """Each call GetHome makes, alone, straight at its service: where the time goes."""
    from vod.recommendations.v1 import recommendations_pb2 as rpb
    from vod.recommendations.v1 import recommendations_pb2_grpc

    profile = sample.rows[0].items[0].title and meta[0][1] + "/profiles/main"
    names = list(dict.fromkeys(i.title for r in sample.rows for i in r.items))
    async with (
        grpc.aio.insecure_channel(env["VOD_PLAYBACK_ADDRESS"]) as pb_ch,
        grpc.aio.insecure_channel(env["VOD_RECOMMENDATIONS_ADDRESS"]) as recs_ch,
        grpc.aio.insecure_channel(env["VOD_SEARCH_ADDRESS"]) as search_ch,
        grpc.aio.insecure_channel(env["VOD_CATALOG_ADDRESS"]) as cat_ch,
    ):
        playback = playback_pb2_grpc.PlaybackServiceStub(pb_ch)
        recs = recommendations_pb2_grpc.RecommendationsServiceStub(recs_ch)
        search = search_pb2_grpc.SearchServiceStub(search_ch)
        catalog = catalog_pb2_grpc.CatalogServiceStub(cat_ch)
        calls = {
            "playback ListContinueWatching": lambda: playback.ListContinueWatching(
                ppb.ListContinueWatchingRequest(profile=profile, page_size=20), metadata=meta
            ),
            "recommendations TOP_PICKS": lambda: recs.GetRecommendations(
                rpb.GetRecommendationsRequest(
                    profile=profile, row_kind=rpb.ROW_KIND_TOP_PICKS, region_code="US"
                ),
                metadata=meta,
            ),
            "search Trending": lambda: search.Trending(
                spb.TrendingRequest(region_code="US"), metadata=meta
            ),
            "search NewReleases": lambda: search.NewReleases(
                spb.NewReleasesRequest(region_code="US"), metadata=meta
            ),
            f"catalog BatchGetTitles ({len(names)} titles)": lambda: catalog.BatchGetTitles(
                cpb.BatchGetTitlesRequest(names=names), metadata=meta
            ),
        }
        for label, call in calls.items():
            await load(f"  {label}", call, max(args.rounds // 4, 100), 1)


async def bench(
    args: argparse.Namespace,
    root: Path,
    viewer: str,
    env: dict[str, str],
    recs: subprocess.Popen[bytes],
) -> None:
    from tests.playback.conftest import identity

    meta = identity(viewer)
    request = gpb.GetHomeRequest(profile=viewer)
    gateways = {}
    for label, extra in (
        ("breaker on", {}),
        ("breaker off", {"VOD_GATEWAY_BREAKER_FAILURES": "1000000000"}),
    ):
        port = free_port()
        gateways[label] = (
            f"127.0.0.1:{port}",
            {
                **env,
                **extra,
                "VOD_GATEWAY_GRPC_ADDRESS": f"127.0.0.1:{port}",
                "VOD_GATEWAY_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
            },
        )

    async def hung(label: str, stub: gateway_pb2_grpc.GatewayServiceStub, rounds: int) -> None:
        await stub.GetHome(request, metadata=meta, timeout=5)  # connections are up
        recs.send_signal(signal.SIGSTOP)
        try:
            await load(
                f"GetHome, recommendations SIGSTOPped, {label}",
                lambda: stub.GetHome(request, metadata=meta, timeout=5),
                rounds,
                args.concurrency,
            )
            reply = await stub.GetHome(request, metadata=meta, timeout=5)
            print(
                "    rows: "
                + ", ".join(
                    gpb.RowKind.Name(r.kind).removeprefix("ROW_KIND_")
                    + ("(degraded)" if r.degraded else "")
                    for r in reply.rows
                )
                + "; omitted: "
                + ", ".join(
                    f"{gpb.RowKind.Name(o.kind).removeprefix('ROW_KIND_')}={o.reason}"
                    for o in reply.omitted
                )
            )
        finally:
            recs.send_signal(signal.SIGCONT)

    address, gw_env = gateways["breaker on"]
    async with (
        process(["-m", "gateway.home"], gw_env, address),
        grpc.aio.insecure_channel(address) as channel,
    ):
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        sample = await stub.GetHome(request, metadata=meta, timeout=5)
        rows = ", ".join(
            f"{gpb.RowKind.Name(r.kind).removeprefix('ROW_KIND_')}:{len(r.items)}"
            + ("(degraded)" if r.degraded else "")
            for r in sample.rows
        )
        print(
            f"home: {len(sample.rows)} rows [{rows}], omitted {list(sample.omitted)}, "
            f"{sample.ByteSize()} bytes"
        )
        canned = root / "canned.binpb"
        canned.write_bytes(sample.SerializeToString())
        bare_port = free_port()
        async with (
            process(
                [__file__, "--bare-server", str(bare_port), str(canned)],
                {},
                f"127.0.0.1:{bare_port}",
            ),
            grpc.aio.insecure_channel(f"127.0.0.1:{bare_port}") as bare_channel,
        ):
            bare = gateway_pb2_grpc.GatewayServiceStub(bare_channel)
            for concurrency in (1, args.concurrency):
                await load(
                    "bare grpc.aio server, canned GetHome",
                    lambda: bare.GetHome(request, metadata=meta, timeout=5),
                    args.rounds,
                    concurrency,
                )
                await load(
                    "GetHome, all dependencies healthy",
                    lambda: stub.GetHome(request, metadata=meta, timeout=5),
                    args.rounds,
                    concurrency,
                )
        for rate in args.rate:
            await paced(
                "GetHome, all dependencies healthy, open loop",
                lambda: stub.GetHome(request, metadata=meta, timeout=5),
                rate,
                args.seconds,
            )
        await dependencies(args, env, sample, meta)
        await hung("breaker on", stub, args.rounds)
    address, gw_env = gateways["breaker off"]
    async with (
        process(["-m", "gateway.home"], gw_env, address),
        grpc.aio.insecure_channel(address) as channel,
    ):
        await hung(
            "breaker off", gateway_pb2_grpc.GatewayServiceStub(channel), max(args.rounds // 10, 50)
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--titles", type=int, default=60)
    parser.add_argument(
        "--rate", type=float, action="append", help="open-loop GetHome/s (repeatable)"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each open loop")
    parser.add_argument(
        "--bare-server", nargs=2, metavar=("PORT", "RESPONSE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    args.rate = args.rate or [25.0, 50.0, 100.0]
    if args.bare_server:
        asyncio.run(bare_server(int(args.bare_server[0]), args.bare_server[1]))
        return
    from services.runtime.logs import configure_logging

    configure_logging("home-bench", "WARNING")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
