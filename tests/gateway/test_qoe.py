"""QoeService against the real playback of the gateway mesh (tests/gateway/conftest.py), its own
Postgres database and NATS per test, started with its production `started()`: batches from real
sessions become exact aggregates, bad input is refused with field violations, a redelivered
event is not counted twice, and the operator RPCs refuse viewers."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import nats
import nats.aio.msg
import pytest
from vod.common.v1 import event_pb2
from vod.events.v1 import qoe_events_pb2 as qev
from vod.gateway.v1 import qoe_pb2 as pb
from vod.gateway.v1 import qoe_pb2_grpc
from vod.playback.v1 import playback_pb2_grpc

from gateway.qoe.aggregation import TTFF_BOUNDS_MS, percentile, ttff_bucket
from gateway.qoe.config import QoeSettings
from gateway.qoe.server import QoeRuntime, started
from mesh.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from services.runtime.config import RuntimeSettings
from services.runtime.events import EventBus
from tests.gateway.conftest import MOVIE, GatewayMesh
from tests.playback.conftest import identity, start_request, wait_for
from tests.support import details_of

K = pb.QoeEventKind
ADMIN = (("x-vod-user", "users/ops"), ("x-vod-roles", "viewer admin"))


@dataclass
class Qoe:
    run: QoeRuntime
    stub: qoe_pb2_grpc.QoeServiceStub
    nats_url: str

    def metric(self, name: str, **labels: str) -> float:
        return self.run.handle.metrics.registry.get_sample_value(name, labels) or 0.0

    def batches(self, outcome: str) -> float:
        return self.metric("vod_qoe_batches_total", outcome=outcome)


def qoe_settings(
    gw_mesh: GatewayMesh, database: str, nats_url: str, **overrides: Any
) -> QoeSettings:
    """QoE on a free port over `database` and `nats_url`, asking the real playback (not its
    FaultProxy) whose sessions are."""
    return QoeSettings(
        runtime=RuntimeSettings(
            service="qoe",
            grpc_address="127.0.0.1:0",
            metrics_address=f"127.0.0.1:{free_port()}",
            database_url=database,
            nats_url=nats_url,
            drain_grace_s=0.2,
        ),
        playback_address=gw_mesh.playback.target,
        **overrides,
    )


@pytest.fixture
async def qoe(
    gw_mesh: GatewayMesh, postgres: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Qoe]:
    database = postgres.create_database(f"qoe_{secrets.token_hex(6)}")
    root = tmp_path_factory.mktemp("qoe-nats")
    with EmbeddedNats(root / "js", free_port(), monitor_port=free_port()) as nats_server:
        settings = qoe_settings(
            gw_mesh,
            database,
            nats_server.url,
            catalog_address="",  # no ladder, no queue: the report from playback alone
            transcoding_address="",
            min_report_plays=2,
        )
        async with (
            started(settings, serve_metrics=False) as run,
            grpc.aio.insecure_channel(f"127.0.0.1:{run.port}") as channel,
        ):
            yield Qoe(run, qoe_pb2_grpc.QoeServiceStub(channel), nats_server.url)


async def new_session(mesh: GatewayMesh, region: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A fresh viewer starts MOVIE in `region`; returns the session name and their metadata."""
    user = f"users/qoe{secrets.token_hex(4)}"
    mesh.accounts.add_user(user, "plans/standard")
    profile = f"{user}/profiles/main"
    meta = identity(profile, region=region)
    async with grpc.aio.insecure_channel(mesh.playback.address) as channel:
        playback = playback_pb2_grpc.PlaybackServiceStub(channel)
        started_ = await playback.StartPlayback(start_request(profile, MOVIE), metadata=meta)
    return started_.session.name, meta


def ev(kind: int, **fields: object) -> pb.QoeEvent:
    return pb.QoeEvent(kind=kind, **fields)  # type: ignore[arg-type]


def batch(session: str, batch_id: str, *events: pb.QoeEvent) -> pb.RecordQoeEventsRequest:
    return pb.RecordQoeEventsRequest(session=session, batch_id=batch_id, events=events)


async def test_histogram_percentiles_are_bucket_bounds() -> None:
    assert ttff_bucket(800) == TTFF_BOUNDS_MS.index(800)
    assert ttff_bucket(801) == TTFF_BOUNDS_MS.index(810)
    assert ttff_bucket(10**6) == len(TTFF_BOUNDS_MS)
    histogram = {ttff_bucket(v): 1 for v in (400, 800, 1200)}
    assert percentile(histogram, 0.5) == 800.0
    assert percentile(histogram, 0.95) == 1200.0
    assert percentile({}, 0.5) == 0.0


