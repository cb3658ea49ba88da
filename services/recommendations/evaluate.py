"""Offline evaluation: popularity, collaborative LightFM, hybrid LightFM, EASE and their blend,
side by side, on one protocol.

Two sources of interactions:

* `movielens_dataset`: real ratings in the MovieLens format, `userId,movieId,rating,timestamp`
  CSV or tab-separated `u.data` (`scripts/movielens-data` installs MovieLens 100K into
  `var/datasets/ml-100k/`). Every rating is an interaction (it counts as seen); ratings >= 4 are
  the relevant ones and the only positives LightFM trains on. Genres come from a `movies.csv` or
  `u.item` next to the file when present.
* `synthetic_dataset`: simulated users over the real catalog of `netflix_titles.csv`, generated
  independently of every model here (see its docstring, and `SYNTHETIC_LIMITS` for what it
  cannot show).

Protocol (`evaluate`): optionally a share of the titles is held out as "new" (`new_share`; no
interaction of theirs is used for training) for the cold-start column. Each user's remaining
interactions are ordered by time: the last `test_share` (20%) is the test set; the last
`val_share` (20%) of what is left is the validation set, and the rest trains the models that the
validation set judges. λ of EASE, the recency half-life of its history and the blend weights are
chosen there, on validation only; then every model is refitted on all training interactions (train +
validation) and measured once on the test set. Metrics at 10 over users with relevant test items,
ranking every title they had not interacted with before the test period: precision, recall, NDCG,
catalog coverage; cold-start precision ranks only the new titles for the users who interacted with
them.

The blend: per user, each component's scores are standardised over the candidates and summed
with weights: EASE (1), hybrid LightFM (w_h), log popularity (w_p).
"""

from __future__ import annotations

import csv
import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from services.recommendations.ease import EaseModel, fit_ease
from services.recommendations.features import ItemInfo, item_features
from services.recommendations.model import ModelArtifact, TrainParams, train

__all__ = [
    "SYNTHETIC_LIMITS",
    "BlendChoice",
    "EvalDataset",
    "EvalResult",
    "evaluate",
    "format_table",
    "movielens_dataset",
    "synthetic_dataset",
]

K = 10
LAMBDAS = (50.0, 100.0, 200.0, 400.0, 800.0, 1600.0)
HALF_LIVES = (None, 10.0, 25.0, 60.0)  # recency half-life of the history EASE reads, in events
HYBRID_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
POPULARITY_WEIGHTS = (0.0, 0.1, 0.2, 0.4)

SYNTHETIC_LIMITS = """\
What the synthetic evaluation cannot show:
- Its users are a low-rank latent-factor model with a Zipf popularity prior: the same family as
  matrix factorisation and item-item models, so how those rank against each other here is a
  property of the generator, not evidence about real viewers. Use a real ratings file for that.
- Content features are tied to tastes only by the chosen feature correlation; what the hybrid
  model gains from them (and its cold-start column) measures that knob, not real titles.
- Absent from the simulation: exposure and position bias (users only pick what they were shown),
  trends and seasonality, series and episodes, shared household profiles, negative feedback,
  regional availability. Repeat views are generated, but titles seen before the test period are
  excluded from it, so predicting re-watches is not measured.
- Absolute values depend on the generator's parameters and say nothing about production."""


@dataclass
class EvalDataset:
    name: str
    items: list[ItemInfo]
    # (user, item name, weight, timestamp); weight <= 0 is a seen but not relevant interaction
    events: list[tuple[str, str, float, float]]
    # synthetic only: the generator's true preference of each user over `items`
    truth: dict[str, np.ndarray] = field(default_factory=dict)
    notes: str = ""


@dataclass
class EvalResult:
    model: str
    precision: float
    recall: float
    ndcg: float
    coverage: float
    cold_precision: float | None
    train_seconds: float
    users: int
    detail: str = ""


