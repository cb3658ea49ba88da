"""Durable JetStream consumers feeding the read-out: plays from playback events, time to first
frame and errors from the QoE batches the gateway attributes to sessions."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.message import Message
from vod.events.v1 import playback_events_pb2 as pev
from vod.events.v1 import qoe_events_pb2 as qev
from vod.gateway.v1 import qoe_pb2

from services.experiments.repository import PostgresExperimentsRepository
from services.runtime.events import EventBus

__all__ = ["DURABLES", "Consumers", "decode"]

_TYPES: dict[str, type[Message]] = {
    "vod.playback.started": pev.PlaybackStarted,
    "vod.playback.stopped": pev.PlaybackStopped,
    "vod.qoe.recorded": qev.QoeBatchRecorded,
}

DURABLES = {
    "VOD_PLAYBACK": ("experiments-playback", "vod.playback.>"),
    "VOD_QOE": ("experiments-qoe", "vod.qoe.>"),
}


def decode(subject: str, payload: bytes) -> Message | None:
    event_type = _TYPES.get(subject)
    return event_type.FromString(payload) if event_type is not None else None


class Consumers:
    def __init__(self, repository: PostgresExperimentsRepository) -> None:
        self._repo = repository

    def start(self, bus: EventBus) -> None:
        for stream, (durable, subject) in DURABLES.items():
            bus.consume(
                stream=stream, durable=durable, subject=subject, decode=decode, handler=self.handle
            )

    async def handle(self, event: Message) -> None:
        if isinstance(event, pev.PlaybackStarted):
            at = (
                event.meta.occur_time.ToDatetime(tzinfo=UTC)
                if event.meta.HasField("occur_time")
                else datetime.now(UTC)
            )
            await self._repo.play_started(
                event.session,
                event.profile,
                event.title,
                at,
                event.start_position.ToTimedelta().total_seconds(),
            )
        elif isinstance(event, pev.PlaybackStopped):
            await self._repo.play_stopped(
                event.session,
                event.profile,
                event.title,
                event.position.ToTimedelta().total_seconds(),
            )
        elif isinstance(event, qev.QoeBatchRecorded):
            ttff = next(
                (
                    float(e.value_ms)
                    for e in event.events
                    if e.kind == qoe_pb2.QOE_EVENT_KIND_FIRST_FRAME
                ),
                None,
            )
            errored = any(e.kind == qoe_pb2.QOE_EVENT_KIND_ERROR for e in event.events)
            if ttff is not None or errored:
                await self._repo.play_quality(
                    event.session, event.profile, event.title, ttff, errored
                )
