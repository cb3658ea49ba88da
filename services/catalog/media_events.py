"""The catalog's view of media: transcoding events set each title's media state.

UploadCompleted → PROCESSING, MediaReady → READY (with the asset and duration), and
TranscodeJobFailed → FAILED. Consumed from the VOD_MEDIA stream by a durable consumer; handlers
are idempotent, so redelivery is harmless."""

from __future__ import annotations

from google.protobuf.message import Message
from vod.catalog.v1 import catalog_pb2 as pb
from vod.events.v1 import media_events_pb2 as media

from services.catalog.domain import CatalogDomain
from services.runtime.events import subject_of

__all__ = ["DURABLE", "SUBJECT", "decode", "handler"]

DURABLE = "catalog-media"
SUBJECT = "vod.media.>"

_TYPES: dict[str, type[Message]] = {
    subject_of(t): t for t in (media.UploadCompleted, media.MediaReady, media.TranscodeJobFailed)
}


def decode(subject: str, payload: bytes) -> Message | None:
    event_type = _TYPES.get(subject)
    return event_type.FromString(payload) if event_type is not None else None


def handler(domain: CatalogDomain):  # type: ignore[no-untyped-def]
    async def handle(event: Message) -> None:
        if isinstance(event, media.MediaReady):
            asset = event.media_asset
            await domain.set_media(
                asset.title, pb.MEDIA_STATE_READY, asset.name, asset.duration_seconds
            )
        elif isinstance(event, media.UploadCompleted):
            await domain.set_media(event.upload.title, pb.MEDIA_STATE_PROCESSING)
        elif isinstance(event, media.TranscodeJobFailed):
            await domain.set_media(event.job.title, pb.MEDIA_STATE_FAILED)

    return handle
