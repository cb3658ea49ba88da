"""Batch training as a job: read the interaction log and the items, fit the hybrid model in a
worker thread (LightFM's fit releases the GIL; request handlers never wait on it), store the
versioned artifact, and let serving processes swap it in.

`train_once` is what `vod recs train` runs; `TrainingScheduler` runs it inside the service on an
interval and after N new events, and `ModelWatcher` loads models trained elsewhere. A Postgres
advisory lock keeps two trainers from running at once.
"""

from __future__ import annotations

import asyncio
import time

import sqlalchemy as sa

from services.recommendations.features import ItemInfo, item_from_title
from services.recommendations.model import ModelArtifact, TrainParams, train
from services.recommendations.ranking import Engine
from services.recommendations.repository import _TRAINING_LOCK, PostgresRecsRepository
from services.runtime.logs import get_logger

__all__ = ["ModelWatcher", "TrainingScheduler", "roots_and_mapping", "train_once"]

_log = get_logger("recs.trainer")


def roots_and_mapping(items: list[ItemInfo]) -> tuple[list[ItemInfo], dict[str, str]]:
    """Recommendable items (movies, series) and the map of every title to its root."""
    by_name = {item.name: item for item in items}
    mapping = {}
    for item in items:
        current: ItemInfo | None = item
        name, hops = item.name, 0
        while current is not None and not current.is_root and current.parent and hops < 4:
            name, current, hops = current.parent, by_name.get(current.parent), hops + 1
        mapping[item.name] = name
    return [item for item in items if item.is_root], mapping


async def train_once(
    repo: PostgresRecsRepository, params: TrainParams, *, min_interactions: int = 10
) -> ModelArtifact | None:
    """Train and store one model version; None when another trainer holds the lock or there is
    too little data."""
    async with repo.engine.connect() as conn:
        if not await repo.try_training_lock(conn):
            _log.info("train.skipped", why="another trainer is running")
            return None
        try:
            items = [item_from_title(title) for title in await repo.load_items()]
            roots, mapping = roots_and_mapping(items)
            rows = await repo.training_interactions()
            data = [(p, mapping.get(title, title), w) for p, title, w in rows]
            positives = sum(1 for _, _, w in data if w > 0)
            if positives < min_interactions or not roots:
                _log.info(
                    "train.skipped", why="too little data", positives=positives, items=len(roots)
                )
                return None
            started = time.perf_counter()
            artifact = await asyncio.to_thread(train, roots, data, params)
            await repo.save_model(artifact)
            _log.info(
                "train.done",
                version=artifact.version,
                seconds=round(time.perf_counter() - started, 3),
                **{k: v for k, v in artifact.stats.items() if k != "params"},
            )
            return artifact
        finally:
            await conn.execute(sa.select(sa.func.pg_advisory_unlock(_TRAINING_LOCK)))
            await conn.commit()


async def install(engine: Engine, artifact: ModelArtifact) -> None:
    """Prepare the serving index in a worker thread, then swap it in atomically."""
    roots, popularity = engine.snapshot()
    index = await asyncio.to_thread(engine.build_index, roots, artifact, popularity)
    engine.install(artifact, index)


class TrainingScheduler:
    """Retrains every `interval_s` and as soon as `after_events` new events arrived."""

    def __init__(
        self,
        repo: PostgresRecsRepository,
        engine: Engine,
        params: TrainParams,
        *,
        interval_s: float,
        after_events: int,
        min_interactions: int = 10,
    ) -> None:
        self._repo, self._engine, self._params = repo, engine, params
        self._interval_s, self._after = interval_s, after_events
        self._min = min_interactions
        self._new = 0
        self._wake = asyncio.Event()
        self.runs = 0

    def notify_now(self) -> None:
        """Train at the next opportunity."""
        self._wake.set()

    def notify(self) -> None:
        self._new += 1
        if self._after > 0 and self._new >= self._after:
            self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval_s)
            except TimeoutError:
                pass
            self._wake.clear()
            self._new = 0
            try:
                artifact = await train_once(self._repo, self._params, min_interactions=self._min)
                if artifact is not None:
                    self.runs += 1
                    await install(self._engine, artifact)
                    self._engine.set_popularity(await self._repo.popularity())
            except asyncio.CancelledError:
                raise
            except Exception:
                _log.exception("train.failed")


class ModelWatcher:
    """Loads the newest stored model when it differs from the one serving."""

    def __init__(self, repo: PostgresRecsRepository, engine: Engine, *, poll_s: float) -> None:
        self._repo, self._engine, self._poll_s = repo, engine, poll_s

    async def check(self) -> bool:
        version = await self._repo.latest_model_version()
        if version is None or version == self._engine.model_version:
            return False
        artifact = await self._repo.load_model(version)
        if artifact is None:
            return False
        await install(self._engine, artifact)
        _log.info("model.swapped", version=version)
        return True

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("model.poll_failed", error=str(exc))
            await asyncio.sleep(self._poll_s)
