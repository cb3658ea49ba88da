"""`vod catalog import`: the real 8,807-title dataset through the catalog API, and batch create."""

from __future__ import annotations

import csv
import uuid
from pathlib import Path

import grpc
import pytest
from vod.catalog.v1 import catalog_pb2 as pb

from services.catalog.importer import CsvFormatError, import_csv, read_rows, title_from_row
from tests.catalog.test_catalog_api import movie
from tests.conftest import DATASET
from tests.support import details_of


def test_row_mapping_uses_every_column() -> None:
    rows = {row["show_id"]: row for _, row in read_rows(DATASET)}
    title_id, title = title_from_row(rows["s1"], ["US"])
    assert title_id == "dick-johnson-is-dead-s1"
    assert title.display_name == "Dick Johnson Is Dead"
    assert title.type == pb.TITLE_TYPE_MOVIE and title.release_year == 2020
    assert title.duration_seconds == 90 * 60 and title.maturity_rating == pb.MATURITY_RATING_PG_13
    assert [c.person for c in title.credits if c.role == pb.CREDIT_ROLE_DIRECTOR] == [
        "Kirsten Johnson"
    ]
    assert list(title.genres) == ["Documentaries"] and title.external_id == "netflix:s1"
    assert [w.region_code for w in title.availability] == ["US"]
    _, show = title_from_row(rows["s2"], ["GB"])
    assert show.type == pb.TITLE_TYPE_SERIES
    assert [w.region_code for w in show.availability] == ["GB", "ZA"]  # South Africa production
    assert show.availability[0].start_time.ToDatetime().date().isoformat() == "2021-09-24"


def test_bad_header_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name\n1,x\n")
    with pytest.raises(CsvFormatError, match="show_id"):
        list(read_rows(bad))


async def test_full_dataset_import_is_complete_and_idempotent(
    fresh_database, nats_server, tmp_path
) -> None:
    from vod.catalog.v1 import catalog_pb2_grpc

    from services.catalog.server import running
    from tests.catalog.conftest import catalog_settings

    with DATASET.open(encoding="utf-8") as handle:
        expected = sum(1 for _ in csv.DictReader(handle))
    async with (
        running(catalog_settings(fresh_database, nats_server.url), serve_metrics=False) as handle,
        grpc.aio.insecure_channel(f"127.0.0.1:{handle.port}") as channel,
    ):
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        report = await import_csv(stub, DATASET)
        assert (report.created, report.failed) == (expected, [])
        listed = await stub.ListTitles(pb.ListTitlesRequest(page_size=1))
        assert listed.total_size == expected
        movies = await stub.ListTitles(pb.ListTitlesRequest(page_size=1, type=pb.TITLE_TYPE_MOVIE))
        shows = await stub.ListTitles(pb.ListTitlesRequest(page_size=1, type=pb.TITLE_TYPE_SERIES))
        with DATASET.open(encoding="utf-8") as handle:
            kinds = [row["type"] for row in csv.DictReader(handle)]
        assert movies.total_size == kinds.count("Movie") and shows.total_size == kinds.count(
            "TV Show"
        )
        by_actor = await stub.ListTitles(
            pb.ListTitlesRequest(person="Shah Rukh Khan", page_size=100)
        )
        assert by_actor.total_size >= 20
        assert all(any(c.person == "Shah Rukh Khan" for c in t.credits) for t in by_actor.titles)
        s1 = (await stub.GetTitle(pb.GetTitleRequest(name="titles/dick-johnson-is-dead-s1"))).title
        assert s1.release_year == 2020
        again = await import_csv(stub, DATASET, limit=300)
        assert (again.created, again.skipped, again.failed) == (0, 300, [])


async def test_batch_create_is_all_or_nothing(catalog) -> None:
    tag = uuid.uuid4().hex[:6]
    good = pb.CreateTitleRequest(title=movie(f"Batch good {tag}"), title_id=f"batch-good-{tag}")
    bad = pb.CreateTitleRequest(title=movie(f"Batch bad {tag}", maturity_rating=99))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await catalog.BatchCreateTitles(pb.BatchCreateTitlesRequest(requests=[good, bad]))
    d = details_of(err.value)
    assert d.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "requests[1].title.maturity_rating" in d.violations
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await catalog.GetTitle(pb.GetTitleRequest(name=f"titles/batch-good-{tag}"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    # A parent earlier in the same batch is fine.
    series = pb.CreateTitleRequest(
        title=pb.Title(type=pb.TITLE_TYPE_SERIES, display_name="S"), title_id=f"bs-{tag}"
    )
    season = pb.CreateTitleRequest(
        title=pb.Title(
            type=pb.TITLE_TYPE_SEASON, display_name="S1", parent=f"titles/bs-{tag}", number=1
        ),
        title_id=f"bs-{tag}-1",
    )
    created = await catalog.BatchCreateTitles(
        pb.BatchCreateTitlesRequest(requests=[series, season, good])
    )
    assert [t.name for t in created.titles] == [
        f"titles/bs-{tag}",
        f"titles/bs-{tag}-1",
        f"titles/batch-good-{tag}",
    ]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await catalog.BatchCreateTitles(pb.BatchCreateTitlesRequest(requests=[good]))
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
