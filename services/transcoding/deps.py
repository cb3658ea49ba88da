"""Construction of the dependencies the service and the workers share (store, queue, keys)."""

from __future__ import annotations

import grpc
import nats
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError
from vod.events.v1 import media_events_pb2 as ev
from vod.licensing.v1 import licensing_pb2

from services.runtime.clients import open_channel
from services.runtime.events import subject_of
from services.transcoding.config import TranscodingSettings
from services.transcoding.keys import PACKAGER_HEADER, LicensingKeyProvider
from services.transcoding.store import FileSystemStore, ObjectStore, S3Store

__all__ = [
    "JOBS_SUBJECT",
    "connect_jobs",
    "ensure_jobs_stream",
    "ensure_work_queue",
    "key_provider",
    "licensing_channel",
    "open_store",
]

JOBS_SUBJECT = subject_of(ev.TranscodeJobQueued)


def open_store(settings: TranscodingSettings) -> ObjectStore:
    """S3 when VOD_S3_ENDPOINT is set, else the local filesystem store."""
    s3 = settings.s3
    if s3.endpoint:
        return S3Store(
            s3.endpoint,
            s3.access_key,
            s3.secret_key,
            s3.bucket,
            region=s3.region,
            secure=s3.secure,
            part_size=s3.part_size,
        )
    return FileSystemStore(settings.object_store_dir)


def licensing_channel(settings: TranscodingSettings) -> grpc.aio.Channel | None:
    """The channel to LicensingService (`VOD_LICENSING_ADDRESS`) carrying the packager secret on
    every call, or None when `VOD_PACKAGER_SECRET` is not set (clear titles only). The caller
    closes it."""
    if not settings.packager_secret or not settings.licensing_address:
        return None
    return open_channel(
        settings.licensing_address,
        timeout_s=settings.runtime.outbound_timeout_s,
        services=[licensing_pb2.DESCRIPTOR.services_by_name["LicensingService"]],
        metadata=((PACKAGER_HEADER, settings.packager_secret),),
    )


def key_provider(
    settings: TranscodingSettings, channel: grpc.aio.Channel | None
) -> LicensingKeyProvider | None:
    """Content keys from licensing over `channel` (None: no provider, encrypted jobs fail)."""
    if channel is None:
        return None
    return LicensingKeyProvider(channel, timeout_s=settings.runtime.outbound_timeout_s)


async def ensure_work_queue(js: JetStreamContext, name: str, subject: str) -> None:
    """A durable work-queue stream: each message is kept until one worker acks it."""
    config = api.StreamConfig(
        name=name,
        subjects=[subject],
        storage=api.StorageType.FILE,
        retention=api.RetentionPolicy.WORK_QUEUE,
        duplicate_window=300.0,
    )
    try:
        await js.stream_info(name)
    except NotFoundError:
        await js.add_stream(config)


async def ensure_jobs_stream(js: JetStreamContext, settings: TranscodingSettings) -> None:
    """The job queue: each job message is kept until one worker acks it."""
    await ensure_work_queue(js, settings.jobs_stream, JOBS_SUBJECT)


async def connect_jobs(
    settings: TranscodingSettings, name: str
) -> tuple[nats.NATS, JetStreamContext]:
    nc = await nats.connect(
        settings.runtime.nats_url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=settings.runtime.outbound_timeout_s,
    )
    js = nc.jetstream(timeout=settings.runtime.outbound_timeout_s)
    await ensure_jobs_stream(js, settings)
    return nc, js
