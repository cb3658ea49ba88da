"""The QoE logic, no grpc: accept a caller's batch (ownership, attribution, idempotency,
publication through the outbox), fold published batches into the aggregates, and read the
aggregates back as the operations overview and a title's ladder report: what viewers saw on each
rung joined with what was encoded (the rung's VMAF), and which rung to add or drop."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from google.protobuf.message import Message
from vod.events.v1 import qoe_events_pb2 as qev
from vod.gateway.v1 import qoe_pb2 as pb
from vod.transcoding.v1 import transcoding_pb2 as tpb

from gateway.qoe.aggregation import Key, Summary, fold_batch, summarize
from gateway.qoe.edges import EdgeLogs
from gateway.qoe.ladders import EncodedMedia, NoEncodedMedia
from gateway.qoe.metrics import QoeMetrics
from gateway.qoe.repository import PostgresQoeRepository
from gateway.qoe.sessions import SessionDirectory
from services.runtime.errors import FieldViolation, InvalidArgument, PermissionDenied
from services.runtime.events import EventBus, new_meta
from services.runtime.identity import Caller

__all__ = ["DURABLE", "QoeDomain"]

DURABLE = "qoe-aggregator"
_HEIGHT = re.compile(r"(\d{3,4})p")
_UUID_NS = uuid.UUID("6c3f7c1e-0f4e-4d55-9a63-8f1b0d2b7a11")
SAME_QUALITY_VMAF = 1.0
"""Adjacent rungs closer than this in VMAF look the same: the upper one spends bits for nothing."""
VISIBLE_DROP_VMAF = 6.0
"""A switch down across a larger VMAF gap is a drop viewers see (about one just-noticeable
difference and a half)."""


def _check_events(events: Sequence[pb.QoeEvent]) -> None:
    """What the contract's field rules cannot say: kinds' own fields make sense."""
    bad: list[FieldViolation] = []
    if not events:
        bad.append(FieldViolation("events", "a batch holds 1-500 events"))
    for i, event in enumerate(events):
        if event.kind == pb.QOE_EVENT_KIND_BITRATE_SWITCH and event.bitrate_bps <= 0:
            bad.append(
                FieldViolation(f"events[{i}].bitrate_bps", "a bitrate switch needs the bitrate")
            )
        if event.kind == pb.QOE_EVENT_KIND_ERROR and not event.error_code:
            bad.append(FieldViolation(f"events[{i}].error_code", "an error needs its code"))
    if bad:
        raise InvalidArgument.of(bad)


def _height(rendition: str) -> int:
    match = _HEIGHT.search(rendition)
    return int(match.group(1)) if match else 0


class QoeDomain:
    def __init__(
        self,
        repository: PostgresQoeRepository,
        sessions: SessionDirectory,
        metrics: QoeMetrics,
        *,
        overview_window_s: int = 900,
        report_window_s: int = 7 * 24 * 3600,
        min_report_plays: int = 20,
        media: EncodedMedia | None = None,
        edges: EdgeLogs | None = None,
    ) -> None:
        self._repo = repository
        self._media = media or NoEncodedMedia()
        self._edges = edges
        self._sessions = sessions
        self._metrics = metrics
        self._overview_window_s = overview_window_s
        self._report_window_s = report_window_s
        self._min_report_plays = min_report_plays

    # -- recording ------------------------------------------------------------------------

    async def record(
        self,
        caller: Caller,
        request: pb.RecordQoeEventsRequest,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> pb.RecordQoeEventsResponse:
        caller.require_user()
        _check_events(request.events)
        session = await self._sessions.get(request.session, metadata)
        if not caller.owns_user(session.user):
            raise PermissionDenied(
                f"{request.session} is not a session of the signed-in user", reason="NOT_OWNER"
            )
        meta = new_meta("gateway.qoe")
        # The event id follows from the idempotency key: a re-send racing the first one is
        # dropped by JetStream too.
        meta.event_id = str(uuid.uuid5(_UUID_NS, f"{request.session}/{request.batch_id}"))
        event = qev.QoeBatchRecorded(
            meta=meta,
            session=request.session,
            batch_id=request.batch_id,
            profile=session.profile,
            title=session.title,
            media_asset=session.media_asset,
            region_code=session.region,
            edge=session.edge,
            events=request.events,
        )
        if not await self._repo.record_batch(event, datetime.now(UTC)):
            self._metrics.batches.labels("duplicate").inc()
            return pb.RecordQoeEventsResponse(accepted=0, duplicate=True)
        self._metrics.batches.labels("recorded").inc()
        return pb.RecordQoeEventsResponse(accepted=len(request.events), duplicate=False)

    # -- aggregation (the VOD_QOE consumer) -------------------------------------------------

    def start_consumer(self, bus: EventBus) -> None:
        bus.consume(
            stream="VOD_QOE",
            durable=DURABLE,
            subject="vod.qoe.recorded",
            decode=decode,
            handler=self.apply,
        )

    async def apply(self, event: Message) -> None:
        assert isinstance(event, qev.QoeBatchRecorded)
        at = (
            event.meta.occur_time.ToDatetime(tzinfo=UTC)
            if event.meta.HasField("occur_time")
            else datetime.now(UTC)
        )
        delta = await self._repo.apply_batch(
            event.session,
            event.batch_id,
            at,
            lambda state: fold_batch(
                event.title, event.region_code, event.edge, state, event.events
            ),
        )
        if delta is None:
            self._metrics.batches.labels("redelivered").inc()
            return
        self._metrics.batches.labels("applied").inc()
        self._metrics.observe(delta)

    # -- reading ----------------------------------------------------------------------------

    def _require_admin(self, caller: Caller) -> None:
        # No identity at all is an internal call (the mesh keeps those off the front door).
        if caller.authenticated and not caller.is_admin:
            raise PermissionDenied("only operators may read QoE aggregates", reason="NOT_ADMIN")

    async def overview(
        self, caller: Caller, request: pb.GetOperationsOverviewRequest
    ) -> pb.GetOperationsOverviewResponse:
        self._require_admin(caller)
        window = request.window_seconds or self._overview_window_s
        if window < 10:
            raise InvalidArgument.for_field("window_seconds", "must be 0 or at least 10")
        now = datetime.now(UTC)
        rows = await self._repo.rows(now - timedelta(seconds=window))
        response = pb.GetOperationsOverviewResponse(
            window_seconds=window, encode_queue_depth=await self._media.queue_depth()
        )
        response.compute_time.FromDatetime(now)
        if self._edges is not None:
            response.edges.extend(await self._edges.statuses())
        total = summarize(rows, None).get(Key("", "", "", ""), Summary())
        response.total.CopyFrom(total.aggregate(Key("", "", "", "")))
        for group, target in (
            ("title", response.by_title),
            ("region", response.by_region),
            ("edge", response.by_edge),
            ("rendition", response.by_rendition),
        ):
            groups = summarize(rows, group)
            ordered = sorted(groups.items(), key=lambda kv: (-kv[1].counters.plays, kv[0]))
            target.extend(summary.aggregate(key) for key, summary in ordered)
        return response

    async def title_report(
        self, caller: Caller, request: pb.GetTitleQoeReportRequest
    ) -> pb.GetTitleQoeReportResponse:
        self._require_admin(caller)
        window = request.window_seconds or self._report_window_s
        rows = await self._repo.rows(
            datetime.now(UTC) - timedelta(seconds=window), title=request.title
        )
        total = summarize(rows, None).get(Key("", "", "", ""), Summary())
        aggregate = total.aggregate(Key(request.title, "", "", ""))
        by_rendition = summarize(rows, "rendition")
        rungs = []
        for key, summary in by_rendition.items():
            if not key.rendition:
                continue
            c = summary.counters
            rungs.append(
                pb.RungQoe(
                    rendition=key.rendition,
                    height=_height(key.rendition),
                    bitrate_bps=c.bitrate_sum // c.bitrate_samples if c.bitrate_samples else 0,
                    seconds_played=c.played_ms / 1000,
                    stalls=c.stalls,
                    downswitches_from=c.downswitches,
                    upswitches_to=c.upswitches,
                )
            )
        _join_ladder(rungs, await self._media.ladder(request.title))
        rungs.sort(key=lambda r: (-r.height, -r.bitrate_bps, r.rendition))
        return pb.GetTitleQoeReportResponse(
            title=request.title,
            plays=aggregate.plays,
            total=aggregate,
            rungs=rungs,
            recommendations=self._advice(aggregate.plays, rungs),
        )

    def _advice(self, plays: int, rungs: list[pb.RungQoe]) -> list[pb.LadderRecommendation]:
        if plays < self._min_report_plays:
            return [
                pb.LadderRecommendation(
                    advice=pb.LADDER_ADVICE_INSUFFICIENT_DATA,
                    reason=f"{plays} plays in the window; at least {self._min_report_plays} needed",
                )
            ]
        played = sum(r.seconds_played for r in rungs)
        out: list[pb.LadderRecommendation] = []
        dropped: set[str] = set()

        def drop(rung: pb.RungQoe, reason: str) -> None:
            if rung.rendition not in dropped:
                dropped.add(rung.rendition)
                out.append(
                    pb.LadderRecommendation(
                        advice=pb.LADDER_ADVICE_DROP_RUNG, rendition=rung.rendition, reason=reason
                    )
                )

        for rung in rungs:
            if played and rung.seconds_played / played < 0.01 and len(rungs) > 2:
                drop(rung, "under 1% of the time played is on this rung")
        for upper, lower in zip(rungs, rungs[1:], strict=False):
            measured = upper.vmaf > 0 and lower.vmaf > 0
            if (
                measured
                and upper.vmaf - lower.vmaf < SAME_QUALITY_VMAF
                and upper.bitrate_bps > lower.bitrate_bps
            ):
                drop(
                    upper,
                    f"VMAF {upper.vmaf:.1f} is within {SAME_QUALITY_VMAF:.0f} point of "
                    f"{lower.rendition}'s {lower.vmaf:.1f} at "
                    f"{upper.bitrate_bps / max(lower.bitrate_bps, 1):.1f}x its bitrate",
                )
            if (
                upper.downswitches_from >= 5
                and lower.bitrate_bps
                and upper.bitrate_bps > 2 * lower.bitrate_bps
                and (not measured or upper.vmaf - lower.vmaf >= VISIBLE_DROP_VMAF)
            ):
                gap = f" (VMAF {upper.vmaf:.1f} -> {lower.vmaf:.1f})" if measured else ""
                out.append(
                    pb.LadderRecommendation(
                        advice=pb.LADDER_ADVICE_ADD_RUNG,
                        rendition=upper.rendition,
                        suggested_bitrate_bps=(upper.bitrate_bps + lower.bitrate_bps) // 2,
                        suggested_height=(upper.height + lower.height) // 2 // 2 * 2,
                        reason="viewers switching down from this rung fall over half its bitrate"
                        + gap,
                    )
                )
        return out or [
            pb.LadderRecommendation(
                advice=pb.LADDER_ADVICE_KEEP, reason="the ladder fits what viewers see"
            )
        ]


def _join_ladder(rungs: list[pb.RungQoe], ladder: Sequence[tpb.Rendition] | None) -> None:
    """Give each rung viewers played its encoded VMAF (players name rungs by height; of several
    encodings of one height, the one whose bitrate is nearest what the player saw), and add the
    ladder's rungs nobody played, with their encoded bitrate and VMAF."""
    if not ladder:
        return
    left = list(ladder)
    for rung in rungs:
        same_height = [r for r in left if r.height == rung.height]
        if not same_height:
            continue
        chosen = min(same_height, key=lambda r: abs(r.bitrate_bps - rung.bitrate_bps))
        left.remove(chosen)
        rung.vmaf = chosen.vmaf
        if not rung.bitrate_bps:
            rung.bitrate_bps = chosen.bitrate_bps
    heights = [r.height for r in left]
    for rendition in left:
        label = f"{rendition.height}p" if heights.count(rendition.height) == 1 else rendition.id
        rungs.append(
            pb.RungQoe(
                rendition=label,
                height=rendition.height,
                bitrate_bps=rendition.bitrate_bps,
                vmaf=rendition.vmaf,
            )
        )


def decode(subject: str, payload: bytes) -> Message | None:
    return qev.QoeBatchRecorded.FromString(payload) if subject == "vod.qoe.recorded" else None