async def test_batches_from_sessions_become_exact_aggregates(
    qoe: Qoe, gw_mesh: GatewayMesh
) -> None:
    a, a_meta = await new_session(gw_mesh, "US")
    b, b_meta = await new_session(gw_mesh, "GB")
    c, c_meta = await new_session(gw_mesh, "US")
    sent = [
        (
            a_meta,
            batch(
                a,
                "a-1",
                ev(K.QOE_EVENT_KIND_STARTUP, offset_ms=0, value_ms=300),
                ev(K.QOE_EVENT_KIND_FIRST_FRAME, offset_ms=800, value_ms=800, rendition="720p"),
                ev(K.QOE_EVENT_KIND_BITRATE_SWITCH, rendition="720p", bitrate_bps=3_000_000),
                ev(K.QOE_EVENT_KIND_PLAYING, offset_ms=10_800, value_ms=10_000),
                ev(K.QOE_EVENT_KIND_REBUFFER_START, offset_ms=10_900),
                ev(K.QOE_EVENT_KIND_REBUFFER_END, offset_ms=12_900, value_ms=2_000),
                ev(K.QOE_EVENT_KIND_BITRATE_SWITCH, rendition="480p", bitrate_bps=1_500_000),
                ev(K.QOE_EVENT_KIND_PLAYING, offset_ms=20_900, value_ms=8_000),
            ),
        ),
        (
            a_meta,
            batch(
                a,
                "a-2",
                ev(K.QOE_EVENT_KIND_PLAYING, offset_ms=25_900, value_ms=5_000),
                ev(K.QOE_EVENT_KIND_DROPPED_FRAMES, offset_ms=25_900, dropped_frames=12),
                ev(K.QOE_EVENT_KIND_ENDED, offset_ms=26_000),
            ),
        ),
        (
            b_meta,
            batch(
                b,
                "b-1",
                ev(K.QOE_EVENT_KIND_FIRST_FRAME, value_ms=1_200, rendition="1080p"),
                ev(K.QOE_EVENT_KIND_PLAYING, value_ms=20_000),
                ev(K.QOE_EVENT_KIND_ERROR, error_code="3016"),
            ),
        ),
        (
            c_meta,
            batch(
                c,
                "c-1",
                ev(K.QOE_EVENT_KIND_FIRST_FRAME, value_ms=400, rendition="720p"),
                ev(K.QOE_EVENT_KIND_PLAYING, value_ms=6_000),
            ),
        ),
    ]
    for meta, request in sent:
        response = await qoe.stub.RecordQoeEvents(request, metadata=meta)
        assert (response.accepted, response.duplicate) == (len(request.events), False)

    async def applied() -> bool:
        return qoe.batches("applied") == 4

    await wait_for(applied, timeout=30)

    overview = await qoe.stub.GetOperationsOverview(
        pb.GetOperationsOverviewRequest(), metadata=ADMIN
    )
    assert overview.window_seconds == 900
    assert overview.encode_queue_depth == -1
    total = overview.total
    assert total.plays == 3
    assert (total.ttff_p50_ms, total.ttff_p95_ms, total.ttff_p99_ms) == (800.0, 1200.0, 1200.0)
    assert total.rebuffer_ratio == 2_000 / (49_000 + 2_000)
    assert total.error_rate == 1 / 3
    assert (total.downswitches, total.dropped_frames) == (1, 12)

    assert [(t.title, t.plays) for t in overview.by_title] == [(MOVIE, 3)]
    regions = {r.region_code: r for r in overview.by_region}
    assert set(regions) == {"US", "GB"}
    assert (regions["US"].plays, regions["US"].ttff_p50_ms, regions["US"].error_rate) == (
        2,
        400.0,
        0.0,
    )
    assert regions["US"].rebuffer_ratio == 2_000 / (29_000 + 2_000)
    assert (regions["GB"].plays, regions["GB"].ttff_p50_ms, regions["GB"].error_rate) == (
        1,
        1200.0,
        1.0,
    )
    assert [(e.edge, e.plays) for e in overview.by_edge] == [("edge-us", 2), ("edge-gb", 1)]
    renditions = {r.rendition: r for r in overview.by_rendition}
    assert {k: (v.plays, v.downswitches, v.dropped_frames) for k, v in renditions.items()} == {
        "720p": (2, 1, 0),
        "480p": (0, 0, 12),
        "1080p": (1, 0, 0),
    }
    assert renditions["720p"].rebuffer_ratio == 2_000 / (16_000 + 2_000)

    report = await qoe.stub.GetTitleQoeReport(
        pb.GetTitleQoeReportRequest(title=MOVIE), metadata=ADMIN
    )
    assert (report.title, report.plays, report.total.plays) == (MOVIE, 3, 3)
    assert [
        (r.rendition, r.height, r.bitrate_bps, r.seconds_played, r.stalls, r.downswitches_from)
        for r in report.rungs
    ] == [
        ("1080p", 1080, 0, 20.0, 0, 0),
        ("720p", 720, 3_000_000, 16.0, 1, 1),
        ("480p", 480, 1_500_000, 13.0, 0, 0),
    ]
    assert [r.advice for r in report.recommendations] == [pb.LADDER_ADVICE_KEEP]

    # The Prometheus series the recording rules read, attributed from playback's session.
    us_720 = {"title": MOVIE, "region": "US", "edge": "edge-us", "rendition": "720p"}
    assert qoe.metric("vod_qoe_plays_total", **us_720) == 2
    assert qoe.metric("vod_qoe_rebuffer_seconds_total", **us_720) == 2.0
    assert qoe.metric("vod_qoe_played_seconds_total", **us_720) == 16.0
    assert qoe.metric("vod_qoe_downswitches_total", **us_720) == 1
    assert qoe.metric("vod_qoe_ttff_seconds_count", **us_720) == 2
    assert qoe.metric("vod_qoe_ttff_seconds_bucket", **us_720, le="0.5") == 1
    gb = {"title": MOVIE, "region": "GB", "edge": "edge-gb", "rendition": "1080p"}
    assert qoe.metric("vod_qoe_errors_total", **gb) == 1


