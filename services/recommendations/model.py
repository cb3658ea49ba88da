"""The hybrid LightFM model: training (pure, CPU-bound: call it from a worker thread or process,
never from a request handler) and the versioned artifact the serving process loads.

Besides LightFM, training fits EASE (Steck 2019, `ease.py`) on the same positives over the most
interacted titles and keeps each title's strongest `ease_neighbors` item-item weights: serving
scores a profile by its recent history through them and blends that with LightFM (weights from
the offline evaluation's validation split on MovieLens 100K: λ 800, half-life 10 titles, LightFM
weight 1.5; keeping 128 neighbours per title costs 0.0016 of EASE's precision@10 there, 0.1298 ->
0.1281; `ease_lambda=0` turns EASE off).

Items are represented by an identity feature plus their content features (genres, people,
countries, era, type, maturity), rows normalised to sum 1, so a title nobody has watched yet
still gets an embedding from its features (`ModelArtifact.embed`). With `use_features=False` the
same code trains pure collaborative LightFM, the baseline of the offline evaluation.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import scipy.sparse as sp

from services.recommendations.ease import fit_ease
from services.recommendations.features import ItemInfo, item_features

__all__ = ["ModelArtifact", "TrainParams", "train"]


@dataclass(frozen=True)
class TrainParams:
    components: int = 32
    epochs: int = 20
    learning_rate: float = 0.05
    item_alpha: float = 1e-6
    user_alpha: float = 1e-6
    max_sampled: int = 30
    use_features: bool = True
    min_feature_items: int = 2  # a person credited on fewer titles than this is not a feature
    weight_cap: float = 5.0
    seed: int = 7
    threads: int = 1
    ease_lambda: float = 800.0  # 0: no EASE in the artifact
    ease_neighbors: int = 128  # item-item weights kept per title
    ease_max_items: int = 3000  # EASE covers at most this many of the most interacted titles
    ease_half_life: float = 10.0  # serving: recency half-life of the history EASE reads (titles)
    blend_hybrid: float = 1.5  # serving: LightFM's weight against EASE's (standardised scores)


@dataclass
class ModelArtifact:
    """A trained model reduced to what serving needs: item and user vectors, and the content
    feature vectors to embed titles published after training."""

    version: str
    created_at: float
    item_ids: list[str]
    item_vectors: np.ndarray  # (items, k) float32
    item_bias: np.ndarray  # (items,)
    user_ids: list[str]
    user_vectors: np.ndarray  # (users, k)
    feature_names: list[str]
    feature_vectors: np.ndarray  # (features, k)
    feature_bias: np.ndarray  # (features,)
    stats: dict[str, float | int | str] = field(default_factory=dict)
    # EASE: for each item its strongest neighbours (item positions, -1 = none) and their weights
    ease_neighbors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int32))
    ease_weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    ease_half_life: float = 10.0
    blend_hybrid: float = 1.5

    @property
    def has_ease(self) -> bool:
        return bool(self.ease_neighbors.size)

    @property
    def dim(self) -> int:
        return int(self.item_vectors.shape[1])

    def embed(self, features: Iterable[str]) -> tuple[np.ndarray, float] | None:
        """Vector and bias of an item from its content features alone (cold-start items)."""
        index = self._feature_index()
        rows = [index[f] for f in features if f in index]
        if not rows:
            return None
        return (
            self.feature_vectors[rows].mean(axis=0).astype(np.float32),
            float(self.feature_bias[rows].mean()),
        )

    def _feature_index(self) -> dict[str, int]:
        cached = getattr(self, "_index", None)
        if cached is None:
            cached = {name: i for i, name in enumerate(self.feature_names)}
            self._index = cached
        return cached

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        meta = {
            "version": self.version,
            "created_at": self.created_at,
            "item_ids": self.item_ids,
            "user_ids": self.user_ids,
            "feature_names": self.feature_names,
            "stats": self.stats,
            "ease_half_life": self.ease_half_life,
            "blend_hybrid": self.blend_hybrid,
        }
        np.savez_compressed(
            buffer,
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            item_vectors=self.item_vectors,
            item_bias=self.item_bias,
            user_vectors=self.user_vectors,
            feature_vectors=self.feature_vectors,
            feature_bias=self.feature_bias,
            ease_neighbors=self.ease_neighbors,
            ease_weights=self.ease_weights,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ModelArtifact:
        with np.load(io.BytesIO(data)) as arrays:
            meta = json.loads(arrays["meta"].tobytes().decode())
            return cls(
                version=meta["version"],
                created_at=meta["created_at"],
                item_ids=meta["item_ids"],
                item_vectors=arrays["item_vectors"],
                item_bias=arrays["item_bias"],
                user_ids=meta["user_ids"],
                user_vectors=arrays["user_vectors"],
                feature_names=meta["feature_names"],
                feature_vectors=arrays["feature_vectors"],
                feature_bias=arrays["feature_bias"],
                stats=meta["stats"],
                ease_neighbors=(
                    arrays["ease_neighbors"]
                    if "ease_neighbors" in arrays.files
                    else np.zeros((0, 0), dtype=np.int32)
                ),
                ease_weights=(
                    arrays["ease_weights"]
                    if "ease_weights" in arrays.files
                    else np.zeros((0, 0), dtype=np.float32)
                ),
                ease_half_life=float(meta.get("ease_half_life", 10.0)),
                blend_hybrid=float(meta.get("blend_hybrid", 1.5)),
            )


def _vocabulary(items: Sequence[ItemInfo], min_items: int) -> tuple[list[list[str]], list[str]]:
    per_item = [item_features(item) for item in items]
    counts = Counter(f for features in per_item for f in set(features))
    keep = [
        [f for f in features if not f.startswith("person:") or counts[f] >= min_items]
        for features in per_item
    ]
    vocabulary = sorted({f for features in keep for f in features})
    return keep, vocabulary


def _item_matrix(per_item: list[list[str]], vocabulary: list[str]) -> sp.csr_matrix:
    """[identity | features], each row summing to 1."""
    n = len(per_item)
    column = {f: n + i for i, f in enumerate(vocabulary)}
    rows, cols, vals = [], [], []
    for i, features in enumerate(per_item):
        idx = [i, *sorted({column[f] for f in features})]
        weight = 1.0 / len(idx)
        rows.extend([i] * len(idx))
        cols.extend(idx)
        vals.extend([weight] * len(idx))
    return sp.csr_matrix(
        (np.array(vals, dtype=np.float32), (rows, cols)), shape=(n, n + len(vocabulary))
    )


def ease_neighbors(
    users: np.ndarray, items: np.ndarray, shape: tuple[int, int], params: TrainParams
) -> tuple[np.ndarray, np.ndarray]:
    """EASE over the `ease_max_items` most interacted items, reduced to each item's
    `ease_neighbors` largest positive weights: (items × k) neighbour positions (-1 = none) and
    weights, row j being what having watched item j adds to each neighbour's score."""
    n = shape[1]
    k = max(1, params.ease_neighbors)
    neighbors = np.full((n, k), -1, dtype=np.int32)
    weights = np.zeros((n, k), dtype=np.float32)
    counts = np.bincount(items, minlength=n)
    active = np.flatnonzero(counts)
    if active.size < 2:
        return neighbors, weights
    active = active[np.argsort(-counts[active], kind="stable")][: params.ease_max_items]
    column = np.full(n, -1, dtype=np.int64)
    column[active] = np.arange(active.size)
    keep = column[items] >= 0
    x = sp.csr_matrix(
        (np.ones(int(keep.sum()), dtype=np.float64), (users[keep], column[items[keep]])),
        shape=(shape[0], active.size),
    )
    x.sum_duplicates()
    x.data[:] = 1.0
    b = fit_ease(x, params.ease_lambda).weights
    take = min(k, active.size - 1)
    top = np.argpartition(-b, take - 1, axis=1)[:, :take]
    values = np.take_along_axis(b, top, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")
    top, values = np.take_along_axis(top, order, axis=1), np.take_along_axis(values, order, axis=1)
    positive = values > 0
    neighbors[active, :take] = np.where(positive, active[top], -1)
    weights[active, :take] = np.where(positive, values, 0.0)
    return neighbors, weights


def train(
    items: Sequence[ItemInfo],
    interactions: Iterable[tuple[str, str, float]],
    params: TrainParams | None = None,
) -> ModelArtifact:
    """Fit WARP LightFM on positive (profile, title, weight) interactions over `items`.

    Interactions with titles not in `items` or with a weight <= 0 are ignored."""
    from lightfm import LightFM  # imported here: heavy, and only training processes need it

    params = params or TrainParams()

    started = time.perf_counter()
    item_index = {item.name: i for i, item in enumerate(items)}
    user_index: dict[str, int] = {}
    pairs: dict[tuple[int, int], float] = {}
    for profile, title, weight in interactions:
        j = item_index.get(title)
        if j is None or weight <= 0:
            continue
        u = user_index.setdefault(profile, len(user_index))
        pairs[(u, j)] = min(pairs.get((u, j), 0.0) + weight, params.weight_cap)
    if not pairs:
        raise ValueError("no positive interactions with known titles to train on")
    users = np.fromiter((u for u, _ in pairs), dtype=np.int32, count=len(pairs))
    cols = np.fromiter((j for _, j in pairs), dtype=np.int32, count=len(pairs))
    weights = np.fromiter(pairs.values(), dtype=np.float32, count=len(pairs))
    shape = (len(user_index), len(items))
    matrix = sp.coo_matrix((np.ones_like(weights), (users, cols)), shape=shape)
    sample_weight = sp.coo_matrix((weights, (users, cols)), shape=shape)

    per_item, vocabulary = _vocabulary(items, params.min_feature_items)
    features = _item_matrix(per_item, vocabulary) if params.use_features else None
    model = LightFM(
        no_components=params.components,
        loss="warp",
        learning_rate=params.learning_rate,
        item_alpha=params.item_alpha,
        user_alpha=params.user_alpha,
        max_sampled=params.max_sampled,
        random_state=params.seed,
    )
    model.fit(
        matrix,
        item_features=features,
        sample_weight=sample_weight,
        epochs=params.epochs,
        num_threads=params.threads,
    )
    item_bias, item_vectors = model.get_item_representations(features)
    if params.ease_lambda > 0:
        neighbors, ease_w = ease_neighbors(users, cols, shape, params)
    else:
        neighbors = np.zeros((0, 0), dtype=np.int32)
        ease_w = np.zeros((0, 0), dtype=np.float32)
    user_ids = [""] * len(user_index)
    for profile, u in user_index.items():
        user_ids[u] = profile
    n = len(items)
    if params.use_features:
        feature_vectors = model.item_embeddings[n:].astype(np.float32)
        feature_bias = model.item_biases[n:].astype(np.float32)
        names = vocabulary
    else:
        feature_vectors = np.zeros((0, params.components), dtype=np.float32)
        feature_bias = np.zeros(0, dtype=np.float32)
        names = []
    return ModelArtifact(
        version=time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:6],
        created_at=time.time(),
        item_ids=[item.name for item in items],
        item_vectors=item_vectors.astype(np.float32),
        item_bias=item_bias.astype(np.float32),
        user_ids=user_ids,
        user_vectors=model.user_embeddings.astype(np.float32),
        feature_names=names,
        feature_vectors=feature_vectors,
        feature_bias=feature_bias,
        stats={
            "interactions": len(pairs),
            "users": len(user_index),
            "items": n,
            "features": len(names),
            "train_seconds": round(time.perf_counter() - started, 3),
            "params": json.dumps(asdict(params)),
        },
        ease_neighbors=neighbors,
        ease_weights=ease_w,
        ease_half_life=params.ease_half_life,
        blend_hybrid=params.blend_hybrid,
    )
