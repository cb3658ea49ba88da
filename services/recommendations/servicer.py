"""RecommendationsService over gRPC: thin. Parse the request, call the domain, wrap the result."""

from __future__ import annotations

import grpc
from vod.recommendations.v1 import recommendations_pb2 as pb
from vod.recommendations.v1 import recommendations_pb2_grpc

from services.recommendations.domain import RecommendationsDomain

__all__ = ["RecommendationsServicer"]


class RecommendationsServicer(recommendations_pb2_grpc.RecommendationsServiceServicer):
    def __init__(self, domain: RecommendationsDomain) -> None:
        self._domain = domain

    async def GetRecommendations(
        self, request: pb.GetRecommendationsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetRecommendationsResponse:
        return await self._domain.recommendations(request)

    async def GetSimilarTitles(
        self, request: pb.GetSimilarTitlesRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetSimilarTitlesResponse:
        return await self._domain.similar(request)

    async def RecordFeedback(
        self, request: pb.RecordFeedbackRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordFeedbackResponse:
        return await self._domain.record_feedback(request)

    async def SetProfilePreferences(
        self, request: pb.SetProfilePreferencesRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetProfilePreferencesResponse:
        return await self._domain.set_preferences(request)
