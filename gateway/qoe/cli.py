"""`vod qoe report TITLE` and `vod qoe overview`: what viewers saw, for operators (admin RPCs,
through the gateway with the stored sign-in). The main `vod` command calls `register`."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

import grpc
from rich.console import Console
from rich.table import Table
from vod.gateway.v1 import qoe_pb2 as pb
from vod.gateway.v1 import qoe_pb2_grpc

from services.accounts.cli import auth_hint, optional_bearer
from services.runtime.clients import open_channel

__all__ = ["format_report", "register", "run_report"]

_ADVICE = {
    pb.LADDER_ADVICE_KEEP: "KEEP",
    pb.LADDER_ADVICE_ADD_RUNG: "ADD",
    pb.LADDER_ADVICE_DROP_RUNG: "DROP",
    pb.LADDER_ADVICE_INSUFFICIENT_DATA: "INSUFFICIENT DATA",
}


def _target() -> str:
    return os.environ.get("VOD_GATEWAY_GRPC", "").strip() or "127.0.0.1:8080"


def _ms(value: float) -> str:
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def format_report(report: pb.GetTitleQoeReportResponse, console: Console) -> None:
    """The report as people read it: totals, one row per rung, the ladder advice."""
    t = report.total
    console.print(
        f"[bold]{report.title}[/]: {report.plays} plays · TTFF p50 {_ms(t.ttff_p50_ms)} "
        f"p95 {_ms(t.ttff_p95_ms)} p99 {_ms(t.ttff_p99_ms)} · rebuffer "
        f"{t.rebuffer_ratio * 100:.2f}% · errors {t.error_rate * 100:.2f}%"
    )
    table = Table("rung", "height", "bitrate", "watched", "stalls", "down from", "up to", "VMAF")
    for r in report.rungs:
        table.add_row(
            r.rendition,
            str(r.height) if r.height else "?",
            f"{r.bitrate_bps / 1e6:.2f} Mb/s" if r.bitrate_bps else "?",
            f"{r.seconds_played:.0f} s",
            str(r.stalls),
            str(r.downswitches_from),
            str(r.upswitches_to),
            f"{r.vmaf:.1f}" if r.vmaf else "—",
        )
    console.print(table)
    for rec in report.recommendations:
        where = f" {rec.rendition}" if rec.rendition else ""
        suggested = (
            f" → {rec.suggested_height}p at {rec.suggested_bitrate_bps / 1e6:.2f} Mb/s"
            if rec.suggested_height
            else ""
        )
        console.print(f"{_ADVICE.get(rec.advice, str(rec.advice))}{where}{suggested}: {rec.reason}")


async def run_report(args: argparse.Namespace, console: Console | None = None) -> int:
    console = console or Console(width=120)
    title = args.title if args.title.startswith("titles/") else f"titles/{args.title}"
    auth = await asyncio.to_thread(optional_bearer, args.target)
    async with open_channel(args.target, timeout_s=10.0, metadata=auth) as channel:
        try:
            report = await qoe_pb2_grpc.QoeServiceStub(channel).GetTitleQoeReport(
                pb.GetTitleQoeReportRequest(title=title, window_seconds=args.window_seconds),
                timeout=10,
            )
        except grpc.aio.AioRpcError as exc:
            print(
                f"error: {exc.code().name}: {exc.details()}{auth_hint(exc.code())}", file=sys.stderr
            )
            return 2
    format_report(report, console)
    return 0


def register(subparsers: Any) -> None:
    qoe = subparsers.add_parser("qoe", help="viewer QoE: per-title ladder reports (admin)")
    sub = qoe.add_subparsers(dest="qoe_command", required=True)
    report = sub.add_parser(
        "report",
        help="a title's QoE per rung and what to change in its ladder",
        description=(
            "Per rung of TITLE's ladder: time watched, stalls, down- and up-switches and VMAF, "
            "then ADD / DROP / KEEP advice. Example: `vod qoe report titles/my-film`."
        ),
    )
    report.add_argument("title", help="the title, e.g. titles/my-film")
    report.add_argument(
        "--window-seconds", type=int, default=0, help="only the last N seconds (default: all)"
    )
    report.add_argument("--target", default=_target(), help="gateway gRPC address")
    report.set_defaults(func=lambda args: asyncio.run(run_report(args)))
