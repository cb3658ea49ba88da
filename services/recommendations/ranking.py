"""Serving: ranks rows from in-memory embeddings, the profile's history and its last minutes.

No I/O and no grpc here. `Engine` holds the catalog items, the current model (swapped atomically
by replacing one reference), regional popularity and per-profile state. A row is computed per
call: candidates filtered by region availability and maturity, scored by a blend of the personal
model (LightFM's user vector or a fold-in of the history, blended with EASE item-item scores of
the recent history when the artifact carries them), real-time similarity to what was just
watched, trending and onboarding genres (the blend moves toward the personal model as evidence
grows), diversified with maximal marginal relevance, with a long-tail slot per ten, and each item
explained.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from vod.catalog.v1 import catalog_pb2 as cpb
from vod.recommendations.v1 import recommendations_pb2 as pb

from services.recommendations.features import ItemInfo, item_features
from services.recommendations.model import ModelArtifact
from services.recommendations.signals import BLOCKING_KINDS, Interaction
from services.runtime.errors import InvalidArgument, NotFound

__all__ = ["Engine", "ProfileState", "RankedItem", "Row", "RowQuery"]

_EVIDENCE_HALF = 3.0  # positive titles at which the personal model gets half the weight
_SESSION_WEIGHT = 1.0
_CONTINUE_BOOST = 1.5
_ABANDON_PENALTY = 1.0
_MMR_LAMBDA = 0.7
_MMR_DEPTH = 60
_LONG_TAIL_EVERY = 10
_TRENDING_WINDOW_S = 7 * 24 * 3600.0


@dataclass(slots=True)
class RankedItem:
    name: str
    score: float
    reason: str
    because_of: str = ""


@dataclass(slots=True)
class Row:
    items: list[RankedItem]
    heading: str
    seed: str = ""
    degraded: bool = False
    model_version: str = ""


@dataclass(frozen=True, slots=True)
class RowQuery:
    profile: str
    kind: int  # RowKind
    region: str
    seed: str = ""
    limit: int = 20
    now: float = 0.0


@dataclass
class ProfileState:
    """What serving knows of one profile: its history aggregated per title, what it finished or
    rejected, its recent events and its preferences."""

    weights: dict[str, float] = field(default_factory=dict)  # root title -> summed weight
    blocked: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)
    order: dict[str, float] = field(default_factory=dict)  # positive root -> last time
    recent: deque[tuple[float, str, float, int]] = field(default_factory=lambda: deque(maxlen=50))
    series_progress: dict[str, float] = field(default_factory=dict)
    event_ids: set[str] = field(default_factory=set)
    genres: tuple[str, ...] = ()
    max_level: int = 4

    def positives(self) -> list[str]:
        """Positive titles, most recent first."""
        return [
            t
            for t, _ in sorted(self.order.items(), key=lambda kv: -kv[1])
            if self.weights.get(t, 0) > 0
        ]


class _Index:
    """An immutable snapshot aligning items with their vectors, rebuilt on catalog/model change."""

    def __init__(
        self,
        items: list[ItemInfo],
        artifact: ModelArtifact | None,
        popularity: tuple[Counter[str], dict[str, Counter[str]]],
    ) -> None:
        self.items = items
        self.names = [item.name for item in items]
        self.pos = {name: i for i, name in enumerate(self.names)}
        self.artifact = artifact
        n = len(items)
        self.levels = np.array([item.level for item in items], dtype=np.int8)
        if artifact is not None:
            known = {name: i for i, name in enumerate(artifact.item_ids)}
            vectors = np.zeros((n, artifact.dim), dtype=np.float32)
            bias = np.zeros(n, dtype=np.float32)
            for i, item in enumerate(items):
                j = known.get(item.name)
                if j is not None:
                    vectors[i], bias[i] = artifact.item_vectors[j], artifact.item_bias[j]
                else:  # published after training: embed from content features (hybrid)
                    embedded = artifact.embed(item_features(item))
                    if embedded is not None:
                        vectors[i], bias[i] = embedded
            self.users = {u: i for i, u in enumerate(artifact.user_ids)}
        else:  # no model yet: genre vectors keep similarity, diversity and fold-in working
            genres = sorted({g for item in items for g in item.genres})
            col = {g: i for i, g in enumerate(genres)}
            vectors = np.zeros((n, max(1, len(genres))), dtype=np.float32)
            for i, item in enumerate(items):
                for g in item.genres:
                    vectors[i, col[g]] = 1.0
            bias = np.zeros(n, dtype=np.float32)
            self.users = {}
        self.vectors = vectors
        self.bias = bias
        self.ease: tuple[np.ndarray, np.ndarray] | None = None
        if artifact is not None and artifact.has_ease:
            self.ease = self._ease_arrays(artifact, n)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self.unit = vectors / np.where(norms > 0, norms, 1.0)
        self.genre_masks: dict[str, np.ndarray] = {}
        for i, item in enumerate(items):
            for g in item.genres:
                self.genre_masks.setdefault(g.lower(), np.zeros(n, dtype=bool))[i] = True
        global_counts, regional = popularity
        self.pop_global = np.zeros(n, dtype=np.float32)
        for name, count in global_counts.items():
            if name in self.pos:
                self.pop_global[self.pos[name]] = count
        self.pop_region: dict[str, np.ndarray] = {}
        for region, counts in regional.items():
            array = self.pop_region.setdefault(region, np.zeros(n, dtype=np.float32))
            for name, count in counts.items():
                if name in self.pos:
                    array[self.pos[name]] = count
        self._available: dict[str, tuple[float, np.ndarray]] = {}
        self._added: dict[str, np.ndarray] = {}

    def _ease_arrays(self, artifact: ModelArtifact, n: int) -> tuple[np.ndarray, np.ndarray] | None:
        """EASE's kept item-item weights in this index's item order: for each title (row) its
        neighbours' positions (n = none) and weights."""
        neighbors = artifact.ease_neighbors.astype(np.int64)
        if neighbors.shape[0] != len(artifact.item_ids):
            return None
        here = np.full(len(artifact.item_ids) + 1, n, dtype=np.int64)  # [-1] maps "none" to n
        for j, name in enumerate(artifact.item_ids):
            here[j] = self.pos.get(name, n)
        cols = np.full((n + 1, neighbors.shape[1]), n, dtype=np.int64)
        vals = np.zeros((n + 1, neighbors.shape[1]), dtype=np.float32)
        rows = here[: len(artifact.item_ids)]
        cols[rows] = here[neighbors]
        vals[rows] = np.where(here[neighbors] < n, artifact.ease_weights, 0.0)
        return cols[:n], vals[:n]

    def available(self, region: str, now: float) -> np.ndarray:
        cached = self._available.get(region)
        if cached is not None and now - cached[0] < 60.0:
            return cached[1]
        mask = np.fromiter(
            (item.available_in(region, now) for item in self.items),
            dtype=bool,
            count=len(self.items),
        )
        self._available[region] = (now, mask)
        return mask

    def added(self, region: str) -> np.ndarray:
        cached = self._added.get(region)
        if cached is None:
            cached = np.array([item.added_in(region) for item in self.items], dtype=np.float64)
            self._added[region] = cached
        return cached

    def trend(self, region: str) -> np.ndarray:
        regional = self.pop_region.get(region)
        score = 0.3 * np.log1p(self.pop_global)
        if regional is not None:
            score = score + np.log1p(regional)
        return score


