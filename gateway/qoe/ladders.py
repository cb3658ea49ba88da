"""What was encoded, for joining with what viewers saw: a title's ladder (catalog: title -> its
media asset; transcoding: asset -> renditions with their VMAF) and the encode queue's depth.

Both are read at report time over the services' internal gRPC calls, each with a deadline. An
unreachable dependency never fails a report: the ladder is then unknown (rungs without VMAF,
advice from playback alone) and the queue depth -1, as the contract says."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import grpc
from vod.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from vod.transcoding.v1 import transcoding_pb2 as tpb
from vod.transcoding.v1 import transcoding_pb2_grpc

from services.runtime.logs import get_logger

__all__ = ["EncodedMedia", "GrpcEncodedMedia", "NoEncodedMedia"]

_log = get_logger("qoe.ladders")
_QUEUE_STATES = (tpb.JOB_STATE_QUEUED, tpb.JOB_STATE_RUNNING)


class EncodedMedia(Protocol):
    async def ladder(self, title: str) -> Sequence[tpb.Rendition] | None:
        """The title's renditions, highest first; None when unknown."""
        ...

    async def queue_depth(self) -> int:
        """Transcode jobs queued or running; -1 when the queue cannot be read."""
        ...


class NoEncodedMedia:
    """No catalog or transcoding configured."""

    async def ladder(self, title: str) -> Sequence[tpb.Rendition] | None:
        return None

    async def queue_depth(self) -> int:
        return -1


class GrpcEncodedMedia:
    def __init__(
        self,
        catalog: grpc.aio.Channel,
        transcoding: grpc.aio.Channel,
        *,
        deadline_s: float,
    ) -> None:
        self._catalog = catalog_pb2_grpc.CatalogServiceStub(catalog)
        self._transcoding = transcoding_pb2_grpc.TranscodingServiceStub(transcoding)
        self._deadline_s = deadline_s

    async def ladder(self, title: str) -> Sequence[tpb.Rendition] | None:
        try:
            found = await self._catalog.GetTitle(
                catalog_pb2.GetTitleRequest(name=title), timeout=self._deadline_s
            )
            asset = found.title.media.asset
            if not asset:
                return None
            media = await self._transcoding.GetMediaAsset(
                tpb.GetMediaAssetRequest(name=asset), timeout=self._deadline_s
            )
        except grpc.aio.AioRpcError as exc:
            _log.warning("qoe.ladder_unavailable", title=title, code=exc.code().name)
            return None
        return list(media.media_asset.renditions)

    async def queue_depth(self) -> int:
        depth = 0
        try:
            for state in _QUEUE_STATES:
                token = ""
                while True:
                    page = await self._transcoding.ListJobs(
                        tpb.ListJobsRequest(page_size=1000, page_token=token, state=state),
                        timeout=self._deadline_s,
                    )
                    depth += len(page.jobs)
                    token = page.next_page_token
                    if not token:
                        break
        except grpc.aio.AioRpcError as exc:
            _log.warning("qoe.queue_unavailable", code=exc.code().name)
            return -1
        return depth