@dataclass(frozen=True)
class BlendChoice:
    """What validation chose."""

    lam: float
    half_life: float | None
    hybrid_weight: float
    popularity_weight: float
    validation_precision: float


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
    sessions: tuple[int, int] = (4, 10),
    session_items: tuple[int, int] = (1, 5),
    items_limit: int | None = None,
    factors: int = 16,
    feature_correlation: float = 0.3,
    taste_strength: float = 2.5,
    zipf: float = 0.8,
    session_drift: float = 0.5,
    repeat_rate: float = 0.1,
    noise: float = 0.1,
    seed: int = 11,
) -> EvalDataset:
    """Simulated viewers of the real catalog, independent of the models under evaluation.

    * Tastes are latent: every title gets a random unit vector in `factors` dimensions, only
      partly aligned with a random projection of its genres (cosine ≈ `feature_correlation`;
      0 means content features carry no information about tastes), and every user a random
      Gaussian vector. Countries, people and the other features play no part.
    * Popularity is Zipf-like (the title of rank r has prior ∝ r^-zipf, ranks a random
      permutation unrelated to tastes or features).
    * A user watches in sessions (a few days apart, titles within a session an hour apart); each
      session's taste drifts from the user's (Gaussian, `session_drift`). A title is picked with
      probability ∝ exp(taste_strength · taste·item) · popularity among titles not yet watched.
    * With probability `repeat_rate` a pick re-watches an earlier title; with probability `noise`
      it is a uniformly random title.
    * A view is a completion (weight 3) with probability sigmoid(taste_strength · taste·item),
      otherwise a plain view (weight 1).

    `truth` keeps each user's true preference (taste and popularity, without session drift or
    noise): ranking by it gives the "oracle" row, the ceiling any model can reach here. See
    `SYNTHETIC_LIMITS` for what this evaluation cannot show."""
    rng = np.random.default_rng(seed)
    items = load_catalog_csv(catalog_csv, items_limit)
    n = len(items)
    genres = sorted({g for item in items for g in item.genres})
    genre_col = {g: i for i, g in enumerate(genres)}
    onehot = np.zeros((n, max(1, len(genres))))
    for i, item in enumerate(items):
        for g in item.genres:
            onehot[i, genre_col[g]] = 1.0
    content = onehot @ rng.normal(size=(onehot.shape[1], factors))
    content /= np.maximum(np.linalg.norm(content, axis=1, keepdims=True), 1e-12)
    free = rng.normal(size=(n, factors))
    free /= np.linalg.norm(free, axis=1, keepdims=True)
    rho = float(np.clip(feature_correlation, 0.0, 1.0))
    item_vectors = rho * content + math.sqrt(1.0 - rho * rho) * free
    item_vectors /= np.maximum(np.linalg.norm(item_vectors, axis=1, keepdims=True), 1e-12)
    ranks = rng.permutation(n) + 1
    log_pop = -zipf * np.log(ranks.astype(np.float64))

    events: list[tuple[str, str, float, float]] = []
    truth: dict[str, np.ndarray] = {}
    for u in range(users):
        user = f"u{u}"
        taste = rng.normal(size=factors)
        affinity = item_vectors @ taste
        truth[user] = taste_strength * affinity + log_pop
        watched: list[int] = []
        blocked = np.zeros(n, dtype=bool)
        clock = float(rng.uniform(0, 1e6))
        for _ in range(int(rng.integers(sessions[0], sessions[1] + 1))):
            clock += float(rng.exponential(3 * 86400.0)) + 3600.0
            mood = taste + rng.normal(scale=session_drift, size=factors)
            logits = taste_strength * (item_vectors @ mood) + log_pop
            gumbel = logits - np.log(-np.log(rng.random(n)))
            picks = int(rng.integers(session_items[0], session_items[1] + 1))
            order = iter(np.argsort(-np.where(blocked, -np.inf, gumbel)))
            for step in range(picks):
                draw = rng.random()
                if watched and draw < repeat_rate:
                    i = watched[int(rng.integers(len(watched)))]
                elif draw < repeat_rate + noise:
                    i = int(rng.integers(n))
                else:
                    i = int(next(order))
                    while blocked[i]:
                        i = int(next(order))
                if not blocked[i]:
                    blocked[i] = True
                    watched.append(i)
                complete = rng.random() < 1.0 / (1.0 + math.exp(-taste_strength * affinity[i]))
                events.append((user, items[i].name, 3.0 if complete else 1.0, clock + step * 3600))
            clock += picks * 3600.0  # the next session starts after this one ended
    return EvalDataset("synthetic", items, events, truth, SYNTHETIC_LIMITS)


