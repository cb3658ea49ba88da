"""What licensing needs from other services, over gRPC: playback's `GetSession`, catalog's
`CheckAvailability` and accounts' `ListDevices` (the domain's Protocols, implemented here).

Adapters map the dependency's NOT_FOUND to None / False and any other failure to UNAVAILABLE
(the player may retry); they never pass the dependency's messages on to our clients. Caching is
the domain's business (it knows how long an answer may be trusted)."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
from vod.accounts.v1 import accounts_pb2 as apb
from vod.accounts.v1 import accounts_pb2_grpc
from vod.catalog.v1 import catalog_pb2 as cpb
from vod.catalog.v1 import catalog_pb2_grpc
from vod.playback.v1 import playback_pb2 as ppb
from vod.playback.v1 import playback_pb2_grpc

from services.licensing.domain import SessionView
from services.runtime.errors import Unavailable
from services.runtime.identity import HEADER_USER
from services.runtime.logs import get_logger

__all__ = ["GrpcAvailability", "GrpcDevices", "GrpcSessions", "session_view"]

_log = get_logger("licensing.deps")


def _unavailable(dependency: str, exc: grpc.aio.AioRpcError) -> Unavailable:
    _log.warning("dependency.failed", dependency=dependency, code=exc.code().name)
    return Unavailable(f"{dependency} is unavailable; retry", reason="DEPENDENCY_UNAVAILABLE")


def session_view(reply: ppb.GetSessionResponse) -> SessionView:
    session = reply.session
    expire = (
        session.expire_time.ToDatetime(tzinfo=UTC)
        if session.HasField("expire_time")
        else datetime.fromtimestamp(0, UTC)
    )
    user = reply.user or session.profile.split("/profiles/")[0]
    return SessionView(
        name=session.name,
        title=session.title,
        profile=session.profile,
        user=user,
        media_asset=reply.media_asset,
        plan=reply.plan,
        region=session.region_code,
        device_id=session.device_id,
        max_height=session.max_height,
        state=session.state,
        expire_time=expire,
    )


class GrpcSessions:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = playback_pb2_grpc.PlaybackServiceStub(channel)

    async def get_session(self, name: str) -> SessionView | None:
        try:
            reply = await self._stub.GetSession(ppb.GetSessionRequest(name=name))
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return None
            raise _unavailable("playback", exc) from exc
        return session_view(reply)


class GrpcAvailability:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = catalog_pb2_grpc.CatalogServiceStub(channel)

    async def is_available(self, title: str, region: str, at: datetime) -> bool:
        request = cpb.CheckAvailabilityRequest(name=title, region_code=region)
        request.time.FromDatetime(at)
        try:
            reply = await self._stub.CheckAvailability(request)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return False
            raise _unavailable("catalog", exc) from exc
        return reply.available


class GrpcDevices:
    """The user's registered device ids, every page; asked on the user's behalf
    (`x-vod-user`, which accounts trusts on internal calls)."""

    def __init__(self, channel: grpc.aio.Channel, *, max_pages: int = 10) -> None:
        self._stub = accounts_pb2_grpc.AccountsServiceStub(channel)
        self._max_pages = max_pages

    async def device_ids(self, user: str) -> frozenset[str]:
        ids: set[str] = set()
        token = ""
        for _ in range(self._max_pages):
            try:
                reply = await self._stub.ListDevices(
                    apb.ListDevicesRequest(parent=user, page_size=1000, page_token=token),
                    metadata=((HEADER_USER, user),),
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    return frozenset()
                raise _unavailable("accounts", exc) from exc
            ids.update(d.device_id for d in reply.devices)
            token = reply.next_page_token
            if not token:
                break
        return frozenset(ids)
