"""The transcode worker continues the trace of whoever queued the job: the work item's
`traceparent` header becomes the parent of the worker's CONSUMER span (issue 10: consumers
continue the caller's trace)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import nats
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from vod.events.v1 import media_events_pb2 as ev

from services.runtime import tracing
from services.runtime.tracing import TracingSettings
from services.transcoding.config import TranscodingSettings
from services.transcoding.deps import JOBS_SUBJECT


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.configure_tracing("vod-test", TracingSettings(enabled=False), exporter=exporter)
    yield exporter
    tracing.configure_tracing("vod-test", TracingSettings(enabled=False))


async def test_the_worker_continues_the_trace_of_the_queued_job(
    tc_worker: None, tc_settings: TranscodingSettings, spans: InMemorySpanExporter
) -> None:
    job = f"jobs/trace-{uuid.uuid4().hex[:12]}"  # unknown: the worker skips and acks it
    nc = await nats.connect(tc_settings.runtime.nats_url)
    try:
        with tracing.tracer().start_as_current_span("queue a job") as queued:
            headers = tracing.inject({})
            await nc.jetstream().publish(
                JOBS_SUBJECT,
                ev.TranscodeJobQueued(job=job).SerializeToString(),
                stream=tc_settings.jobs_stream,
                headers={**headers, "Nats-Msg-Id": job},
            )
    finally:
        await nc.close()
    want = queued.get_span_context()

    consumer = None
    for _ in range(200):
        tracing.force_flush()
        found = [
            s
            for s in spans.get_finished_spans()
            if s.kind == trace.SpanKind.CONSUMER
            and (s.attributes or {}).get("messaging.message.id") == job
        ]
        if found:
            (consumer,) = found
            break
        await asyncio.sleep(0.05)
    assert consumer is not None, [s.name for s in spans.get_finished_spans()]
    assert consumer.name == f"process {JOBS_SUBJECT}"
    assert consumer.context.trace_id == want.trace_id
    assert consumer.parent is not None and consumer.parent.span_id == want.span_id
    assert consumer.attributes["messaging.consumer.group.name"] == tc_settings.jobs_durable
