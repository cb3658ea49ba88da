"""RecommendationsService over gRPC: thin. Check the caller owns the profile (when the request
carries a platform identity), take the region from the platform, call the domain."""

from __future__ import annotations

import grpc
from vod.recommendations.v1 import recommendations_pb2 as pb
from vod.recommendations.v1 import recommendations_pb2_grpc

from services.recommendations.domain import RecommendationsDomain
from services.runtime.errors import InvalidArgument
from services.runtime.identity import Caller, caller_from_context

__all__ = ["RecommendationsServicer"]


def _caller(context: grpc.aio.ServicerContext, profile: str) -> Caller:
    """Through the front door every call carries a verified user, who must own `profile`;
    internal callers without an identity are trusted."""
    caller = caller_from_context(context)
    if profile and caller.authenticated:
        caller.check_owns_profile(profile)
    return caller


class RecommendationsServicer(recommendations_pb2_grpc.RecommendationsServiceServicer):
    def __init__(self, domain: RecommendationsDomain) -> None:
        self._domain = domain

    async def GetRecommendations(
        self, request: pb.GetRecommendationsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetRecommendationsResponse:
        caller = _caller(context, request.profile)
        if caller.region:
            request.region_code = caller.region
        if not request.region_code:
            raise InvalidArgument.for_field(
                "region_code", "required on internal calls, which carry no platform region"
            )
        return await self._domain.recommendations(request)

    async def GetSimilarTitles(
        self, request: pb.GetSimilarTitlesRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetSimilarTitlesResponse:
        caller = _caller(context, request.profile)
        if caller.region:
            request.region_code = caller.region
        return await self._domain.similar(request)

    async def RecordFeedback(
        self, request: pb.RecordFeedbackRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordFeedbackResponse:
        _caller(context, request.profile)
        return await self._domain.record_feedback(request)

    async def SetProfilePreferences(
        self, request: pb.SetProfilePreferencesRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetProfilePreferencesResponse:
        _caller(context, request.profile)
        return await self._domain.set_preferences(request)
