"""GatewayService over gRPC: thin. The caller must own the profile; the region is the
platform's (`x-vod-region`), the request's only on internal calls; the caller's identity is
forwarded on every dependency call so each applies the same ownership and region rules."""

from __future__ import annotations

import re
import uuid

import grpc
from vod.gateway.v1 import gateway_pb2 as pb
from vod.gateway.v1 import gateway_pb2_grpc

from gateway.home import maturity
from gateway.home.domain import HomeDomain, HomeQuery
from services.runtime.identity import caller_from_context, forward_metadata, platform_region

__all__ = ["RESPONSE_ID_HEADER", "GatewayServicer"]

# Request context worth carrying to the dependencies besides identity (logs and traces).
_PROPAGATED = ("x-request-id", "traceparent", "tracestate")
RESPONSE_ID_HEADER = "x-vod-response-id"
"""Trailing metadata naming the response in its experiment exposure record."""
_PLAN = re.compile(r"^plans/[a-z0-9-]+$")


class GatewayServicer(gateway_pb2_grpc.GatewayServiceServicer):
    def __init__(self, domain: HomeDomain, *, default_region: str) -> None:
        self._domain = domain
        self._default_region = default_region

    async def GetHome(
        self, request: pb.GetHomeRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetHomeResponse:
        caller = caller_from_context(context)
        caller.check_owns_profile(request.profile)
        region = platform_region(caller, request.region_code, default=self._default_region)
        incoming = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        metadata = (
            *forward_metadata(caller),
            *((k, incoming[k]) for k in _PROPAGATED if incoming.get(k)),
        )
        query = HomeQuery(
            profile=request.profile,
            region=region,
            max_items=request.max_items_per_row,
            maturity_limit=maturity.limit_for(caller, request.profile),
            plan=caller.plan if _PLAN.match(caller.plan) else "",
            response_id=uuid.uuid4().hex,
        )
        context.set_trailing_metadata(((RESPONSE_ID_HEADER, query.response_id),))
        return await self._domain.home(query, metadata)
