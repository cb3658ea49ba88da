"""TranscodingService over gRPC: thin. Parse the request, call the domain, wrap the result."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from vod.transcoding.v1 import transcoding_pb2 as pb
from vod.transcoding.v1 import transcoding_pb2_grpc

from services.transcoding.jobs import JobDomain
from services.transcoding.uploads import UploadDomain

__all__ = ["TranscodingServicer"]


class TranscodingServicer(transcoding_pb2_grpc.TranscodingServiceServicer):
    def __init__(self, uploads: UploadDomain, jobs: JobDomain) -> None:
        self._uploads = uploads
        self._jobs = jobs

    async def Upload(
        self, request_iterator: AsyncIterator[pb.UploadRequest], context: grpc.aio.ServicerContext
    ) -> pb.UploadResponse:
        return pb.UploadResponse(upload=await self._uploads.receive(aiter(request_iterator)))

    async def GetUpload(
        self, request: pb.GetUploadRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetUploadResponse:
        return pb.GetUploadResponse(upload=await self._uploads.get(request.name))

    async def CreateJob(
        self, request: pb.CreateJobRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateJobResponse:
        return pb.CreateJobResponse(job=await self._jobs.create(request))

    async def GetJob(
        self, request: pb.GetJobRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetJobResponse:
        return pb.GetJobResponse(job=await self._jobs.get(request.name))

    async def ListJobs(
        self, request: pb.ListJobsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListJobsResponse:
        return await self._jobs.list(request)

    async def WatchJob(
        self, request: pb.WatchJobRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchJobResponse]:
        async for progress in self._jobs.watch(request.name):
            yield pb.WatchJobResponse(progress=progress)

    async def CancelJob(
        self, request: pb.CancelJobRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelJobResponse:
        return pb.CancelJobResponse(job=await self._jobs.cancel(request.name, request.etag))

    async def GetMediaAsset(
        self, request: pb.GetMediaAssetRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetMediaAssetResponse:
        return pb.GetMediaAssetResponse(media_asset=await self._jobs.media(request.name))
