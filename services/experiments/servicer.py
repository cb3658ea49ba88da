"""ExperimentsService over gRPC: thin. Read the request, call the domain, wrap the result."""

from __future__ import annotations

from datetime import UTC
from typing import TypeAlias

import grpc
from vod.experiments.v1 import experiments_pb2 as pb
from vod.experiments.v1 import experiments_pb2_grpc

from services.experiments.domain import ExperimentsDomain

__all__ = ["ExperimentsServicer"]

Context: TypeAlias = grpc.aio.ServicerContext


class ExperimentsServicer(experiments_pb2_grpc.ExperimentsServiceServicer):
    def __init__(self, domain: ExperimentsDomain) -> None:
        self._domain = domain

    async def CreateExperiment(
        self, request: pb.CreateExperimentRequest, context: Context
    ) -> pb.CreateExperimentResponse:
        created = await self._domain.create(request.experiment_id, request.experiment)
        return pb.CreateExperimentResponse(experiment=created)

    async def GetExperiment(
        self, request: pb.GetExperimentRequest, context: Context
    ) -> pb.GetExperimentResponse:
        return pb.GetExperimentResponse(experiment=await self._domain.get(request.name))

    async def ListExperiments(
        self, request: pb.ListExperimentsRequest, context: Context
    ) -> pb.ListExperimentsResponse:
        return pb.ListExperimentsResponse(experiments=await self._domain.list(request.layer))

    async def UpdateExperimentState(
        self, request: pb.UpdateExperimentStateRequest, context: Context
    ) -> pb.UpdateExperimentStateResponse:
        updated = await self._domain.update_state(
            request.name, request.state, request.traffic_percent
        )
        return pb.UpdateExperimentStateResponse(experiment=updated)

    async def ForceVariant(
        self, request: pb.ForceVariantRequest, context: Context
    ) -> pb.ForceVariantResponse:
        assignment = await self._domain.force(request.name, request.profile, request.variant)
        return pb.ForceVariantResponse(assignment=assignment)

    async def GetAssignments(
        self, request: pb.GetAssignmentsRequest, context: Context
    ) -> pb.GetAssignmentsResponse:
        created = (
            request.profile_create_time.ToDatetime(tzinfo=UTC)
            if request.HasField("profile_create_time")
            else None
        )
        return pb.GetAssignmentsResponse(
            assignments=self._domain.assignments(
                request.profile, request.region_code, request.plan, created
            )
        )

    async def RecordExposures(
        self, request: pb.RecordExposuresRequest, context: Context
    ) -> pb.RecordExposuresResponse:
        return pb.RecordExposuresResponse(recorded=await self._domain.record_exposures(request))

    async def GetExperimentReport(
        self, request: pb.GetExperimentReportRequest, context: Context
    ) -> pb.GetExperimentReportResponse:
        return await self._domain.report(request.name, request.confidence_percent)
