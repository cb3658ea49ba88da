"""Who owns a playback session and what it plays, asked of playback's internal `GetSession` and
kept: a session's owner, title, region and media never change once started, so each session
costs one call per process however many batches it posts."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import grpc
from vod.playback.v1 import playback_pb2, playback_pb2_grpc

from services.runtime.errors import InvalidArgument, NotFound, Unavailable

__all__ = ["PlaybackSessions", "SessionDirectory", "SessionInfo", "edge_of"]


@dataclass(frozen=True)
class SessionInfo:
    name: str
    user: str
    profile: str
    title: str
    media_asset: str
    region: str

    @property
    def edge(self) -> str:
        return edge_of(self.region)


def edge_of(region: str) -> str:
    """The edge serving a region's sessions (one edge per simulated region: `edge-us`)."""
    return f"edge-{region.lower()}" if region else ""


class SessionDirectory(Protocol):
    async def get(self, name: str, metadata: Sequence[tuple[str, str]] = ()) -> SessionInfo: ...


class PlaybackSessions:
    """`SessionDirectory` over playback's gRPC `GetSession`, with a bounded cache."""

    def __init__(
        self, channel: grpc.aio.Channel, *, deadline_s: float, cache_size: int = 50_000
    ) -> None:
        self._stub = playback_pb2_grpc.PlaybackServiceStub(channel)
        self._deadline_s = deadline_s
        self._size = cache_size
        self._cache: OrderedDict[str, SessionInfo] = OrderedDict()

    async def get(self, name: str, metadata: Sequence[tuple[str, str]] = ()) -> SessionInfo:
        cached = self._cache.get(name)
        if cached is not None:
            self._cache.move_to_end(name)
            return cached
        try:
            response = await self._stub.GetSession(
                playback_pb2.GetSessionRequest(name=name),
                timeout=self._deadline_s,
                metadata=tuple(metadata),
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                # Playback's names are stricter than the contract's pattern: a name it refuses
                # names no session.
                raise NotFound(
                    f"{name} does not exist",
                    reason="SESSION_NOT_FOUND",
                    resource_type="vod.playback.v1.PlaybackSession",
                    resource_name=name,
                ) from None
            raise Unavailable("playback could not be asked about the session") from None
        session = response.session
        if not session.title or not response.user:
            raise InvalidArgument.for_field("session", "the session has no title or owner")
        info = SessionInfo(
            name=name,
            user=response.user,
            profile=session.profile,
            title=session.title,
            media_asset=response.media_asset,
            region=session.region_code,
        )
        self._cache[name] = info
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return info
