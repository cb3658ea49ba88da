"""Offline evaluation: on synthetic users with known tastes the hybrid model must beat the
popularity baseline by a clear margin; MovieLens files in both formats are read and evaluated."""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import pytest

from services.recommendations.cli import register
from services.recommendations.evaluate import (
    evaluate,
    format_table,
    movielens_dataset,
    synthetic_dataset,
)
from services.recommendations.model import TrainParams
from tests.conftest import DATASET

PARAMS = TrainParams(components=32, epochs=25, threads=2)


@pytest.fixture(scope="module")
def synthetic_results():
    data = synthetic_dataset(DATASET, users=400, items_limit=3000, seed=11)
    return data, {r.model: r for r in evaluate(data, params=PARAMS)}


def test_hybrid_beats_popularity_by_a_clear_margin(synthetic_results) -> None:
    _, results = synthetic_results
    hybrid, popularity = results["hybrid LightFM"], results["popularity"]
    assert hybrid.users >= 300
    assert hybrid.precision >= 1.4 * popularity.precision
    assert hybrid.ndcg >= 1.4 * popularity.ndcg
    assert hybrid.recall >= 1.4 * popularity.recall
    assert hybrid.coverage > 5 * popularity.coverage
    # the hidden tastes are recovered: most of the top 10 match a favourite genre
    assert hybrid.taste_match >= 2 * popularity.taste_match
    assert hybrid.taste_match >= 0.5


def test_hybrid_recommends_new_titles_that_collaborative_cannot(synthetic_results) -> None:
    _, results = synthetic_results
    hybrid, collaborative = results["hybrid LightFM"], results["collaborative LightFM"]
    assert hybrid.cold_precision >= 2 * collaborative.cold_precision
    assert hybrid.cold_precision >= 2 * results["popularity"].cold_precision
    assert hybrid.ndcg > collaborative.ndcg


def test_table_lists_the_three_models_side_by_side(synthetic_results) -> None:
    data, results = synthetic_results
    table = format_table(data, list(results.values()))
    lines = table.splitlines()
    assert "precision@10" in lines[1] and "NDCG@10" in lines[1] and "cold-start P@10" in lines[1]
    assert [line.split("  ")[0].strip() for line in lines[3:]] == [
        "hybrid LightFM",
        "collaborative LightFM",
        "popularity",
    ]


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
    assert len(from_csv.items) == 60 and all(
        e[2] >= 1.0 for e in from_csv.events
    )  # only ratings >= 4
    assert {g for item in from_csv.items for g in item.genres} == {"Comedy", "Documentary"}
    results = {r.model: r for r in evaluate(from_csv, params=TrainParams(components=8, epochs=30))}
    assert set(results) == {"hybrid LightFM", "collaborative LightFM", "popularity"}
    for result in results.values():
        assert 0.0 <= result.precision <= 1.0 and 0.0 <= result.ndcg <= 1.0 and result.users > 0
    # genre features carry the two clusters
    assert results["hybrid LightFM"].precision > results["popularity"].precision


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
    for name in ("hybrid LightFM", "collaborative LightFM", "popularity"):
        assert name in out
    missing = parser.parse_args(["recs", "evaluate", "--movielens", str(tmp_path / "nope.csv")])
    assert missing.func(missing) == 2
