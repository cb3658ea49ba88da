"""Playback fixtures: own Postgres database and NATS, the REAL catalog, transcoding and
licensing servers (an in-process transcode worker ingests three tiny generated clips once per
session, one of them ENCRYPTED with content keys from licensing), a test edge per region, an
in-test accounts directory for playback (a real, empty accounts server answers licensing's device
checks), and the playback server through its production `running()`."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import httpx
import pytest
from aiohttp import web
from vod.accounts.v1 import accounts_pb2 as apb
from vod.catalog.v1 import catalog_pb2 as cpb
from vod.catalog.v1 import catalog_pb2_grpc
from vod.licensing.v1 import licensing_pb2_grpc
from vod.playback.v1 import playback_pb2 as pb
from vod.playback.v1 import playback_pb2_grpc
from vod.transcoding.v1 import transcoding_pb2 as tpb
from vod.transcoding.v1 import transcoding_pb2_grpc

from mesh.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from services.accounts.server import started as accounts_started
from services.catalog.server import running as catalog_running
from services.licensing.config import LicensingSettings
from services.licensing.envelope import MasterKeyRing, new_master_key
from services.licensing.server import running as licensing_running
from services.playback.config import PlaybackSettings
from services.playback.deps import Metadata
from services.playback.server import Running
from services.playback.server import running as playback_running
from services.runtime import playback_tokens
from services.runtime.config import RuntimeSettings
from services.transcoding.server import running as transcoding_running
from services.transcoding.worker import run_worker
from tests.accounts.conftest import accounts_settings
from tests.catalog.conftest import catalog_settings
from tests.transcoding.conftest import transcoding_settings
from tests.transcoding.helpers import create_job, make_video, upload, wait_job

REGIONS = ("US", "GB")

PLANS = (
    apb.Plan(name="plans/basic", display_name="Basic", max_streams=1, max_resolution=720),
    apb.Plan(name="plans/sd", display_name="SD (test)", max_streams=2, max_resolution=360),
    apb.Plan(name="plans/standard", display_name="Standard", max_streams=2, max_resolution=1080),
    apb.Plan(name="plans/premium", display_name="Premium", max_streams=4, max_resolution=2160),
)


class InTestAccountsDirectory:
    """TEST-ONLY implementation of playback's `AccountsDirectory` Protocol: users, profiles and
    plans in memory. Stands in for the accounts server, which is being built in parallel;
    catalog and transcoding are the real servers."""

    def __init__(self) -> None:
        self.users: dict[str, apb.User] = {}
        self.profiles: dict[str, apb.Profile] = {}
        self.plans = list(PLANS)
        self.calls: list[tuple[str, str]] = []

    def add_user(self, user: str, plan: str, profiles: dict[str, int] | None = None) -> None:
        self.users[user] = apb.User(name=user, plan=plan)
        for profile_id, limit in (profiles or {"main": 0}).items():
            name = f"{user}/profiles/{profile_id}"
            self.profiles[name] = apb.Profile(name=name, maturity_limit=limit)  # type: ignore[arg-type]

    async def get_profile(self, name: str, metadata: Metadata = ()) -> apb.Profile | None:
        self.calls.append(("GetProfile", name))
        return self.profiles.get(name)

    async def get_user(self, name: str, metadata: Metadata = ()) -> apb.User | None:
        self.calls.append(("GetUser", name))
        return self.users.get(name)

    async def list_plans(self) -> list[apb.Plan]:
        self.calls.append(("ListPlans", ""))
        return list(self.plans)


# -- a test edge: what the nginx edge does, in a few lines ------------------------------------


class TestEdge:
    """Checks the secure_link signature and expiry, caches objects (key without the token),
    pulls misses from the origin, and says HIT or MISS in X-Cache-Status."""

    __test__ = False

    def __init__(self, region: str, secret: str, origin: str) -> None:
        self.region = region
        self.secret = secret
        self.origin = origin
        self.cache: dict[str, bytes] = {}
        self.refused = 0
        self.served: list[str] = []  # paths served (hit or miss), in order
        self.runner: web.AppRunner | None = None
        self.port = free_port()
        self.client = httpx.AsyncClient(timeout=10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, request: web.Request) -> web.Response:
        path = request.raw_path.split("?", 1)[0]
        match = playback_tokens.EDGE_PATH.match(path)
        query = request.query
        if match is None or match["region"] != self.region:
            return web.Response(status=404)
        try:
            expires = int(query.get("e", ""))
            expected = playback_tokens.edge_signature(
                self.secret,
                region=match["region"],
                title=match["title"],
                session=query.get("s", ""),
                expires=expires,
            )
        except ValueError:
            self.refused += 1
            return web.Response(status=403)
        if query.get("t") != expected or expires < time.time():
            self.refused += 1
            return web.Response(status=403)
        key = path
        self.served.append(path)
        if key in self.cache:
            return web.Response(body=self.cache[key], headers={"X-Cache-Status": "HIT"})
        upstream = (
            f"{self.origin}/titles/{match['title']}/renditions/{match['media']}/"
            f"{match['track']}/{match['file']}"
        )
        reply = await self.client.get(upstream)
        if reply.status_code != 200:
            return web.Response(status=reply.status_code)
        self.cache[key] = reply.content
        return web.Response(body=reply.content, headers={"X-Cache-Status": "MISS"})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        await self.client.aclose()


# -- the mesh ---------------------------------------------------------------------------------


@dataclass
class Media:
    title: str
    asset: tpb.MediaAsset


@dataclass
class PlaybackMesh:
    settings: PlaybackSettings
    running: Running
    playback: playback_pb2_grpc.PlaybackServiceStub
    catalog: catalog_pb2_grpc.CatalogServiceStub
    accounts: InTestAccountsDirectory
    edges: dict[str, TestEdge]
    origin: str
    nats_url: str
    movie: Media  # 480p source, PREVIEW ladder: 480p, 360p, 240p
    short: Media  # a second title with media (240p)
    locked: Media  # ENCRYPTED, 768p (HD key) and 360p (SD key)
    licensing: licensing_pb2_grpc.LicensingServiceStub  # the real licensing server
    http: httpx.AsyncClient
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def play_base(self) -> str:
        return f"http://127.0.0.1:{self.running.http_port}"

    def user(self, plan: str = "plans/standard", profiles: dict[str, int] | None = None) -> str:
        """A fresh user (so tests never share stream slots) with the given plan."""
        user = f"users/u{secrets.token_hex(5)}"
        self.accounts.add_user(user, plan, profiles)
        return user


def identity(
    profile: str,
    *,
    plan: str = "plans/standard",
    region: str = "US",
    maturity: str = "",
    roles: str = "viewer",
    scoped: bool = True,
) -> tuple[tuple[str, str], ...]:
    """Call metadata as the front door sets it for a verified (profile-scoped) token."""
    user = profile.split("/profiles/")[0]
    pairs = [("x-vod-user", user), ("x-vod-plan", plan), ("x-vod-roles", roles)]
    if scoped:
        pairs.append(("x-vod-profile", profile))
        if maturity:
            pairs.append(("x-vod-maturity", maturity))
    if region:
        pairs.append(("x-vod-region", region))
    return tuple(pairs)


def playback_settings(
    database: str, nats_url: str, *, edges: dict[str, str], origin: str, catalog: str, tc: str
) -> PlaybackSettings:
    http_port = free_port()
    return PlaybackSettings(
        runtime=RuntimeSettings(
            service="playback",
            grpc_address="127.0.0.1:0",
            metrics_address=f"127.0.0.1:{free_port()}",
            database_url=database,
            nats_url=nats_url,
            drain_grace_s=0.5,
        ),
        playback_secret=secrets.token_bytes(32),
        edge_secret=secrets.token_urlsafe(32),
        edges=tuple(edges.items()),
        http_address=f"127.0.0.1:{http_port}",
        public_url=f"http://127.0.0.1:{http_port}",
        origin_url=origin,
        catalog_address=catalog,
        transcoding_address=tc,
        accounts_address="127.0.0.1:1",  # unused: the in-test directory is injected
        heartbeat_s=10.0,
        flush_interval_s=0.05,
        sweep_interval_s=0.1,
    )


def since_2024() -> cpb.AvailabilityWindow:
    window = cpb.AvailabilityWindow()
    window.start_time.FromDatetime(datetime(2024, 1, 1, tzinfo=UTC))
    return window


async def create_title(
    catalog: catalog_pb2_grpc.CatalogServiceStub,
    title_id: str,
    *,
    rating: int = cpb.MATURITY_RATING_PG_13,
    regions: tuple[str, ...] = REGIONS,
    starts: datetime | None = None,
) -> str:
    title = cpb.Title(
        type=cpb.TITLE_TYPE_MOVIE,
        display_name=title_id.replace("-", " ").title(),
        release_year=2020,
        maturity_rating=rating,  # type: ignore[arg-type]
        genres=["Dramas"],
    )
    for region in regions:
        window = title.availability.add(region_code=region)
        window.start_time.FromDatetime(starts or datetime(2024, 1, 1, tzinfo=UTC))
    await catalog.CreateTitle(cpb.CreateTitleRequest(title=title, title_id=title_id))
    return f"titles/{title_id}"


async def wait_for(
    condition: Callable[[], Awaitable[object]], timeout: float = 30.0, every: float = 0.05
) -> object:
    """Poll `condition` until it returns something truthy; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = await condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(every)


