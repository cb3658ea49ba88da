"""Catalog rules: what a valid title is, how ids, etags, masks and page tokens work, and the
use cases (get, list, create, update, delete, availability) over a `TitleRepository`.

No gRPC here: errors are `services.runtime.errors` exceptions, data are the generated messages.
"""

from __future__ import annotations

import builtins
import hashlib
import re
import secrets
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import pycountry
from google.protobuf import field_mask_pb2, timestamp_pb2
from google.protobuf.message import Message
from vod.catalog.v1 import catalog_pb2 as pb
from vod.events.v1 import catalog_events_pb2 as ev

from services.runtime import validation
from services.runtime.errors import (
    Aborted,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from services.runtime.events import new_meta
from services.runtime.page_tokens import PageTokens, bad_page_token, default_page_tokens

__all__ = [
    "MUTABLE_FIELDS",
    "CatalogDomain",
    "Cursor",
    "TitleQuery",
    "TitleRepository",
    "etag_for",
    "etag_mismatch",
    "not_found",
    "slugify",
]

PRODUCER = "catalog"
DEFAULT_PAGE_SIZE = 50
MAX_BATCH = 100

# Paths an update_mask may name. type is immutable; name, media and times are output only.
MUTABLE_FIELDS = frozenset(
    {
        "display_name",
        "parent",
        "number",
        "synopsis",
        "release_year",
        "duration_seconds",
        "maturity_rating",
        "genres",
        "credits",
        "countries",
        "artwork",
        "availability",
        "external_id",
    }
)
_OUTPUT_ONLY = frozenset({"name", "type", "media", "create_time", "update_time", "etag"})

_CHILD_PARENT = {
    pb.TITLE_TYPE_SEASON: pb.TITLE_TYPE_SERIES,
    pb.TITLE_TYPE_EPISODE: pb.TITLE_TYPE_SEASON,
}

_NAME = re.compile(r"titles/[a-z0-9][a-z0-9-]{0,62}")

_ORDER_FIELDS = {"display_name", "release_year", "create_time", "number"}


# --------------------------------------------------------------------------------------------
# Value helpers


def slugify(text: str, *, max_len: int = 48) -> str:
    """`"Amélie (2001)"` → `"amelie-2001"`; never empty."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:max_len].strip("-")
    return slug or "title"


def title_id_of(name: str) -> str:
    return name.removeprefix("titles/")


def etag_for(title_id: str, version: int) -> str:
    return hashlib.sha256(f"{title_id}:{version}".encode()).hexdigest()[:16]


def now_utc() -> datetime:
    return datetime.now(UTC)


def _ts(value: timestamp_pb2.Timestamp) -> datetime:
    return value.ToDatetime(tzinfo=UTC)


def is_region(code: str) -> bool:
    return pycountry.countries.get(alpha_2=code) is not None


# --------------------------------------------------------------------------------------------
# Semantic validation (the proto rules already ran in the interceptor)


def check_title(title: pb.Title, prefix: str = "title", *, rules_checked: bool = False) -> pb.Title:
    """Check a whole title (the proto rules and what they cannot express), normalised. Pass
    `rules_checked` when the interceptor already applied the proto rules to this very message
    (creates); a merged update must be checked again in full."""
    problems: list[FieldViolation] = (
        [] if rules_checked else validation.violations(title, prefix=f"{prefix}.")
    )
    for index, window in enumerate(title.availability):
        path = f"{prefix}.availability[{index}]"
        if not is_region(window.region_code):
            problems.append(
                FieldViolation(
                    f"{path}.region_code", f"{window.region_code!r} is not an ISO 3166-1 region"
                )
            )
        if window.HasField("end_time") and _ts(window.end_time) <= _ts(window.start_time):
            problems.append(FieldViolation(f"{path}.end_time", "must be after start_time"))
    if title.type in (pb.TITLE_TYPE_MOVIE, pb.TITLE_TYPE_SERIES) and title.parent:
        problems.append(
            FieldViolation(f"{prefix}.parent", "only seasons and episodes have a parent")
        )
    if title.type in _CHILD_PARENT and not title.parent:
        problems.append(FieldViolation(f"{prefix}.parent", "is required for seasons and episodes"))
    if problems:
        raise InvalidArgument.of(problems)
    normalised = pb.Title()
    normalised.CopyFrom(title)
    normalised.display_name = " ".join(title.display_name.split())
    del normalised.genres[:]
    seen: set[str] = set()
    for genre in title.genres:
        clean = " ".join(genre.split())
        if clean.lower() not in seen:
            seen.add(clean.lower())
            normalised.genres.append(clean)
    return normalised


# --------------------------------------------------------------------------------------------
# Listing: filters, ordering and opaque page tokens


@dataclass(frozen=True)
class TitleQuery:
    type: int = 0
    genre: str = ""
    year_min: int = 0
    year_max: int = 0
    region: str = ""
    at: datetime | None = None
    person: str = ""
    parent_id: str = ""
    order_field: str = "display_name"
    descending: bool = False


@dataclass(frozen=True)
class Cursor:
    """Position after the last row of a page: its sort key and id."""

    key: Any
    title_id: str


def query_of(request: pb.ListTitlesRequest) -> TitleQuery:
    if (
        request.release_year_min
        and request.release_year_max
        and (request.release_year_min > request.release_year_max)
    ):
        raise InvalidArgument.for_field("release_year_max", "must not be before release_year_min")
    order_field, _, direction = (request.order_by or "display_name").partition(" ")
    if order_field not in _ORDER_FIELDS:  # the proto pattern already guards this
        raise InvalidArgument.for_field("order_by", f"cannot order by {order_field!r}")
    return TitleQuery(
        type=request.type,
        genre=request.genre.strip().lower(),
        year_min=request.release_year_min,
        year_max=request.release_year_max,
        region=request.available_in,
        at=_ts(request.available_at) if request.HasField("available_at") else None,
        person=" ".join(request.person.split()).lower(),
        parent_id=title_id_of(request.parent),
        order_field=order_field,
        descending=direction == "desc",
    )


LIST_TITLES_SCOPE = "vod.catalog.v1.CatalogService/ListTitles"


def encode_page_token(
    codec: PageTokens, request: pb.ListTitlesRequest, cursor: Cursor, offset: int
) -> str:
    key = cursor.key.isoformat() if isinstance(cursor.key, datetime) else cursor.key
    return codec.encode(LIST_TITLES_SCOPE, request, {"k": key, "i": cursor.title_id, "n": offset})


def decode_page_token(
    codec: PageTokens, request: pb.ListTitlesRequest, query: TitleQuery
) -> tuple[Cursor | None, int]:
    """The cursor a token points at, and how many rows came before it. The token is signed
    (`services.runtime.page_tokens`), so a payload of the wrong shape is a bug, still refused."""
    if not request.page_token:
        return None, 0
    data = codec.decode(request.page_token, LIST_TITLES_SCOPE, request)
    bad = bad_page_token("does not fit this ordering")
    key, title_id, offset = data.get("k"), data.get("i"), data.get("n")
    if not isinstance(title_id, str) or not isinstance(offset, int) or offset < 0:
        raise bad
    if query.order_field == "display_name" and not isinstance(key, str):
        raise bad
    if query.order_field in ("release_year", "number") and (
        not isinstance(key, int) or isinstance(key, bool)
    ):
        raise bad
    if query.order_field == "create_time":
        try:
            key = datetime.fromisoformat(key)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise bad from None
    return Cursor(key, title_id), offset


# --------------------------------------------------------------------------------------------
# Storage port


class TitleRepository(Protocol):
    """Storage of titles. Writes take the events to enqueue in the same transaction."""

    async def get_many(self, title_ids: Sequence[str]) -> dict[str, pb.Title]: ...

    async def list(
        self, query: TitleQuery, cursor: Cursor | None, limit: int
    ) -> tuple[list[tuple[pb.Title, Cursor]], int]: ...

    async def insert(
        self, items: Sequence[tuple[str, pb.Title]], make_events: EventFactory
    ) -> builtins.list[pb.Title]: ...

    async def modify(self, title_id: str, change: TitleChange) -> pb.Title: ...

    async def delete(self, title_id: str, etag: str, make_events: RemovalEvents) -> None: ...

    async def windows(
        self, title_id: str, region: str
    ) -> builtins.list[pb.AvailabilityWindow] | None: ...

    async def genres(self, limit: int) -> builtins.list[tuple[str, int]]: ...


EventFactory = Callable[[pb.Title], Sequence[Message]]
RemovalEvents = Callable[[Sequence[str]], Sequence[Message]]
TitleChange = Callable[[pb.Title], Awaitable[tuple[pb.Title, Sequence[Message]]]]


# --------------------------------------------------------------------------------------------
# Use cases


@dataclass
class CatalogDomain:
    repository: TitleRepository
    clock: Callable[[], datetime] = field(default=now_utc)
    page_tokens: PageTokens = field(default_factory=default_page_tokens)

    async def get(self, name: str) -> pb.Title:
        found = await self.repository.get_many([title_id_of(name)])
        if not found:
            raise not_found(name)
        return found[title_id_of(name)]

    async def batch_get(self, names: Sequence[str]) -> list[pb.Title]:
        ids = [title_id_of(n) for n in names]
        found = await self.repository.get_many(ids)
        missing = [n for n, i in zip(names, ids, strict=True) if i not in found]
        if missing:
            raise NotFound(
                message=(
                    f"{len(missing)} of the requested titles do not exist: "
                    f"{', '.join(missing[:10])}"
                ),
                reason="TITLE_NOT_FOUND",
                resource_type="vod.catalog.v1.Title",
                resource_name=missing[0],
            )
        return [found[i] for i in ids]

    async def list(self, request: pb.ListTitlesRequest) -> pb.ListTitlesResponse:
        query = query_of(request)
        if query.region and not is_region(query.region):
            raise InvalidArgument.for_field(
                "available_in", f"{query.region!r} is not an ISO 3166-1 region"
            )
        if query.region and query.at is None:
            query = replace(query, at=self.clock())
        cursor, offset = decode_page_token(self.page_tokens, request, query)
        limit = request.page_size or DEFAULT_PAGE_SIZE
        rows, total = await self.repository.list(query, cursor, limit + 1)
        response = pb.ListTitlesResponse(total_size=total)
        response.titles.extend(t for t, _ in rows[:limit])
        if len(rows) > limit:
            response.next_page_token = encode_page_token(
                self.page_tokens, request, rows[limit - 1][1], offset + limit
            )
        return response

    async def create(self, request: pb.CreateTitleRequest) -> pb.Title:
        return (await self.create_many([request], prefix=""))[0]

    async def create_many(
        self, requests: Sequence[pb.CreateTitleRequest], prefix: str = "requests"
    ) -> builtins.list[pb.Title]:
        """Create titles atomically; a parent may come earlier in the same batch."""
        items: list[tuple[str, pb.Title]] = []
        problems: list[FieldViolation] = []
        for index, request in enumerate(requests):
            path = f"{prefix}[{index}]." if prefix else ""
            try:
                title = check_title(request.title, prefix=f"{path}title", rules_checked=True)
            except InvalidArgument as exc:
                problems.extend(exc.violations)
                continue
            title_id = request.title_id or f"{slugify(title.display_name)}-{secrets.token_hex(3)}"
            items.append((title_id, title))
        if problems:
            raise InvalidArgument.of(problems)
        ids = [i for i, _ in items]
        if len(set(ids)) != len(ids):
            raise InvalidArgument.for_field(
                f"{prefix}.title_id" if prefix else "title_id",
                "title ids must be unique within a batch",
            )
        batch_types = {f"titles/{i}": t.type for i, t in items}
        for index, (_, title) in enumerate(items):
            if title.parent:
                path = f"{prefix}[{index}].title.parent" if prefix else "title.parent"
                await self._check_parent(title, path, batch_types)
        return await self.repository.insert(
            items, lambda t: [ev.TitlePublished(meta=new_meta(PRODUCER), title=t)]
        )

    async def update(self, request: pb.UpdateTitleRequest) -> pb.Title:
        paths = _mask_paths(request.update_mask, request.title)
        incoming = request.title
        if not _NAME.fullmatch(incoming.name):
            raise InvalidArgument.for_field(
                "title.name",
                "must be the name of the title to update, such as titles/stranger-things",
            )

        async def change(current: pb.Title) -> tuple[pb.Title, Sequence[Message]]:
            if incoming.etag and incoming.etag != current.etag:
                raise etag_mismatch(current.name)
            updated = pb.Title()
            updated.CopyFrom(current)
            for path in paths:
                updated.ClearField(path)  # type: ignore[arg-type]
                value = getattr(incoming, path)
                if isinstance(value, Message):
                    getattr(updated, path).CopyFrom(value)
                elif hasattr(value, "extend"):
                    getattr(updated, path).extend(value)
                else:
                    setattr(updated, path, value)
            updated = check_title(updated)
            if "parent" in paths and updated.parent:
                if title_id_of(updated.parent) == title_id_of(current.name):
                    raise InvalidArgument.for_field(
                        "title.parent", "a title cannot be its own parent"
                    )
                await self._check_parent(updated, "title.parent")
            changed = [p for p in paths if getattr(updated, p) != getattr(current, p)]
            return updated, [
                ev.TitleUpdated(meta=new_meta(PRODUCER), title=updated, changed_fields=changed)
            ]

        return await self.repository.modify(title_id_of(incoming.name), change)

    async def delete(self, name: str, etag: str) -> None:
        await self.repository.delete(
            title_id_of(name),
            etag,
            lambda ids: [ev.TitleRemoved(meta=new_meta(PRODUCER), name=f"titles/{i}") for i in ids],
        )

    async def check_availability(
        self, name: str, region: str, at: datetime | None
    ) -> pb.CheckAvailabilityResponse:
        if not is_region(region):
            raise InvalidArgument.for_field(
                "region_code", f"{region!r} is not an ISO 3166-1 region"
            )
        windows = await self.repository.windows(title_id_of(name), region)
        if windows is None:
            raise not_found(name)
        instant = at or self.clock()
        response = pb.CheckAvailabilityResponse()
        upcoming: list[pb.AvailabilityWindow] = []
        for window in windows:
            start = _ts(window.start_time)
            end = _ts(window.end_time) if window.HasField("end_time") else None
            if start <= instant and (end is None or instant < end):
                response.available = True
                response.window.CopyFrom(window)
            elif start > instant:
                upcoming.append(window)
        if upcoming:
            response.next_window.CopyFrom(min(upcoming, key=lambda w: _ts(w.start_time)))
        return response

    async def set_media(
        self, name: str, state: int, asset: str = "", duration_s: float = 0.0
    ) -> None:
        """Record the state of a title's media (from transcoding events). READY wins: a late
        PROCESSING or FAILED for an older job does not hide playable media. A no-op change writes
        nothing and publishes nothing, so redelivered events are harmless."""

        async def change(current: pb.Title) -> tuple[pb.Title, Sequence[Message]]:
            media = pb.Media(
                state=state,
                asset=asset or current.media.asset,
                duration_seconds=duration_s or current.media.duration_seconds,
            )
            keep_ready = (
                current.media.state == pb.MEDIA_STATE_READY and state != pb.MEDIA_STATE_READY
            )
            if keep_ready or media == current.media:
                return current, []
            updated = pb.Title()
            updated.CopyFrom(current)
            updated.media.CopyFrom(media)
            return updated, [
                ev.TitleUpdated(meta=new_meta(PRODUCER), title=updated, changed_fields=["media"])
            ]

        try:
            await self.repository.modify(title_id_of(name), change)
        except NotFound:
            return  # the title was deleted meanwhile: nothing to mark

    async def genres(self, page_size: int) -> builtins.list[tuple[str, int]]:
        return await self.repository.genres(page_size or 1000)

    async def _check_parent(
        self, title: pb.Title, path: str, batch_types: dict[str, int] | None = None
    ) -> None:
        parent_type = (batch_types or {}).get(title.parent)
        if parent_type is None:
            parents = await self.repository.get_many([title_id_of(title.parent)])
            found = parents.get(title_id_of(title.parent))
            parent_type = found.type if found is not None else None
        wanted = _CHILD_PARENT.get(title.type)
        if parent_type is None:
            raise FailedPrecondition(
                message=f"parent {title.parent} does not exist; create it first",
                reason="PARENT_NOT_FOUND",
                violations=(("PARENT_EXISTS", title.parent, "the parent title must exist"),),
            )
        if wanted is not None and parent_type != wanted:
            raise FailedPrecondition(
                message=(
                    f"a {pb.TitleType.Name(title.type)} must have a "
                    f"{pb.TitleType.Name(wanted)} parent, {title.parent} is a "
                    f"{pb.TitleType.Name(parent_type)}"
                ),
                reason="PARENT_TYPE_MISMATCH",
                violations=(
                    ("PARENT_TYPE", path, f"parent must be a {pb.TitleType.Name(wanted)}"),
                ),
            )


def _mask_paths(mask: field_mask_pb2.FieldMask, title: pb.Title) -> list[str]:
    if not mask.paths:
        return [fd.name for fd, _ in title.ListFields() if fd.name in MUTABLE_FIELDS]
    problems = []
    for index, path in enumerate(mask.paths):
        if path in _OUTPUT_ONLY:
            problems.append(
                FieldViolation(f"update_mask.paths[{index}]", f"{path!r} cannot be changed")
            )
        elif path not in MUTABLE_FIELDS:
            problems.append(
                FieldViolation(
                    f"update_mask.paths[{index}]",
                    f"unknown field {path!r}; updatable: {', '.join(sorted(MUTABLE_FIELDS))}",
                )
            )
    if problems:
        raise InvalidArgument.of(problems)
    return list(dict.fromkeys(mask.paths))


def etag_mismatch(name: str) -> Aborted:
    return Aborted(
        message="the title changed since it was read (etag mismatch); read it again and retry",
        reason="ETAG_MISMATCH",
        resource_type="vod.catalog.v1.Title",
        resource_name=name,
    )


def not_found(name: str) -> NotFound:
    return NotFound(
        message=f"{name} does not exist",
        reason="TITLE_NOT_FOUND",
        resource_type="vod.catalog.v1.Title",
        resource_name=name,
    )
