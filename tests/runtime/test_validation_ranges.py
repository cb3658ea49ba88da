"""Values protobuf cannot convert (timestamps outside 0001..9999 or with nanos out of range,
durations past 10,000 years, NaN/infinite doubles, oversized bytes) are rejected by the shared
validation interceptor with INVALID_ARGUMENT and a BadRequest naming the field path, before any
handler converts them. The RPCs over real gRPC against the real catalog and recommendations
servers (real Postgres, real NATS); the generic rules also directly against `validation`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2, wrappers_pb2
from vod.catalog.v1 import catalog_pb2 as cpb
from vod.catalog.v1 import catalog_pb2_grpc
from vod.recommendations.v1 import recommendations_pb2 as rpb
from vod.recommendations.v1 import recommendations_pb2_grpc
from vod.transcoding.v1 import transcoding_pb2 as tpb

from mesh.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from services.catalog.server import running as catalog_running
from services.recommendations.server import running as recs_running
from services.runtime import validation
from tests.catalog.conftest import catalog_settings
from tests.recommendations.conftest import recs_settings
from tests.support import details_of

FAR_FUTURE = 2**62  # seconds: ~1.5e11 years, what a careless client sends as "forever"
TS_MAX = 253_402_300_799  # 9999-12-31T23:59:59Z
TS_MIN = -62_135_596_800  # 0001-01-01T00:00:00Z


def stamp(seconds: int, nanos: int = 0) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)


def now_stamp(delta: timedelta = timedelta()) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(datetime.now(UTC) + delta)
    return out


def movie(name: str, windows: list[cpb.AvailabilityWindow] | None = None) -> cpb.Title:
    return cpb.Title(
        type=cpb.TITLE_TYPE_MOVIE,
        display_name=name,
        release_year=2020,
        genres=["Dramas"],
        availability=windows
        or [cpb.AvailabilityWindow(region_code="US", start_time=now_stamp(-timedelta(days=1)))],
    )


@pytest.fixture(scope="module")
async def database(postgres: EmbeddedPostgres) -> str:
    return postgres.create_database(f"validation_ranges_{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def own_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    """A NATS of this module's own: on the session's shared server the recommendations service
    would first consume every other test's events (and train on them) before it could stop."""
    root = tmp_path_factory.mktemp("validation-nats")
    with EmbeddedNats(root / "js", free_port(), monitor_port=free_port()) as server:
        yield server


@pytest.fixture(scope="module")
async def catalog(
    database: str, own_nats: EmbeddedNats
) -> AsyncIterator[catalog_pb2_grpc.CatalogServiceStub]:
    async with catalog_running(
        catalog_settings(database, own_nats.url), serve_metrics=False
    ) as handle:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
            yield catalog_pb2_grpc.CatalogServiceStub(channel)


@pytest.fixture(scope="module")
async def recs(
    database: str, own_nats: EmbeddedNats
) -> AsyncIterator[recommendations_pb2_grpc.RecommendationsServiceStub]:
    async with recs_running(recs_settings(database, own_nats.url), serve_metrics=False) as h:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{h.port}") as channel:
            yield recommendations_pb2_grpc.RecommendationsServiceStub(channel)


async def rejected(call, request) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(request, timeout=10)
    details = details_of(caught.value)
    assert details.code == grpc.StatusCode.INVALID_ARGUMENT, details
    return details.violations


# -- catalog -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [stamp(FAR_FUTURE), stamp(-FAR_FUTURE), stamp(TS_MAX + 1), stamp(TS_MIN - 1), stamp(0, -1)],
    ids=["2^62", "-2^62", "year-10000", "year-0", "negative-nanos"],
)
async def test_check_availability_time_out_of_range(catalog, bad) -> None:
    title = (await catalog.CreateTitle(cpb.CreateTitleRequest(title=movie("Avail")))).title
    violations = await rejected(
        catalog.CheckAvailability,
        cpb.CheckAvailabilityRequest(name=title.name, region_code="US", time=bad),
    )
    assert list(violations) == ["time"]


async def test_check_availability_nanos_too_large(catalog) -> None:
    violations = await rejected(
        catalog.CheckAvailability,
        cpb.CheckAvailabilityRequest(
            name="titles/any", region_code="US", time=stamp(0, 1_000_000_000)
        ),
    )
    assert violations == {"time": "nanos must be in 0..999999999, got 1000000000"}


async def test_the_edges_of_the_range_are_accepted(catalog) -> None:
    title = (await catalog.CreateTitle(cpb.CreateTitleRequest(title=movie("Edges")))).title
    for edge in (stamp(TS_MAX, 999_999_999), stamp(TS_MIN)):
        reply = await catalog.CheckAvailability(
            cpb.CheckAvailabilityRequest(name=title.name, region_code="US", time=edge)
        )
        assert reply.available is (edge.seconds > 0)


