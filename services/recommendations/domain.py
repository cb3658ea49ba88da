"""Recommendations use cases, without grpc: rows, similar titles, feedback, preferences, and the
ingestion of catalog, playback and feedback events."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from datetime import UTC

from google.protobuf.message import Message
from vod.catalog.v1 import catalog_pb2 as cpb
from vod.events.v1 import feedback_events_pb2 as fev
from vod.recommendations.v1 import recommendations_pb2 as pb

from services.recommendations.features import item_from_title, maturity_level
from services.recommendations.ranking import Engine, ProfileState, Row, RowQuery
from services.recommendations.repository import PostgresRecsRepository
from services.recommendations.signals import Interaction, RateLimiter, weight_of
from services.runtime.errors import FieldViolation, InvalidArgument, NotFound
from services.runtime.events import new_meta
from services.runtime.page_tokens import PageTokens, bad_page_token, default_page_tokens

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_DEPTH", "RecommendationsDomain"]

DEFAULT_PAGE_SIZE = 20
MAX_DEPTH = 1000  # deepest position a row pages to
_FUTURE_SLACK_S = 300.0


RECOMMENDATIONS_SCOPE = "vod.recommendations.v1.RecommendationsService/GetRecommendations"
SIMILAR_SCOPE = "vod.recommendations.v1.RecommendationsService/GetSimilarTitles"


def _decode_token(codec: PageTokens, scope: str, request: Message) -> int:
    """The offset a signed token (`services.runtime.page_tokens`) resumes at; 0 without one.
    The token is bound to every other field of the request."""
    token: str = request.page_token  # type: ignore[attr-defined]
    if not token:
        return 0
    offset = codec.decode(token, scope, request).get("o")
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= MAX_DEPTH:
        raise bad_page_token("is out of range")
    return offset


class RecommendationsDomain:
    def __init__(
        self,
        repo: PostgresRecsRepository,
        engine: Engine,
        limiter: RateLimiter,
        *,
        on_new_event: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
        page_tokens: PageTokens | None = None,
    ) -> None:
        self._repo = repo
        self._page_tokens = page_tokens or default_page_tokens()
        self._engine = engine
        self._limiter = limiter
        self._on_new_event = on_new_event
        self._clock = clock

    @property
    def engine(self) -> Engine:
        return self._engine

    async def warm_up(self) -> None:
        """Load the items and trending counters the service saw before it (re)started."""
        for title in await self._repo.load_items():
            self._engine.upsert_item(item_from_title(title))
        self._engine.set_popularity(await self._repo.popularity())

    # -- reads --------------------------------------------------------------------------------

    async def profile_state(self, profile: str) -> ProfileState:
        state = self._engine.profile(profile)
        if state is not None:
            return state
        history = await self._repo.history(profile)
        prefs = await self._repo.preferences(profile)
        genres, rating = prefs if prefs else ([], 0)
        level = maturity_level(rating) if rating else 4
        return self._engine.load_profile(profile, history, genres, level)

    async def recommendations(
        self, request: pb.GetRecommendationsRequest
    ) -> pb.GetRecommendationsResponse:
        page_size = request.page_size or DEFAULT_PAGE_SIZE
        offset = _decode_token(self._page_tokens, RECOMMENDATIONS_SCOPE, request)
        state = await self.profile_state(request.profile)
        limit = min(offset + page_size, MAX_DEPTH)
        query = RowQuery(
            request.profile,
            request.row_kind,
            request.region_code,
            request.seed_title,
            limit + 1,
            self._clock(),
        )
        row = self._engine.recommend(query, state)
        return pb.GetRecommendationsResponse(
            recommendations=self._page(row, offset, limit),
            next_page_token=self._next(row, limit, RECOMMENDATIONS_SCOPE, request),
            heading=row.heading,
            seed_title=row.seed,
            degraded=row.degraded,
            model_version=row.model_version,
        )

    async def similar(self, request: pb.GetSimilarTitlesRequest) -> pb.GetSimilarTitlesResponse:
        page_size = request.page_size or DEFAULT_PAGE_SIZE
        offset = _decode_token(self._page_tokens, SIMILAR_SCOPE, request)
        state = await self.profile_state(request.profile) if request.profile else None
        limit = min(offset + page_size, MAX_DEPTH)
        row = self._engine.similar(
            request.title,
            region=request.region_code,
            state=state,
            limit=limit + 1,
            now=self._clock(),
        )
        return pb.GetSimilarTitlesResponse(
            recommendations=self._page(row, offset, limit),
            next_page_token=self._next(row, limit, SIMILAR_SCOPE, request),
            degraded=row.degraded,
        )

    @staticmethod
    def _page(row: Row, offset: int, limit: int) -> list[pb.Recommendation]:
        return [
            pb.Recommendation(
                title=item.name, score=item.score, reason=item.reason, because_of=item.because_of
            )
            for item in row.items[offset:limit]
        ]

    def _next(self, row: Row, limit: int, scope: str, request: Message) -> str:
        if len(row.items) > limit and limit < MAX_DEPTH:
            return self._page_tokens.encode(scope, request, {"o": limit})
        return ""

    # -- writes -------------------------------------------------------------------------------

    async def record_feedback(self, request: pb.RecordFeedbackRequest) -> pb.RecordFeedbackResponse:
        fraction = request.watched_fraction
        if not math.isfinite(fraction) or not 0.0 <= fraction <= 1.0:
            raise InvalidArgument.of(
                [FieldViolation("watched_fraction", f"must be between 0 and 1, got {fraction}")]
            )
        if self._engine.item(request.title) is None:
            raise NotFound(
                message=f"{request.title} is not a title in the catalog",
                reason="TITLE_NOT_FOUND",
                resource_type="vod.catalog.v1.Title",
                resource_name=request.title,
            )
        now = self._clock()
        occurred = now
        if request.HasField("occur_time"):
            occurred = request.occur_time.ToDatetime(tzinfo=UTC).timestamp()
        occurred = min(occurred, now + _FUTURE_SLACK_S)
        throttled = not self._limiter.allow(request.profile)
        interaction = Interaction(
            event_id=request.event_id.lower(),
            profile=request.profile,
            title=request.title,
            kind=request.kind,
            weight=weight_of(request.kind, fraction),
            watched_fraction=fraction,
            occur_time=occurred,
            throttled=throttled,
        )
        meta = new_meta("recommendations")
        meta.event_id = interaction.event_id
        meta.occur_time.FromSeconds(int(occurred))
        event = fev.FeedbackRecorded(
            meta=meta,
            profile=request.profile,
            title=request.title,
            kind=request.kind,
            watched_fraction=fraction,
        )
        inserted = await self._repo.record(interaction, event)
        if inserted:
            self._engine.observe(interaction)
            if not throttled:
                self._on_new_event()
        return pb.RecordFeedbackResponse(duplicate=not inserted, throttled=throttled and inserted)

    async def set_preferences(
        self, request: pb.SetProfilePreferencesRequest
    ) -> pb.SetProfilePreferencesResponse:
        genres = list(dict.fromkeys(g.strip() for g in request.genres if g.strip()))
        await self._repo.set_preferences(request.profile, genres, request.max_maturity_rating)
        level = maturity_level(request.max_maturity_rating) if request.max_maturity_rating else 4
        self._engine.set_preferences(request.profile, genres, level)
        return pb.SetProfilePreferencesResponse(
            profile=request.profile, genres=genres, max_maturity_rating=request.max_maturity_rating
        )

    # -- events -------------------------------------------------------------------------------

    async def ingest(self, interaction: Interaction) -> bool:
        """Log an interaction from an event (idempotent on its id) and apply it in real time."""
        if not interaction.profile or not interaction.title or not interaction.event_id:
            return False
        if not self._limiter.allow(interaction.profile):
            interaction = dataclasses.replace(interaction, throttled=True)
        inserted = await self._repo.record(interaction)
        if inserted:
            self._engine.observe(interaction)
            if not interaction.throttled:
                self._on_new_event()
        return inserted

    async def title_changed(self, title: cpb.Title) -> None:
        await self._repo.upsert_item(title)
        self._engine.upsert_item(item_from_title(title))

    async def title_removed(self, name: str) -> None:
        await self._repo.remove_item(name)
        self._engine.remove_item(name)
