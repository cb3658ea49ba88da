"""Catalog changes reach NATS JetStream as typed events, verified by a real subscriber; and no
event is lost when NATS dies during writes (transactional outbox)."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import nats
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy
from vod.catalog.v1 import catalog_pb2 as pb
from vod.catalog.v1 import catalog_pb2_grpc
from vod.events.v1 import catalog_events_pb2 as ev

from mesh.embedded import EmbeddedNats, free_port
from services.catalog.server import running
from tests.catalog.conftest import catalog_settings
from tests.catalog.test_catalog_api import movie

DECODERS = {
    "vod.catalog.title_published": ev.TitlePublished,
    "vod.catalog.title_updated": ev.TitleUpdated,
    "vod.catalog.title_removed": ev.TitleRemoved,
}


async def drain_events(
    nats_url: str, expected: int, timeout_s: float = 15.0
) -> list[tuple[str, object]]:
    """Read the whole VOD_CATALOG stream from the start with an ephemeral consumer."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(
            "vod.catalog.>",
            stream="VOD_CATALOG",
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
        )
        events: list[tuple[str, object]] = []
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            try:
                batch = await sub.fetch(100, timeout=0.5)
            except (TimeoutError, nats.errors.TimeoutError):
                if len(events) >= expected:
                    break
                continue
            for msg in batch:
                event = DECODERS[msg.subject].FromString(msg.data)
                # trace context travels in NATS headers too, for consumers' logs
                assert (msg.headers or {}).get("Vod-Trace-Id", "") == event.meta.trace_id
                events.append((msg.subject, event))
                await msg.ack()
        return events
    finally:
        await nc.close()


async def test_create_update_delete_publish_events(catalog, nats_server) -> None:
    created = (
        await catalog.CreateTitle(
            pb.CreateTitleRequest(title=movie(f"Evented {uuid.uuid4().hex[:6]}")),
            metadata=(("x-request-id", "evented-req-1"),),
        )
    ).title
    await catalog.UpdateTitle(
        pb.UpdateTitleRequest(title=pb.Title(name=created.name, synopsis="changed"))
    )
    await catalog.DeleteTitle(pb.DeleteTitleRequest(name=created.name))
    mine: list[tuple[str, object]] = []
    for _ in range(30):
        events = await drain_events(nats_server.url, expected=1, timeout_s=2)
        mine = [
            (s, e)
            for s, e in events
            if getattr(e, "name", "") == created.name
            or getattr(getattr(e, "title", None), "name", "") == created.name
        ]
        if len(mine) >= 3:
            break
        await asyncio.sleep(0.2)
    assert [s for s, _ in mine] == [
        "vod.catalog.title_published",
        "vod.catalog.title_updated",
        "vod.catalog.title_removed",
    ]
    published, updated, removed = (e for _, e in mine)
    assert published.title.display_name == created.display_name
    assert published.meta.producer == "catalog" and published.meta.event_id
    assert published.meta.request_id == "evented-req-1"  # the request that caused it
    assert updated.title.synopsis == "changed" and list(updated.changed_fields) == ["synopsis"]
    assert updated.title.etag != created.etag
    assert len({published.meta.event_id, updated.meta.event_id, removed.meta.event_id}) == 3


async def test_rejected_change_publishes_nothing(catalog, nats_server) -> None:
    marker = f"Rolled Back {uuid.uuid4().hex[:6]}"
    with pytest.raises(grpc.aio.AioRpcError):
        await catalog.CreateTitle(pb.CreateTitleRequest(title=movie(marker), title_id="x" * 70))
    existing = (
        await catalog.CreateTitle(pb.CreateTitleRequest(title=movie(f"Dup {uuid.uuid4().hex[:6]}")))
    ).title
    with pytest.raises(grpc.aio.AioRpcError):  # fails inside the transaction, after validation
        await catalog.CreateTitle(
            pb.CreateTitleRequest(
                title=movie(marker), title_id=existing.name.removeprefix("titles/")
            )
        )
    await asyncio.sleep(1.0)
    events = await drain_events(nats_server.url, expected=1, timeout_s=2)
    assert not [
        e for _, e in events if getattr(getattr(e, "title", None), "display_name", "") == marker
    ]


