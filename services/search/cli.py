"""`vod search QUERY ...` and `vod suggest PREFIX`: talk gRPC to the gateway (or any address
serving vod.search.v1.SearchService) and print ranked results with their ids.

The main `vod` command calls `register(subparsers)`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import TextIO

import grpc
from vod.search.v1 import search_pb2 as pb
from vod.search.v1 import search_pb2_grpc

from services.accounts.cli import auth_hint, optional_bearer
from services.runtime.clients import open_channel

__all__ = ["register", "run_search", "run_suggest"]

_SERVICE = pb.DESCRIPTOR.services_by_name["SearchService"]


def _default_target() -> str:
    return os.environ.get("VOD_GATEWAY_GRPC", "").strip() or "127.0.0.1:8080"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    search = subparsers.add_parser("search", help="search titles (typos welcome)")
    search.add_argument("query", help="what to look for: a title, a person, a genre…")
    search.add_argument("--genre", action="append", default=[], help="only this genre (repeatable)")
    search.add_argument("--year-from", type=int, default=0, help="released in or after this year")
    search.add_argument("--year-to", type=int, default=0, help="released in or before this year")
    search.add_argument("--region", default="", help="ISO 3166-1 alpha-2 region, e.g. US")
    search.add_argument("--limit", type=int, default=10, help="how many results (1-1000)")
    search.add_argument(
        "--target",
        default=_default_target(),
        help="gRPC address of the gateway (default $VOD_GATEWAY_GRPC or 127.0.0.1:8080)",
    )
    search.set_defaults(func=lambda args: asyncio.run(run_search(args)))

    suggest = subparsers.add_parser("suggest", help="complete a typed prefix to titles and people")
    suggest.add_argument("prefix")
    suggest.add_argument("--region", default="", help="ISO 3166-1 alpha-2 region, e.g. US")
    suggest.add_argument("--limit", type=int, default=8)
    suggest.add_argument(
        "--target",
        default=_default_target(),
        help="gRPC address of the gateway (default $VOD_GATEWAY_GRPC or 127.0.0.1:8080)",
    )
    suggest.set_defaults(func=lambda args: asyncio.run(run_suggest(args)))


def _fail(exc: grpc.aio.AioRpcError, out: TextIO) -> int:
    print(f"error: {exc.code().name}: {exc.details()}{auth_hint(exc.code())}", file=out)
    return 2


async def run_search(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    request = pb.SearchRequest(
        query=args.query,
        filter=pb.SearchFilter(
            genres=args.genre,
            release_year_min=args.year_from,
            release_year_max=args.year_to,
            region_code=args.region.upper(),
        ),
        page_size=args.limit,
    )
    metadata = await asyncio.to_thread(optional_bearer, args.target)
    async with open_channel(
        args.target, timeout_s=10.0, services=[_SERVICE], metadata=metadata
    ) as channel:
        try:
            response = await search_pb2_grpc.SearchServiceStub(channel).Search(request)
        except grpc.aio.AioRpcError as exc:
            return _fail(exc, sys.stderr)
    if response.corrected_query:
        print(f"(showing results for: {response.corrected_query})", file=out)
    print(f"{response.total_size} titles match", file=out)
    for rank, hit in enumerate(response.hits, start=1):
        s = hit.summary
        genres = ", ".join(s.genres)
        print(
            f"{rank:>3}. {s.display_name} ({s.release_year or '?'}, {s.type}, "
            f"{s.maturity_rating or 'unrated'}) [{genres}]  {s.title}",
            file=out,
        )
    return 0


async def run_suggest(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    request = pb.SuggestRequest(
        prefix=args.prefix, region_code=args.region.upper(), limit=args.limit
    )
    metadata = await asyncio.to_thread(optional_bearer, args.target)
    async with open_channel(
        args.target, timeout_s=10.0, services=[_SERVICE], metadata=metadata
    ) as channel:
        try:
            response = await search_pb2_grpc.SearchServiceStub(channel).Suggest(request)
        except grpc.aio.AioRpcError as exc:
            return _fail(exc, sys.stderr)
    for suggestion in response.suggestions:
        kind = "title " if suggestion.kind == pb.SUGGESTION_KIND_TITLE else "person"
        ident = f"  {suggestion.title}" if suggestion.title else ""
        print(f"{kind}  {suggestion.text}{ident}", file=out)
    return 0
