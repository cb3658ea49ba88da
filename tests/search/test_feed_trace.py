"""The search indexer's consumers continue their publishers' traces (issue 10): each catalog and
activity message is handled in a CONSUMER span whose parent is the publisher's span, and the batch
the catalog feed applies links to the spans of the messages in it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from vod.events.v1 import catalog_events_pb2 as cev
from vod.events.v1 import playback_events_pb2 as pev

from mesh.embedded import EmbeddedNats, free_port
from services.runtime import tracing
from services.runtime.events import EventBus, new_meta
from services.runtime.tracing import TracingSettings
from services.search.server import running
from tests.search.conftest import search_settings


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.configure_tracing("vod-test", TracingSettings(enabled=False), exporter=exporter)
    yield exporter
    tracing.configure_tracing("vod-test", TracingSettings(enabled=False))


async def consumer_span(exporter: InMemorySpanExporter, event_id: str) -> ReadableSpan:
    for _ in range(200):
        tracing.force_flush()
        for span in exporter.get_finished_spans():
            attributes = span.attributes or {}
            if (
                span.kind == trace.SpanKind.CONSUMER
                and attributes.get("messaging.message.id") == event_id
            ):
                return span
        await asyncio.sleep(0.05)
    pytest.fail(
        f"no CONSUMER span of {event_id}: {[s.name for s in exporter.get_finished_spans()]}"
    )


async def batch_spans(exporter: InMemorySpanExporter, consumed: ReadableSpan) -> list[ReadableSpan]:
    """The `index vod.catalog batch` spans linking `consumed`, once there is one (or 10 s)."""
    found: list[ReadableSpan] = []
    for _ in range(200):
        tracing.force_flush()
        found = [
            s
            for s in exporter.get_finished_spans()
            if s.name == "index vod.catalog batch"
            and consumed.context.span_id in {link.context.span_id for link in s.links}
        ]
        if found:
            return found
        await asyncio.sleep(0.05)
    return found


def published_by(exporter: InMemorySpanExporter, consumed: ReadableSpan) -> int | None:
    """The span that published the message: the parent of the PRODUCER span the consumer span
    continues."""
    assert consumed.parent is not None
    (producer,) = [
        s for s in exporter.get_finished_spans() if s.context.span_id == consumed.parent.span_id
    ]
    assert producer.kind == trace.SpanKind.PRODUCER
    return producer.parent.span_id if producer.parent is not None else None


async def test_catalog_and_activity_feeds_continue_the_publishers_traces(
    nats_server: EmbeddedNats, tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    settings = search_settings(
        tmp_path / "search",
        nats_server.url,
        f"127.0.0.1:{free_port()}",  # never called: no catalog pages are read here
        durable="search-trace-test",
    )
    async with running(settings, serve_metrics=False):
        bus = await EventBus.connect(nats_server.url, name="trace-test")
        try:
            with tracing.tracer().start_as_current_span("remove a title") as removing:
                removed = cev.TitleRemoved(meta=new_meta("catalog"), name="titles/traced-away")
                await bus.publish(removed)
            with tracing.tracer().start_as_current_span("start playback") as playing:
                started = pev.PlaybackStarted(
                    meta=new_meta("playback"), title="titles/traced", region_code="US"
                )
                await bus.publish(started)
        finally:
            await bus.close()

        catalog = await consumer_span(spans, removed.meta.event_id)
        activity = await consumer_span(spans, started.meta.event_id)
        # The batch span ends after the consumer spans it links (when the index commit is done).
        batches = await batch_spans(spans, catalog)

    assert catalog.name == "process vod.catalog.title_removed"
    assert catalog.context.trace_id == removing.get_span_context().trace_id
    assert catalog.parent is not None
    assert published_by(spans, catalog) == removing.get_span_context().span_id
    assert catalog.attributes["messaging.consumer.group.name"] == "search-trace-test"
    assert len(batches) == 1

    assert activity.name == "process vod.playback.started"
    assert activity.context.trace_id == playing.get_span_context().trace_id
    assert activity.parent is not None
    assert published_by(spans, activity) == playing.get_span_context().span_id
