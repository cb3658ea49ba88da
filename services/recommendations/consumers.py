"""Durable JetStream consumers feeding recommendations: catalog titles (item features),
playback sessions and recorded feedback (the interaction log)."""

from __future__ import annotations

import asyncio

import nats
from google.protobuf.message import DecodeError, Message
from nats.js import api
from vod.events.v1 import catalog_events_pb2 as cev
from vod.events.v1 import feedback_events_pb2 as fev
from vod.events.v1 import playback_events_pb2 as pev

from services.recommendations.domain import RecommendationsDomain
from services.recommendations.signals import (
    from_feedback,
    from_playback_started,
    from_playback_stopped,
)
from services.runtime.logs import get_logger

__all__ = ["DURABLES", "Consumers"]

_log = get_logger("recs.consumers")

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
    if event_type is None:
        return None
    try:
        return event_type.FromString(payload)
    except DecodeError:
        _log.warning("event.undecodable", subject=subject)
        return None  # a poison message is acked and skipped, not redelivered forever


class Consumers:
    """Durable pull consumers on their own connection. They stop by unsubscribing and closing
    (a drain would wait out the pending fetches of pull subscriptions)."""

    def __init__(
        self, domain: RecommendationsDomain, *, batch: int = 128, ack_wait_s: float = 30.0
    ) -> None:
        self._domain = domain
        self._batch = batch
        self._ack_wait_s = ack_wait_s
        self._nc: nats.NATS | None = None
        self._subs: list[object] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, url: str, *, timeout_s: float) -> None:
        self._nc = await nats.connect(
            url,
            name="recommendations-consumers",
            connect_timeout=timeout_s,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
        )
        js = self._nc.jetstream(timeout=timeout_s)
        for stream, (durable, subject) in DURABLES.items():
            sub = await js.pull_subscribe(
                subject,
                durable=durable,
                stream=stream,
                config=api.ConsumerConfig(ack_wait=self._ack_wait_s, max_deliver=-1),
            )
            self._subs.append(sub)
            self._tasks.append(asyncio.create_task(self._loop(sub, durable)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.close()

    async def _loop(self, sub: object, durable: str) -> None:
        while True:
            try:
                messages = await sub.fetch(self._batch, timeout=1.0)  # type: ignore[attr-defined]
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection hiccups: keep consuming
                _log.warning("consumer.fetch_failed", durable=durable, error=str(exc))
                await asyncio.sleep(0.5)
                continue
            for msg in messages:
                try:
                    event = decode(msg.subject, msg.data)
                    if event is not None:
                        await self._handle(event)
                    await msg.ack()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    _log.exception("consumer.handler_failed", durable=durable, subject=msg.subject)
                    await msg.nak(delay=1.0)

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
