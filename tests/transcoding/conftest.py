"""Transcoding fixtures: the real service (migrations, outbox relay, NATS work queue, origin, HTTP
upload front) and an in-process worker, on free ports, against the session's real Postgres and
NATS; sources generated with ffmpeg. Content keys come from the REAL licensing server (its
production `running()`, own database, master key ring from `VOD_LICENSING_MASTER_KEYS`); only
if `services.licensing` cannot be imported does a test double of its network API stand in
(`tc_licensing.real` says which)."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from vod.licensing.v1 import licensing_pb2 as lpb
from vod.licensing.v1 import licensing_pb2_grpc
from vod.transcoding.v1 import transcoding_pb2_grpc

from mesh.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from services.runtime.config import RuntimeSettings
from services.transcoding.config import TranscodingSettings
from services.transcoding.server import Running, running
from services.transcoding.worker import run_worker
from tests.transcoding.helpers import make_video

PACKAGER_SECRET = "transcoding-tests-packager-secret"
PACKAGER = (("x-vod-packager", PACKAGER_SECRET),)


class LicensingDouble(licensing_pb2_grpc.LicensingServiceServicer):
    """TEST DOUBLE of licensing's network API (CreateContentKey, GetContentKeys), used only while
    `services.licensing` does not exist: random keys in a dict, the packager secret checked,
    ALREADY_EXISTS for a second key of a class."""

    def __init__(self) -> None:
        self.keys: dict[str, list[lpb.ContentKey]] = {}

    async def _check(self, context: grpc.aio.ServicerContext) -> None:
        if dict(context.invocation_metadata() or ()).get("x-vod-packager") != PACKAGER_SECRET:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "not the packager")

    async def CreateContentKey(
        self, request: lpb.CreateContentKeyRequest, context: grpc.aio.ServicerContext
    ) -> lpb.CreateContentKeyResponse:
        await self._check(context)
        wanted = request.content_key
        track = wanted.track_type or lpb.TRACK_TYPE_ALL
        keys = self.keys.setdefault(wanted.media_asset, [])
        if any(k.track_type == track for k in keys):
            await context.abort(grpc.StatusCode.ALREADY_EXISTS, "the track has a key")
        key = lpb.ContentKey(
            key_id=secrets.token_hex(16),
            media_asset=wanted.media_asset,
            track_type=track,
            key=secrets.token_bytes(16),
            iv=secrets.token_bytes(16),
        )
        key.name = f"contentKeys/{key.key_id}"
        key.create_time.FromDatetime(datetime.now(UTC))
        keys.append(key)
        public = lpb.ContentKey()
        public.CopyFrom(key)
        public.ClearField("key")
        public.ClearField("iv")
        return lpb.CreateContentKeyResponse(content_key=public)

    async def GetContentKeys(
        self, request: lpb.GetContentKeysRequest, context: grpc.aio.ServicerContext
    ) -> lpb.GetContentKeysResponse:
        await self._check(context)
        keys = self.keys.get(request.media_asset, [])
        if request.key_ids:
            keys = [k for k in keys if k.key_id in request.key_ids]
        return lpb.GetContentKeysResponse(content_keys=keys)


@dataclass
class LicensingUnderTest:
    address: str
    stub: licensing_pb2_grpc.LicensingServiceStub
    real: bool  # the real licensing server (False: the double above)

    async def keys(self, media: str) -> dict[int, lpb.ContentKey]:
        """Every content key of `media/<media>` by track type, with material."""
        reply = await self.stub.GetContentKeys(
            lpb.GetContentKeysRequest(media_asset=f"media/{media}"), metadata=PACKAGER, timeout=10
        )
        assert len({k.track_type for k in reply.content_keys}) == len(reply.content_keys)
        return {k.track_type: k for k in reply.content_keys}


@asynccontextmanager
async def _real_licensing(database_url: str, nats_url: str) -> AsyncIterator[int | None]:
    try:
        from services.licensing.config import load_settings
        from services.licensing.server import running
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("services.licensing"):
            raise
        yield None
        return
    master = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    unused = f"127.0.0.1:{free_port()}"  # playback/catalog/accounts: only licences need them
    settings = load_settings(
        {
            "VOD_LICENSING_MASTER_KEYS": f"mk-transcoding:{master}",
            "VOD_PACKAGER_SECRET": PACKAGER_SECRET,
            "VOD_PLAYBACK_SECRET": secrets.token_urlsafe(32),
            "VOD_DATABASE_URL": database_url,
            "VOD_NATS_URL": nats_url,
            "VOD_LICENSING_GRPC_ADDRESS": "127.0.0.1:0",
            "VOD_LICENSING_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
            "VOD_PLAYBACK_ADDRESS": unused,
            "VOD_CATALOG_ADDRESS": unused,
            "VOD_ACCOUNTS_ADDRESS": unused,
            "VOD_DRAIN_GRACE_S": "0.5",
        }
    )
    async with running(settings, serve_metrics=False) as run:
        yield run.port


@pytest.fixture(scope="session")
async def tc_licensing(
    postgres: EmbeddedPostgres, nats_server: EmbeddedNats
) -> AsyncIterator[LicensingUnderTest]:
    database = postgres.create_database("transcoding_licensing_tests")
    async with _real_licensing(database, nats_server.url) as port:
        double = None
        if port is None:
            double = grpc.aio.server()
            licensing_pb2_grpc.add_LicensingServiceServicer_to_server(LicensingDouble(), double)
            port = double.add_insecure_port("127.0.0.1:0")
            await double.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                yield LicensingUnderTest(
                    f"127.0.0.1:{port}",
                    licensing_pb2_grpc.LicensingServiceStub(channel),
                    real=double is None,
                )
        finally:
            if double is not None:
                await double.stop(0)


def transcoding_settings(
    database_url: str, nats_url: str, root: Path, **overrides: object
) -> TranscodingSettings:
    values: dict[str, object] = dict(
        runtime=RuntimeSettings(
            service="transcoding",
            grpc_address="127.0.0.1:0",
            metrics_address=f"127.0.0.1:{free_port()}",
            database_url=database_url,
            nats_url=nats_url,
            drain_grace_s=0.5,
        ),
        object_store_dir=root / "objects",
        scratch_dir=root / "scratch",
        origin_address="127.0.0.1:0",
        upload_http_address="127.0.0.1:0",
        ack_wait_s=3.0,
        max_attempts=2,
        retry_backoff_s=0.3,
        encode_parallelism=2,
        vmaf_subsample=10,
        watch_poll_s=0.1,
    )
    values.update(overrides)
    return TranscodingSettings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def tc_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("transcoding")


@pytest.fixture(scope="session")
def tc_database(postgres: EmbeddedPostgres) -> str:
    return postgres.create_database("transcoding_tests")


@pytest.fixture(scope="session")
def tc_settings(
    tc_database: str, nats_server: EmbeddedNats, tc_root: Path, tc_licensing: LicensingUnderTest
) -> TranscodingSettings:
    return transcoding_settings(
        tc_database,
        nats_server.url,
        tc_root,
        licensing_address=tc_licensing.address,
        packager_secret=PACKAGER_SECRET,
    )


@pytest.fixture(scope="session")
async def tc_service(tc_settings: TranscodingSettings) -> AsyncIterator[Running]:
    async with running(tc_settings, serve_metrics=False) as run:
        yield run


@pytest.fixture(scope="session")
async def tc(tc_service: Running) -> AsyncIterator[transcoding_pb2_grpc.TranscodingServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{tc_service.port}") as channel:
        yield transcoding_pb2_grpc.TranscodingServiceStub(channel)


@pytest.fixture(scope="module")
async def tc_worker(tc_service: Running, tc_settings: TranscodingSettings) -> AsyncIterator[None]:
    """An in-process worker for the modules that ask for one (the crash test runs subprocess
    workers instead, and needs no other worker taking its job)."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(tc_settings, stop, name="inproc"))
    await asyncio.sleep(0.2)
    yield
    stop.set()
    await asyncio.wait_for(task, 30)


