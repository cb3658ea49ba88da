"""NATS JetStream events: Protobuf payloads, one subject per event type, durable streams,
durable idempotent consumers.

The subject of an event type is declared in its proto (`option (vod.common.v1.event_subject)`);
every event carries `meta.event_id`, sent as `Nats-Msg-Id` so JetStream drops duplicates inside
its window, and consumers tolerate redelivery by checking the id.

Tracing: every publish is a PRODUCER span whose `traceparent` goes in the message headers (next
to `Vod-Trace-Id`/`Vod-Request-Id`), and every message consumed is handled inside a CONSUMER span
continuing it. Events published through the transactional outbox are sent later, by the relay,
outside the request that wrote them; the outbox row holds only the payload, so the request's span
is found again by event id (`new_meta` remembers it, in this process), or, when the relay runs
elsewhere or after a restart, rebuilt from `EventMeta.trace_id` (see `tracing.remote_parent`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import nats
import structlog
from google.protobuf.message import DecodeError, Message
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError
from opentelemetry import trace
from opentelemetry.context import Context
from prometheus_client import Counter
from vod.common.v1 import event_pb2

from services.runtime import tracing
from services.runtime.logs import get_logger
from services.runtime.tasks import cancel_and_wait

__all__ = [
    "DEAD_LETTERS",
    "DLQ_PREFIX",
    "STREAMS",
    "EventBus",
    "StreamSpec",
    "consumer_span",
    "dead_letter",
    "meta_of",
    "new_meta",
    "subject_of",
    "trace_headers",
]

_log = get_logger("events")


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    max_age_s: float = 14 * 24 * 3600
    duplicate_window_s: float = 300.0


# One durable stream per domain. Work queues (transcode jobs) declare their own.
STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec("VOD_CATALOG", ("vod.catalog.>",)),
    StreamSpec("VOD_MEDIA", ("vod.media.>",)),
    StreamSpec("VOD_PLAYBACK", ("vod.playback.>",)),
    StreamSpec("VOD_FEEDBACK", ("vod.feedback.>",)),
    StreamSpec("VOD_LICENSING", ("vod.licensing.>",)),
    StreamSpec("VOD_QOE", ("vod.qoe.>",), max_age_s=7 * 24 * 3600),
    StreamSpec("VOD_EXPERIMENTS", ("vod.experiments.>",)),
    StreamSpec("VOD_DLQ", ("vod.dlq.>",), max_age_s=30 * 24 * 3600),
)

# Dead letters: a message no consumer can ever process (it does not decode) is copied, payload and
# headers intact, to `vod.dlq.<its subject>` and terminated, instead of being redelivered forever.
DLQ_PREFIX = "vod.dlq."
DEAD_LETTERS = Counter(
    "vod_dead_letters_total",
    "Messages sent to the dead-letter stream, by original subject, consumer and reason.",
    ["subject", "durable", "reason"],
)


async def dead_letter(js: JetStreamContext, msg: Any, *, durable: str, reason: str) -> bool:
    """Copy a poison message to `vod.dlq.<subject>` (stream VOD_DLQ) with headers saying where it
    came from and why, count and log it, then `term` it so JetStream never redelivers it.
    If the copy cannot be stored, the message is nak'ed (kept for a later try) and False returned."""
    metadata = msg.metadata
    headers = {
        **(msg.headers or {}),
        "Vod-Dlq-Subject": msg.subject,
        "Vod-Dlq-Stream": metadata.stream,
        "Vod-Dlq-Sequence": str(metadata.sequence.stream),
        "Vod-Dlq-Durable": durable,
        "Vod-Dlq-Reason": reason,
        # JetStream's dedupe id of the copy: one dead letter per original message.
        "Nats-Msg-Id": f"dlq:{metadata.stream}:{metadata.sequence.stream}",
    }
    try:
        await js.publish(DLQ_PREFIX + msg.subject, msg.data, headers=headers)
    except Exception as exc:
        _log.error(
            "consumer.dead_letter_failed", durable=durable, subject=msg.subject, error=str(exc)
        )
        await msg.nak(delay=5.0)
        return False
    DEAD_LETTERS.labels(msg.subject, durable, reason).inc()
    _log.warning(
        "consumer.dead_lettered",
        durable=durable,
        subject=msg.subject,
        reason=reason,
        stream=metadata.stream,
        sequence=metadata.sequence.stream,
        dlq_subject=DLQ_PREFIX + msg.subject,
    )
    await msg.term()
    return True


def subject_of(event_type: type[Message] | Message) -> str:
    """The NATS subject declared on an event message type."""
    options = event_type.DESCRIPTOR.GetOptions()
    if not options.HasExtension(event_pb2.event_subject):
        raise TypeError(f"{event_type.DESCRIPTOR.full_name} declares no event_subject option")
    return str(options.Extensions[event_pb2.event_subject])


TRACE_HEADER = "Vod-Trace-Id"
REQUEST_HEADER = "Vod-Request-Id"


