"""Transcoding fixtures: the real service (migrations, outbox relay, NATS work queue, origin, HTTP
upload front) and an in-process worker, on free ports, against the session's real Postgres and
NATS; sources generated with ffmpeg."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from vod.transcoding.v1 import transcoding_pb2_grpc

from mesh.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from services.runtime.config import RuntimeSettings
from services.transcoding.config import TranscodingSettings
from services.transcoding.server import Running, running
from services.transcoding.worker import run_worker
from tests.transcoding.helpers import make_video


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
def tc_settings(tc_database: str, nats_server: EmbeddedNats, tc_root: Path) -> TranscodingSettings:
    return transcoding_settings(tc_database, nats_server.url, tc_root)


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