async def test_resent_batch_is_a_no_op_and_redelivery_is_not_counted_twice(
    qoe: Qoe, gw_mesh: GatewayMesh
) -> None:
    session, meta = await new_session(gw_mesh, "US")
    request = batch(
        session,
        "b-1",
        ev(K.QOE_EVENT_KIND_FIRST_FRAME, value_ms=700, rendition="720p"),
        ev(K.QOE_EVENT_KIND_PLAYING, value_ms=4_000),
    )
    first = await qoe.stub.RecordQoeEvents(request, metadata=meta)
    again = await qoe.stub.RecordQoeEvents(request, metadata=meta)
    assert (first.accepted, first.duplicate) == (2, False)
    assert (again.accepted, again.duplicate) == (0, True)

    async def applied_once() -> bool:
        return qoe.batches("applied") == 1

    await wait_for(applied_once, timeout=30)

    # The same batch delivered again (as after a consumer crash past JetStream's dedupe
    # window): a new message id, the same (session, batch_id).
    bus = await EventBus.connect(qoe.nats_url, name="qoe-test")
    try:
        replay = qev.QoeBatchRecorded(
            meta=event_pb2.EventMeta(event_id=secrets.token_hex(8), producer="test"),
            session=session,
            batch_id="b-1",
            profile="",
            title=MOVIE,
            region_code="US",
            edge="edge-us",
            events=request.events,
        )
        await bus.publish(replay)
    finally:
        await bus.close()

    async def redelivered() -> bool:
        return qoe.batches("redelivered") == 1

    await wait_for(redelivered, timeout=30)
    overview = await qoe.stub.GetOperationsOverview(
        pb.GetOperationsOverviewRequest(window_seconds=600), metadata=ADMIN
    )
    assert (overview.total.plays, overview.total.ttff_p50_ms) == (1, 700.0)
    assert overview.total.rebuffer_ratio == 0.0
    assert qoe.batches("applied") == 1
    assert qoe.batches("duplicate") == 1

    # Retention: what is older than the cut-off goes, aggregates and idempotency keys alike.
    assert await qoe.run.repository.prune(datetime.now(UTC) + timedelta(minutes=2)) == 1
    emptied = await qoe.stub.GetOperationsOverview(
        pb.GetOperationsOverviewRequest(), metadata=ADMIN
    )
    assert (emptied.total.plays, list(emptied.by_title)) == (0, [])