async def test_list_titles_available_at_out_of_range(catalog) -> None:
    violations = await rejected(
        catalog.ListTitles, cpb.ListTitlesRequest(available_at=stamp(FAR_FUTURE))
    )
    assert list(violations) == ["available_at"]
    violations = await rejected(
        catalog.ListTitles, cpb.ListTitlesRequest(available_at=stamp(0, 2_000_000_000))
    )
    assert list(violations) == ["available_at"]


async def test_create_title_availability_window_out_of_range(catalog) -> None:
    windows = [
        cpb.AvailabilityWindow(region_code="US", start_time=now_stamp()),
        cpb.AvailabilityWindow(
            region_code="GB", start_time=stamp(FAR_FUTURE), end_time=stamp(0, -5)
        ),
    ]
    violations = await rejected(
        catalog.CreateTitle, cpb.CreateTitleRequest(title=movie("Window", windows))
    )
    assert sorted(violations) == [
        "title.availability[1].end_time",
        "title.availability[1].start_time",
    ]


async def test_update_title_availability_window_out_of_range(catalog) -> None:
    title = (await catalog.CreateTitle(cpb.CreateTitleRequest(title=movie("Upd")))).title
    patch = cpb.Title(
        name=title.name,
        availability=[
            cpb.AvailabilityWindow(
                region_code="US", start_time=now_stamp(), end_time=stamp(FAR_FUTURE)
            )
        ],
    )
    violations = await rejected(
        catalog.UpdateTitle,
        cpb.UpdateTitleRequest(
            title=patch, update_mask=field_mask_pb2.FieldMask(paths=["availability"])
        ),
    )
    assert list(violations) == ["title.availability[0].end_time"]
    got = (await catalog.GetTitle(cpb.GetTitleRequest(name=title.name))).title
    assert got.availability == title.availability  # nothing was written


# -- recommendations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [stamp(FAR_FUTURE), stamp(-FAR_FUTURE), stamp(0, 1_000_000_000), stamp(5, -1)],
    ids=["2^62", "-2^62", "nanos-1e9", "negative-nanos"],
)
async def test_record_feedback_occur_time_out_of_range(recs, bad) -> None:
    violations = await rejected(
        recs.RecordFeedback,
        rpb.RecordFeedbackRequest(
            profile="users/ada/profiles/main",
            title="titles/any",
            kind=rpb.FEEDBACK_KIND_LIKE,
            event_id=str(uuid.uuid4()),
            occur_time=bad,
        ),
    )
    assert list(violations) == ["occur_time"]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
async def test_record_feedback_non_finite_fraction(recs, bad: float) -> None:
    violations = await rejected(
        recs.RecordFeedback,
        rpb.RecordFeedbackRequest(
            profile="users/ada/profiles/main",
            title="titles/any",
            kind=rpb.FEEDBACK_KIND_VIEW,
            watched_fraction=bad,
            event_id=str(uuid.uuid4()),
        ),
    )
    assert list(violations) == ["watched_fraction"]


# -- the generic rules, on any message -----------------------------------------------------------


def test_duration_range_and_sign() -> None:
    ok = duration_pb2.Duration(seconds=-315_576_000_000, nanos=-999_999_999)
    assert validation._check_duration(ok, "d") == []
    cases = {
        (315_576_000_001, 0): "must be within +-315576000000 seconds (10,000 years), "
        "got seconds=315576000001",
        (0, 1_000_000_000): "nanos must be in -999999999..999999999, got 1000000000",
        (1, -1): "seconds and nanos must have the same sign",
    }
    for (seconds, nanos), message in cases.items():
        found = validation._check_duration(duration_pb2.Duration(seconds=seconds, nanos=nanos), "d")
        assert [(v.field, v.description) for v in found] == [("d", message)]


def test_float_wrappers_are_checked_under_their_own_path() -> None:
    found = validation._WELL_KNOWN["google.protobuf.DoubleValue"](
        wrappers_pb2.DoubleValue(value=float("inf")), "x.ratio"
    )
    assert [(v.field, v.description) for v in found] == [
        ("x.ratio", "must be a finite number, got inf")
    ]


def test_bytes_max_len_is_enforced_in_bytes() -> None:
    chunk = tpb.UploadChunk(offset=0, data=b"\0" * (4 * 1024 * 1024 + 1), crc32c=1)
    found = validation.violations(tpb.UploadRequest(chunk=chunk))
    assert [(v.field, v.description) for v in found] == [
        ("chunk.data", "must be at most 4194304 bytes, got 4194305")
    ]
    chunk.data = b"\0" * (4 * 1024 * 1024)
    assert validation.violations(tpb.UploadRequest(chunk=chunk)) == []
