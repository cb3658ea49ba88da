"""Durable JetStream consumers feeding recommendations: catalog titles (item features),
playback sessions and recorded feedback (the interaction log)."""

from __future__ import annotations

from google.protobuf.message import Message
from vod.events.v1 import catalog_events_pb2 as cev
from vod.events.v1 import feedback_events_pb2 as fev
from vod.events.v1 import playback_events_pb2 as pev

from services.recommendations.domain import RecommendationsDomain
from services.recommendations.signals import (
    from_feedback,
    from_playback_started,
    from_playback_stopped,
)
from services.runtime.events import EventBus

__all__ = ["DURABLES", "Consumers"]

_TYPES: dict[str, type[Message]] = {
    "vod.catalog.title_published": cev.TitlePublished,
    "vod.catalog.title_updated": cev.TitleUpdated,
    "vod.catalog.title_removed": cev.TitleRemoved,
    "vod.playback.started": pev.PlaybackStarted,
    "vod.playback.stopped": pev.PlaybackStopped,
    "vod.feedback.recorded": fev.FeedbackRecorded,
}

DURABLES = {
    "VOD_CATALOG": ("recommendations-catalog", "vod.catalog.>"),
    "VOD_PLAYBACK": ("recommendations-playback", "vod.playback.>"),
    "VOD_FEEDBACK": ("recommendations-feedback", "vod.feedback.>"),
}


def decode(subject: str, payload: bytes) -> Message | None:
    event_type = _TYPES.get(subject)
    return event_type.FromString(payload) if event_type is not None else None


class Consumers:
    """Durable pull consumers on the service's EventBus: catalog titles become item features,
    playback and feedback events become interactions. The bus stops them when it closes."""

    def __init__(self, domain: RecommendationsDomain, *, batch: int = 128) -> None:
        self._domain = domain
        self._batch = batch

    def start(self, bus: EventBus) -> None:
        for stream, (durable, subject) in DURABLES.items():
            bus.consume(
                stream=stream,
                durable=durable,
                subject=subject,
                decode=decode,
                handler=self._handle,
                batch=self._batch,
            )

    async def _handle(self, event: Message) -> None:
        domain = self._domain
        if isinstance(event, cev.TitlePublished | cev.TitleUpdated):
            if event.title.name:
                await domain.title_changed(event.title)
        elif isinstance(event, cev.TitleRemoved):
            await domain.title_removed(event.name)
        elif isinstance(event, pev.PlaybackStarted):
            await domain.ingest(from_playback_started(event))
        elif isinstance(event, pev.PlaybackStopped):
            await domain.ingest(from_playback_stopped(event))
        elif isinstance(event, fev.FeedbackRecorded):
            await domain.ingest(from_feedback(event))
