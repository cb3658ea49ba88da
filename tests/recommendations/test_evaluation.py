"""Offline evaluation: a synthetic generator independent of the models (latent tastes, Zipf
popularity, sessions, repeats, noise) whose oracle bounds every model; MovieLens files in both
formats read and evaluated with the per-user time split and validation-chosen blend."""

from __future__ import annotations

import argparse
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from services.recommendations.cli import register
from services.recommendations.evaluate import (
    SYNTHETIC_LIMITS,
    evaluate,
    format_table,
    movielens_dataset,
    synthetic_dataset,
)
from services.recommendations.model import TrainParams
from tests.conftest import DATASET

PARAMS = TrainParams(components=32, epochs=25, threads=1)
SMALL_GRID = {"lambdas": (100.0, 400.0), "half_lives": (None, 25.0)}
MODELS = [
    "popularity",
    "collaborative LightFM",
    "hybrid LightFM",
    "EASE",
    "blend EASE+hybrid+popularity",
]


def _synthetic(correlation: float):
    return synthetic_dataset(
        DATASET, users=300, items_limit=2000, feature_correlation=correlation, seed=11
    )


@pytest.fixture(scope="module")
def synthetic_results():
    data = _synthetic(0.3)
    return data, {r.model: r for r in evaluate(data, params=PARAMS, **SMALL_GRID)}


def test_generator_has_popularity_skew_sessions_repeats_and_latent_tastes() -> None:
    data = _synthetic(0.3)
    again = _synthetic(0.3)
    assert data.events == again.events  # seeded
    users = {u for u, _, _, _ in data.events}
    assert len(users) == 300 and set(data.truth) == users
    counts = Counter(item for _, item, _, _ in data.events)
    top = sum(c for _, c in counts.most_common(20))  # 1% of the titles
    assert top > 0.1 * len(data.events)  # Zipf-like: 1% of the titles, over 10% of the views
    pairs = Counter((u, item) for u, item, _, _ in data.events)
    assert sum(c - 1 for c in pairs.values()) > 0.05 * len(data.events)  # repeat viewing
    by_user: dict[str, list[float]] = {}
    for user, _, _, ts in data.events:
        by_user.setdefault(user, []).append(ts)
    gaps = np.diff(sorted(by_user["u0"]))
    within = np.isclose(gaps, 3600.0)
    assert within.sum() >= 5  # titles of a session an hour apart
    assert (gaps[~within] > 3600.0).all() and (gaps > 86400).sum() >= 2  # sessions apart
    assert {w for _, _, w, _ in data.events} == {1.0, 3.0}
    # tastes are latent: the hidden preference is not a function of the genres
    genres = [item.genres for item in data.items]
    same = [i for i in range(1, len(genres)) if genres[i] == genres[0]]
    assert len(same) >= 5
    truth = data.truth["u0"]
    assert np.ptp(truth[same]) > 1.0


def test_no_model_beats_the_generators_own_preferences(synthetic_results) -> None:
    data, results = synthetic_results
    oracle = results["oracle (true tastes)"]
    assert list(results) == [*MODELS, "oracle (true tastes)"]
    assert oracle.users >= 250
    for name in MODELS:
        assert results[name].precision < oracle.precision
        assert results[name].ndcg < oracle.ndcg
    assert oracle.precision >= 2 * results["popularity"].precision
    assert results["EASE"].precision > results["popularity"].precision
    assert results["EASE"].coverage > 5 * results["popularity"].coverage


def test_feature_correlation_is_what_the_hybrid_model_gains_from_content() -> None:
    """With features unrelated to tastes LightFM's features help little; aligned, they help."""
    weak = {r.model: r for r in evaluate(_synthetic(0.0), params=PARAMS, **SMALL_GRID)}
    strong = {r.model: r for r in evaluate(_synthetic(0.9), params=PARAMS, **SMALL_GRID)}

    def gain(results) -> float:
        return results["hybrid LightFM"].precision / results["collaborative LightFM"].precision

    assert gain(strong) > gain(weak)
    assert strong["hybrid LightFM"].precision > strong["collaborative LightFM"].precision