async def test_malformed_batches_are_refused_with_field_violations(
    qoe: Qoe, gw_mesh: GatewayMesh
) -> None:
    session, meta = await new_session(gw_mesh, "US")
    cases = [
        (
            batch(session, "x-1", ev(K.QOE_EVENT_KIND_PLAYING, value_ms=-5)),
            "events[0].value_ms",
        ),
        (
            batch(session, "x-2", ev(K.QOE_EVENT_KIND_PLAYING, offset_ms=10**12)),
            "events[0].offset_ms",
        ),
        (
            batch(session, "x-3", *[ev(K.QOE_EVENT_KIND_PLAYING, value_ms=1)] * 501),
            "events",
        ),
        (batch(session, "x-4"), "events"),
        (batch(session, "x-5", ev(K.QOE_EVENT_KIND_UNSPECIFIED)), "events[0].kind"),
        (batch(session, "x-6", ev(99)), "events[0].kind"),
        (
            batch(session, "x-7", ev(K.QOE_EVENT_KIND_ERROR, error_code="bad code!")),
            "events[0].error_code",
        ),
        (batch(session, "x-8", ev(K.QOE_EVENT_KIND_ERROR)), "events[0].error_code"),
        (
            batch(session, "x-9", ev(K.QOE_EVENT_KIND_BITRATE_SWITCH, rendition="720p")),
            "events[0].bitrate_bps",
        ),
        (
            batch(session, "x-10", ev(K.QOE_EVENT_KIND_PLAYING, bitrate_bps=10**10)),
            "events[0].bitrate_bps",
        ),
        (batch("sessions/../etc", "x-11", ev(K.QOE_EVENT_KIND_ENDED)), "session"),
        (batch(session, "", ev(K.QOE_EVENT_KIND_ENDED)), "batch_id"),
        (batch(session, "a b", ev(K.QOE_EVENT_KIND_ENDED)), "batch_id"),
    ]
    for request, field in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await qoe.stub.RecordQoeEvents(request, metadata=meta)
        details = details_of(caught.value)
        assert details.code == grpc.StatusCode.INVALID_ARGUMENT, field
        assert field in details.violations, (field, details.violations)
    assert qoe.batches("recorded") == 0

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await qoe.stub.GetOperationsOverview(
            pb.GetOperationsOverviewRequest(window_seconds=-1), metadata=ADMIN
        )
    assert "window_seconds" in details_of(caught.value).violations


