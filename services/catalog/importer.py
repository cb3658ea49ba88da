"""Import titles from a CSV in the format of the public Netflix catalog dataset
(`show_id,type,title,director,cast,country,date_added,release_year,rating,duration,listed_in,
description`), through the CatalogService API (so validation, events and search indexing apply
exactly as for any other client).

Availability: the dataset does not say where a title is licensed, so each title gets an
open-ended window from its `date_added` (or 1 January of its release year) in every region of
`default_regions` plus its production countries that map to ISO 3166-1 codes. Re-importing is
harmless: rows carry `external_id = "netflix:<show_id>"`, and ALREADY_EXISTS counts as skipped.
"""

from __future__ import annotations

import asyncio
import csv
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pycountry
from vod.catalog.v1 import catalog_pb2 as pb
from vod.catalog.v1 import catalog_pb2_grpc

from services.catalog.domain import slugify

__all__ = ["ImportReport", "import_csv", "read_rows", "title_from_row"]

RATINGS = {
    "TV-Y": pb.MATURITY_RATING_TV_Y,
    "TV-Y7": pb.MATURITY_RATING_TV_Y7,
    "TV-Y7-FV": pb.MATURITY_RATING_TV_Y7_FV,
    "G": pb.MATURITY_RATING_G,
    "TV-G": pb.MATURITY_RATING_TV_G,
    "PG": pb.MATURITY_RATING_PG,
    "TV-PG": pb.MATURITY_RATING_TV_PG,
    "PG-13": pb.MATURITY_RATING_PG_13,
    "TV-14": pb.MATURITY_RATING_TV_14,
    "R": pb.MATURITY_RATING_R,
    "TV-MA": pb.MATURITY_RATING_TV_MA,
    "NC-17": pb.MATURITY_RATING_NC_17,
    "NR": pb.MATURITY_RATING_NOT_RATED,
    "UR": pb.MATURITY_RATING_NOT_RATED,
}

# Names in the dataset that pycountry does not resolve by itself.
_COUNTRY_ALIASES = {
    "Russia": "RU",
    "Soviet Union": "RU",
    "West Germany": "DE",
    "East Germany": "DE",
    "Vatican City": "VA",
    "Palestine": "PS",
}

_REQUIRED_COLUMNS = ("show_id", "type", "title")


class CsvFormatError(ValueError):
    """The file is not in the expected format; the message says what is missing."""


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def region_of(country: str) -> str | None:
    if country in _COUNTRY_ALIASES:
        return _COUNTRY_ALIASES[country]
    try:
        return str(pycountry.countries.lookup(country).alpha_2)
    except LookupError:
        return None


