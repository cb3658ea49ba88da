"""SearchService over gRPC: thin. The region comes from the platform (`x-vod-region`, set by the
front door the request came through) and overrides any region a client put in the request;
a personalised search for a profile needs the caller to own it. Then call the domain."""

from __future__ import annotations

import grpc
from vod.search.v1 import search_pb2 as pb
from vod.search.v1 import search_pb2_grpc

from services.runtime.identity import HEADER_REGION, Caller, caller_from_context
from services.search.domain import SearchDomain

__all__ = ["REGION_HEADER", "SearchServicer"]

REGION_HEADER = HEADER_REGION


def _caller(context: grpc.aio.ServicerContext, profile: str = "") -> Caller:
    caller = caller_from_context(context)
    if profile and caller.authenticated:
        caller.check_owns_profile(profile)
    return caller


class SearchServicer(search_pb2_grpc.SearchServiceServicer):
    def __init__(self, domain: SearchDomain) -> None:
        self._domain = domain

    async def Search(
        self, request: pb.SearchRequest, context: grpc.aio.ServicerContext
    ) -> pb.SearchResponse:
        caller = _caller(context, request.profile)
        if caller.region:
            request.filter.region_code = caller.region
        return await self._domain.search(request, caller.region)

    async def Suggest(
        self, request: pb.SuggestRequest, context: grpc.aio.ServicerContext
    ) -> pb.SuggestResponse:
        caller = _caller(context)
        if caller.region:
            request.region_code = caller.region
        return await self._domain.suggest(request, caller.region)

    async def Trending(
        self, request: pb.TrendingRequest, context: grpc.aio.ServicerContext
    ) -> pb.TrendingResponse:
        caller = _caller(context)
        if caller.region:
            request.region_code = caller.region
        return await self._domain.trending(request)

    async def NewReleases(
        self, request: pb.NewReleasesRequest, context: grpc.aio.ServicerContext
    ) -> pb.NewReleasesResponse:
        caller = _caller(context)
        if caller.region:
            request.region_code = caller.region
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
