"""The recommendations service end to end: real catalog events, real Postgres and NATS, the
production server, a real LightFM model trained by the `vod recs train` code path."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, datetime

import grpc
import nats
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy
from vod.catalog.v1 import catalog_pb2 as cpb
from vod.common.v1 import event_pb2
from vod.events.v1 import feedback_events_pb2 as fev
from vod.events.v1 import playback_events_pb2 as pev
from vod.recommendations.v1 import recommendations_pb2 as pb

from services.recommendations.cli import _train
from services.recommendations.domain import RECOMMENDATIONS_SCOPE, SIMILAR_SCOPE
from tests.recommendations.conftest import SMALL_MODEL, SPECS, RecsMesh, _title
from tests.runtime.test_page_tokens import assert_refused_page_token, forgeries
from tests.support import details_of

GENRE_OF = {f"titles/{s.title_id}": s.genre for s in SPECS}
REGIONS_OF = {f"titles/{s.title_id}": s.regions for s in SPECS}
RATED_R = {f"titles/{s.title_id}" for s in SPECS if s.rating == cpb.MATURITY_RATING_R}
GENRE_OF["titles/rt-series"] = "Comedies"


def new_profile() -> str:
    return f"users/u{uuid.uuid4().hex[:10]}/profiles/main"


async def feedback(
    mesh: RecsMesh,
    profile: str,
    title: str,
    kind: int,
    fraction: float = 0.0,
    event_id: str | None = None,
) -> pb.RecordFeedbackResponse:
    return await mesh.recs.RecordFeedback(
        pb.RecordFeedbackRequest(
            profile=profile,
            title=title,
            kind=kind,
            watched_fraction=fraction,
            event_id=event_id or str(uuid.uuid4()),
        )
    )


async def row(
    mesh: RecsMesh,
    profile: str,
    kind: int = pb.ROW_KIND_TOP_PICKS,
    region: str = "US",
    size: int = 10,
    seed: str = "",
    token: str = "",
) -> pb.GetRecommendationsResponse:
    return await mesh.recs.GetRecommendations(
        pb.GetRecommendationsRequest(
            profile=profile,
            row_kind=kind,
            region_code=region,
            page_size=size,
            seed_title=seed,
            page_token=token,
        )
    )


def titles(response: pb.GetRecommendationsResponse | pb.GetSimilarTitlesResponse) -> list[str]:
    return [r.title for r in response.recommendations]


async def train_model(mesh: RecsMesh) -> str:
    """Taste clusters, trained through the same code `vod recs train` runs; waits for the swap."""
    for n in range(16):
        profile = f"users/fan{n}/profiles/main"
        genre = "comedy" if n % 2 == 0 else "doc"
        for i in range(0, 12, 2 if n % 4 < 2 else 3):
            await feedback(
                mesh,
                profile,
                f"titles/rt-{genre}-{(i + n) % 12:02d}",
                pb.FEEDBACK_KIND_COMPLETE,
                1.0,
            )
    artifact = await _train(mesh.settings, SMALL_MODEL)
    assert artifact is not None
    for _ in range(200):
        if mesh.deps.domain.engine.model_version == artifact.version:
            break
        await asyncio.sleep(0.05)
    return artifact.version


async def test_unknown_profile_gets_a_cold_start_row_with_scores_and_reasons(
    recs_mesh: RecsMesh,
) -> None:
    response = await row(recs_mesh, new_profile())
    assert len(response.recommendations) == 10
    assert response.heading == "Top picks for you"
    assert all(r.reason for r in response.recommendations)
    assert all(r.title in GENRE_OF for r in response.recommendations)
    assert len(set(titles(response))) == 10


async def test_onboarding_genres_steer_the_cold_start_row(recs_mesh: RecsMesh) -> None:
    profile = new_profile()
    await recs_mesh.recs.SetProfilePreferences(
        pb.SetProfilePreferencesRequest(profile=profile, genres=["Documentaries"])
    )
    top = (await row(recs_mesh, profile, size=6)).recommendations
    docs = [r for r in top if GENRE_OF[r.title] == "Documentaries"]
    assert len(docs) >= 5, [(r.title, r.reason) for r in top]
    assert any(r.reason == "Because you like Documentaries" for r in docs)


async def test_region_availability_filters_every_row(recs_mesh: RecsMesh) -> None:
    profile = new_profile()
    jp_only = {t for t, regions in REGIONS_OF.items() if regions == ("JP",)}
    for kind in (pb.ROW_KIND_TOP_PICKS, pb.ROW_KIND_TRENDING_NOW, pb.ROW_KIND_NEW_RELEASES):
        us = titles(await row(recs_mesh, profile, kind, "US", size=100))
        assert us and not set(us) & jp_only
        jp = titles(await row(recs_mesh, profile, kind, "JP", size=100))
        assert set(jp) == jp_only  # only what is licensed in JP
    similar = await recs_mesh.recs.GetSimilarTitles(
        pb.GetSimilarTitlesRequest(title="titles/rt-comedy-00", region_code="US", page_size=100)
    )
    assert titles(similar) and not set(titles(similar)) & jp_only


async def test_maturity_limit_filters_rows_and_similar_titles(recs_mesh: RecsMesh) -> None:
    profile = new_profile()
    everything = titles(await row(recs_mesh, profile, size=100))
    assert set(everything) & RATED_R  # without a limit, R titles are eligible
    await recs_mesh.recs.SetProfilePreferences(
        pb.SetProfilePreferencesRequest(
            profile=profile, genres=["Thrillers"], max_maturity_rating=cpb.MATURITY_RATING_PG_13
        )
    )
    for kind in (pb.ROW_KIND_TOP_PICKS, pb.ROW_KIND_TRENDING_NOW, pb.ROW_KIND_NEW_RELEASES):
        limited = titles(await row(recs_mesh, profile, kind, size=100))
        assert limited and not set(limited) & RATED_R
    seeded = titles(
        await row(
            recs_mesh, profile, pb.ROW_KIND_MORE_LIKE_THIS, seed="titles/rt-thriller-00", size=100
        )
    )
    assert seeded and not set(seeded) & RATED_R
    similar = await recs_mesh.recs.GetSimilarTitles(
        pb.GetSimilarTitlesRequest(title="titles/rt-thriller-01", profile=profile, page_size=100)
    )
    assert titles(similar) and not set(titles(similar)) & RATED_R


async def test_feedback_changes_the_very_next_answer(recs_mesh: RecsMesh) -> None:
    profile = new_profile()
    before = titles(await row(recs_mesh, profile))
    disliked = before[0]
    await feedback(recs_mesh, profile, disliked, pb.FEEDBACK_KIND_DISLIKE)
    after = titles(await row(recs_mesh, profile, size=100))
    assert disliked not in after
    # and a completion: the finished title leaves the row, similar titles move up, explained
    await feedback(recs_mesh, profile, "titles/rt-doc-03", pb.FEEDBACK_KIND_COMPLETE, 1.0)
    top = (await row(recs_mesh, profile, size=5)).recommendations
    assert "titles/rt-doc-03" not in [r.title for r in top]
    just = [r for r in top if r.reason.startswith("Because you just watched")]
    assert just and all(r.because_of == "titles/rt-doc-03" for r in just)
    assert sum(GENRE_OF[r.title] == "Documentaries" for r in top) >= 3
    because = await row(recs_mesh, profile, pb.ROW_KIND_BECAUSE_YOU_WATCHED, size=5)
    assert because.seed_title == "titles/rt-doc-03"
    assert because.heading.startswith("Because you watched")
    assert all(r.because_of == "titles/rt-doc-03" for r in because.recommendations)


async def test_playback_events_from_nats_update_the_next_answer(recs_mesh: RecsMesh) -> None:
    profile = new_profile()
    watched = "titles/rt-thriller-05"
    assert watched in titles(await row(recs_mesh, profile, size=100))
    nc = await nats.connect(recs_mesh.nats_url)
    try:
        meta = event_pb2.EventMeta(event_id=str(uuid.uuid4()), producer="playback")
        meta.occur_time.FromDatetime(datetime.now(UTC))
        stopped = pev.PlaybackStopped(
            meta=meta,
            session="sessions/s1",
            profile=profile,
            title=watched,
            region_code="US",
            watched_fraction=1.0,
            completed=True,
        )
        await nc.jetstream().publish(
            "vod.playback.stopped",
            stopped.SerializeToString(),
            headers={"Nats-Msg-Id": meta.event_id},
        )
    finally:
        await nc.close()
    for _ in range(200):  # consumed asynchronously; wait for it, assert on the answer
        response = await row(recs_mesh, profile, size=100)
        if watched not in titles(response):
            break
        await asyncio.sleep(0.05)
    assert watched not in titles(response)
    because = await row(recs_mesh, profile, pb.ROW_KIND_BECAUSE_YOU_WATCHED, size=5)
    assert because.seed_title == watched
    assert all(GENRE_OF[t] == "Thrillers" for t in titles(because)[:3])


async def test_series_in_progress_is_boosted(recs_mesh: RecsMesh) -> None:
    profile = new_profile()
    await feedback(recs_mesh, profile, "titles/rt-series-s1e1", pb.FEEDBACK_KIND_COMPLETE, 1.0)
    top = (await row(recs_mesh, profile, size=3)).recommendations
    assert top[0].title == "titles/rt-series"
    assert "episodes" in top[0].reason
    # episodes are never recommended themselves: they roll up to the series
    deep = titles(await row(recs_mesh, profile, size=100))
    assert not any(t.startswith("titles/rt-series-s1") for t in deep)


async def test_trained_model_personalises_and_is_swapped_in(recs_mesh: RecsMesh) -> None:
    version = await train_model(recs_mesh)
    response = await row(recs_mesh, "users/fan0/profiles/main", size=5)
    assert response.model_version == version and not response.degraded
    assert sum(GENRE_OF[t] == "Comedies" for t in titles(response)) >= 4, list(
        response.recommendations
    )
    assert any(r.because_of for r in response.recommendations)
    docs = await row(recs_mesh, "users/fan1/profiles/main", size=5)
    assert sum(GENRE_OF[t] == "Documentaries" for t in titles(docs)) >= 4
    # a title published after training is embedded from its features (hybrid cold start)
    spec_title = _title(SPECS[0])
    spec_title.credits[0].person = "Ann Laugh"
    await _create_title(recs_mesh, spec_title, "rt-comedy-late")
    similar = None
    for _ in range(200):
        try:
            similar = await recs_mesh.recs.GetSimilarTitles(
                pb.GetSimilarTitlesRequest(title="titles/rt-comedy-late", page_size=5)
            )
            break
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.NOT_FOUND
            await asyncio.sleep(0.05)
    assert similar is not None and not similar.degraded
    assert sum(GENRE_OF.get(t) == "Comedies" for t in titles(similar)) >= 4
    assert all(r.because_of == "titles/rt-comedy-late" for r in similar.recommendations)


async def _create_title(mesh: RecsMesh, title: cpb.Title, title_id: str) -> None:
    try:
        await mesh.catalog.CreateTitle(cpb.CreateTitleRequest(title=title, title_id=title_id))
    except grpc.aio.AioRpcError as exc:
        assert exc.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_trending_follows_regional_plays(recs_mesh: RecsMesh) -> None:
    nc = await nats.connect(recs_mesh.nats_url)
    try:
        js = nc.jetstream()
        for n in range(5):
            meta = event_pb2.EventMeta(event_id=str(uuid.uuid4()), producer="playback")
            meta.occur_time.FromDatetime(datetime.now(UTC))
            started = pev.PlaybackStarted(
                meta=meta,
                session=f"sessions/t{n}",
                profile=f"users/gb{n}/profiles/main",
                title="titles/rt-doc-11",
                region_code="GB",
            )
            await js.publish(
                "vod.playback.started",
                started.SerializeToString(),
                headers={"Nats-Msg-Id": meta.event_id},
            )
    finally:
        await nc.close()
    for _ in range(200):
        trending = await row(recs_mesh, new_profile(), pb.ROW_KIND_TRENDING_NOW, "GB", size=3)
        if titles(trending)[:1] == ["titles/rt-doc-11"]:
            break
        await asyncio.sleep(0.05)
    assert titles(trending)[0] == "titles/rt-doc-11"
    assert trending.recommendations[0].reason == "#1 in GB this week"
    assert trending.heading == "Trending now in GB"


async def test_paging_walks_the_row_without_repeats(recs_mesh: RecsMesh) -> None:
    profile = new_profile()
    first = await row(recs_mesh, profile, size=7)
    assert first.next_page_token
    second = await row(recs_mesh, profile, size=7, token=first.next_page_token)
    assert not set(titles(first)) & set(titles(second)) and len(titles(second)) == 7
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await row(recs_mesh, profile, region="GB", size=7, token=first.next_page_token)
    details = details_of(caught.value)
    assert details.code == grpc.StatusCode.INVALID_ARGUMENT and "page_token" in details.violations


async def test_forged_page_tokens_are_refused(recs_mesh: RecsMesh) -> None:
    """An offset forged with the unkeyed fingerprint recommendations used to check (or signed
    with anything but the deployment's secret) is INVALID_ARGUMENT on page_token."""
    profile = new_profile()

    def unkeyed(*parts: object) -> str:
        return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16]

    recs = pb.GetRecommendationsRequest(
        profile=profile, row_kind=pb.ROW_KIND_TOP_PICKS, region_code="US", page_size=5
    )
    similar = pb.GetSimilarTitlesRequest(title="titles/rt-comedy-01", region_code="US")
    cases = (
        (
            RECOMMENDATIONS_SCOPE,
            recs,
            unkeyed("recs", profile, pb.ROW_KIND_TOP_PICKS, "US", ""),
            recs_mesh.recs.GetRecommendations,
        ),
        (
            SIMILAR_SCOPE,
            similar,
            unkeyed("similar", similar.title, "US", ""),
            recs_mesh.recs.GetSimilarTitles,
        ),
    )
    for scope, request, old_fingerprint, call in cases:
        for token in forgeries({"o": 5, "f": old_fingerprint}, scope, request, {"o": 5}):
            forged = type(request)()
            forged.CopyFrom(request)
            forged.page_token = token
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call(forged)
            assert_refused_page_token(caught.value)


