"""`vod recs ...`: train a model, evaluate offline, and print a profile's rows.

vod recs train [--epochs N]                   train on the interaction log, store a version
vod recs evaluate --synthetic [--users N]     popularity, LightFM (CF, hybrid), EASE, blend table
vod recs evaluate --movielens PATH            the same on real ratings (per-user time split;
                                              scripts/movielens-data installs MovieLens 100K)
vod recs for PROFILE [--region US]            a profile's rows with reasons, from the mesh
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_CATALOG_CSV", "register"]

DEFAULT_CATALOG_CSV = (
    Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "netflix_titles.csv"
)

_ROWS = ("TOP_PICKS", "BECAUSE_YOU_WATCHED", "TRENDING_NOW", "NEW_RELEASES")


def register(subparsers: Any) -> None:
    recs = subparsers.add_parser("recs", help="recommendations: train, evaluate, inspect")
    sub = recs.add_subparsers(dest="recs_command", required=True)

    train = sub.add_parser("train", help="train a model version on the interaction log")
    train.add_argument(
        "--epochs", type=int, default=None, help="training epochs (default from settings)"
    )
    train.add_argument("--components", type=int, default=None, help="embedding size")
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("evaluate", help="offline evaluation against baselines")
    source = evaluate.add_mutually_exclusive_group()
    source.add_argument(
        "--synthetic",
        action="store_true",
        help="simulated users with latent tastes over the real catalog (default)",
    )
    source.add_argument(
        "--movielens",
        type=Path,
        metavar="PATH",
        help="MovieLens ratings: userId,movieId,rating,timestamp CSV or u.data "
        "(scripts/movielens-data installs var/datasets/ml-100k/ratings.csv)",
    )
    evaluate.add_argument(
        "--catalog",
        type=Path,
        default=DEFAULT_CATALOG_CSV,
        help="netflix_titles.csv for --synthetic",
    )
    evaluate.add_argument("--users", type=int, default=800, help="synthetic users")
    evaluate.add_argument(
        "--items", type=int, default=None, help="use only the first N catalog titles"
    )
    evaluate.add_argument("--epochs", type=int, default=30)
    evaluate.add_argument("--components", type=int, default=32)
    evaluate.add_argument("--seed", type=int, default=11)
    evaluate.add_argument(
        "--new-share",
        type=float,
        default=None,
        help="share of titles held out as new for the cold-start column "
        "(default 0.05 synthetic, 0 for --movielens: the plain per-user time split)",
    )
    evaluate.add_argument(
        "--feature-correlation",
        type=float,
        default=0.3,
        help="synthetic: how far content features align with the latent tastes (0..1)",
    )
    evaluate.set_defaults(func=cmd_evaluate)

    show = sub.add_parser("for", help="print a profile's rows with reasons from the running mesh")
    show.add_argument("profile", help="users/{user}/profiles/{profile}")
    show.add_argument(
        "--target",
        default=os.environ.get("VOD_GATEWAY_GRPC", "127.0.0.1:8080"),
        help="gRPC address of the gateway or the service (env VOD_GATEWAY_GRPC)",
    )
    show.add_argument("--region", default="US")
    show.add_argument("--size", type=int, default=10, help="items per row")
    show.add_argument("--rows", nargs="*", choices=_ROWS, default=list(_ROWS))
    show.set_defaults(func=cmd_for)


def cmd_train(args: argparse.Namespace) -> int:
    from services.recommendations.config import load_settings

    settings = load_settings()
    params = settings.train
    if args.epochs:
        params = replace(params, epochs=args.epochs)
    if args.components:
        params = replace(params, components=args.components)
    if not settings.runtime.database_url:
        print(
            "VOD_DATABASE_URL is not set; run inside `vod up` or point it at PostgreSQL",
            file=sys.stderr,
        )
        return 2
    artifact = asyncio.run(_train(settings, params))
    if artifact is None:
        print("nothing trained: too few interactions, no titles, or another trainer is running")
        return 1
    stats = {k: v for k, v in artifact.stats.items() if k != "params"}
    print(f"model {artifact.version}: " + ", ".join(f"{k}={v}" for k, v in stats.items()))
    print("serving processes swap it in on their next model poll")
    return 0


async def _train(settings: Any, params: Any) -> Any:
    from services.recommendations.repository import PostgresRecsRepository
    from services.recommendations.server import MIGRATIONS
    from services.recommendations.trainer import train_once
    from services.runtime.db import create_service_engine, migrate

    runtime = settings.runtime
    await asyncio.to_thread(migrate, runtime.database_url, settings.schema, MIGRATIONS)
    engine = create_service_engine(runtime.database_url, settings.schema, pool_size=2)
    try:
        return await train_once(PostgresRecsRepository(engine), params, min_interactions=1)
    finally:
        await engine.dispose()


def cmd_evaluate(args: argparse.Namespace) -> int:
    from services.recommendations.evaluate import (
        evaluate,
        format_table,
        movielens_dataset,
        synthetic_dataset,
    )
    from services.recommendations.model import TrainParams

    params = TrainParams(
        epochs=args.epochs, components=args.components, threads=os.cpu_count() or 1
    )
    if args.new_share is not None and not 0.0 <= args.new_share < 1.0:
        print("--new-share must be in [0, 1)", file=sys.stderr)
        return 2
    if args.movielens:
        if not args.movielens.exists():
            print(f"{args.movielens} does not exist", file=sys.stderr)
            return 2
        try:
            data = movielens_dataset(args.movielens)
        except ValueError as exc:
            print(str(exc), file=sys.stderr)
            return 2
    else:
        if not args.catalog.exists():
            print(
                f"{args.catalog} does not exist; pass --catalog PATH to netflix_titles.csv",
                file=sys.stderr,
            )
            return 2
        data = synthetic_dataset(
            args.catalog,
            users=args.users,
            items_limit=args.items,
            feature_correlation=args.feature_correlation,
            seed=args.seed,
        )
    new_share = args.new_share if args.new_share is not None else (0.0 if args.movielens else 0.05)
    try:
        results = evaluate(data, params=params, new_share=new_share)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(format_table(data, results))
    return 0


def cmd_for(args: argparse.Namespace) -> int:
    import grpc

    try:
        asyncio.run(_show(args))
    except grpc.aio.AioRpcError as exc:
        from services.accounts.cli import auth_hint

        print(f"{exc.code().name}: {exc.details()}{auth_hint(exc.code())}", file=sys.stderr)
        return 1
    return 0


async def _show(args: argparse.Namespace) -> None:
    from vod.recommendations.v1 import recommendations_pb2 as pb
    from vod.recommendations.v1 import recommendations_pb2_grpc

    from services.accounts.cli import optional_bearer
    from services.runtime.clients import open_channel

    service = pb.DESCRIPTOR.services_by_name["RecommendationsService"]
    auth = await asyncio.to_thread(optional_bearer, args.target)
    async with open_channel(
        args.target, timeout_s=5.0, services=[service], metadata=auth
    ) as channel:
        stub = recommendations_pb2_grpc.RecommendationsServiceStub(channel)
        metadata = (("x-request-id", uuid.uuid4().hex),)
        for row in args.rows:
            request = pb.GetRecommendationsRequest(
                profile=args.profile,
                row_kind=pb.RowKind.Value(f"ROW_KIND_{row}"),
                region_code=args.region,
                page_size=args.size,
            )
            try:
                response = await stub.GetRecommendations(request, metadata=metadata)
            except Exception as exc:
                code = getattr(exc, "code", lambda: None)()
                if (
                    row == "BECAUSE_YOU_WATCHED"
                    and code is not None
                    and code.name == "INVALID_ARGUMENT"
                ):
                    print(f"\n{row}: (no watched title yet)")
                    continue
                raise
            flags = " [degraded: popularity fallback]" if response.degraded else ""
            version = f" (model {response.model_version})" if response.model_version else ""
            print(f"\n{response.heading}{version}{flags}")
            for rank, item in enumerate(response.recommendations, 1):
                print(f"  {rank:2d}. {item.title:<48} {item.score:7.3f}  {item.reason}")
