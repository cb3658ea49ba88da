"""Signal weights, rate limiting, the model artifact and the serving engine without servers."""

from __future__ import annotations

import numpy as np
from vod.catalog.v1 import catalog_pb2 as cpb
from vod.events.v1 import playback_events_pb2 as pev
from vod.recommendations.v1 import recommendations_pb2 as pb

from services.recommendations.features import ItemInfo
from services.recommendations.model import ModelArtifact, TrainParams, train
from services.recommendations.ranking import Engine, RowQuery
from services.recommendations.signals import (
    Interaction,
    RateLimiter,
    from_playback_started,
    from_playback_stopped,
    weight_of,
)


def test_signal_weights_order_completion_over_start_and_negatives() -> None:
    start = from_playback_started(pev.PlaybackStarted(profile="p", title="titles/a")).weight
    complete = weight_of(pb.FEEDBACK_KIND_COMPLETE, 1.0)
    assert complete > weight_of(pb.FEEDBACK_KIND_VIEW, 0.5) > start > 0
    assert weight_of(pb.FEEDBACK_KIND_DISLIKE, 0) < 0 and weight_of(pb.FEEDBACK_KIND_ABANDON, 0) < 0
    stopped = pev.PlaybackStopped(profile="p", title="titles/a", watched_fraction=0.05)
    stopped.watch_time.FromSeconds(600)
    assert from_playback_stopped(stopped).kind == pb.FEEDBACK_KIND_ABANDON
    assert from_playback_stopped(stopped).weight < 0
    stopped.watch_time.FromSeconds(20)  # a few seconds is not an abandon
    assert from_playback_stopped(stopped).weight >= 0
    done = pev.PlaybackStopped(profile="p", title="titles/a", watched_fraction=0.97, completed=True)
    assert from_playback_stopped(done).kind == pb.FEEDBACK_KIND_COMPLETE
    # A play that followed a search is intent: above a start and a view barely begun.
    search_play = weight_of(pb.FEEDBACK_KIND_SEARCH_PLAY, 0.0)
    assert complete > search_play > weight_of(pb.FEEDBACK_KIND_VIEW, 0.0) > start


def test_rate_limiter_allows_a_burst_then_the_sustained_rate() -> None:
    limiter = RateLimiter(rate_per_s=2.0, burst=5)
    assert [limiter.allow("p", now=100.0) for _ in range(7)] == [True] * 5 + [False] * 2
    assert limiter.allow("other", now=100.0)  # per profile
    assert limiter.allow("p", now=100.5) and not limiter.allow("p", now=100.5)


def _items() -> list[ItemInfo]:
    out = []
    for i in range(20):
        genre = "Comedies" if i % 2 else "Dramas"
        out.append(
            ItemInfo(
                name=f"titles/t{i}",
                type=cpb.TITLE_TYPE_MOVIE,
                display_name=f"T{i}",
                genres=(genre,),
                availability=(("US", 0.0, float("inf")),),
            )
        )
    return out


def test_artifact_round_trips_and_embeds_new_titles() -> None:
    items = _items()
    interactions = [(f"u{u}", f"titles/t{i}", 3.0) for u in range(10) for i in range(u % 2, 20, 2)]
    artifact = train(items, interactions, TrainParams(components=8, epochs=10))
    again = ModelArtifact.from_bytes(artifact.to_bytes())
    assert again.version == artifact.version and again.item_ids == artifact.item_ids
    assert np.allclose(again.item_vectors, artifact.item_vectors)
    vector, _ = again.embed(["genre:Comedies", "type:movie"])
    assert vector.shape == (8,)
    assert again.embed(["genre:Unknown"]) is None


def test_engine_swaps_models_atomically_and_mmr_diversifies() -> None:
    engine = Engine()
    for item in _items():
        engine.upsert_item(item)
    query = RowQuery("users/a/profiles/b", pb.ROW_KIND_TOP_PICKS, "US", limit=10, now=1000.0)
    cold = engine.recommend(query, None)
    assert cold.degraded and cold.model_version == ""
    interactions = [(f"u{u}", f"titles/t{i}", 3.0) for u in range(10) for i in range(u % 2, 20, 2)]
    artifact = train(engine.all_items(), interactions, TrainParams(components=8, epochs=10))
    engine.swap_model(artifact)
    warm = engine.recommend(query, None)
    assert not warm.degraded and warm.model_version == artifact.version
    # MMR: a row of ten from two genres is not one genre only
    genres = {engine.item(r.name).genres[0] for r in warm.items}
    assert genres == {"Comedies", "Dramas"}
    engine.observe(
        Interaction("e1", query.profile, "titles/t3", pb.FEEDBACK_KIND_NOT_INTERESTED, -5, 0, 999.0)
    )
    engine.load_profile(query.profile, [])
    assert "titles/t3" not in [
        r.name for r in engine.recommend(query, engine.profile(query.profile)).items
    ]
