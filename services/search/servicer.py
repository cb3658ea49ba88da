"""SearchService over gRPC: thin. Read the caller's region from metadata, call the domain."""

from __future__ import annotations

import grpc
from vod.search.v1 import search_pb2 as pb
from vod.search.v1 import search_pb2_grpc

from services.search.domain import SearchDomain

__all__ = ["REGION_HEADER", "SearchServicer"]

# Set by the gateway from the caller's token (home region); a request's region filter wins.
REGION_HEADER = "x-vod-region"


def _caller_region(context: grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == REGION_HEADER and isinstance(value, str):
            return value.strip().upper()
    return ""


class SearchServicer(search_pb2_grpc.SearchServiceServicer):
    def __init__(self, domain: SearchDomain) -> None:
        self._domain = domain

    async def Search(
        self, request: pb.SearchRequest, context: grpc.aio.ServicerContext
    ) -> pb.SearchResponse:
        return await self._domain.search(request, _caller_region(context))

    async def Suggest(
        self, request: pb.SuggestRequest, context: grpc.aio.ServicerContext
    ) -> pb.SuggestResponse:
        return await self._domain.suggest(request, _caller_region(context))

    async def Trending(
        self, request: pb.TrendingRequest, context: grpc.aio.ServicerContext
    ) -> pb.TrendingResponse:
        return await self._domain.trending(request)

    async def NewReleases(
        self, request: pb.NewReleasesRequest, context: grpc.aio.ServicerContext
    ) -> pb.NewReleasesResponse:
        return await self._domain.new_releases(request)

    async def Reindex(
        self, request: pb.ReindexRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReindexResponse:
        report = await self._domain.reindex()
        return pb.ReindexResponse(
            indexed_count=report.indexed,
            skipped_count=report.skipped,
            duration_seconds=report.seconds,
        )