async def test_duplicate_feedback_is_a_successful_no_op_published_once(recs_mesh: RecsMesh) -> None:
    profile, event_id = new_profile(), str(uuid.uuid4())
    first = await feedback(
        recs_mesh, profile, "titles/rt-comedy-01", pb.FEEDBACK_KIND_LIKE, event_id=event_id
    )
    again = await feedback(
        recs_mesh, profile, "titles/rt-comedy-01", pb.FEEDBACK_KIND_LIKE, event_id=event_id
    )
    assert (first.duplicate, again.duplicate) == (False, True)
    history = await recs_mesh.deps.domain._repo.history(profile)
    assert [h.event_id for h in history] == [event_id]
    nc = await nats.connect(recs_mesh.nats_url)
    try:
        sub = await nc.jetstream().pull_subscribe(
            "vod.feedback.recorded",
            stream="VOD_FEEDBACK",
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
        )
        mine: list[fev.FeedbackRecorded] = []
        for _ in range(40):
            try:
                batch = await sub.fetch(500, timeout=0.5)
            except (TimeoutError, nats.errors.TimeoutError):
                if mine:
                    break
                continue
            for msg in batch:
                event = fev.FeedbackRecorded.FromString(msg.data)
                if event.meta.event_id == event_id:
                    mine.append(event)
    finally:
        await nc.close()
    assert len(mine) == 1
    assert mine[0].profile == profile and mine[0].kind == pb.FEEDBACK_KIND_LIKE