async def test_identity_comes_from_the_token_and_the_session_must_be_the_callers(
    qoe: Qoe, gw_mesh: GatewayMesh
) -> None:
    session, _ = await new_session(gw_mesh, "US")
    _, someone_else = await new_session(gw_mesh, "US")
    request = batch(session, "b-1", ev(K.QOE_EVENT_KIND_ENDED))

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await qoe.stub.RecordQoeEvents(request)
    details = details_of(caught.value)
    assert (details.code, details.reason) == (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await qoe.stub.RecordQoeEvents(request, metadata=someone_else)
    details = details_of(caught.value)
    assert (details.code, details.reason) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_OWNER")

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await qoe.stub.RecordQoeEvents(
            batch("sessions/no-such-session", "b-1", ev(K.QOE_EVENT_KIND_ENDED)),
            metadata=someone_else,
        )
    details = details_of(caught.value)
    assert (details.code, details.reason, details.resource_name) == (
        grpc.StatusCode.NOT_FOUND,
        "SESSION_NOT_FOUND",
        "sessions/no-such-session",
    )
    assert qoe.batches("recorded") == 0


async def test_operator_rpcs_refuse_viewers(qoe: Qoe, gw_mesh: GatewayMesh) -> None:
    _, viewer = await new_session(gw_mesh, "US")
    for call, request in (
        (qoe.stub.GetOperationsOverview, pb.GetOperationsOverviewRequest()),
        (qoe.stub.GetTitleQoeReport, pb.GetTitleQoeReportRequest(title=MOVIE)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(request, metadata=viewer)  # type: ignore[operator]
        details = details_of(caught.value)
        assert (details.code, details.reason) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_ADMIN")
    empty = await qoe.stub.GetTitleQoeReport(
        pb.GetTitleQoeReportRequest(title=MOVIE), metadata=ADMIN
    )
    assert (empty.plays, [r.advice for r in empty.recommendations]) == (
        0,
        [pb.LADDER_ADVICE_INSUFFICIENT_DATA],
    )


async def test_published_event_is_attributed_by_the_platform_and_carries_the_trace(
    qoe: Qoe, gw_mesh: GatewayMesh
) -> None:
    session, meta = await new_session(gw_mesh, "GB")
    trace_id = secrets.token_hex(16)
    traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    nc = await nats.connect(qoe.nats_url)
    try:
        received: asyncio.Queue[nats.aio.msg.Msg] = asyncio.Queue()
        await nc.subscribe("vod.qoe.recorded", cb=received.put)
        await qoe.stub.RecordQoeEvents(
            batch(session, "t-1", ev(K.QOE_EVENT_KIND_FIRST_FRAME, value_ms=900)),
            metadata=(*meta, ("traceparent", traceparent)),
        )
        msg = await asyncio.wait_for(received.get(), timeout=30)
    finally:
        await nc.close()
    event = qev.QoeBatchRecorded.FromString(msg.data)
    user = meta[0][1]
    assert (event.session, event.batch_id, event.profile, event.title) == (
        session,
        "t-1",
        f"{user}/profiles/main",
        MOVIE,
    )
    assert (event.region_code, event.edge, event.media_asset.startswith("media/")) == (
        "GB",
        "edge-gb",
        True,
    )
    assert event.meta.trace_id == trace_id
    assert msg.headers is not None
    assert msg.headers["traceparent"].split("-")[1] == trace_id


async def test_vod_qoe_report_prints_the_rungs_and_the_advice(
    qoe: Qoe, gw_mesh: GatewayMesh
) -> None:
    """`vod qoe report` against the service: the exact lines an operator reads."""
    import argparse
    import io

    from rich.console import Console

    from gateway.qoe.cli import run_report

    session, meta = await new_session(gw_mesh, "US")
    await qoe.stub.RecordQoeEvents(
        batch(
            session,
            "b-cli",
            ev(K.QOE_EVENT_KIND_FIRST_FRAME, offset_ms=900, value_ms=900, rendition="720p"),
            ev(K.QOE_EVENT_KIND_BITRATE_SWITCH, rendition="720p", bitrate_bps=3_000_000),
            ev(K.QOE_EVENT_KIND_PLAYING, offset_ms=10_900, value_ms=10_000),
        ),
        metadata=meta,
    )

    async def reported() -> pb.GetTitleQoeReportResponse:
        return await qoe.stub.GetTitleQoeReport(
            pb.GetTitleQoeReportRequest(title=MOVIE), metadata=ADMIN
        )

    deadline = asyncio.get_running_loop().time() + 20
    while (await reported()).plays < 1:
        assert asyncio.get_running_loop().time() < deadline, "the batch was never aggregated"
        await asyncio.sleep(0.05)
    out = io.StringIO()
    args = argparse.Namespace(title=MOVIE, window_seconds=0, target=f"127.0.0.1:{qoe.run.port}")
    code = await run_report(args, Console(file=out, width=120, color_system=None))
    assert code == 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"{MOVIE}: 1 plays · TTFF p50 ")
    (row,) = [line for line in lines if "│ 720p" in line]
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    assert cells == ["720p", "720", "3.00 Mb/s", "10 s", "0", "0", "0", "—"]
    assert lines[-1].startswith("INSUFFICIENT DATA")


def test_the_ladder_join_and_its_advice() -> None:
    """Rungs joined with an encoded ladder by height, and advice read off both: a rung whose
    VMAF is within a point of the one below costs bits for nothing (drop), a rung nobody plays is
    dropped, and frequent switches across a visible VMAF gap ask for a rung in between."""
    from vod.transcoding.v1 import transcoding_pb2 as tpb

    from gateway.qoe.domain import QoeDomain, _join_ladder

    ladder = [
        tpb.Rendition(id="1080p-h264", height=1080, bitrate_bps=5_000_000, vmaf=95.0),
        tpb.Rendition(id="720p-h264", height=720, bitrate_bps=3_000_000, vmaf=94.5),
        tpb.Rendition(id="480p-h264", height=480, bitrate_bps=1_000_000, vmaf=80.0),
        tpb.Rendition(id="360p-h264", height=360, bitrate_bps=600_000, vmaf=70.0),
    ]
    rungs = [
        pb.RungQoe(rendition="1080p", height=1080, bitrate_bps=4_800_000, seconds_played=100),
        pb.RungQoe(
            rendition="720p",
            height=720,
            bitrate_bps=2_900_000,
            seconds_played=200,
            downswitches_from=6,
        ),
        pb.RungQoe(rendition="480p", height=480, bitrate_bps=0, seconds_played=50),
    ]
    _join_ladder(rungs, ladder)
    assert [(r.rendition, r.vmaf, r.bitrate_bps, r.seconds_played) for r in rungs] == [
        ("1080p", 95.0, 4_800_000, 100.0),
        ("720p", 94.5, 2_900_000, 200.0),
        ("480p", 80.0, 1_000_000, 50.0),  # the player did not say: the encoded bitrate
        ("360p", 70.0, 600_000, 0.0),  # in the ladder, never played
    ]
    domain = QoeDomain(None, None, None, min_report_plays=1)  # type: ignore[arg-type]
    advice = domain._advice(10, rungs)
    assert [(a.advice, a.rendition) for a in advice] == [
        (pb.LADDER_ADVICE_DROP_RUNG, "360p"),
        (pb.LADDER_ADVICE_DROP_RUNG, "1080p"),
        (pb.LADDER_ADVICE_ADD_RUNG, "720p"),
    ]
    add = advice[2]
    assert (add.suggested_bitrate_bps, add.suggested_height) == (1_950_000, 600)
    assert "VMAF 94.5 -> 80.0" in add.reason

    # Without a VMAF gap viewers would see, switching down asks for nothing.
    flat = [pb.RungQoe() for _ in rungs]
    for copy, rung in zip(flat, rungs[:3], strict=False):
        copy.CopyFrom(rung)
    flat[2].vmaf = 92.0
    assert [a.advice for a in domain._advice(10, flat[:3])] == [pb.LADDER_ADVICE_DROP_RUNG]


async def test_the_report_carries_the_encoded_ladder_and_the_queue_depth(
    gw_mesh: GatewayMesh, postgres: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from vod.catalog.v1 import catalog_pb2 as cpb
    from vod.transcoding.v1 import transcoding_pb2 as tpb
    from vod.transcoding.v1 import transcoding_pb2_grpc

    async with grpc.aio.insecure_channel(gw_mesh.transcoding_address) as tc_channel:
        title = await gw_mesh.catalog_stub.GetTitle(cpb.GetTitleRequest(name=MOVIE))
        media = await transcoding_pb2_grpc.TranscodingServiceStub(tc_channel).GetMediaAsset(
            tpb.GetMediaAssetRequest(name=title.title.media.asset)
        )
    ladder = list(media.media_asset.renditions)
    assert ladder and all(r.vmaf > 0 for r in ladder)  # the real encode measured each rung
    played = ladder[0]

    database = postgres.create_database(f"qoe_{secrets.token_hex(6)}")
    root = tmp_path_factory.mktemp("qoe-ladder-nats")
    with EmbeddedNats(root / "js", free_port(), monitor_port=free_port()) as nats_server:
        settings = qoe_settings(
            gw_mesh,
            database,
            nats_server.url,
            catalog_address=gw_mesh.catalog_address,
            transcoding_address=gw_mesh.transcoding_address,
            min_report_plays=1,
        )
        async with (
            started(settings, serve_metrics=False) as run,
            grpc.aio.insecure_channel(f"127.0.0.1:{run.port}") as channel,
        ):
            qoe = Qoe(run, qoe_pb2_grpc.QoeServiceStub(channel), nats_server.url)
            session, meta = await new_session(gw_mesh, "US")
            rendition = f"{played.height}p"
            await qoe.stub.RecordQoeEvents(
                batch(
                    session,
                    "b1",
                    ev(
                        K.QOE_EVENT_KIND_FIRST_FRAME,
                        offset_ms=300,
                        value_ms=300,
                        rendition=rendition,
                    ),
                    ev(K.QOE_EVENT_KIND_PLAYING, offset_ms=12_300, value_ms=12_000),
                ),
                metadata=meta,
            )

            async def applied() -> bool:
                return qoe.batches("applied") == 1

            await wait_for(applied, timeout=30)
            report = await qoe.stub.GetTitleQoeReport(
                pb.GetTitleQoeReportRequest(title=MOVIE), metadata=ADMIN
            )
            overview = await qoe.stub.GetOperationsOverview(
                pb.GetOperationsOverviewRequest(), metadata=ADMIN
            )
    by_height = {r.height: r for r in report.rungs}
    assert set(by_height) == {r.height for r in ladder}
    for rendition_ in ladder:
        assert by_height[rendition_.height].vmaf == rendition_.vmaf
    assert by_height[played.height].seconds_played == 12.0
    assert all(by_height[r.height].seconds_played == 0 for r in ladder[1:])
    # The fixture's only job has finished: nothing queued or running.
    assert overview.encode_queue_depth == 0
