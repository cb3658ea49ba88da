"""QoeService over gRPC: thin. Identity is the platform's (the verified token's headers), never
the body's; the domain raises, the shared interceptor maps errors to statuses."""

from __future__ import annotations

import grpc
from vod.gateway.v1 import qoe_pb2 as pb
from vod.gateway.v1 import qoe_pb2_grpc

from gateway.qoe.domain import QoeDomain
from services.runtime.identity import caller_from_context

__all__ = ["QoeServicer"]

_PROPAGATED = ("x-request-id",)


class QoeServicer(qoe_pb2_grpc.QoeServiceServicer):
    def __init__(self, domain: QoeDomain) -> None:
        self._domain = domain

    async def RecordQoeEvents(
        self, request: pb.RecordQoeEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordQoeEventsResponse:
        incoming = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        metadata = tuple((k, incoming[k]) for k in _PROPAGATED if incoming.get(k))
        return await self._domain.record(caller_from_context(context), request, metadata)

    async def GetOperationsOverview(
        self, request: pb.GetOperationsOverviewRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetOperationsOverviewResponse:
        return await self._domain.overview(caller_from_context(context), request)

    async def GetTitleQoeReport(
        self, request: pb.GetTitleQoeReportRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetTitleQoeReportResponse:
        return await self._domain.title_report(caller_from_context(context), request)