def movielens_dataset(path: Path, *, min_rating: float = 4.0) -> EvalDataset:
    """A MovieLens ratings file: CSV with a `userId,movieId,rating,timestamp` header, or the
    tab-separated `u.data` (user, item, rating, timestamp; no header).

    Every rating becomes an event with weight `1 + rating - min_rating`: > 0 (relevant, a
    positive to train on) for ratings >= `min_rating`, <= 0 (seen, not relevant) below."""
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
            try:
                rows.append((parts[0], parts[1], float(parts[2]), float(parts[3])))
            except ValueError:
                raise ValueError(f"{path}:{number}: rating and timestamp must be numbers") from None
    else:
        reader = csv.DictReader(lines)
        needed = {"userId", "movieId", "rating", "timestamp"}
        if not needed <= set(reader.fieldnames or []):
            raise ValueError(f"{path}: expected a header userId,movieId,rating,timestamp")
        for number, row in enumerate(reader, 2):
            try:
                rating, ts = float(row["rating"]), float(row["timestamp"])
            except (TypeError, ValueError):
                raise ValueError(f"{path}:{number}: rating and timestamp must be numbers") from None
            rows.append((row["userId"], row["movieId"], rating, ts))
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

Event = tuple[str, str, float]  # (user, item name, weight)


@dataclass
class _Fold:
    """Training events and the held-out period that judges models trained on them."""

    train: list[tuple[str, str, float, float]]  # (user, item, weight, ts)
    relevant: dict[str, set[str]]  # user -> relevant held-out items not seen in train


@dataclass
class _Split:
    known: list[ItemInfo]
    new: list[ItemInfo]
    validation: _Fold
    test: _Fold
    cold_test: dict[str, set[str]]


def _cut(n: int, share: float) -> int:
    """How many of a user's `n` events stay before the held-out tail (all when fewer than 5)."""
    return n - max(1, int(round(n * share))) if n >= 5 else n


def _fold(
    by_user: dict[str, list[tuple[float, str, float]]], share: float
) -> tuple[_Fold, dict[str, list[tuple[float, str, float]]]]:
    train: list[tuple[str, str, float, float]] = []
    relevant: dict[str, set[str]] = {}
    kept: dict[str, list[tuple[float, str, float]]] = {}
    for user, events in by_user.items():
        cut = _cut(len(events), share)
        kept[user] = events[:cut]
        seen = {item for _, item, _ in events[:cut]}
        train.extend((user, item, weight, ts) for ts, item, weight in events[:cut])
        held = {item for _, item, weight in events[cut:] if weight > 0} - seen
        if held:
            relevant[user] = held
    return _Fold(train, relevant), kept


def _split(
    data: EvalDataset, test_share: float, val_share: float, new_share: float, seed: int
) -> _Split:
    rng = random.Random(seed)
    new_names = {item.name for item in data.items if rng.random() < new_share}
    by_user: dict[str, list[tuple[float, str, float]]] = defaultdict(list)
    cold: dict[str, set[str]] = defaultdict(set)
    for user, item, weight, ts in data.events:
        if item in new_names:
            if weight > 0:
                cold[user].add(item)
        else:
            by_user[user].append((ts, item, weight))
    for events in by_user.values():
        events.sort(key=lambda e: (e[0], e[1]))
    test, train_part = _fold(by_user, test_share)
    validation, _ = _fold(train_part, val_share)
    trained = {u for u, _, w, _ in test.train if w > 0}
    return _Split(
        known=[item for item in data.items if item.name not in new_names],
        new=[item for item in data.items if item.name in new_names],
        validation=validation,
        test=test,
        cold_test={u: s for u, s in cold.items() if u in trained},
    )