async def test_no_event_lost_when_nats_dies_during_writes(fresh_database, tmp_path) -> None:
    """Kill NATS (SIGKILL) while titles are being written; every write that returned OK must
    produce exactly one event once NATS is back."""
    own_nats = EmbeddedNats(tmp_path / "js", free_port())
    own_nats.start()
    try:
        settings = catalog_settings(fresh_database, own_nats.url)
        async with (
            running(settings) as handle,
            grpc.aio.insecure_channel(f"127.0.0.1:{handle.port}") as channel,
        ):
            stub = catalog_pb2_grpc.CatalogServiceStub(channel)
            written: list[str] = []

            async def writer(count: int) -> None:
                for i in range(count):
                    title = (
                        await stub.CreateTitle(
                            pb.CreateTitleRequest(title=movie(f"Crash {i} {uuid.uuid4().hex[:4]}"))
                        )
                    ).title
                    written.append(title.name)

            task = asyncio.create_task(writer(60))
            while len(written) < 15:  # kill it mid-stream, with writes before and after
                await asyncio.sleep(0.005)
            own_nats.kill()
            killed_after = len(written)
            await task  # writes keep succeeding: the events wait in the outbox
            assert len(written) == 60 and killed_after < 60
            await asyncio.sleep(1.0)
            own_nats.start()
            events: list[tuple[str, object]] = []
            for _ in range(40):
                events = await drain_events(own_nats.url, expected=60, timeout_s=1.5)
                if len(events) >= 60:
                    break
                await asyncio.sleep(0.5)
            published = [e.title.name for s, e in events if s == "vod.catalog.title_published"]
            assert sorted(published) == sorted(written)  # none lost, none duplicated
    finally:
        own_nats.stop()


async def test_media_events_mark_titles_playable(catalog, nats_server) -> None:
    """Transcoding's events (published here as transcoding does) drive the title's media state;
    redelivery and late events do not undo READY."""
    from vod.events.v1 import media_events_pb2 as media
    from vod.transcoding.v1 import transcoding_pb2 as tpb

    from services.runtime.events import EventBus, new_meta

    title = (
        await catalog.CreateTitle(
            pb.CreateTitleRequest(title=movie(f"Media {uuid.uuid4().hex[:6]}"))
        )
    ).title
    bus = await EventBus.connect(nats_server.url, name="test-transcoding")

    async def state_becomes(wanted: int) -> pb.Title:
        for _ in range(100):
            current = (await catalog.GetTitle(pb.GetTitleRequest(name=title.name))).title
            if current.media.state == wanted:
                return current
            await asyncio.sleep(0.05)
        raise AssertionError(f"media state stayed {current.media.state}, wanted {wanted}")

    try:
        await bus.ensure_streams()
        await bus.publish(
            media.UploadCompleted(
                meta=new_meta("transcoding"), upload=tpb.Upload(name="uploads/u1", title=title.name)
            )
        )
        await state_becomes(pb.MEDIA_STATE_PROCESSING)
        ready = media.MediaReady(
            meta=new_meta("transcoding"),
            media_asset=tpb.MediaAsset(name="media/m1", title=title.name, duration_seconds=12.5),
        )
        await bus.publish(ready)
        playable = await state_becomes(pb.MEDIA_STATE_READY)
        assert playable.media.asset == "media/m1" and playable.media.duration_seconds == 12.5
        version = playable.etag
        again = media.MediaReady()
        again.CopyFrom(ready)
        again.meta.event_id = str(uuid.uuid4())  # a redelivery under a new id: still a no-op
        await bus.publish(again)
        await bus.publish(
            media.TranscodeJobFailed(
                meta=new_meta("transcoding"), job=tpb.Job(name="jobs/old", title=title.name)
            )
        )
        await asyncio.sleep(1.0)
        after = (await catalog.GetTitle(pb.GetTitleRequest(name=title.name))).title
        assert after.media.state == pb.MEDIA_STATE_READY and after.etag == version
        # Events for titles that no longer exist are acknowledged and dropped.
        await bus.publish(
            media.MediaReady(
                meta=new_meta("transcoding"),
                media_asset=tpb.MediaAsset(name="media/x", title="titles/gone"),
            )
        )
    finally:
        await bus.close()