async def _ingest(
    tc: transcoding_pb2_grpc.TranscodingServiceStub,
    catalog: catalog_pb2_grpc.CatalogServiceStub,
    source: Path,
    title: str,
    job_id: str,
) -> Media:
    up = await upload(tc, source, title, f"up-{job_id}")
    job = await create_job(tc, up.name, job_id, ladder=tpb.LADDER_PRESET_PREVIEW)
    job, _ = await wait_job(tc, job.name, timeout=240)
    assert job.state == tpb.JOB_STATE_SUCCEEDED, job

    async def ready() -> bool:
        got = (await catalog.GetTitle(cpb.GetTitleRequest(name=title))).title
        return got.media.state == cpb.MEDIA_STATE_READY

    await wait_for(ready, timeout=60)
    return Media(title, job.media_asset)


PACKAGER_SECRET = "packager-secret-for-playback-tests"
LICENSE_PUBLIC_URL = "https://gateway.test:8443"
"""Where the tests' licence URLs and HLS key URIs point (`VOD_LICENSE_PUBLIC_URL`)."""
DRM_SIGNAL = ("widevine", "playready")
"""`VOD_DRM_SIGNAL` of the tests' playback server."""
LOCKED_LADDER = (768, 360)
"""The encrypted clip's rungs: 768 lines is an HD-class key, 360 an SD-class one."""