class _Matrices:
    """A fold's training data as matrices over the known items, for the users it evaluates."""

    def __init__(self, fold: _Fold, known: list[ItemInfo]) -> None:
        self.items = {item.name: i for i, item in enumerate(known)}
        self.users = sorted(fold.relevant)
        all_users = sorted({u for u, _, _, _ in fold.train})
        self.row = {u: i for i, u in enumerate(all_users)}
        n = len(known)
        rows, cols, order = [], [], []
        ranks: dict[str, int] = Counter()
        for user, item, _, _ in sorted(fold.train, key=lambda e: (e[0], e[3], e[1])):
            rows.append(self.row[user])
            cols.append(self.items[item])
            order.append(ranks[user])
            ranks[user] += 1
        self.seen = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(all_users), n))
        self.seen.sum_duplicates()
        self.seen.data[:] = 1.0
        # age of each interaction in events, newest = 0 (recency weighting of EASE's input)
        length = np.array([ranks[u] for u in all_users], dtype=np.float64)
        ages = length[np.array(rows, dtype=np.int64)] - 1 - np.array(order, dtype=np.float64)
        self._rows, self._cols, self._ages = np.array(rows), np.array(cols), ages
        positives = Counter(self.items[item] for _, item, w, _ in fold.train if w > 0)
        self.popularity = np.zeros(n)
        for j, count in positives.items():
            self.popularity[j] = count
        self.eval_rows = np.array([self.row.get(u, -1) for u in self.users], dtype=np.int64)
        self.relevant = np.zeros((len(self.users), n), dtype=bool)
        for r, user in enumerate(self.users):
            self.relevant[r, [self.items[i] for i in fold.relevant[user]]] = True

    def history(self, half_life: float | None) -> sp.csr_matrix:
        """Users' histories as EASE input: 1 per title, or decayed by age with `half_life`."""
        if half_life is None:
            return self.seen
        values = np.power(0.5, self._ages / half_life)
        matrix = sp.csr_matrix((values, (self._rows, self._cols)), shape=self.seen.shape)
        matrix.sum_duplicates()
        matrix.data = np.minimum(matrix.data, 1.0)
        return matrix

    def for_eval(self, matrix: sp.csr_matrix | np.ndarray) -> np.ndarray:
        """Rows of a per-training-user matrix for the evaluated users (zeros for unknown)."""
        dense = sp.csr_matrix(matrix).toarray() if sp.issparse(matrix) else np.asarray(matrix)
        out = np.zeros((len(self.users), dense.shape[1]), dtype=np.float64)
        ok = self.eval_rows >= 0
        out[ok] = dense[self.eval_rows[ok]]
        return out

    def seen_mask(self) -> np.ndarray:
        return self.for_eval(self.seen) > 0


@dataclass(frozen=True)
class _Ease:
    """EASE fitted on the titles with training interactions (the others would get all-zero
    weights anyway); scores are returned over every title."""

    active: np.ndarray
    model: EaseModel

    @classmethod
    def fit(cls, seen: sp.csr_matrix, lam: float) -> _Ease:
        active = np.flatnonzero(np.asarray(seen.sum(axis=0)).ravel() > 0)
        return cls(active, fit_ease(seen[:, active], lam))

    def scores(self, history: np.ndarray) -> np.ndarray:
        out = np.zeros(history.shape, dtype=np.float64)
        out[:, self.active] = history[:, self.active] @ self.model.weights.astype(np.float64)
        return out


def _top(scores: np.ndarray, seen: np.ndarray) -> np.ndarray:
    masked = np.where(seen, -np.inf, scores)
    top = np.argpartition(-masked, K, axis=1)[:, :K]
    picked = np.take_along_axis(masked, top, axis=1)
    return np.take_along_axis(top, np.argsort(-picked, axis=1, kind="stable"), axis=1)


def _measure(top: np.ndarray, relevant: np.ndarray) -> tuple[float, float, float, set[int]]:
    """Precision, recall and NDCG at K of each row's `top` against the boolean `relevant`
    (users × items) matrix, averaged over users; and the set of recommended items."""
    if top.shape[0] == 0:
        return 0.0, 0.0, 0.0, set()
    discounts = 1.0 / np.log2(np.arange(2, K + 2))
    hits = np.take_along_axis(relevant, top, axis=1)
    count = relevant.sum(axis=1)
    ideal = np.cumsum(discounts)[np.minimum(count, K) - 1]
    return (
        float((hits.sum(axis=1) / K).mean()),
        float((hits.sum(axis=1) / count).mean()),
        float(((hits * discounts).sum(axis=1) / ideal).mean()),
        {int(i) for i in np.unique(top)},
    )


def _standardise(scores: np.ndarray, seen: np.ndarray) -> np.ndarray:
    candidates = np.where(seen, np.nan, scores)
    mean = np.nanmean(candidates, axis=1, keepdims=True)
    std = np.nanstd(candidates, axis=1, keepdims=True)
    return (scores - mean) / np.where(std > 1e-12, std, 1.0)


