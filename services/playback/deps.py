"""What playback needs from other services, each behind a small Protocol, with the adapter that
talks to the real thing next to it: catalog and transcoding (and accounts) over gRPC, the
transcoding origin over HTTP.

Adapters map the dependency's NOT_FOUND to None and any other failure to UNAVAILABLE (the
caller may retry); they never leak the dependency's messages to our clients.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import grpc
import httpx
from vod.accounts.v1 import accounts_pb2 as apb
from vod.accounts.v1 import accounts_pb2_grpc
from vod.catalog.v1 import catalog_pb2 as cpb
from vod.catalog.v1 import catalog_pb2_grpc
from vod.transcoding.v1 import transcoding_pb2 as tpb
from vod.transcoding.v1 import transcoding_pb2_grpc

from services.runtime.errors import Unavailable
from services.runtime.logs import get_logger

__all__ = [
    "AccountsDirectory",
    "GrpcAccounts",
    "GrpcCatalog",
    "GrpcMediaLibrary",
    "HttpOrigin",
    "MediaLibrary",
    "Metadata",
    "OriginManifests",
    "TitleCatalog",
]

_log = get_logger("playback.deps")

Metadata = Sequence[tuple[str, str]]


class TitleCatalog(Protocol):
    async def get_title(self, name: str, metadata: Metadata = ()) -> cpb.Title | None: ...

    async def is_available(
        self, name: str, region: str, at: datetime, metadata: Metadata = ()
    ) -> bool: ...


class MediaLibrary(Protocol):
    async def get_media_asset(self, name: str) -> tpb.MediaAsset | None: ...


class AccountsDirectory(Protocol):
    async def get_profile(self, name: str, metadata: Metadata = ()) -> apb.Profile | None: ...

    async def get_user(self, name: str, metadata: Metadata = ()) -> apb.User | None: ...

    async def list_plans(self) -> list[apb.Plan]: ...


class OriginManifests(Protocol):
    async def get(self, path: str) -> str:
        """The text of an origin manifest (`titles/<t>/manifests/<media>/<file>`); raises
        LookupError when the origin does not have it."""
        ...


def _unavailable(dependency: str, exc: grpc.aio.AioRpcError) -> Unavailable:
    _log.warning("dependency.failed", dependency=dependency, code=exc.code().name)
    return Unavailable(f"{dependency} is unavailable; retry", reason="DEPENDENCY_UNAVAILABLE")


class GrpcCatalog:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = catalog_pb2_grpc.CatalogServiceStub(channel)

    async def get_title(self, name: str, metadata: Metadata = ()) -> cpb.Title | None:
        try:
            reply = await self._stub.GetTitle(
                cpb.GetTitleRequest(name=name), metadata=tuple(metadata)
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise _unavailable("catalog", exc) from exc
        return reply.title

    async def is_available(
        self, name: str, region: str, at: datetime, metadata: Metadata = ()
    ) -> bool:
        request = cpb.CheckAvailabilityRequest(name=name, region_code=region)
        request.time.FromDatetime(at)
        try:
            reply = await self._stub.CheckAvailability(request, metadata=tuple(metadata))
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return False
            raise _unavailable("catalog", exc) from exc
        return reply.available


class GrpcMediaLibrary:
    """Transcoding's GetMediaAsset; assets are immutable, so they are cached."""

    def __init__(self, channel: grpc.aio.Channel, *, cache_size: int = 1024) -> None:
        self._stub = transcoding_pb2_grpc.TranscodingServiceStub(channel)
        self._cache: OrderedDict[str, tpb.MediaAsset] = OrderedDict()
        self._cache_size = cache_size

    async def get_media_asset(self, name: str) -> tpb.MediaAsset | None:
        cached = self._cache.get(name)
        if cached is not None:
            self._cache.move_to_end(name)
            return cached
        try:
            reply = await self._stub.GetMediaAsset(tpb.GetMediaAssetRequest(name=name))
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise _unavailable("transcoding", exc) from exc
        self._cache[name] = reply.media_asset
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return reply.media_asset


class GrpcAccounts:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = accounts_pb2_grpc.AccountsServiceStub(channel)

    async def get_profile(self, name: str, metadata: Metadata = ()) -> apb.Profile | None:
        try:
            reply = await self._stub.GetProfile(
                apb.GetProfileRequest(name=name), metadata=tuple(metadata)
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise _unavailable("accounts", exc) from exc
        return reply.profile

    async def get_user(self, name: str, metadata: Metadata = ()) -> apb.User | None:
        try:
            reply = await self._stub.GetUser(
                apb.GetUserRequest(name=name), metadata=tuple(metadata)
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise _unavailable("accounts", exc) from exc
        return reply.user

    async def list_plans(self) -> list[apb.Plan]:
        try:
            reply = await self._stub.ListPlans(apb.ListPlansRequest())
        except grpc.aio.AioRpcError as exc:
            raise _unavailable("accounts", exc) from exc
        return list(reply.plans)


class HttpOrigin:
    """Origin manifests over HTTP, cached: a published media's manifests never change."""

    def __init__(self, base_url: str, client: httpx.AsyncClient, *, cache_size: int = 4096) -> None:
        self._base = base_url.rstrip("/")
        self._client = client
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._cache_size = cache_size

    async def get(self, path: str) -> str:
        cached = self._cache.get(path)
        if cached is not None:
            self._cache.move_to_end(path)
            return cached
        try:
            reply = await self._client.get(f"{self._base}/{path}")
        except httpx.HTTPError as exc:
            _log.warning("origin.failed", path=path, error=str(exc))
            raise Unavailable(
                "the origin is unavailable; retry", reason="ORIGIN_UNAVAILABLE"
            ) from exc
        if reply.status_code == 404:
            raise LookupError(path)
        if reply.status_code != 200:
            _log.warning("origin.status", path=path, status=reply.status_code)
            raise Unavailable("the origin is unavailable; retry", reason="ORIGIN_UNAVAILABLE")
        text = reply.text
        self._cache[path] = text
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return text
