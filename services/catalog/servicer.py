"""CatalogService over gRPC: thin. Parse the request, call the domain, wrap the result."""

from __future__ import annotations

from datetime import UTC

import grpc
from vod.catalog.v1 import catalog_pb2 as pb
from vod.catalog.v1 import catalog_pb2_grpc

from services.catalog.domain import CatalogDomain

__all__ = ["CatalogServicer"]


class CatalogServicer(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self, domain: CatalogDomain) -> None:
        self._domain = domain

    async def GetTitle(
        self, request: pb.GetTitleRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetTitleResponse:
        return pb.GetTitleResponse(title=await self._domain.get(request.name))

    async def ListTitles(
        self, request: pb.ListTitlesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTitlesResponse:
        return await self._domain.list(request)

    async def BatchGetTitles(
        self, request: pb.BatchGetTitlesRequest, context: grpc.aio.ServicerContext
    ) -> pb.BatchGetTitlesResponse:
        return pb.BatchGetTitlesResponse(titles=await self._domain.batch_get(list(request.names)))

    async def CreateTitle(
        self, request: pb.CreateTitleRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateTitleResponse:
        return pb.CreateTitleResponse(title=await self._domain.create(request))

    async def BatchCreateTitles(
        self, request: pb.BatchCreateTitlesRequest, context: grpc.aio.ServicerContext
    ) -> pb.BatchCreateTitlesResponse:
        return pb.BatchCreateTitlesResponse(titles=await self._domain.create_many(request.requests))

    async def UpdateTitle(
        self, request: pb.UpdateTitleRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateTitleResponse:
        return pb.UpdateTitleResponse(title=await self._domain.update(request))

    async def DeleteTitle(
        self, request: pb.DeleteTitleRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteTitleResponse:
        await self._domain.delete(request.name, request.etag)
        return pb.DeleteTitleResponse()

    async def CheckAvailability(
        self, request: pb.CheckAvailabilityRequest, context: grpc.aio.ServicerContext
    ) -> pb.CheckAvailabilityResponse:
        at = request.time.ToDatetime(tzinfo=UTC) if request.HasField("time") else None
        return await self._domain.check_availability(request.name, request.region_code, at)

    async def ListGenres(
        self, request: pb.ListGenresRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListGenresResponse:
        counts = await self._domain.genres(request.page_size)
        return pb.ListGenresResponse(
            genres=[pb.GenreCount(genre=g, title_count=n) for g, n in counts]
        )