def _z(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Standardise over the candidates so components with different scales can be blended."""
    if not mask.any():
        return np.zeros_like(values, dtype=np.float32)
    selected = values[mask]
    std = float(selected.std())
    if std < 1e-9:
        return np.zeros_like(values, dtype=np.float32)
    return ((values - float(selected.mean())) / std).astype(np.float32)


class Engine:
    """In-memory serving state; every method is cheap and synchronous (call from the loop)."""

    def __init__(self, *, realtime_window_s: float = 900.0, max_profiles: int = 100_000) -> None:
        self.realtime_window_s = realtime_window_s
        self._items: dict[str, ItemInfo] = {}
        self._artifact: ModelArtifact | None = None
        self._index: _Index | None = None
        self._dirty = True
        self._lock = threading.Lock()
        self._pop_global: Counter[str] = Counter()
        self._pop_region: dict[str, Counter[str]] = {}
        self._profiles: dict[str, ProfileState] = {}
        self._pending: dict[str, list[Interaction]] = {}
        self._max_profiles = max_profiles

    # -- catalog ------------------------------------------------------------------------------

    def upsert_item(self, item: ItemInfo) -> None:
        self._items[item.name] = item
        self._dirty = True

    def remove_item(self, name: str) -> None:
        if self._items.pop(name, None) is not None:
            self._dirty = True

    def item(self, name: str) -> ItemInfo | None:
        return self._items.get(name)

    @property
    def item_count(self) -> int:
        return len(self._items)

    def root_of(self, name: str) -> str:
        """The series of an episode or season; the title itself otherwise."""
        seen = 0
        item = self._items.get(name)
        while item is not None and not item.is_root and item.parent and seen < 4:
            name, item, seen = item.parent, self._items.get(item.parent), seen + 1
        return name

    def all_items(self) -> list[ItemInfo]:
        return list(self._items.values())

    # -- model --------------------------------------------------------------------------------

    @property
    def model_version(self) -> str:
        return self._artifact.version if self._artifact is not None else ""

    def snapshot(self) -> tuple[list[ItemInfo], tuple[Counter[str], dict[str, Counter[str]]]]:
        """Copies of the items and counters an index is built from (take them on the loop)."""
        self._dirty = False
        return self._roots(), (
            Counter(self._pop_global),
            {r: Counter(c) for r, c in self._pop_region.items()},
        )

    @staticmethod
    def build_index(
        roots: list[ItemInfo],
        artifact: ModelArtifact | None,
        popularity: tuple[Counter[str], dict[str, Counter[str]]],
    ) -> _Index:
        """A serving index; pure, safe to run in a worker thread."""
        return _Index(roots, artifact, popularity)

    def install(self, artifact: ModelArtifact, index: _Index) -> None:
        """Swap model and index in one step: requests see the old pair or the new, never a mix."""
        with self._lock:
            self._artifact, self._index = artifact, index

    def swap_model(self, artifact: ModelArtifact) -> None:
        roots, popularity = self.snapshot()
        self.install(artifact, self.build_index(roots, artifact, popularity))

    def set_popularity(self, rows: Iterable[tuple[str, str, int]]) -> None:
        """(root title, region or "", count) of recent positive interactions."""
        glob: Counter[str] = Counter()
        regional: dict[str, Counter[str]] = {}
        for title, region, count in rows:
            glob[title] += count
            if region:
                regional.setdefault(region, Counter())[title] += count
        self._pop_global, self._pop_region = glob, regional
        self._dirty = True

    def _roots(self) -> list[ItemInfo]:
        return [item for item in self._items.values() if item.is_root]

    def _current(self) -> _Index:
        index = self._index
        if index is None or self._dirty:
            with self._lock:
                if self._index is None or self._dirty:
                    self._index = _Index(
                        self._roots(), self._artifact, (self._pop_global, self._pop_region)
                    )
                    self._dirty = False
                index = self._index
        return index

    # -- profiles and events ------------------------------------------------------------------

    def profile(self, profile: str) -> ProfileState | None:
        return self._profiles.get(profile)

    def load_profile(
        self,
        profile: str,
        history: Iterable[Interaction],
        genres: Iterable[str] = (),
        max_level: int = 4,
    ) -> ProfileState:
        state = ProfileState(genres=tuple(genres), max_level=max_level)
        for interaction in history:
            self._fold(state, interaction)
        for interaction in self._pending.pop(profile, []):
            self._fold(state, interaction)
        if len(self._profiles) >= self._max_profiles:
            self._profiles.pop(next(iter(self._profiles)))
        self._profiles[profile] = state
        return state

    def set_preferences(self, profile: str, genres: Iterable[str], max_level: int) -> None:
        state = self._profiles.get(profile)
        if state is not None:
            state.genres, state.max_level = tuple(genres), max_level

    def observe(self, interaction: Interaction) -> None:
        """Apply a new interaction now: profile state (if loaded) and trending counters."""
        root = self.root_of(interaction.title)
        if interaction.positive and not interaction.throttled:
            self._pop_global[root] += 1
            index = self._index
            if index is not None and root in index.pos:
                index.pop_global[index.pos[root]] += 1
            if interaction.region_code:
                self._pop_region.setdefault(interaction.region_code, Counter())[root] += 1
                if index is not None and root in index.pos:
                    array = index.pop_region.get(interaction.region_code)
                    if array is None:
                        self._dirty = True
                    else:
                        array[index.pos[root]] += 1
        state = self._profiles.get(interaction.profile)
        if state is None:
            pending = self._pending.setdefault(interaction.profile, [])
            if len(pending) < 200:
                pending.append(interaction)
            return
        self._fold(state, interaction)

    def _fold(self, state: ProfileState, interaction: Interaction) -> None:
        if interaction.event_id in state.event_ids:
            return
        state.event_ids.add(interaction.event_id)
        if interaction.throttled and interaction.kind not in BLOCKING_KINDS:
            return
        root = self.root_of(interaction.title)
        state.weights[root] = state.weights.get(root, 0.0) + interaction.weight
        if interaction.kind in BLOCKING_KINDS:
            state.blocked.add(root)
        elif interaction.kind == pb.FEEDBACK_KIND_LIKE:
            state.blocked.discard(root)
        if interaction.positive:
            state.order[root] = max(state.order.get(root, 0.0), interaction.occur_time)
        item = self._items.get(root)
        is_series = item is not None and item.type == cpb.TITLE_TYPE_SERIES
        if interaction.finished and root == interaction.title:
            state.finished.add(root)
            state.series_progress.pop(root, None)
        elif is_series and interaction.positive:
            state.series_progress[root] = interaction.occur_time
        state.recent.append((interaction.occur_time, root, interaction.weight, interaction.kind))

    # -- rows ---------------------------------------------------------------------------------

    def recommend(self, query: RowQuery, state: ProfileState | None) -> Row:
        index = self._current()
        state = state or ProfileState()
        now = query.now or time.time()
        if query.kind == pb.ROW_KIND_TOP_PICKS:
            return self._top_picks(index, query, state, now)
        if query.kind in (pb.ROW_KIND_BECAUSE_YOU_WATCHED, pb.ROW_KIND_MORE_LIKE_THIS):
            return self._seeded(index, query, state, now)
        if query.kind == pb.ROW_KIND_TRENDING_NOW:
            return self._trending(index, query, state, now)
        if query.kind == pb.ROW_KIND_NEW_RELEASES:
            return self._new_releases(index, query, state, now)
        raise InvalidArgument.for_field("row_kind", "is not a row kind this service serves")

    def similar(
        self, title: str, *, region: str, state: ProfileState | None, limit: int, now: float = 0.0
    ) -> Row:
        index = self._current()
        root = self.root_of(title)
        if root not in index.pos:
            raise NotFound(
                message=f"{title} is not a title known to recommendations",
                reason="TITLE_NOT_FOUND",
                resource_type="vod.catalog.v1.Title",
                resource_name=title,
            )
        now = now or time.time()
        seed = index.pos[root]
        mask = np.ones(len(index.names), dtype=bool)
        if region:
            mask &= index.available(region, now)
        if state is not None:
            mask &= index.levels <= state.max_level
            for name in state.blocked:
                if name in index.pos:
                    mask[index.pos[name]] = False
        mask[seed] = False
        sim = index.unit @ index.unit[seed]
        score = _z(sim, mask) + 0.15 * _z(
            index.trend(region) if region else np.log1p(index.pop_global), mask
        )
        order = self._diversify(index, score, mask, limit, lam=0.85)
        name = index.items[seed].display_name
        items = [
            RankedItem(index.names[i], float(score[i]), f"Similar to {name}", root) for i in order
        ]
        return Row(items, f"More like {name}", root, index.artifact is None, self.model_version)

    # -- row kinds ----------------------------------------------------------------------------

    def _eligible(
        self, index: _Index, query: RowQuery, state: ProfileState, now: float
    ) -> np.ndarray:
        mask = index.available(query.region, now) & (index.levels <= state.max_level)
        for name in (*state.blocked, *state.finished):
            i = index.pos.get(name)
            if i is not None:
                mask[i] = False
        return mask

    def _personal(
        self, index: _Index, profile: str, state: ProfileState
    ) -> tuple[np.ndarray | None, int]:
        """The personal model's scores (trained user vector, or folded in from the profile's
        positive titles when the model has not seen it, blended with EASE's scores of the recent
        history when the model has EASE weights) and the evidence count."""
        positives = [t for t in state.positives() if t in index.pos]
        evidence = len(positives)
        artifact = index.artifact
        if artifact is not None and profile in index.users:
            user = artifact.user_vectors[index.users[profile]]
            base = index.vectors @ user + index.bias
            evidence = max(evidence, 5)
        elif positives:
            rows = [index.pos[t] for t in positives[:50]]
            weights = np.array(
                [max(state.weights[t], 0.1) for t in positives[:50]], dtype=np.float32
            )
            user = (index.unit[rows] * weights[:, None]).sum(axis=0) / weights.sum()
            base = index.unit @ user
        else:
            return None, 0
        if index.ease is None or artifact is None or not positives:
            return base, evidence
        rows = [index.pos[t] for t in positives[:50]]
        decay = np.power(0.5, np.arange(len(rows), dtype=np.float32) / artifact.ease_half_life)
        cols, vals = index.ease
        n = len(index.names)
        ease = np.bincount(
            cols[rows].ravel(), weights=(vals[rows] * decay[:, None]).ravel(), minlength=n + 1
        )[:n]
        everything = np.ones(len(ease), dtype=bool)
        if not ease.any():
            return base, evidence
        return _z(ease, everything) + artifact.blend_hybrid * _z(base, everything), evidence

    def _session(
        self, index: _Index, state: ProfileState, now: float
    ) -> tuple[np.ndarray | None, list[int]]:
        horizon = now - self.realtime_window_s
        recent = [
            (ts, index.pos[root], weight)
            for ts, root, weight, _ in state.recent
            if ts >= horizon and weight > 0 and root in index.pos
        ]
        if not recent:
            return None, []
        rows = [i for _, i, _ in recent]
        # newer events weigh more: half-life of a third of the window
        decay = np.array(
            [
                math.exp(-(now - ts) / max(self.realtime_window_s / 3, 1.0)) * w
                for ts, _, w in recent
            ],
            dtype=np.float32,
        )
        vector = (index.unit[rows] * decay[:, None]).sum(axis=0)
        return index.unit @ vector / max(float(decay.sum()), 1e-6), rows

    def _top_picks(self, index: _Index, query: RowQuery, state: ProfileState, now: float) -> Row:
        mask = self._eligible(index, query, state, now)
        personal, evidence = self._personal(index, query.profile, state)
        weight = evidence / (evidence + _EVIDENCE_HALF) if personal is not None else 0.0
        trend = _z(index.trend(query.region), mask)
        genre = self._genre_match(index, state.genres)
        cold = trend if genre is None else 0.4 * trend + 0.9 * _z(genre, mask)
        score = (1.0 - weight) * cold
        personal_part = weight * _z(personal, mask) if personal is not None else None
        if personal_part is not None:
            score = score + personal_part
        session, session_rows = self._session(index, state, now)
        session_part = _SESSION_WEIGHT * _z(session, mask) if session is not None else None
        if session_part is not None:
            score = score + session_part
        continuing = {
            index.pos[s]
            for s, ts in state.series_progress.items()
            if s in index.pos and now - ts < 30 * 86400
        }
        for i in continuing:
            score[i] += _CONTINUE_BOOST
        for name, w in state.weights.items():
            if w < 0 and name in index.pos:
                score[index.pos[name]] -= _ABANDON_PENALTY
        order = self._diversify(index, score, mask, query.limit, long_tail=True)
        long_tail = self._long_tail(index)
        history = [index.pos[t] for t in state.positives()[:30] if t in index.pos]
        items = []
        for i in order:
            parts = {
                "cold": (1.0 - weight) * float(cold[i]),
                "personal": float(personal_part[i]) if personal_part is not None else -math.inf,
                "session": float(session_part[i]) if session_part is not None else -math.inf,
            }
            if i in continuing:
                reason, because = f"New episodes of {index.items[i].display_name} are waiting", ""
            elif parts["session"] > 0 and parts["session"] >= max(parts["personal"], parts["cold"]):
                j = self._closest(index, i, session_rows)
                reason, because = (
                    f"Because you just watched {index.items[j].display_name}",
                    index.names[j],
                )
            elif history and parts["personal"] >= parts["cold"]:
                j = self._closest(index, i, history)
                reason, because = (
                    f"Because you watched {index.items[j].display_name}",
                    index.names[j],
                )
            elif genre is not None and genre[i] > 0:
                liked = [
                    g
                    for g in index.items[i].genres
                    if g.lower() in {x.lower() for x in state.genres}
                ]
                reason, because = f"Because you like {liked[0] if liked else state.genres[0]}", ""
            elif long_tail[i]:
                reason, because = self._gem_reason(index.items[i]), ""
            else:
                reason, because = f"Popular in {query.region}", ""
            items.append(RankedItem(index.names[i], float(score[i]), reason, because))
        return Row(items, "Top picks for you", "", index.artifact is None, self.model_version)

    def _seeded(self, index: _Index, query: RowQuery, state: ProfileState, now: float) -> Row:
        seed_name = self.root_of(query.seed) if query.seed else ""
        if not seed_name:
            finished = sorted(
                (t for t in state.finished if t in index.pos),
                key=lambda t: -state.order.get(t, 0.0),
            )
            positives = [t for t in state.positives() if t in index.pos]
            candidates = finished[:1] + positives[:1]
            if not candidates:
                raise InvalidArgument.for_field(
                    "seed_title", "is required: the profile has no watched title to start from"
                )
            seed_name = max(candidates, key=lambda t: state.order.get(t, 0.0))
        if seed_name not in index.pos:
            raise NotFound(
                message=f"{query.seed or seed_name} is not a title known to recommendations",
                reason="TITLE_NOT_FOUND",
                resource_type="vod.catalog.v1.Title",
                resource_name=query.seed or seed_name,
            )
        seed = index.pos[seed_name]
        mask = self._eligible(index, query, state, now)
        mask[seed] = False
        sim = index.unit @ index.unit[seed]
        personal, _ = self._personal(index, query.profile, state)
        support = personal if personal is not None else index.trend(query.region)
        score = 0.75 * _z(sim, mask) + 0.25 * _z(support, mask)
        order = self._diversify(index, score, mask, query.limit, lam=0.85)
        seed_title = index.items[seed].display_name
        if query.kind == pb.ROW_KIND_BECAUSE_YOU_WATCHED:
            heading = reason = f"Because you watched {seed_title}"
        else:
            heading, reason = f"More like {seed_title}", f"Similar to {seed_title}"
        items = [RankedItem(index.names[i], float(score[i]), reason, seed_name) for i in order]
        return Row(items, heading, seed_name, index.artifact is None, self.model_version)

    def _trending(self, index: _Index, query: RowQuery, state: ProfileState, now: float) -> Row:
        mask = self._eligible(index, query, state, now)
        raw = index.trend(query.region)
        score = raw + 0.01 * index.added(query.region) / max(now, 1.0)  # newest breaks ties
        order = self._top(score, mask, query.limit)
        items = []
        for rank, i in enumerate(order, 1):
            reason = (
                f"#{rank} in {query.region} this week"
                if raw[i] > 0
                else f"Recently added in {query.region}"
            )
            items.append(RankedItem(index.names[i], float(score[i]), reason))
        return Row(
            items, f"Trending now in {query.region}", "", index.artifact is None, self.model_version
        )

    def _new_releases(self, index: _Index, query: RowQuery, state: ProfileState, now: float) -> Row:
        mask = self._eligible(index, query, state, now)
        added = index.added(query.region)
        newest = self._top(added, mask, max(200, query.limit * 3))
        recent = np.zeros_like(mask)
        recent[newest] = True
        mask &= recent
        personal, _ = self._personal(index, query.profile, state)
        genre = self._genre_match(index, state.genres)
        support = (
            personal
            if personal is not None
            else (genre if genre is not None else index.trend(query.region))
        )
        score = 0.5 * _z(added, mask) + 0.5 * _z(support, mask)
        order = self._diversify(index, score, mask, query.limit)
        items = []
        for i in order:
            item = index.items[i]
            day = time.strftime("%d %b %Y", time.gmtime(added[i]))
            reason = f"New in {query.region} since {day}"
            if item.genres:
                reason += f" · {item.genres[0]}"
            items.append(RankedItem(index.names[i], float(score[i]), reason))
        return Row(items, "New releases for you", "", index.artifact is None, self.model_version)

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _genre_match(index: _Index, genres: tuple[str, ...]) -> np.ndarray | None:
        masks = [index.genre_masks[g.lower()] for g in genres if g.lower() in index.genre_masks]
        if not masks:
            return None
        return np.sum(masks, axis=0).astype(np.float32) / len(masks)

    @staticmethod
    def _long_tail(index: _Index) -> np.ndarray:
        counts = index.pop_global
        nonzero = counts[counts > 0]
        if nonzero.size < 2:  # no popularity signal yet: nothing is "lesser known"
            return np.zeros(len(counts), dtype=bool)
        return counts < float(np.median(nonzero))

    @staticmethod
    def _gem_reason(item: ItemInfo) -> str:
        return f"A hidden gem in {item.genres[0]}" if item.genres else "A hidden gem for you"

    @staticmethod
    def _closest(index: _Index, i: int, rows: list[int]) -> int:
        sims = index.unit[rows] @ index.unit[i]
        return rows[int(np.argmax(sims))]

    @staticmethod
    def _top(score: np.ndarray, mask: np.ndarray, k: int) -> list[int]:
        candidates = np.flatnonzero(mask)
        if candidates.size == 0:
            return []
        k = min(k, candidates.size)
        values = score[candidates]
        part = np.argpartition(-values, k - 1)[:k]
        part = part[np.lexsort((candidates[part], -values[part]))]
        return [int(candidates[j]) for j in part]

    def _diversify(
        self,
        index: _Index,
        score: np.ndarray,
        mask: np.ndarray,
        limit: int,
        *,
        lam: float = _MMR_LAMBDA,
        long_tail: bool = False,
    ) -> list[int]:
        """Maximal marginal relevance over the best candidates for the first positions, then
        score order; with `long_tail`, one lesser-known title in each block of ten."""
        pool = self._top(score, mask, max(limit * 2, 100))
        if not pool:
            return []
        depth = min(limit, _MMR_DEPTH, len(pool))
        head = np.array(pool[: max(depth * 3, depth)])
        rel = score[head].astype(np.float64)
        spread = rel.max() - rel.min()
        rel = (rel - rel.min()) / spread if spread > 0 else np.ones_like(rel)
        sims = index.unit[head] @ index.unit[head].T
        chosen: list[int] = []
        max_sim = np.full(len(head), -np.inf)
        available = np.ones(len(head), dtype=bool)
        for _ in range(depth):
            penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
            value = np.where(available, lam * rel - (1 - lam) * penalty, -np.inf)
            j = int(np.argmax(value))
            chosen.append(j)
            available[j] = False
            max_sim = np.maximum(max_sim, sims[j])
        order = [int(head[j]) for j in chosen]
        taken = set(order)
        order += [i for i in pool if i not in taken][: max(0, limit - len(order))]
        if long_tail:
            tail = self._long_tail(index)
            taken = set(order)
            spare = [i for i in pool if tail[i] and i not in taken]
            for start in range(0, len(order), _LONG_TAIL_EVERY):
                block = order[start : start + _LONG_TAIL_EVERY]
                if len(block) == _LONG_TAIL_EVERY and not any(tail[i] for i in block) and spare:
                    order[start + _LONG_TAIL_EVERY - 3] = spare.pop(0)
        return order[:limit]