def licensing_settings(
    database: str,
    nats_url: str,
    *,
    playback_secret: bytes,
    playback: str,
    catalog: str,
    accounts: str,
) -> LicensingSettings:
    return LicensingSettings(
        runtime=RuntimeSettings(
            service="licensing",
            grpc_address="127.0.0.1:0",
            metrics_address=f"127.0.0.1:{free_port()}",
            database_url=database,
            nats_url=nats_url,
            drain_grace_s=0.5,
        ),
        master_keys=MasterKeyRing((new_master_key("mk-playback-tests"),)),
        playback_secret=playback_secret,
        packager_secret=PACKAGER_SECRET.encode(),
        playback_address=playback,
        catalog_address=catalog,
        accounts_address=accounts,
    )


async def _ingest_locked(
    tc: transcoding_pb2_grpc.TranscodingServiceStub,
    catalog: catalog_pb2_grpc.CatalogServiceStub,
    source: Path,
    title: str,
) -> Media:
    """The encrypted clip: CENC for DASH and AES-128 copies for HLS, keys from licensing."""
    up = await upload(tc, source, title, "up-pb-locked-1")
    renditions = [
        tpb.RenditionSpec(height=h, bitrate_bps=bps)
        for h, bps in zip(LOCKED_LADDER, (1_200_000, 400_000), strict=True)
    ]
    job = await create_job(tc, up.name, "pb-locked-1", renditions=renditions, encrypt=True)
    job, _ = await wait_job(tc, job.name, timeout=240)
    assert job.state == tpb.JOB_STATE_SUCCEEDED, job

    async def ready() -> bool:
        got = (await catalog.GetTitle(cpb.GetTitleRequest(name=title))).title
        return got.media.state == cpb.MEDIA_STATE_READY

    await wait_for(ready, timeout=60)
    return Media(title, job.media_asset)