def _lightfm_scores(artifact: ModelArtifact, m: _Matrices, known: list[ItemInfo]) -> np.ndarray:
    index = {u: i for i, u in enumerate(artifact.user_ids)}
    position = {name: i for i, name in enumerate(artifact.item_ids)}
    order = np.array([position[item.name] for item in known], dtype=np.int64)
    users = np.zeros((len(m.users), artifact.dim), dtype=np.float64)
    for r, user in enumerate(m.users):
        if user in index:
            users[r] = artifact.user_vectors[index[user]]
    vectors = artifact.item_vectors[order].astype(np.float64)
    return users @ vectors.T + artifact.item_bias[order].astype(np.float64)


def _cold_scores(
    artifact: ModelArtifact | None, users: list[str], new: list[ItemInfo], seed: int
) -> np.ndarray:
    """Scores of the new titles: embedded from content features (hybrid), else random order."""
    out = np.tile(np.random.default_rng(seed).random(len(new)) * 1e-6, (len(users), 1))
    if artifact is None:
        return out
    index = {u: i for i, u in enumerate(artifact.user_ids)}
    for j, item in enumerate(new):
        embedded = artifact.embed(item_features(item))
        if embedded is None:
            continue
        vector, bias = embedded
        for r, user in enumerate(users):
            if user in index:
                out[r, j] += float(vector @ artifact.user_vectors[index[user]] + bias)
    return out


def _cold_precision(split: _Split, scores: np.ndarray, users: list[str]) -> float | None:
    if not split.new or not users:
        return None
    k = min(K, len(split.new))
    values = []
    for r, user in enumerate(users):
        top = np.argsort(-scores[r], kind="stable")[:k]
        values.append(sum(split.new[int(i)].name in split.cold_test[user] for i in top) / k)
    return float(np.mean(values))


def _fit_lightfm(
    split: _Split, fold: _Fold, params: TrainParams, use_features: bool
) -> tuple[ModelArtifact, float]:
    started = time.perf_counter()
    artifact = train(
        split.known,
        ((u, i, w) for u, i, w, _ in fold.train if w > 0),
        replace(params, use_features=use_features, ease_lambda=0.0),
    )
    return artifact, time.perf_counter() - started


def _choose(
    split: _Split, params: TrainParams, lambdas: Sequence[float], half_lives: Iterable[float | None]
) -> tuple[BlendChoice, dict[str, float]]:
    """λ, recency half-life and blend weights chosen on the validation fold only."""
    m = _Matrices(split.validation, split.known)
    seen = m.seen_mask()
    hybrid, _ = _fit_lightfm(split, split.validation, params, True)
    hybrid_z = _standardise(_lightfm_scores(hybrid, m, split.known), seen)
    pop_z = _standardise(np.tile(np.log1p(m.popularity), (len(m.users), 1)), seen)
    histories = {h: m.for_eval(m.history(h)) for h in half_lives}
    best: BlendChoice | None = None
    ease_alone: dict[str, float] = {}
    for lam in lambdas:
        model = _Ease.fit(m.seen, lam)
        for h, history in histories.items():
            ease = model.scores(history)
            precision = _measure(_top(ease, seen), m.relevant)[0]
            ease_alone[f"λ={lam:g} h={h}"] = precision
            ease_z = _standardise(ease, seen)
            for wh in HYBRID_WEIGHTS:
                for wp in POPULARITY_WEIGHTS:
                    blended = ease_z + wh * hybrid_z + wp * pop_z
                    value = _measure(_top(blended, seen), m.relevant)[0]
                    if best is None or value > best.validation_precision + 1e-12:
                        best = BlendChoice(lam, h, wh, wp, value)
    if best is None:
        raise ValueError("no validation users: too few interactions per user to split")
    return best, ease_alone