async def test_event_flood_is_throttled_and_kept_out_of_training(recs_mesh: RecsMesh) -> None:
    profile = new_profile()
    burst = recs_mesh.settings.rate_burst
    responses = await asyncio.gather(
        *[
            feedback(
                recs_mesh, profile, f"titles/rt-comedy-{n % 12:02d}", pb.FEEDBACK_KIND_VIEW, 0.5
            )
            for n in range(burst * 3)
        ]
    )
    throttled = sum(r.throttled for r in responses)
    assert throttled >= burst  # 3x the burst in a moment: most of the excess is throttled
    assert not any(r.duplicate for r in responses)
    history = await recs_mesh.deps.domain._repo.history(profile)
    assert len(history) == burst * 3  # everything is logged durably...
    rows = await recs_mesh.deps.domain._repo.training_interactions()
    counted = sum(w for p, _, w in rows if p == profile)
    per_event = history[0].weight
    assert counted == pytest.approx(
        per_event * (burst * 3 - throttled)
    )  # ...but only the allowed count


async def test_bad_input_is_rejected_with_details(recs_mesh: RecsMesh) -> None:
    profile = new_profile()
    cases = [
        (row(recs_mesh, profile, size=5000), grpc.StatusCode.INVALID_ARGUMENT, "page_size"),
        (
            recs_mesh.recs.GetRecommendations(
                pb.GetRecommendationsRequest(profile=profile, region_code="US")
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "row_kind",
        ),
        (row(recs_mesh, profile, region="usa"), grpc.StatusCode.INVALID_ARGUMENT, "region_code"),
        (row(recs_mesh, profile, token="garbage!"), grpc.StatusCode.INVALID_ARGUMENT, "page_token"),
        (
            row(recs_mesh, profile, pb.ROW_KIND_BECAUSE_YOU_WATCHED),
            grpc.StatusCode.INVALID_ARGUMENT,
            "seed_title",
        ),
        (
            feedback(recs_mesh, profile, "titles/rt-comedy-01", pb.FEEDBACK_KIND_VIEW, 1.5),
            grpc.StatusCode.INVALID_ARGUMENT,
            "watched_fraction",
        ),
        (
            feedback(
                recs_mesh,
                profile,
                "titles/rt-comedy-01",
                pb.FEEDBACK_KIND_VIEW,
                event_id="not-a-uuid",
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "event_id",
        ),
    ]
    for call, code, field in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        details = details_of(caught.value)
        assert details.code == code, (field, details)
        assert field in details.violations, (field, details)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await feedback(recs_mesh, profile, "titles/no-such-title", pb.FEEDBACK_KIND_LIKE)
    details = details_of(caught.value)
    assert details.code == grpc.StatusCode.NOT_FOUND
    assert details.reason == "TITLE_NOT_FOUND" and details.resource_name == "titles/no-such-title"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await recs_mesh.recs.GetSimilarTitles(
            pb.GetSimilarTitlesRequest(title="titles/no-such-title")
        )
    assert details_of(caught.value).resource_name == "titles/no-such-title"
    # nothing was logged for the rejected calls
    assert await recs_mesh.deps.domain._repo.history(profile) == []


async def test_platform_region_and_identity_decide_over_request_fields(recs_mesh: RecsMesh) -> None:
    """Through the front door Envoy sets x-vod-region and the verified user; a region the client
    wrote into the request is ignored, and another user's profile is refused."""
    profile = new_profile()
    user = profile.rsplit("/profiles/", 1)[0]
    jp_only = {t for t, regions in REGIONS_OF.items() if regions == ("JP",)}
    as_owner_in_jp = (("x-vod-user", user), ("x-vod-region", "JP"))
    response = await recs_mesh.recs.GetRecommendations(
        pb.GetRecommendationsRequest(
            profile=profile, row_kind=pb.ROW_KIND_TOP_PICKS, region_code="US", page_size=100
        ),
        metadata=as_owner_in_jp,
    )
    assert set(titles(response)) == jp_only  # served in JP, where the request came from

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await recs_mesh.recs.GetRecommendations(
            pb.GetRecommendationsRequest(profile=profile, row_kind=pb.ROW_KIND_TOP_PICKS),
            metadata=(("x-vod-user", "users/someone-else"), ("x-vod-region", "US")),
        )
    assert details_of(caught.value).code == grpc.StatusCode.PERMISSION_DENIED
    assert details_of(caught.value).reason == "NOT_OWNER"

    # An internal call carries no platform region: then the request must name one.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await recs_mesh.recs.GetRecommendations(
            pb.GetRecommendationsRequest(profile=profile, row_kind=pb.ROW_KIND_TOP_PICKS)
        )
    assert details_of(caught.value).violations.keys() == {"region_code"}
