"""Offline evaluation: hybrid LightFM vs pure collaborative LightFM vs popularity, side by side.

Two sources of interactions:

* `synthetic_dataset`: users with hidden genre (and country) tastes choosing titles of the real
  catalog in `netflix_titles.csv`, so the ground truth is known; the table then also reports how
  many of the top 10 match the user's hidden taste.
* `movielens_dataset`: a MovieLens file, `userId,movieId,rating,timestamp` CSV or tab-separated
  `u.data`; ratings >= 4 are positives. Genres come from a `movies.csv` or `u.item` next to it
  when present (otherwise the hybrid model has only the identity and type features).

Protocol: a share of the titles is held out as "new" (no interaction of theirs is used for
training); every user's remaining interactions are split by time (the last `test_share` for the
test). Metrics at 10 over users with test items, ranking titles they have not trained on:
precision, recall, NDCG, catalog coverage; cold-start precision ranks only the new titles for the
users who interacted with them. Models are trained with the same `model.train` the service uses,
and new titles are embedded the way the service embeds titles published after training.
"""

from __future__ import annotations

import csv
import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from services.recommendations.features import ItemInfo, item_features
from services.recommendations.model import ModelArtifact, TrainParams, train

__all__ = [
    "EvalDataset",
    "EvalResult",
    "evaluate",
    "format_table",
    "movielens_dataset",
    "synthetic_dataset",
]

K = 10


@dataclass
class EvalDataset:
    name: str
    items: list[ItemInfo]
    # (user, item name, weight, timestamp)
    events: list[tuple[str, str, float, float]]
    tastes: dict[str, set[str]] = field(default_factory=dict)  # synthetic ground truth


@dataclass
class EvalResult:
    model: str
    precision: float
    recall: float
    ndcg: float
    coverage: float
    cold_precision: float
    taste_match: float | None
    train_seconds: float
    users: int


# -- datasets ---------------------------------------------------------------------------------


def load_catalog_csv(path: Path, limit: int | None = None) -> list[ItemInfo]:
    """Titles of a netflix_titles.csv, flattened the way catalog events are."""
    from services.catalog.importer import read_rows, title_from_row
    from services.recommendations.features import item_from_title

    items = []
    for _, row in read_rows(path):
        try:
            title_id, title = title_from_row(row, ("US",))
        except ValueError:
            continue
        title.name = f"titles/{title_id}"
        items.append(item_from_title(title))
        if limit is not None and len(items) >= limit:
            break
    return items


def synthetic_dataset(
    catalog_csv: Path,
    *,
    users: int = 500,
    events_per_user: tuple[int, int] = (15, 40),
    items_limit: int | None = None,
    taste_strength: float = 2.5,
    seed: int = 11,
) -> EvalDataset:
    """Users with 2 hidden favourite genres (and a favourite country) pick titles with
    probability ∝ exp(strength · taste match) · latent popularity."""
    rng = np.random.default_rng(seed)
    items = load_catalog_csv(catalog_csv, items_limit)
    genres = sorted({g for item in items for g in item.genres})
    genre_col = {g: i for i, g in enumerate(genres)}
    matrix = np.zeros((len(items), len(genres)), dtype=np.float32)
    for i, item in enumerate(items):
        for g in item.genres:
            matrix[i, genre_col[g]] = 1.0
    genre_freq = matrix.sum(axis=0)
    genre_p = np.sqrt(genre_freq) / np.sqrt(genre_freq).sum()
    countries = Counter(c for item in items for c in item.countries[:1])
    top_countries = [c for c, _ in countries.most_common(8)]
    popularity = rng.lognormal(0.0, 1.0, len(items))
    events: list[tuple[str, str, float, float]] = []
    tastes: dict[str, set[str]] = {}
    for u in range(users):
        user = f"u{u}"
        liked = set(rng.choice(genres, size=2, replace=False, p=genre_p).tolist())
        country = top_countries[int(rng.integers(len(top_countries)))] if top_countries else ""
        tastes[user] = liked
        taste = np.zeros(len(genres), dtype=np.float32)
        for g in liked:
            taste[genre_col[g]] = 1.0
        affinity = matrix @ taste
        affinity += np.array([0.5 if country in item.countries[:1] else 0.0 for item in items])
        weights = np.exp(taste_strength * affinity) * popularity
        n = int(rng.integers(events_per_user[0], events_per_user[1] + 1))
        chosen = rng.choice(len(items), size=n, replace=False, p=weights / weights.sum())
        start = float(rng.uniform(0, 1e6))
        for step, i in enumerate(chosen):
            weight = 3.0 if rng.random() < 0.6 else 1.0  # completions and plain views
            events.append((user, items[int(i)].name, weight, start + step * 3600.0))
    return EvalDataset("synthetic", items, events, tastes)