def evaluate(
    data: EvalDataset,
    *,
    params: TrainParams | None = None,
    test_share: float = 0.2,
    val_share: float = 0.2,
    new_share: float = 0.05,
    seed: int = 3,
    lambdas: Sequence[float] = LAMBDAS,
    half_lives: Sequence[float | None] = HALF_LIVES,
) -> list[EvalResult]:
    """Every model on one split of `data` (see the module docstring for the protocol)."""
    params = params or TrainParams()
    split = _split(data, test_share, val_share, new_share, seed)
    if not split.test.relevant:
        raise ValueError("no test users: too few interactions per user to split")
    choice, _ = _choose(split, params, lambdas, half_lives)

    m = _Matrices(split.test, split.known)
    seen = m.seen_mask()
    cold_users = sorted(u for u in split.cold_test if u in m.row)
    results: list[EvalResult] = []

    def record(name: str, scores: np.ndarray, seconds: float, cold: float | None, detail: str):
        precision, recall, ndcg, covered = _measure(_top(scores, seen), m.relevant)
        results.append(
            EvalResult(
                name,
                precision,
                recall,
                ndcg,
                len(covered) / max(1, len(split.known)),
                cold,
                seconds,
                len(m.users),
                detail,
            )
        )

    ties = np.random.default_rng(seed).random(len(split.known)) * 1e-3
    popularity = np.tile(m.popularity + ties, (len(m.users), 1))
    record(
        "popularity",
        popularity,
        0.0,
        _cold_precision(split, _cold_scores(None, cold_users, split.new, seed), cold_users),
        "positives in training",
    )
    artifacts: dict[bool, ModelArtifact] = {}
    for name, use_features in (("collaborative LightFM", False), ("hybrid LightFM", True)):
        artifact, seconds = _fit_lightfm(split, split.test, params, use_features)
        artifacts[use_features] = artifact
        cold = _cold_scores(artifact if use_features else None, cold_users, split.new, seed)
        record(
            name,
            _lightfm_scores(artifact, m, split.known),
            seconds,
            _cold_precision(split, cold, cold_users),
            f"{params.components} dims, {params.epochs} epochs",
        )
    started = time.perf_counter()
    ease_model = _Ease.fit(m.seen, choice.lam)
    ease_seconds = time.perf_counter() - started
    ease = ease_model.scores(m.for_eval(m.history(choice.half_life)))
    half = "off" if choice.half_life is None else f"{choice.half_life:g} events"
    record(
        "EASE",
        ease,
        ease_seconds,
        None,
        f"λ={choice.lam:g}, recency half-life {half} (validation)",
    )
    hybrid_scores = _lightfm_scores(artifacts[True], m, split.known)
    blended = (
        _standardise(ease, seen)
        + choice.hybrid_weight * _standardise(hybrid_scores, seen)
        + choice.popularity_weight
        * _standardise(np.tile(np.log1p(m.popularity), (len(m.users), 1)), seen)
    )
    hybrid_cold = _cold_scores(artifacts[True], cold_users, split.new, seed)
    record(
        "blend EASE+hybrid+popularity",
        blended,
        ease_seconds + results[2].train_seconds,
        _cold_precision(split, hybrid_cold, cold_users),
        f"weights 1 / {choice.hybrid_weight:g} / {choice.popularity_weight:g} "
        f"(validation P@10 {choice.validation_precision:.4f})",
    )
    if data.truth:
        position = {item.name: i for i, item in enumerate(data.items)}
        order = np.array([position[item.name] for item in split.known], dtype=np.int64)
        oracle = np.stack([data.truth[u][order] for u in m.users])
        record("oracle (true tastes)", oracle, 0.0, None, "the generator's own preferences")
    return results


def format_table(data: EvalDataset, results: Sequence[EvalResult]) -> str:
    """The side-by-side table `vod recs evaluate` prints, with ratios to popularity."""
    base = next((r for r in results if r.model == "popularity"), None)
    header = [
        "model",
        "precision@10",
        "× pop",
        "recall@10",
        "NDCG@10",
        "coverage",
        "cold-start P@10",
        "train s",
        "chosen",
    ]
    rows = []
    for r in results:
        ratio = r.precision / base.precision if base is not None and base.precision > 0 else 0.0
        rows.append(
            [
                r.model,
                f"{r.precision:.4f}",
                f"{ratio:.2f}x",
                f"{r.recall:.4f}",
                f"{r.ndcg:.4f}",
                f"{r.coverage:.3f}",
                f"{r.cold_precision:.4f}" if r.cold_precision is not None else "-",
                f"{r.train_seconds:.1f}",
                r.detail,
            ]
        )
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    users = results[0].users if results else 0
    lines = [
        f"dataset {data.name}: {len(data.items)} titles, {len(data.events)} interactions, "
        f"{users} test users",
        "split: per user by time, last 20% test, the last 20% of the rest validation (chooses "
        "λ, recency, blend weights); relevant = positive (MovieLens: rating >= 4); titles seen "
        "before the test period are not ranked",
        "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip(),
        "  ".join("-" * w for w in widths),
    ]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    if data.notes:
        lines += ["", data.notes]
    return "\n".join(lines)
