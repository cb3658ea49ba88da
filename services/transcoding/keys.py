"""Content keys for the packager, from the licensing service.

Keys are per media asset and per track class, so a licence can carry exactly what a plan allows:
video rungs of up to 720 lines use the VIDEO_SD key, 721-1080 the VIDEO_HD key, above 1080 the
VIDEO_UHD key; every audio track uses the AUDIO key (subtitles are never encrypted). The same key
encrypts a track's CENC segments (DASH) and its HLS AES-128 copy; the key's IV is the HLS IV.

`LicensingKeyProvider` asks `LicensingService` over gRPC (internal RPCs, `x-vod-packager` metadata
with `VOD_PACKAGER_SECRET`, added by the channel). It is idempotent across worker retries and
racing workers: `GetContentKeys` first, `CreateContentKey` only for the classes still missing,
ALREADY_EXISTS (another worker won the race) is not an error, and the keys are then fetched again
so every attempt of a job encrypts with the same keys.

Key material (`ContentKey.key`, `.iv`) is never logged, never put in an exception message and never
in a repr.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import grpc
from vod.licensing.v1 import licensing_pb2 as lpb
from vod.licensing.v1 import licensing_pb2_grpc

from services.runtime.logs import get_logger

__all__ = [
    "AUDIO",
    "PACKAGER_HEADER",
    "ContentKey",
    "KeyProvider",
    "KeyServiceError",
    "LicensingKeyProvider",
    "class_name",
    "video_class",
]

_log = get_logger("keys")

PACKAGER_HEADER = "x-vod-packager"
"""Metadata carrying `VOD_PACKAGER_SECRET` on the internal key RPCs."""

AUDIO = lpb.TRACK_TYPE_AUDIO
_KID = re.compile(r"^[0-9a-f]{32}$")


def video_class(height: int) -> int:
    """The licensing track type of a video rung of `height` lines."""
    if height <= 720:
        return lpb.TRACK_TYPE_VIDEO_SD
    if height <= 1080:
        return lpb.TRACK_TYPE_VIDEO_HD
    return lpb.TRACK_TYPE_VIDEO_UHD


def class_name(track_type: int) -> str:
    return lpb.TrackType.Name(track_type).removeprefix("TRACK_TYPE_")  # type: ignore[arg-type]


@dataclass(frozen=True)
class ContentKey:
    """One content key with its material (16-byte AES-128 key and 16-byte HLS IV)."""

    key_id: str  # 32 lower-case hex digits
    track_type: int  # licensing TrackType
    key: bytes = field(repr=False)
    iv: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not _KID.match(self.key_id) or len(self.key) != 16 or len(self.iv) != 16:
            raise KeyServiceError(f"content key {self.key_id!r} is malformed")


class KeyProvider(Protocol):
    async def content_keys(
        self, media: str, track_types: Collection[int]
    ) -> Mapping[int, ContentKey]:
        """The keys of media asset `media/<media>` for each track type, created on first use;
        the same keys on every call."""
        ...


class KeyServiceError(RuntimeError):
    """Keys could not be obtained (licensing unreachable, refused, or answered nonsense)."""


class LicensingKeyProvider:
    """Content keys from `LicensingService`. `channel` comes from `open_channel` with the
    `x-vod-packager` metadata (see `deps.licensing_channel`); it is owned by the caller."""

    def __init__(self, channel: grpc.aio.Channel, *, timeout_s: float = 10.0) -> None:
        self._stub = licensing_pb2_grpc.LicensingServiceStub(channel)
        self._timeout_s = timeout_s

    async def _fetch(self, name: str) -> dict[int, ContentKey]:
        reply = await self._stub.GetContentKeys(
            lpb.GetContentKeysRequest(media_asset=name), timeout=self._timeout_s
        )
        found: dict[int, tuple[float, ContentKey]] = {}
        for ck in reply.content_keys:
            if ck.media_asset and ck.media_asset != name:
                raise KeyServiceError(f"licensing answered a key of {ck.media_asset} for {name}")
            track = ck.track_type or lpb.TRACK_TYPE_ALL
            created = ck.create_time.ToNanoseconds()
            key = ContentKey(ck.key_id, track, bytes(ck.key), bytes(ck.iv))
            if track not in found or created < found[track][0]:  # the oldest wins, if ever two
                found[track] = (created, key)
        return {track: key for track, (_, key) in found.items()}

    async def content_keys(self, media: str, track_types: Collection[int]) -> dict[int, ContentKey]:
        name = f"media/{media}"
        wanted = list(dict.fromkeys(track_types))
        try:
            keys = await self._fetch(name)
            missing = [t for t in wanted if t not in keys]
            for track in missing:
                try:
                    await self._stub.CreateContentKey(
                        lpb.CreateContentKeyRequest(
                            content_key=lpb.ContentKey(media_asset=name, track_type=track)  # type: ignore[arg-type]
                        ),
                        timeout=self._timeout_s,
                    )
                    _log.info("content_key.created", media_asset=name, track=class_name(track))
                except grpc.aio.AioRpcError as exc:
                    if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
                        raise
                    _log.info("content_key.exists", media_asset=name, track=class_name(track))
            if missing:
                keys = await self._fetch(name)
        except grpc.aio.AioRpcError as exc:
            raise KeyServiceError(
                f"licensing refused the keys of {name}: {exc.code().name}: {exc.details()}"
            ) from None
        absent = [class_name(t) for t in wanted if t not in keys]
        if absent:
            raise KeyServiceError(f"licensing has no {', '.join(absent)} key for {name}")
        _log.info(
            "content_keys.ready",
            media_asset=name,
            created=len(missing),
            keys={class_name(t): keys[t].key_id for t in wanted},  # key ids only, never keys
        )
        return {t: keys[t] for t in wanted}