def test_table_lists_the_models_side_by_side_with_what_it_cannot_show(synthetic_results) -> None:
    data, results = synthetic_results
    table = format_table(data, list(results.values()))
    lines = table.splitlines()
    assert lines[1].startswith("split: per user by time, last 20% test")
    header = lines[2]
    assert "precision@10" in header and "NDCG@10" in header and "cold-start P@10" in header
    assert "× pop" in header and "chosen" in header
    assert [line.split("  ")[0].strip() for line in lines[4:10]] == [
        *MODELS,
        "oracle (true tastes)",
    ]
    assert lines[4].split()[2] == "1.00x"
    assert table.endswith(SYNTHETIC_LIMITS)
    assert "cannot show" in SYNTHETIC_LIMITS


def _movielens_fixture(folder: Path) -> tuple[Path, Path]:
    """A tiny MovieLens-format dataset with structure: two user groups, two genres."""
    rng = random.Random(4)
    movies = [(m, "Comedy" if m % 2 else "Documentary") for m in range(1, 61)]
    (folder / "movies.csv").write_text(
        "movieId,title,genres\n" + "".join(f"{m},Movie {m} (2000),{g}\n" for m, g in movies)
    )
    ratings = []
    for user in range(1, 81):
        liked = "Comedy" if user % 2 else "Documentary"
        picks = rng.sample([m for m, g in movies if g == liked], 14) + rng.sample(
            [m for m, _ in movies], 3
        )
        for step, movie in enumerate(picks):
            genre = dict(movies)[movie]
            rating = rng.choice([4, 5]) if genre == liked else rng.choice([1, 2])
            ratings.append((user, movie, rating, 1_000_000 + user * 1000 + step))
    csv_path = folder / "ratings.csv"
    csv_path.write_text(
        "userId,movieId,rating,timestamp\n"
        + "".join(f"{u},{m},{r},{t}\n" for u, m, r, t in ratings)
    )
    tsv = folder / "u.data"
    tsv.write_text("".join(f"{u}\t{m}\t{r}\t{t}\n" for u, m, r, t in ratings))
    return csv_path, tsv


def test_movielens_csv_and_u_data_are_evaluated(tmp_path: Path) -> None:
    csv_path, tsv = _movielens_fixture(tmp_path)
    from_csv, from_tsv = movielens_dataset(csv_path), movielens_dataset(tsv)
    assert from_csv.events == from_tsv.events
    assert len(from_csv.items) == 60 and len(from_csv.events) == 80 * 17
    # every rating is seen; ratings >= 4 (weight >= 1) are the relevant ones
    assert {e[2] for e in from_csv.events} == {1.0, 2.0, -1.0, -2.0}
    assert {g for item in from_csv.items for g in item.genres} == {"Comedy", "Documentary"}
    results = {
        r.model: r
        for r in evaluate(
            from_csv, params=TrainParams(components=8, epochs=30, threads=1), new_share=0.0
        )
    }
    assert list(results) == MODELS
    for result in results.values():
        assert 0.0 <= result.precision <= 1.0 and 0.0 <= result.ndcg <= 1.0 and result.users > 0
        assert result.cold_precision is None  # no titles held out as new
    # the two taste clusters are learnt from co-occurrence (EASE) and features (hybrid)
    assert results["EASE"].precision > results["popularity"].precision
    assert results["hybrid LightFM"].precision > results["popularity"].precision
    assert results["blend EASE+hybrid+popularity"].precision > results["popularity"].precision


def test_movielens_file_with_a_wrong_header_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "ratings.csv"
    bad.write_text("user,item\n1,2\n")
    with pytest.raises(ValueError, match="userId,movieId,rating,timestamp"):
        movielens_dataset(bad)


def test_cli_evaluate_prints_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_path, _ = _movielens_fixture(tmp_path)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["recs", "evaluate", "--movielens", str(csv_path), "--epochs", "5", "--components", "8"]
    )
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "movielens:ratings.csv" in out
    for name in MODELS:
        assert name in out
    assert "cannot show" not in out  # that note belongs to the synthetic data
    bad = parser.parse_args(["recs", "evaluate", "--movielens", str(csv_path), "--new-share", "1"])
    assert bad.func(bad) == 2
    missing = parser.parse_args(["recs", "evaluate", "--movielens", str(tmp_path / "nope.csv")])
    assert missing.func(missing) == 2
