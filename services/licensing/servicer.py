"""LicensingService over gRPC: parse, call the domain, map the result. Requests are validated by
the runtime interceptor against the proto rules before they get here; domain errors are mapped
to statuses there too."""

from __future__ import annotations

from typing import TypeAlias

import grpc
from google.api import httpbody_pb2
from vod.licensing.v1 import licensing_pb2 as pb
from vod.licensing.v1 import licensing_pb2_grpc

from services.licensing.domain import LicensingDomain
from services.runtime.errors import PermissionDenied
from services.runtime.identity import caller_from_context

__all__ = ["HEADER_PACKAGER", "LicensingServicer"]

HEADER_PACKAGER = "x-vod-packager"
"""Metadata the packager sends its secret (`VOD_PACKAGER_SECRET`) in on internal key RPCs."""

Context: TypeAlias = grpc.aio.ServicerContext


def _packager(context: Context) -> str:
    for key, value in context.invocation_metadata() or ():
        if key.lower() == HEADER_PACKAGER and isinstance(value, str):
            return value
    return ""


class LicensingServicer(licensing_pb2_grpc.LicensingServiceServicer):
    def __init__(self, domain: LicensingDomain) -> None:
        self._domain = domain

    async def CreateContentKey(
        self, request: pb.CreateContentKeyRequest, context: Context
    ) -> pb.CreateContentKeyResponse:
        self._domain.check_packager(_packager(context))
        wanted = request.content_key
        record = await self._domain.create_content_key(
            wanted.media_asset, wanted.track_type, list(wanted.key_systems)
        )
        return pb.CreateContentKeyResponse(content_key=record.to_proto())

    async def GetContentKeys(
        self, request: pb.GetContentKeysRequest, context: Context
    ) -> pb.GetContentKeysResponse:
        self._domain.check_packager(_packager(context))
        keys = await self._domain.get_content_keys(request.media_asset, list(request.key_ids))
        return pb.GetContentKeysResponse(
            content_keys=[record.to_proto(key, iv) for record, key, iv in keys]
        )

    async def ListContentKeys(
        self, request: pb.ListContentKeysRequest, context: Context
    ) -> pb.ListContentKeysResponse:
        self._domain.check_packager(_packager(context))
        records, token = await self._domain.list_content_keys(
            request.media_asset, request.page_size, request.page_token
        )
        return pb.ListContentKeysResponse(
            content_keys=[r.to_proto() for r in records], next_page_token=token
        )

    async def AcquireClearKeyLicense(
        self, request: pb.AcquireClearKeyLicenseRequest, context: Context
    ) -> pb.AcquireClearKeyLicenseResponse:
        granted = await self._domain.acquire_clearkey(
            request.session_token,
            list(request.license_request.kids),
            request.license_request.type,
            caller_from_context(context).region,
        )
        return pb.AcquireClearKeyLicenseResponse(
            keys=[pb.ClearKeyJsonWebKey(kty="oct", kid=kid, k=k) for kid, k in granted.keys],
            type=granted.type,
            policy=granted.policy,
        )

    async def GetHlsKey(
        self, request: pb.GetHlsKeyRequest, context: Context
    ) -> pb.GetHlsKeyResponse:
        granted = await self._domain.get_hls_key(
            request.session_token, request.key_id, caller_from_context(context).region
        )
        return pb.GetHlsKeyResponse(
            key=httpbody_pb2.HttpBody(content_type="application/octet-stream", data=granted.key),
            policy=granted.policy,
        )

    async def ListLicenseAudits(
        self, request: pb.ListLicenseAuditsRequest, context: Context
    ) -> pb.ListLicenseAuditsResponse:
        caller = caller_from_context(context)
        if caller.authenticated and not caller.is_admin:  # no identity = an internal call
            raise PermissionDenied("the licence audit is for admins", reason="ADMIN_ONLY")
        audits, token = await self._domain.list_audits(
            request.session, request.decision, request.page_size, request.page_token
        )
        return pb.ListLicenseAuditsResponse(license_audits=audits, next_page_token=token)
