"""Recommendations benchmark: training time, model size, serving latency and throughput.

    .venv/bin/python -m benchmarks.recs_bench [--users 800] [--calls 3000]

Trains the hybrid LightFM model (with the EASE item-item weights the artifact carries) on
synthetic users over the real catalog (../shared/datasets/netflix_titles.csv), then measures
GetRecommendations-equivalent calls: in-process (the `Engine` a request handler calls) against a
popularity recommender run in the same process, and over gRPC against the production server
(embedded PostgreSQL) with the TRENDING_NOW row as the popularity baseline. Top picks are
measured twice in the same run: with the served blend (LightFM + EASE) and with the same artifact
stripped of EASE. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import grpc
import numpy as np
from vod.recommendations.v1 import recommendations_pb2 as pb
from vod.recommendations.v1 import recommendations_pb2_grpc

from mesh.embedded import EmbeddedPostgres, free_port
from services.recommendations.cli import DEFAULT_CATALOG_CSV
from services.recommendations.config import RecsSettings
from services.recommendations.evaluate import synthetic_dataset
from services.recommendations.model import TrainParams, train
from services.recommendations.ranking import Engine, RowQuery
from services.recommendations.server import RecsDeps, running
from services.recommendations.signals import Interaction
from services.runtime.config import RuntimeSettings


class PopularityRecommender:
    """The baseline: most interacted titles available in the region, minus what was seen."""

    def __init__(self, engine: Engine, counts: Counter[str]) -> None:
        self._items = [item for item in engine.all_items() if item.is_root]
        self._counts = np.array([counts.get(i.name, 0) for i in self._items], dtype=np.float32)
        self._masks: dict[str, np.ndarray] = {}

    def recommend(self, region: str, seen: set[str], k: int, now: float) -> list[str]:
        mask = self._masks.get(region)
        if mask is None:  # cached per region, as the engine caches availability
            mask = np.fromiter(
                (i.available_in(region, now) for i in self._items), bool, len(self._items)
            )
            self._masks[region] = mask
        score = np.where(mask, self._counts, -1.0)
        top = np.argpartition(-score, k + len(seen))[: k + len(seen)]
        top = top[np.argsort(-score[top])]
        return [self._items[i].name for i in top if self._items[i].name not in seen][:k]


def _stats(latencies: list[float], wall: float) -> str:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000
    return f"p50 {p50:7.3f} ms   p99 {p99:7.3f} ms   {len(ordered) / wall:9.0f} QPS"


def _median_ratio(a: list[float], b: list[float]) -> float:
    return statistics.median(a) / statistics.median(b)


def _ratio(a: list[float], b: list[float]) -> str:
    return f"{statistics.median(a) / statistics.median(b):.1f}x median latency of popularity"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG_CSV)
    parser.add_argument("--users", type=int, default=800)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()

    data = synthetic_dataset(args.catalog, users=args.users)
    data.events = [(f"users/{u}/profiles/main", t, w, ts) for u, t, w, ts in data.events]
    interactions = [(u, t, w) for u, t, w, _ in data.events]
    params = TrainParams(epochs=args.epochs, threads=2)
    print(
        f"catalog {len(data.items)} titles, {len(interactions)} interactions, {args.users} profiles"
    )
    started = time.perf_counter()
    artifact = train(data.items, interactions, params)
    train_s = time.perf_counter() - started
    size = len(artifact.to_bytes())
    print(
        f"training (hybrid WARP, {params.components} dims, {params.epochs} epochs, 2 threads, "
        f"+ EASE λ={params.ease_lambda:g} top-{params.ease_neighbors}): {train_s:.2f} s"
    )
    print(
        f"model size: {size / 1e6:.2f} MB compressed artifact; "
        f"{artifact.item_vectors.nbytes / 1e6:.2f} MB item vectors in memory; "
        f"{len(artifact.feature_names)} content features"
    )
    started = time.perf_counter()
    loaded = type(artifact).from_bytes(artifact.to_bytes())
    print(f"artifact load: {(time.perf_counter() - started) * 1000:.0f} ms")

    engine = Engine()
    for item in data.items:
        engine.upsert_item(item)
    started = time.perf_counter()
    engine.swap_model(loaded)
    print(f"index build + swap: {(time.perf_counter() - started) * 1000:.0f} ms")
    counts = Counter(t for _, t, _ in interactions)
    engine.set_popularity([(t, "US", n) for t, n in counts.items()])
    profiles = sorted({u for u, _, _ in interactions})[:200]
    by_user: dict[str, list[Interaction]] = {}
    now = time.time()
    for n, (user, title, weight, _) in enumerate(data.events):
        if user in profiles:
            by_user.setdefault(user, []).append(
                Interaction(
                    f"e{n}", user, title, pb.FEEDBACK_KIND_COMPLETE, weight, 1.0, now - 3600
                )
            )
    for user in profiles:
        engine.load_profile(user, by_user.get(user, []))
    popularity = PopularityRecommender(engine, counts)

    def bench(fn, calls: int) -> tuple[list[float], float]:
        latencies = []
        wall = time.perf_counter()
        for n in range(calls):
            t0 = time.perf_counter()
            fn(n)
            latencies.append(time.perf_counter() - t0)
        return latencies, time.perf_counter() - wall

    bench(
        lambda n: engine.recommend(
            RowQuery(profiles[n % 200], pb.ROW_KIND_TOP_PICKS, "US", limit=21, now=now),
            engine.profile(profiles[n % 200]),
        ),
        200,
    )  # warm-up
    print("\nin-process (one row of 20, region + maturity filters, real-time blend, MMR, reasons)")
    results = {}
    for label, kind in (
        ("top picks", pb.ROW_KIND_TOP_PICKS),
        ("because you watched", pb.ROW_KIND_BECAUSE_YOU_WATCHED),
        ("trending", pb.ROW_KIND_TRENDING_NOW),
    ):
        results[label] = bench(
            lambda n, kind=kind: engine.recommend(
                RowQuery(profiles[n % 200], kind, "US", limit=21, now=now),
                engine.profile(profiles[n % 200]),
            ),
            args.calls,
        )
        print(f"  {label:<22} {_stats(*results[label])}")
    seen = {u: {i.title for i in by_user.get(u, [])} for u in profiles}
    base = bench(lambda n: popularity.recommend("US", seen[profiles[n % 200]], 20, now), args.calls)
    print(f"  {'popularity baseline':<22} {_stats(*base)}")
    print(f"  top picks: {_ratio(results['top picks'][0], base[0])}")
    engine.swap_model(
        replace(
            loaded,
            ease_neighbors=np.zeros((0, 0), dtype=np.int32),
            ease_weights=np.zeros((0, 0), dtype=np.float32),
        )
    )
    plain = bench(
        lambda n: engine.recommend(
            RowQuery(profiles[n % 200], pb.ROW_KIND_TOP_PICKS, "US", limit=21, now=now),
            engine.profile(profiles[n % 200]),
        ),
        args.calls,
    )
    print(f"  {'top picks, no EASE':<22} {_stats(*plain)}")
    engine.swap_model(loaded)

    asyncio.run(_grpc_bench(data.items, loaded, by_user, profiles, counts, args.calls))


async def _grpc_bench(items, artifact, by_user, profiles, counts, calls: int) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmbeddedPostgres(Path(tmp) / "pg", free_port(), fast=True) as pg,
    ):
        url = pg.create_database("recs_bench")
        settings = RecsSettings(
            runtime=RuntimeSettings(
                service="recommendations",
                grpc_address="127.0.0.1:0",
                metrics_address=f"127.0.0.1:{free_port()}",
                database_url=url,
            ),
            train_on_start=False,
            train_after_events=0,
            model_poll_s=3600.0,
        )
        deps_out: list[RecsDeps] = []
        async with running(replace(settings), serve_metrics=False, deps_out=deps_out) as handle:
            engine = deps_out[0].domain.engine
            for item in items:
                engine.upsert_item(item)
            engine.set_popularity([(t, "US", n) for t, n in counts.items()])
            engine.swap_model(artifact)
            for user in profiles:
                engine.load_profile(user, by_user.get(user, []))
            async with grpc.aio.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
                stub = recommendations_pb2_grpc.RecommendationsServiceStub(channel)
                print("\nover gRPC (production server and interceptor, 4 concurrent clients)")
                out = {}
                for label, kind in (
                    ("top picks", pb.ROW_KIND_TOP_PICKS),
                    ("trending (popularity)", pb.ROW_KIND_TRENDING_NOW),
                ):
                    latencies: list[float] = []

                    async def client(start: int, kind=kind, latencies=latencies) -> None:
                        for n in range(start, calls, 4):
                            t0 = time.perf_counter()
                            await stub.GetRecommendations(
                                pb.GetRecommendationsRequest(
                                    profile=profiles[n % 200],
                                    row_kind=kind,
                                    region_code="US",
                                    page_size=20,
                                ),
                                timeout=5,
                            )
                            latencies.append(time.perf_counter() - t0)

                    wall = time.perf_counter()
                    await asyncio.gather(*(client(s) for s in range(4)))
                    out[label] = latencies
                    print(f"  {label:<22} {_stats(latencies, time.perf_counter() - wall)}")
                print(
                    f"  top picks: "
                    f"{_median_ratio(out['top picks'], out['trending (popularity)']):.1f}x "
                    "median latency of the popularity row"
                )


if __name__ == "__main__":
    main()