def _added(row: dict[str, str]) -> datetime:
    raw = (row.get("date_added") or "").strip()
    for layout in ("%d-%b-%y", "%B %d, %Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(raw, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
    year = int(row["release_year"]) if (row.get("release_year") or "").isdigit() else 2000
    return datetime(max(year, 1900), 1, 1, tzinfo=UTC)


def title_from_row(row: dict[str, str], default_regions: Sequence[str]) -> tuple[str, pb.Title]:
    """The title id and title for one CSV row. Raises ValueError for rows that cannot be used."""
    show_id = (row.get("show_id") or "").strip()
    name = " ".join((row.get("title") or "").split())
    if not show_id or not name:
        raise ValueError("show_id and title are required")
    kind = (row.get("type") or "").strip()
    if kind not in ("Movie", "TV Show"):
        raise ValueError(f"type must be Movie or TV Show, got {kind!r}")
    title = pb.Title(
        type=pb.TITLE_TYPE_MOVIE if kind == "Movie" else pb.TITLE_TYPE_SERIES,
        display_name=name[:300],
        synopsis=(row.get("description") or "").strip()[:5000],
        maturity_rating=RATINGS.get(
            (row.get("rating") or "").strip(), pb.MATURITY_RATING_UNSPECIFIED
        ),
        genres=list(dict.fromkeys(_split(row.get("listed_in") or "")))[:20],
        countries=_split(row.get("country") or "")[:50],
        external_id=f"netflix:{show_id}",
    )
    year = (row.get("release_year") or "").strip()
    if year.isdigit() and 0 < int(year) <= 2100:
        title.release_year = int(year)
    minutes = re.fullmatch(r"(\d+) min", (row.get("duration") or "").strip())
    if minutes and kind == "Movie":
        title.duration_seconds = min(int(minutes.group(1)) * 60, 172800)
    for person in _split(row.get("director") or "")[:50]:
        title.credits.add(person=person[:200], role=pb.CREDIT_ROLE_DIRECTOR)
    for person in _split(row.get("cast") or "")[:400]:
        title.credits.add(person=person[:200], role=pb.CREDIT_ROLE_ACTOR)
    start = _added(row)
    regions = dict.fromkeys([*default_regions, *filter(None, map(region_of, title.countries))])
    for region in list(regions)[:300]:
        window = title.availability.add(region_code=region)
        window.start_time.FromDatetime(start)
    return f"{slugify(name, max_len=40)}-{show_id.lower()}", title


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) pairs; raises CsvFormatError when the header is not the dataset's."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in _REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise CsvFormatError(
                f"{path} has no column(s) {', '.join(missing)}; expected the netflix_titles.csv "
                "header: show_id,type,title,director,cast,country,date_added,release_year,rating,"
                "duration,listed_in,description"
            )
        for row in reader:
            yield reader.line_num, row


@dataclass
class ImportReport:
    created: int = 0
    skipped: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.created + self.skipped + len(self.failed)


async def import_csv(
    stub: catalog_pb2_grpc.CatalogServiceStub,
    path: Path,
    *,
    default_regions: Sequence[str] = ("US",),
    limit: int | None = None,
    concurrency: int = 4,
    batch_size: int = 100,
    timeout_s: float = 30.0,
    on_progress: Callable[[ImportReport], None] = lambda report: None,
) -> ImportReport:
    """Create every usable row through `stub`, `batch_size` titles per BatchCreateTitles call;
    a batch that fails (a duplicate, a bad row) is retried title by title so only the offending
    rows are reported. Returns counts and the failures by line."""
    report = ImportReport()
    gate = asyncio.Semaphore(concurrency)

    async def create_one(line: int, request: pb.CreateTitleRequest) -> None:
        try:
            await stub.CreateTitle(request, timeout=timeout_s)
            report.created += 1
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.ALREADY_EXISTS:
                report.skipped += 1
            else:
                report.failed.append((line, f"{exc.code().name}: {exc.details()}"))

    async def create_batch(batch: list[tuple[int, pb.CreateTitleRequest]]) -> None:
        async with gate:
            try:
                await stub.BatchCreateTitles(
                    pb.BatchCreateTitlesRequest(requests=[r for _, r in batch]), timeout=timeout_s
                )
                report.created += len(batch)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in (
                    grpc.StatusCode.ALREADY_EXISTS,
                    grpc.StatusCode.INVALID_ARGUMENT,
                    grpc.StatusCode.FAILED_PRECONDITION,
                ):
                    raise
                for line, request in batch:
                    await create_one(line, request)
        on_progress(report)

    tasks: list[asyncio.Task[None]] = []
    batch: list[tuple[int, pb.CreateTitleRequest]] = []
    for count, (line, row) in enumerate(read_rows(path)):
        if limit is not None and count >= limit:
            break
        try:
            title_id, title = title_from_row(row, default_regions)
        except ValueError as exc:
            report.failed.append((line, str(exc)))
            continue
        batch.append((line, pb.CreateTitleRequest(title=title, title_id=title_id)))
        if len(batch) == batch_size:
            tasks.append(asyncio.create_task(create_batch(batch)))
            batch = []
        if len(tasks) >= concurrency * 2:
            await asyncio.gather(*tasks)
            tasks = []
    if batch:
        tasks.append(asyncio.create_task(create_batch(batch)))
    await asyncio.gather(*tasks)
    return report
