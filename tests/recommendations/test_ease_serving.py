"""EASE in serving: the artifact carries each title's strongest item-item weights (and old
artifacts without them still load), and the engine's top picks follow them from the history."""

from __future__ import annotations

import io
import json

import numpy as np
from vod.catalog.v1 import catalog_pb2 as cpb
from vod.recommendations.v1 import recommendations_pb2 as pb

from services.recommendations.features import ItemInfo
from services.recommendations.model import ModelArtifact, TrainParams, ease_neighbors, train
from services.recommendations.ranking import Engine, RowQuery
from services.recommendations.signals import Interaction


def _items(n: int = 12) -> list[ItemInfo]:
    return [
        ItemInfo(
            name=f"titles/t{i}",
            type=cpb.TITLE_TYPE_MOVIE,
            display_name=f"T{i}",
            genres=("Dramas",),
            availability=(("US", 0.0, float("inf")),),
        )
        for i in range(n)
    ]


def _artifact(neighbors: np.ndarray, weights: np.ndarray, n: int = 12) -> ModelArtifact:
    """LightFM parts all zero, so only EASE can tell the titles apart."""
    return ModelArtifact(
        version="v-ease",
        created_at=0.0,
        item_ids=[f"titles/t{i}" for i in range(n)],
        item_vectors=np.zeros((n, 4), dtype=np.float32),
        item_bias=np.zeros(n, dtype=np.float32),
        user_ids=[],
        user_vectors=np.zeros((0, 4), dtype=np.float32),
        feature_names=[],
        feature_vectors=np.zeros((0, 4), dtype=np.float32),
        feature_bias=np.zeros(0, dtype=np.float32),
        ease_neighbors=neighbors,
        ease_weights=weights,
    )


def test_neighbours_keep_the_largest_positive_weights_of_co_watched_titles() -> None:
    # users watch pairs (0,1), (2,3), (4,5): each title's best neighbour is its partner
    users, items = [], []
    for u in range(30):
        a = 2 * (u % 3)
        users += [u, u]
        items += [a, a + 1]
    neighbors, weights = ease_neighbors(
        np.array(users), np.array(items), (30, 8), TrainParams(ease_lambda=1.0, ease_neighbors=3)
    )
    assert neighbors.shape == (8, 3) and weights.shape == (8, 3)
    assert [int(neighbors[i, 0]) for i in range(6)] == [1, 0, 3, 2, 5, 4]
    assert np.all(weights[:6, 0] > 0)
    assert np.all(neighbors[6:] == -1) and np.all(weights[6:] == 0)  # never watched
    assert np.all((neighbors[:6, 1:] == -1) == (weights[:6, 1:] == 0))  # only positive weights


def test_artifact_round_trips_ease_and_old_artifacts_load_without_it() -> None:
    items = _items()
    interactions = [(f"u{u}", f"titles/t{(u + k) % 12}", 3.0) for u in range(24) for k in (0, 1)]
    artifact = train(items, interactions, TrainParams(components=4, epochs=5, ease_neighbors=4))
    assert artifact.has_ease and artifact.ease_neighbors.shape == (12, 4)
    again = ModelArtifact.from_bytes(artifact.to_bytes())
    assert np.array_equal(again.ease_neighbors, artifact.ease_neighbors)
    assert np.array_equal(again.ease_weights, artifact.ease_weights)
    assert (again.ease_half_life, again.blend_hybrid) == (10.0, 1.5)
    off = train(items, interactions, TrainParams(components=4, epochs=5, ease_lambda=0.0))
    assert not off.has_ease
    # an artifact written before EASE existed: no ease arrays, no ease metadata
    buffer = io.BytesIO()
    meta = {
        "version": "old",
        "created_at": 0.0,
        "item_ids": artifact.item_ids,
        "user_ids": artifact.user_ids,
        "feature_names": artifact.feature_names,
        "stats": {},
    }
    np.savez_compressed(
        buffer,
        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        item_vectors=artifact.item_vectors,
        item_bias=artifact.item_bias,
        user_vectors=artifact.user_vectors,
        feature_vectors=artifact.feature_vectors,
        feature_bias=artifact.feature_bias,
    )
    old = ModelArtifact.from_bytes(buffer.getvalue())
    assert old.version == "old" and not old.has_ease


def test_top_picks_follow_the_ease_neighbours_of_the_history() -> None:
    neighbors = np.full((12, 2), -1, dtype=np.int32)
    weights = np.zeros((12, 2), dtype=np.float32)
    neighbors[0] = [7, 3]
    weights[0] = [0.9, 0.4]
    engine = Engine()
    for item in _items():
        engine.upsert_item(item)
    engine.swap_model(_artifact(neighbors, weights))
    profile = "users/a/profiles/b"
    engine.load_profile(
        profile,
        [Interaction("e1", profile, "titles/t0", pb.FEEDBACK_KIND_COMPLETE, 3.0, 1.0, 100.0)],
    )
    query = RowQuery(profile, pb.ROW_KIND_TOP_PICKS, "US", limit=5, now=1000.0)
    row = engine.recommend(query, engine.profile(profile))
    names = [item.name for item in row.items]
    assert names[:2] == ["titles/t7", "titles/t3"]
    assert [(item.reason, item.because_of) for item in row.items[:2]] == [
        ("Because you watched T0", "titles/t0")
    ] * 2
    # without EASE the same zero-vector model cannot tell t7 from the others
    engine.swap_model(_artifact(np.zeros((0, 0), np.int32), np.zeros((0, 0), np.float32)))
    plain = engine.recommend(query, engine.profile(profile))
    assert [item.name for item in plain.items][:2] != ["titles/t7", "titles/t3"]
