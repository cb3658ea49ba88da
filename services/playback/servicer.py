"""PlaybackService over gRPC: thin. Identify the caller, call the domain, wrap the result."""

from __future__ import annotations

import grpc
from vod.playback.v1 import playback_pb2 as pb
from vod.playback.v1 import playback_pb2_grpc

from services.playback.domain import PlaybackDomain
from services.runtime.identity import caller_from_context

__all__ = ["PlaybackServicer"]


class PlaybackServicer(playback_pb2_grpc.PlaybackServiceServicer):
    def __init__(self, domain: PlaybackDomain) -> None:
        self._domain = domain

    async def StartPlayback(
        self, request: pb.StartPlaybackRequest, context: grpc.aio.ServicerContext
    ) -> pb.StartPlaybackResponse:
        session = await self._domain.start_playback(caller_from_context(context), request)
        return pb.StartPlaybackResponse(session=session)

    async def Heartbeat(
        self, request: pb.HeartbeatRequest, context: grpc.aio.ServicerContext
    ) -> pb.HeartbeatResponse:
        return await self._domain.heartbeat(
            caller_from_context(context), request.session, request.position, request.state
        )

    async def StopPlayback(
        self, request: pb.StopPlaybackRequest, context: grpc.aio.ServicerContext
    ) -> pb.StopPlaybackResponse:
        position = request.position if request.HasField("position") else None
        point = await self._domain.stop_playback(
            caller_from_context(context), request.session, position
        )
        return pb.StopPlaybackResponse(resume_point=point)

    async def ListContinueWatching(
        self, request: pb.ListContinueWatchingRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListContinueWatchingResponse:
        return await self._domain.continue_watching(
            caller_from_context(context), request.profile, request.page_size, request.page_token
        )

    async def GetResumePoint(
        self, request: pb.GetResumePointRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetResumePointResponse:
        point = await self._domain.resume_point(
            caller_from_context(context), request.profile, request.title
        )
        return pb.GetResumePointResponse(resume_point=point)

    async def GetSession(
        self, request: pb.GetSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetSessionResponse:
        return await self._domain.get_session(request.name)

    async def PrewarmTitle(
        self, request: pb.PrewarmTitleRequest, context: grpc.aio.ServicerContext
    ) -> pb.PrewarmTitleResponse:
        caller = caller_from_context(context)
        return await self._domain.prewarm(caller, request.title, list(request.region_codes))