def meta_of(payload: bytes) -> event_pb2.EventMeta | None:
    """The EventMeta of a serialized event without knowing its type: every event carries it as
    field 1, which protobuf serializes first (tag 0x0a, then a varint length)."""
    if not payload or payload[0] != 0x0A:
        return None
    length, shift, index = 0, 0, 1
    while index < len(payload):
        byte = payload[index]
        length |= (byte & 0x7F) << shift
        index += 1
        if not byte & 0x80:
            break
        shift += 7
    try:
        return event_pb2.EventMeta.FromString(payload[index : index + length])
    except Exception:
        return None


def trace_headers(payload: bytes) -> dict[str, str]:
    """NATS headers carrying the trace and request id of the request that caused the event."""
    meta = meta_of(payload)
    headers = {}
    if meta is not None and meta.trace_id:
        headers[TRACE_HEADER] = meta.trace_id
    if meta is not None and meta.request_id:
        headers[REQUEST_HEADER] = meta.request_id
    return headers


class _CauseCache:
    """Event id -> the span context current when its meta was made, for the events the outbox
    relay publishes later from this process. Bounded: the oldest entries go first."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._entries: OrderedDict[str, trace.SpanContext] = OrderedDict()

    def remember(self, event_id: str, context: trace.SpanContext) -> None:
        self._entries[event_id] = context
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def pop(self, event_id: str) -> trace.SpanContext | None:
        return self._entries.pop(event_id, None)


_causes = _CauseCache()


def new_meta(producer: str) -> event_pb2.EventMeta:
    """Fresh event metadata carrying the current request's ids (trace id from the current span,
    request id from the log context)."""
    bound = structlog.contextvars.get_contextvars()
    meta = event_pb2.EventMeta(
        event_id=str(uuid.uuid4()),
        producer=producer,
        trace_id=tracing.current_trace_id() or str(bound.get("trace_id", "")),
        request_id=str(bound.get("request_id", "")),
    )
    meta.occur_time.FromDatetime(datetime.now(UTC))
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        _causes.remember(meta.event_id, span_context)
    return meta


def _publish_parent(event_id: str, meta: event_pb2.EventMeta | None) -> tuple[Context | None, bool]:
    """The context a publish continues, and whether its parent span was rebuilt: the current
    span when publishing inside a request; else (the outbox relay) the span the event was made
    under, remembered by `new_meta`; else a parent rebuilt from `meta.trace_id`."""
    cause = _causes.pop(event_id)
    if trace.get_current_span().get_span_context().is_valid:
        return None, False
    if cause is not None:
        return trace.set_span_in_context(trace.NonRecordingSpan(cause)), False
    rebuilt = tracing.remote_parent(meta.trace_id, event_id) if meta is not None else None
    return rebuilt, rebuilt is not None


@contextmanager
def consumer_span(
    subject: str, headers: Mapping[str, str] | None, *, durable: str
) -> Iterator[trace.Span]:
    """Handle one consumed message inside a CONSUMER span continuing its `traceparent` (or, for
    messages sent without one, the `Vod-Trace-Id` header), with its trace and request ids bound
    to the logs. For consumer loops of their own (work queues) as much as for `EventBus`."""
    received = headers or {}
    parent = tracing.extract(received)
    rebuilt = False
    if not trace.get_current_span(parent).get_span_context().is_valid:
        message_id = received.get("Nats-Msg-Id", "")
        fallback = tracing.remote_parent(received.get(TRACE_HEADER, ""), message_id)
        parent, rebuilt = (fallback, True) if fallback is not None else (parent, False)
    request_id = received.get(REQUEST_HEADER, "")
    structlog.contextvars.bind_contextvars(request_id=request_id, subject=subject)
    attributes: dict[str, str | bool] = {
        "messaging.system": "nats",
        "messaging.operation.type": "process",
        "messaging.destination.name": subject,
        "messaging.consumer.group.name": durable,
        "messaging.message.id": received.get("Nats-Msg-Id", ""),
    }
    if rebuilt:
        attributes["vod.parent_rebuilt"] = True
    with tracing.tracer().start_as_current_span(
        f"process {subject}", context=parent, kind=trace.SpanKind.CONSUMER, attributes=attributes
    ) as span:
        structlog.contextvars.bind_contextvars(
            trace_id=tracing.current_trace_id() or received.get(TRACE_HEADER, "")
        )
        yield span


Handler = Callable[[Message], Awaitable[None]]


class EventBus:
    """A NATS connection with JetStream; publish events and run durable consumers."""

    def __init__(self, nc: nats.NATS, js: JetStreamContext, *, timeout_s: float) -> None:
        self._nc = nc
        self._js = js
        self._timeout_s = timeout_s
        self._tasks: list[asyncio.Task[None]] = []
        self._subscriptions: list[Any] = []

    @classmethod
    async def connect(cls, url: str, *, name: str, timeout_s: float = 5.0) -> EventBus:
        nc = await nats.connect(
            url,
            name=name,
            connect_timeout=timeout_s,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            allow_reconnect=True,
        )
        return cls(nc, nc.jetstream(timeout=timeout_s), timeout_s=timeout_s)

    @property
    def jetstream(self) -> JetStreamContext:
        """For consumers with their own loops (batching feeds, work queues); prefer `consume`."""
        return self._js

    @property
    def connected(self) -> bool:
        return bool(self._nc.is_connected)

    async def ensure_streams(self, specs: Iterable[StreamSpec] = STREAMS) -> None:
        for spec in specs:
            config = api.StreamConfig(
                name=spec.name,
                subjects=list(spec.subjects),
                storage=api.StorageType.FILE,
                max_age=spec.max_age_s,
                duplicate_window=spec.duplicate_window_s,
            )
            try:
                await self._js.stream_info(spec.name)
                await self._js.update_stream(config)
            except NotFoundError:
                await self._js.add_stream(config)

    async def publish(self, event: Message, *, headers: dict[str, str] | None = None) -> None:
        """Publish an event; its meta.event_id becomes the JetStream dedupe id."""
        meta = getattr(event, "meta", None)
        event_id = meta.event_id if meta is not None and meta.event_id else str(uuid.uuid4())
        await self.publish_raw(subject_of(event), event.SerializeToString(), event_id, headers)

    async def publish_raw(
        self, subject: str, payload: bytes, event_id: str, headers: dict[str, str] | None = None
    ) -> None:
        """Publish a serialized event inside a PRODUCER span; its `traceparent` goes with the
        message (see `_publish_parent` for what it continues)."""
        meta = meta_of(payload)
        parent, rebuilt = _publish_parent(event_id, meta)
        attributes: dict[str, str | bool] = {
            "messaging.system": "nats",
            "messaging.operation.type": "send",
            "messaging.destination.name": subject,
            "messaging.message.id": event_id,
        }
        if meta is not None and meta.request_id:
            attributes[tracing.REQUEST_ID_ATTRIBUTE] = meta.request_id
        if rebuilt:
            attributes["vod.parent_rebuilt"] = True
        with tracing.tracer().start_as_current_span(
            f"publish {subject}",
            context=parent,
            kind=trace.SpanKind.PRODUCER,
            attributes=attributes,
        ):
            all_headers = {
                "Nats-Msg-Id": event_id,
                **trace_headers(payload),
                **tracing.inject({}),
                **(headers or {}),
            }
            await self._js.publish(subject, payload, timeout=self._timeout_s, headers=all_headers)

    def consume(
        self,
        *,
        stream: str,
        durable: str,
        subject: str,
        decode: Callable[[str, bytes], Message | None],
        handler: Handler,
        ack_wait_s: float = 30.0,
        batch: int = 64,
    ) -> asyncio.Task[None]:
        """Run a durable pull consumer in the background; messages are acked after `handler`
        returns and redelivered (after `ack_wait_s`) if it raises. `decode` maps a subject and
        payload to an event, or None to ack and skip subjects the consumer does not handle."""
        task = asyncio.create_task(
            self._consume_loop(stream, durable, subject, decode, handler, ack_wait_s, batch)
        )
        self._tasks.append(task)
        return task

    async def _consume_loop(
        self,
        stream: str,
        durable: str,
        subject: str,
        decode: Callable[[str, bytes], Message | None],
        handler: Handler,
        ack_wait_s: float,
        batch: int,
    ) -> None:
        sub = await self._js.pull_subscribe(
            subject,
            durable=durable,
            stream=stream,
            config=api.ConsumerConfig(ack_wait=ack_wait_s, max_deliver=-1),
        )
        self._subscriptions.append(sub)
        while True:
            try:
                messages = await sub.fetch(batch, timeout=1.0)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except Exception as exc:  # connection hiccups: keep consuming
                _log.warning("consumer.fetch_failed", durable=durable, error=str(exc))
                await asyncio.sleep(0.5)
                continue
            for msg in messages:
                with consumer_span(msg.subject, msg.headers, durable=durable) as span:
                    try:
                        event = decode(msg.subject, msg.data)
                    except DecodeError:  # a poison message: to the dead-letter stream, not lost
                        span.set_status(trace.StatusCode.ERROR, "undecodable payload")
                        await dead_letter(self._js, msg, durable=durable, reason="undecodable")
                        continue
                    try:
                        if event is not None:
                            await handler(event)
                        await msg.ack()
                    except Exception as exc:
                        _log.exception(
                            "consumer.handler_failed", durable=durable, subject=msg.subject
                        )
                        span.record_exception(exc)
                        span.set_status(trace.StatusCode.ERROR, type(exc).__name__)
                        await msg.nak(delay=1.0)

    async def close(self) -> None:
        await cancel_and_wait(self._tasks)
        for sub in self._subscriptions:  # a pull subscription left open stalls the drain below
            try:
                await asyncio.wait_for(sub.unsubscribe(), timeout=self._timeout_s)
            except Exception:
                pass
        try:  # drain flushes pending publishes; never let a stuck drain block shutdown
            if self._nc.is_connected:
                await asyncio.wait_for(self._nc.drain(), timeout=self._timeout_s)
        except Exception:
            pass
        finally:
            if not self._nc.is_closed:
                await self._nc.close()