def worker_env(settings: TranscodingSettings) -> dict[str, str]:
    """Environment for `python -m services.transcoding.worker` with the fixtures' settings."""
    root = Path(__file__).resolve().parents[2]
    return {
        **os.environ,
        "PYTHONPATH": f"{root}:{root / 'gen' / 'python'}",
        "VOD_DATABASE_URL": settings.runtime.database_url,
        "VOD_NATS_URL": settings.runtime.nats_url,
        "VOD_OBJECT_STORE_DIR": str(settings.object_store_dir),
        "VOD_TRANSCODE_SCRATCH_DIR": str(settings.scratch_dir),
        "VOD_TRANSCODE_ACK_WAIT_S": str(settings.ack_wait_s),
        "VOD_TRANSCODE_MAX_ATTEMPTS": str(settings.max_attempts),
        "VOD_TRANSCODE_RETRY_BACKOFF_S": str(settings.retry_backoff_s),
        "VOD_TRANSCODE_PARALLELISM": str(settings.encode_parallelism),
        "VOD_TRANSCODE_VMAF_SUBSAMPLE": str(settings.vmaf_subsample),
        "VOD_LICENSING_ADDRESS": settings.licensing_address,
        "VOD_PACKAGER_SECRET": settings.packager_secret,
        "VOD_LOG_LEVEL": "WARNING",
    }


@pytest.fixture(scope="session")
def origin(tc_service: Running) -> str:
    return f"http://127.0.0.1:{tc_service.origin_port}"


@pytest.fixture(scope="session")
def media_dir(tc_root: Path) -> Path:
    path = tc_root / "media"
    path.mkdir()
    make_video(path / "clip.mp4", seconds=6)
    return path
