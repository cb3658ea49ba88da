"""A job message that does not decode (a poison message) is copied to the dead-letter stream
(`vod.dlq.vod.jobs.transcode` on VOD_DLQ, payload and headers intact, plus where it came from and
why), counted in `vod_dead_letters_total`, logged, and terminated: it leaves the work queue instead
of being redelivered every ack-wait forever, and the worker goes on with the next message. Real
NATS JetStream, the real service and an in-process production worker."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError
from prometheus_client import REGISTRY

from services.runtime.events import DLQ_PREFIX
from services.transcoding.config import TranscodingSettings
from services.transcoding.deps import JOBS_SUBJECT

pytestmark = pytest.mark.usefixtures("tc_worker")

DLQ_SUBJECT = DLQ_PREFIX + JOBS_SUBJECT
# Field 1 (length-delimited) claims 5 bytes, 2 follow: protobuf cannot parse it.
TRUNCATED = b"\x0a\x05ab"
# Field number 0 is never valid.
FIELD_ZERO = b"\x00\x01"


@pytest.fixture
async def js(tc_settings: TranscodingSettings) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(tc_settings.runtime.nats_url)
    try:
        yield nc.jetstream(timeout=5)
    finally:
        await nc.close()


def dead_letters(durable: str) -> float:
    value = REGISTRY.get_sample_value(
        "vod_dead_letters_total",
        {"subject": JOBS_SUBJECT, "durable": durable, "reason": "undecodable"},
    )
    return value or 0.0


async def wait_for(predicate, timeout_s: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = await predicate()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout_s}s")


async def test_undecodable_jobs_are_dead_lettered_and_terminated(
    js: JetStreamContext, tc_settings: TranscodingSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    durable = tc_settings.jobs_durable
    before = dead_letters(durable)
    marks = {uuid.uuid4().hex: TRUNCATED, uuid.uuid4().hex: FIELD_ZERO}
    acks = {}
    for mark, payload in marks.items():
        acks[mark] = await js.publish(JOBS_SUBJECT, payload, headers={"X-Test-Mark": mark})

    async def dlq_exists() -> bool:
        try:
            await js.stream_info("VOD_DLQ")
            return True
        except NotFoundError:
            return False

    await wait_for(dlq_exists)
    sub = await js.pull_subscribe(
        DLQ_SUBJECT,
        stream="VOD_DLQ",
        config=api.ConsumerConfig(deliver_policy=api.DeliverPolicy.ALL),
    )
    found: dict[str, object] = {}

    async def both_dead_lettered() -> bool:
        try:
            batch = await sub.fetch(50, timeout=0.5)
        except (TimeoutError, nats.errors.TimeoutError):
            batch = []
        for msg in batch:
            await msg.ack()
            mark = (msg.headers or {}).get("X-Test-Mark")
            if mark in marks:
                found[mark] = msg
        return found.keys() == marks.keys()

    await wait_for(both_dead_lettered)
    for mark, payload in marks.items():
        msg = found[mark]
        assert msg.subject == DLQ_SUBJECT  # type: ignore[attr-defined]
        assert msg.data == payload  # type: ignore[attr-defined]
        headers = msg.headers  # type: ignore[attr-defined]
        assert headers["Vod-Dlq-Subject"] == JOBS_SUBJECT
        assert headers["Vod-Dlq-Stream"] == tc_settings.jobs_stream
        assert headers["Vod-Dlq-Sequence"] == str(acks[mark].seq)
        assert headers["Vod-Dlq-Durable"] == durable
        assert headers["Vod-Dlq-Reason"] == "undecodable"

    async def gone_from_the_queue() -> bool:  # terminated: the work queue dropped them
        for ack in acks.values():
            try:
                await js.get_msg(tc_settings.jobs_stream, ack.seq)
                return False
            except NotFoundError:
                continue
        return True

    await wait_for(gone_from_the_queue)
    assert dead_letters(durable) == before + 2
    info = await js.consumer_info(tc_settings.jobs_stream, durable)
    assert info.num_ack_pending == 0
    assert info.num_redelivered == 0
    await sub.unsubscribe()

    logged = [parse(line) for line in capsys.readouterr().out.splitlines()]
    logged = [
        line
        for line in logged
        if line.get("event") == "consumer.dead_lettered"
        and line.get("sequence") in {str(ack.seq) for ack in acks.values()}
    ]
    assert sorted(line["sequence"] for line in logged) == sorted(str(a.seq) for a in acks.values())
    assert {line["dlq_subject"] for line in logged} == {DLQ_SUBJECT}
    assert {line["reason"] for line in logged} == {"undecodable"}


def parse(line: str) -> dict[str, str]:
    """A log line as rendered by the service (JSON) or by structlog's console default."""
    if line.startswith("{"):
        return {k: str(v) for k, v in json.loads(line).items()}
    match = re.match(r"^\S+ \S+ \[\s*\w+\s*\] (\S+)\s*(.*)$", line)
    if match is None:
        return {}
    fields = dict(re.findall(r"(\w+)=('[^']*'|\S+)", match.group(2)))
    return {"event": match.group(1), **{k: v.strip("'") for k, v in fields.items()}}