def movielens_dataset(path: Path, *, min_rating: float = 4.0) -> EvalDataset:
    """A MovieLens ratings file: CSV with a `userId,movieId,rating,timestamp` header, or the
    tab-separated `u.data` (user, item, rating, timestamp; no header)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"{path} is empty")
    rows: list[tuple[str, str, float, float]] = []
    if "\t" in lines[0]:
        for number, line in enumerate(lines, 1):
            parts = line.split("\t")
            if len(parts) < 4:
                raise ValueError(f"{path}:{number}: expected user, item, rating, timestamp")
            rows.append((parts[0], parts[1], float(parts[2]), float(parts[3])))
    else:
        reader = csv.DictReader(lines)
        needed = {"userId", "movieId", "rating", "timestamp"}
        if not needed <= set(reader.fieldnames or []):
            raise ValueError(f"{path}: expected a header userId,movieId,rating,timestamp")
        for row in reader:
            rows.append(
                (row["userId"], row["movieId"], float(row["rating"]), float(row["timestamp"]))
            )
    genres = _movielens_genres(path.parent)
    movie_ids = sorted({movie for _, movie, _, _ in rows}, key=lambda m: (len(m), m))
    items = [
        ItemInfo(
            name=f"titles/ml-{m}",
            type=1,
            display_name=f"movie {m}",
            genres=tuple(genres.get(m, ())),
        )
        for m in movie_ids
    ]
    events = [
        (f"u{user}", f"titles/ml-{movie}", 1.0 + (rating - min_rating), ts)
        for user, movie, rating, ts in rows
        if rating >= min_rating
    ]
    return EvalDataset(f"movielens:{path.name}", items, events)


def _movielens_genres(folder: Path) -> dict[str, list[str]]:
    movies = folder / "movies.csv"
    if movies.exists():
        with movies.open(newline="", encoding="utf-8", errors="replace") as handle:
            return {
                row["movieId"]: [
                    g for g in row.get("genres", "").split("|") if g and g != "(no genres listed)"
                ]
                for row in csv.DictReader(handle)
            }
    u_item, u_genre = folder / "u.item", folder / "u.genre"
    if u_item.exists():
        names = []
        if u_genre.exists():
            names = [
                line.split("|")[0]
                for line in u_genre.read_text(errors="replace").splitlines()
                if "|" in line
            ]
        out = {}
        for line in u_item.read_text(encoding="latin-1").splitlines():
            parts = line.split("|")
            if len(parts) < 6:
                continue
            flags = parts[5:]
            out[parts[0]] = [
                names[i] if i < len(names) else f"g{i}" for i, f in enumerate(flags) if f == "1"
            ]
        return out
    return {}


# -- protocol ---------------------------------------------------------------------------------


@dataclass
class _Split:
    known: list[ItemInfo]
    new: list[ItemInfo]
    train: list[tuple[str, str, float]]
    test: dict[str, set[str]]
    cold_test: dict[str, set[str]]
    seen: dict[str, set[str]]


def _split(data: EvalDataset, test_share: float, new_share: float, seed: int) -> _Split:
    rng = random.Random(seed)
    new_names = {item.name for item in data.items if rng.random() < new_share}
    by_user: dict[str, list[tuple[float, str, float]]] = defaultdict(list)
    cold_test: dict[str, set[str]] = defaultdict(set)
    for user, item, weight, ts in data.events:
        if item in new_names:
            cold_test[user].add(item)
        else:
            by_user[user].append((ts, item, weight))
    train: list[tuple[str, str, float]] = []
    test: dict[str, set[str]] = {}
    seen: dict[str, set[str]] = defaultdict(set)
    for user, events in by_user.items():
        events.sort()
        cut = (
            len(events) - max(1, int(round(len(events) * test_share)))
            if len(events) >= 5
            else len(events)
        )
        for _, item, weight in events[:cut]:
            train.append((user, item, weight))
            seen[user].add(item)
        held = {item for _, item, _ in events[cut:]} - seen[user]
        if held:
            test[user] = held
    return _Split(
        known=[item for item in data.items if item.name not in new_names],
        new=[item for item in data.items if item.name in new_names],
        train=train,
        test=test,
        cold_test={u: s for u, s in cold_test.items() if u in seen},
        seen=seen,
    )


Scorer = Callable[[str, np.ndarray], np.ndarray]  # (user, item indices) -> scores


def _metrics(
    name: str,
    split: _Split,
    known_scores: Callable[[str], np.ndarray],
    new_scores: Callable[[str], np.ndarray],
    tastes: dict[str, set[str]],
    train_seconds: float,
) -> EvalResult:
    index = {item.name: i for i, item in enumerate(split.known)}
    precisions, recalls, ndcgs, taste_hits = [], [], [], []
    recommended: set[int] = set()
    for user, held in split.test.items():
        scores = known_scores(user).astype(np.float64).copy()
        for item in split.seen.get(user, ()):
            scores[index[item]] = -np.inf
        top = np.argpartition(-scores, K)[:K]
        top = top[np.argsort(-scores[top])]
        recommended.update(int(i) for i in top)
        hits = [split.known[int(i)].name in held for i in top]
        precisions.append(sum(hits) / K)
        recalls.append(sum(hits) / len(held))
        dcg = sum(1.0 / math.log2(rank + 2) for rank, hit in enumerate(hits) if hit)
        idcg = sum(1.0 / math.log2(rank + 2) for rank in range(min(len(held), K)))
        ndcgs.append(dcg / idcg)
        if user in tastes:
            taste_hits.append(
                sum(bool(set(split.known[int(i)].genres) & tastes[user]) for i in top) / K
            )
    cold = []
    if split.new:
        for user, held in split.cold_test.items():
            scores = new_scores(user)
            k = min(K, len(split.new))
            top = np.argsort(-scores, kind="stable")[:k]
            cold.append(sum(split.new[int(i)].name in held for i in top) / k)
    return EvalResult(
        model=name,
        precision=float(np.mean(precisions)) if precisions else 0.0,
        recall=float(np.mean(recalls)) if recalls else 0.0,
        ndcg=float(np.mean(ndcgs)) if ndcgs else 0.0,
        coverage=len(recommended) / max(1, len(split.known)),
        cold_precision=float(np.mean(cold)) if cold else 0.0,
        taste_match=float(np.mean(taste_hits)) if taste_hits else None,
        train_seconds=train_seconds,
        users=len(precisions),
    )


def _lightfm_scorers(
    artifact: ModelArtifact, split: _Split, seed: int
) -> tuple[Callable[[str], np.ndarray], Callable[[str], np.ndarray]]:
    users = {u: i for i, u in enumerate(artifact.user_ids)}
    rng = np.random.default_rng(seed)
    new_vectors = []
    for item in split.new:
        embedded = artifact.embed(item_features(item))
        new_vectors.append(embedded)
    noise = rng.random(len(split.new)) * 1e-6

    def known(user: str) -> np.ndarray:
        u = users[user]
        return artifact.item_vectors @ artifact.user_vectors[u] + artifact.item_bias

    def new(user: str) -> np.ndarray:
        u = users[user]
        out = noise.copy()
        for i, embedded in enumerate(new_vectors):
            if embedded is not None:  # pure collaborative models cannot embed new titles
                vec, bias = embedded
                out[i] += float(vec @ artifact.user_vectors[u] + bias)
        return out

    return known, new


def evaluate(
    data: EvalDataset,
    *,
    params: TrainParams | None = None,
    test_share: float = 0.2,
    new_share: float = 0.05,
    seed: int = 3,
) -> list[EvalResult]:
    """Hybrid LightFM, pure collaborative LightFM and popularity on one split of `data`."""
    params = params or TrainParams()
    split = _split(data, test_share, new_share, seed)
    results = []
    for name, use_features in (("hybrid LightFM", True), ("collaborative LightFM", False)):
        started = time.perf_counter()
        artifact = train(split.known, split.train, _with(params, use_features))
        elapsed = time.perf_counter() - started
        known, new = _lightfm_scorers(artifact, split, seed)
        results.append(_metrics(name, split, known, new, data.tastes, elapsed))
    counts = Counter(item for _, item, _ in split.train)
    popularity = np.array([counts.get(item.name, 0) for item in split.known], dtype=np.float64)
    popularity += np.random.default_rng(seed).random(len(popularity)) * 1e-3  # stable ties
    new_random = np.random.default_rng(seed + 1).random(len(split.new))
    results.append(
        _metrics("popularity", split, lambda u: popularity, lambda u: new_random, data.tastes, 0.0)
    )
    return results


def _with(params: TrainParams, use_features: bool) -> TrainParams:
    from dataclasses import replace

    return replace(params, use_features=use_features)


def format_table(data: EvalDataset, results: Sequence[EvalResult]) -> str:
    """The side-by-side table `vod recs evaluate` prints."""
    has_taste = any(r.taste_match is not None for r in results)
    header = ["model", "precision@10", "recall@10", "NDCG@10", "coverage", "cold-start P@10"]
    if has_taste:
        header.append("taste@10")
    header.append("train s")
    rows = []
    for r in results:
        row = [
            r.model,
            f"{r.precision:.4f}",
            f"{r.recall:.4f}",
            f"{r.ndcg:.4f}",
            f"{r.coverage:.3f}",
            f"{r.cold_precision:.4f}",
        ]
        if has_taste:
            row.append(f"{r.taste_match:.3f}" if r.taste_match is not None else "-")
        row.append(f"{r.train_seconds:.1f}")
        rows.append(row)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    users = results[0].users if results else 0
    lines = [
        f"dataset {data.name}: {len(data.items)} titles, {len(data.events)} interactions, "
        f"{users} test users",
        "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)