@pytest.fixture(scope="session")
async def pb_mesh(
    postgres: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[PlaybackMesh]:
    """Own database and NATS so other suites' events never reach these servers. NATS is
    started first so it outlives the servers' shutdown (their drain needs it). The real
    licensing server (with a real, empty accounts server for its device checks) gives the
    packager its content keys and asks this playback server's GetSession when licensing."""
    database = postgres.create_database("playback_tests")
    root = tmp_path_factory.mktemp("playback")
    playback_secret = secrets.token_bytes(32)
    playback_grpc = f"127.0.0.1:{free_port()}"
    with EmbeddedNats(root / "js", free_port(), monitor_port=free_port()) as nats_server:
        async with AsyncExitStack() as stack:
            cat = await stack.enter_async_context(
                catalog_running(catalog_settings(database, nats_server.url), serve_metrics=False)
            )
            acc = await stack.enter_async_context(
                accounts_started(accounts_settings(database), serve_metrics=False)
            )
            lic = await stack.enter_async_context(
                licensing_running(
                    licensing_settings(
                        database,
                        nats_server.url,
                        playback_secret=playback_secret,
                        playback=playback_grpc,
                        catalog=f"127.0.0.1:{cat.port}",
                        accounts=f"127.0.0.1:{acc.handle.port}",
                    ),
                    serve_metrics=False,
                )
            )
            tc_settings = transcoding_settings(
                database,
                nats_server.url,
                root / "tc",
                licensing_address=f"127.0.0.1:{lic.port}",
                packager_secret=PACKAGER_SECRET,
            )
            tcr = await stack.enter_async_context(
                transcoding_running(tc_settings, serve_metrics=False)
            )
            cat_channel = await stack.enter_async_context(
                grpc.aio.insecure_channel(f"127.0.0.1:{cat.port}")
            )
            tc_channel = await stack.enter_async_context(
                grpc.aio.insecure_channel(f"127.0.0.1:{tcr.port}")
            )
            lic_channel = await stack.enter_async_context(
                grpc.aio.insecure_channel(f"127.0.0.1:{lic.port}")
            )
            catalog = catalog_pb2_grpc.CatalogServiceStub(cat_channel)
            tc = transcoding_pb2_grpc.TranscodingServiceStub(tc_channel)
            origin = f"http://127.0.0.1:{tcr.origin_port}"
            stop = asyncio.Event()
            worker = asyncio.create_task(run_worker(tc_settings, stop, name="playback-tests"))
            try:
                media_dir = root / "media"
                media_dir.mkdir()
                movie_src = make_video(media_dir / "movie.mp4", seconds=4, size="854x480")
                short_src = make_video(media_dir / "short.mp4", seconds=4, size="320x240")
                locked_src = make_video(media_dir / "locked.mp4", seconds=4, size="1024x768")
                movie_title = await create_title(catalog, "pb-movie")
                short_title = await create_title(catalog, "pb-short")
                locked_title = await create_title(catalog, "pb-locked")
                movie = await _ingest(tc, catalog, movie_src, movie_title, "pb-movie-1")
                short = await _ingest(tc, catalog, short_src, short_title, "pb-short-1")
                locked = await _ingest_locked(tc, catalog, locked_src, locked_title)
            finally:
                stop.set()
                await asyncio.wait_for(worker, 60)
            edge_secret = secrets.token_urlsafe(32)
            edges = {region: TestEdge(region, edge_secret, origin) for region in REGIONS}
            for edge in edges.values():
                await edge.start()
                stack.push_async_callback(edge.stop)
            base = playback_settings(
                database,
                nats_server.url,
                edges={r: e.url for r, e in edges.items()},
                origin=origin,
                catalog=f"127.0.0.1:{cat.port}",
                tc=f"127.0.0.1:{tcr.port}",
            )
            settings = replace(
                base,
                runtime=replace(base.runtime, grpc_address=playback_grpc),
                playback_secret=playback_secret,
                edge_secret=edge_secret,
                license_public_url=LICENSE_PUBLIC_URL,
                drm_signal=DRM_SIGNAL,
            )
            accounts = InTestAccountsDirectory()
            run = await stack.enter_async_context(
                playback_running(settings, accounts=accounts, serve_metrics=False)
            )
            pb_channel = await stack.enter_async_context(
                grpc.aio.insecure_channel(f"127.0.0.1:{run.port}")
            )
            http = await stack.enter_async_context(httpx.AsyncClient(timeout=10))
            yield PlaybackMesh(
                settings=settings,
                running=run,
                playback=playback_pb2_grpc.PlaybackServiceStub(pb_channel),
                catalog=catalog,
                accounts=accounts,
                edges=edges,
                origin=origin,
                nats_url=nats_server.url,
                movie=movie,
                short=short,
                locked=locked,
                licensing=licensing_pb2_grpc.LicensingServiceStub(lic_channel),
                http=http,
            )


def start_request(
    profile: str,
    title: str,
    *,
    device: int = pb.DEVICE_TYPE_WEB,
    device_id: str = "dev-1",
    protocol: int = pb.STREAMING_PROTOCOL_UNSPECIFIED,
    start_s: float | None = None,
) -> pb.StartPlaybackRequest:
    request = pb.StartPlaybackRequest(
        profile=profile,
        title=title,
        device_type=device,  # type: ignore[arg-type]
        device_id=device_id,
        preferred_protocol=protocol,  # type: ignore[arg-type]
    )
    if start_s is not None:
        request.start_position.FromNanoseconds(int(start_s * 1e9))
    return request


def seconds(value: object) -> float:
    return value.seconds + value.nanos / 1e9  # type: ignore[attr-defined]


def at(seconds_: float) -> object:
    from google.protobuf import duration_pb2

    out = duration_pb2.Duration()
    out.FromNanoseconds(int(round(seconds_ * 1e9)))
    return out


__all__ = [
    "InTestAccountsDirectory",
    "PlaybackMesh",
    "TestEdge",
    "at",
    "create_title",
    "identity",
    "seconds",
    "since_2024",
    "start_request",
    "timedelta",
    "wait_for",
]
