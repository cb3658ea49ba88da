"""`vod experiments ...`: create, start, stop, ramp, force, list and read out A/B tests.

vod experiments create NAME --layer L --variant ID=SHARE ... [--param ID.KEY=VALUE ...]
vod experiments start NAME | stop NAME | ramp NAME PERCENT
vod experiments force PROFILE VARIANT [--experiment NAME] [--clear]
vod experiments list [--layer L]
vod experiments report NAME [--confidence 95]

Talks gRPC to the gateway (or straight to the experiments service inside the mesh) with the
stored sign-in (`vod login ADMIN_EMAIL`): every command here is an admin call. The main `vod`
command calls `register(subparsers)`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TextIO

import grpc
from rich.console import Console
from rich.table import Table
from vod.experiments.v1 import experiments_pb2 as pb
from vod.experiments.v1 import experiments_pb2_grpc

from services.accounts.cli import auth_hint, optional_bearer
from services.runtime.clients import open_channel

__all__ = [
    "METRICS",
    "format_report",
    "register",
    "run_create",
    "run_force",
    "run_list",
    "run_ramp",
    "run_report",
    "run_start",
    "run_stop",
]

_SERVICE = pb.DESCRIPTOR.services_by_name["ExperimentsService"]
_TIMEOUT_S = 10.0

METRICS = {
    pb.Metric.Name(v).removeprefix("METRIC_").lower().replace("_", "-"): v
    for v in pb.Metric.values()
    if v != pb.METRIC_UNSPECIFIED
}
"""CLI metric names ("plays-per-profile-day", "ttff-ms", ...) -> Metric."""

_AGES = {"all": pb.PROFILE_AGE_ALL, "new": pb.PROFILE_AGE_NEW, "existing": pb.PROFILE_AGE_EXISTING}

_EPILOG = """examples:
  vod experiments create home-order --layer home-rows \\
      --variant control=50 --variant trending-first=50 \\
      --param trending-first.row_order=TRENDING_NOW,TOP_PICKS,CONTINUE_WATCHING \\
      --metric plays-per-profile-day --guardrail ttff-ms --guardrail play-error-rate
  vod experiments create poster-art --layer artwork --variant control=50 --variant poster=50 \\
      --param poster.artwork=poster --layer-share 20 --region US --region GB
  vod experiments start home-order
  vod experiments ramp home-order 50        # assign 50% of its profiles (only goes up)
  vod experiments force users/ada/profiles/main trending-first --experiment home-order
  vod experiments force users/ada/profiles/main --experiment home-order --clear
  vod experiments list --layer home-rows
  vod experiments report home-order --confidence 99
  vod experiments stop home-order
"""


def _default_target() -> str:
    return os.environ.get("VOD_GATEWAY_GRPC", "").strip() or "127.0.0.1:8080"


def _name(value: str) -> str:
    return value if value.startswith("experiments/") else f"experiments/{value}"


def _metric_name(metric: int) -> str:
    return pb.Metric.Name(metric).removeprefix("METRIC_").lower().replace("_", "-")  # type: ignore[arg-type]


def _state_name(state: int) -> str:
    return pb.ExperimentState.Name(state).removeprefix("EXPERIMENT_STATE_")  # type: ignore[arg-type]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    experiments = subparsers.add_parser(
        "experiments",
        help="A/B tests of the home page: create, start, ramp, force, read out",
        description="Admin commands for A/B tests (sign in as an admin: `vod login EMAIL`).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = experiments.add_subparsers(dest="experiments_command", required=True)

    def command(name: str, help_text: str, run: Callable[..., Coroutine[Any, Any, int]]) -> Any:
        parser = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        parser.add_argument(
            "--target",
            default=_default_target(),
            help="gRPC address of the gateway or the experiments service "
            "(default $VOD_GATEWAY_GRPC or 127.0.0.1:8080)",
        )
        parser.set_defaults(func=lambda args: asyncio.run(run(args)))
        return parser

    create = command("create", "create an experiment (DRAFT)", run_create)
    create.add_argument("name", help="experiment id, e.g. home-order")
    create.add_argument("--layer", required=True, help="surface layer, e.g. home-rows or artwork")
    create.add_argument(
        "--variant",
        action="append",
        required=True,
        metavar="ID=SHARE",
        help="a variant and its percent of traffic; the first is the control (repeatable)",
    )
    create.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="ID.KEY=VALUE",
        help="a variant parameter, e.g. b.row_order=TRENDING_NOW,TOP_PICKS or b.artwork=poster",
    )
    create.add_argument(
        "--metric",
        default="plays-per-profile-day",
        choices=sorted(METRICS),
        help="primary metric (default plays-per-profile-day)",
    )
    create.add_argument(
        "--guardrail", action="append", default=[], choices=sorted(METRICS), help="repeatable"
    )
    create.add_argument("--display-name", default="", help="for people")
    create.add_argument(
        "--layer-share", type=int, default=0, help="percent of the layer it takes (default 100)"
    )
    create.add_argument("--traffic", type=int, default=0, help="initial ramp percent (default 100)")
    create.add_argument("--region", action="append", default=[], help="target region (repeatable)")
    create.add_argument("--plan", action="append", default=[], help="target plan, plans/{plan}")
    create.add_argument("--profiles", choices=sorted(_AGES), default="all", help="profile age")

    for verb, run in (("start", run_start), ("stop", run_stop)):
        parser = command(verb, f"{verb} an experiment", run)
        parser.add_argument("name")

    ramp = command("ramp", "raise the share of its profiles assigned now", run_ramp)
    ramp.add_argument("name")
    ramp.add_argument("percent", type=int, help="1-100; a ramp only goes up")

    force = command(
        "force", "put a profile in a variant (QA; excluded from the read-out)", run_force
    )
    force.add_argument("profile", help="users/{user}/profiles/{profile}")
    force.add_argument("variant", nargs="?", default="", help="variant id")
    force.add_argument(
        "--experiment",
        default="",
        help="the experiment (default: the one running experiment that has VARIANT)",
    )
    force.add_argument("--clear", action="store_true", help="remove the profile's override")

    listing = command("list", "list experiments, newest first", run_list)
    listing.add_argument("--layer", default="", help="only this layer")

    report = command(
        "report", "the read-out: metrics, intervals, lift, SRM, guardrails", run_report
    )
    report.add_argument("name")
    report.add_argument(
        "--confidence", type=int, default=95, help="confidence level, percent (80-99)"
    )


async def _call(
    args: argparse.Namespace,
    call: Callable[[experiments_pb2_grpc.ExperimentsServiceStub], Awaitable[Any]],
) -> Any:
    """`call(stub)` with the stored sign-in; raises AioRpcError."""
    metadata = await asyncio.to_thread(optional_bearer, args.target)
    async with open_channel(
        args.target, timeout_s=_TIMEOUT_S, services=[_SERVICE], metadata=metadata
    ) as channel:
        return await call(experiments_pb2_grpc.ExperimentsServiceStub(channel))


def _fail(exc: grpc.aio.AioRpcError, err: TextIO) -> int:
    print(f"error: {exc.code().name}: {exc.details()}{auth_hint(exc.code())}", file=err)
    return 2


def _usage(message: str, err: TextIO) -> int:
    print(f"error: {message}", file=err)
    return 2


def _experiment_line(e: pb.Experiment) -> str:
    variants = ", ".join(f"{v.id} {v.share_percent}%" for v in e.variants)
    return (
        f"{e.name}  {_state_name(e.state)}  layer {e.layer} ({e.layer_share_percent}%, "
        f"traffic {e.traffic_percent}%)  [{variants}]  {_metric_name(e.primary_metric)}"
    )


def _parse_variants(args: argparse.Namespace) -> list[pb.Variant] | str:
    variants: dict[str, pb.Variant] = {}
    for spec in args.variant:
        ident, sep, share = spec.partition("=")
        if not sep or not share.strip().isdigit():
            return f"--variant {spec!r}: expected ID=SHARE, e.g. control=50"
        variants[ident.strip()] = pb.Variant(id=ident.strip(), share_percent=int(share))
    for spec in args.param:
        key, sep, value = spec.partition("=")
        ident, dot, param = key.partition(".")
        if not sep or not dot or not param:
            return f"--param {spec!r}: expected ID.KEY=VALUE, e.g. b.row_order=TRENDING_NOW"
        if ident not in variants:
            return f"--param {spec!r}: no variant {ident!r} (give it with --variant first)"
        variants[ident].parameters[param] = value
    return list(variants.values())


async def run_create(
    args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    variants = _parse_variants(args)
    if isinstance(variants, str):
        return _usage(variants, err)
    experiment = pb.Experiment(
        display_name=args.display_name or args.name,
        layer=args.layer,
        variants=variants,
        layer_share_percent=args.layer_share,
        traffic_percent=args.traffic,
        targeting=pb.Targeting(
            region_codes=[r.upper() for r in args.region],
            plans=args.plan,
            profile_age=_AGES[args.profiles],
        ),
        primary_metric=METRICS[args.metric],  # type: ignore[arg-type]
        guardrail_metrics=[METRICS[g] for g in args.guardrail],  # type: ignore[misc]
    )
    request = pb.CreateExperimentRequest(
        experiment_id=args.name.removeprefix("experiments/"), experiment=experiment
    )
    try:
        reply = await _call(args, lambda stub: stub.CreateExperiment(request))
    except grpc.aio.AioRpcError as exc:
        return _fail(exc, err)
    created = reply.experiment
    print(f"created {_experiment_line(created)}", file=out)
    print(
        f"buckets [{created.first_bucket}, {created.first_bucket + created.bucket_count}) "
        f"of 10000; start it with `vod experiments start {created.name.removeprefix('experiments/')}`",
        file=out,
    )
    return 0


async def _update(
    args: argparse.Namespace, out: TextIO, err: TextIO, state: int, traffic: int, verb: str
) -> int:
    request = pb.UpdateExperimentStateRequest(
        name=_name(args.name),
        state=state,  # type: ignore[arg-type]
        traffic_percent=traffic,
    )
    try:
        reply = await _call(args, lambda stub: stub.UpdateExperimentState(request))
    except grpc.aio.AioRpcError as exc:
        return _fail(exc, err)
    print(f"{verb} {_experiment_line(reply.experiment)}", file=out)
    return 0


async def run_start(
    args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    return await _update(args, out, err, pb.EXPERIMENT_STATE_RUNNING, 0, "started")


async def run_stop(
    args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    return await _update(args, out, err, pb.EXPERIMENT_STATE_STOPPED, 0, "stopped")


async def run_ramp(
    args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    if not 1 <= args.percent <= 100:
        return _usage("PERCENT must be 1-100", err)
    return await _update(args, out, err, pb.EXPERIMENT_STATE_UNSPECIFIED, args.percent, "ramped")


async def run_force(
    args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    if args.clear == bool(args.variant):
        return _usage("give a VARIANT, or --clear to remove the override", err)
    try:
        name = args.experiment
        if not name:
            if args.clear:
                return _usage("--clear needs --experiment NAME", err)
            listed = await _call(
                args, lambda stub: stub.ListExperiments(pb.ListExperimentsRequest())
            )
            having = [
                e.name
                for e in listed.experiments
                if e.state == pb.EXPERIMENT_STATE_RUNNING
                and any(v.id == args.variant for v in e.variants)
            ]
            if len(having) != 1:
                found = ", ".join(having) or "none"
                return _usage(
                    f"{len(having)} running experiments have variant {args.variant!r} ({found}); "
                    "say which with --experiment NAME",
                    err,
                )
            name = having[0]
        request = pb.ForceVariantRequest(
            name=_name(name), profile=args.profile, variant="" if args.clear else args.variant
        )
        reply = await _call(args, lambda stub: stub.ForceVariant(request))
    except grpc.aio.AioRpcError as exc:
        return _fail(exc, err)
    a = reply.assignment
    if args.clear:
        print(f"{args.profile}: override removed in {a.experiment}", file=out)
        return 0
    params = ", ".join(f"{k}={v}" for k, v in sorted(a.parameters.items())) or "no parameters"
    print(f"{args.profile} -> {a.experiment} variant {a.variant} (forced; {params})", file=out)
    return 0


async def run_list(
    args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    try:
        reply = await _call(
            args, lambda stub: stub.ListExperiments(pb.ListExperimentsRequest(layer=args.layer))
        )
    except grpc.aio.AioRpcError as exc:
        return _fail(exc, err)
    table = Table(title="experiments", show_lines=False)
    for column in ("name", "state", "layer", "share", "traffic", "variants", "metric"):
        table.add_column(column)
    for e in reply.experiments:
        table.add_row(
            e.name.removeprefix("experiments/"),
            _state_name(e.state),
            e.layer,
            f"{e.layer_share_percent}%",
            f"{e.traffic_percent}%",
            ", ".join(f"{v.id} {v.share_percent}%" for v in e.variants),
            _metric_name(e.primary_metric),
        )
    _console(out).print(table)
    if not reply.experiments:
        print("no experiments", file=out)
    return 0


async def run_report(
    args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    request = pb.GetExperimentReportRequest(
        name=_name(args.name), confidence_percent=args.confidence
    )
    try:
        reply = await _call(args, lambda stub: stub.GetExperimentReport(request))
    except grpc.aio.AioRpcError as exc:
        return _fail(exc, err)
    format_report(reply, out)
    return 0


def _console(out: TextIO) -> Console:
    return Console(file=out, width=None if out.isatty() else 200, highlight=False)


def fmt_mean(value: float) -> str:
    return f"{value:.4f}"


def fmt_delta(value: float) -> str:
    return f"{value:+.4f}"


def fmt_ci(low: float, high: float) -> str:
    return f"[{low:+.4f}, {high:+.4f}]"


def fmt_lift(value: float) -> str:
    return f"{value:+.1%}"


def fmt_p(value: float) -> str:
    return f"{value:.3g}"


def _cuped(result: pb.MetricResult) -> str:
    return f"yes (-{result.variance_reduction:.0%} var)" if result.cuped else "no"


def format_report(report: pb.GetExperimentReportResponse, out: TextIO = sys.stdout) -> None:
    """The read-out as rich tables: per variant the primary metric (mean, delta against the
    control with its interval, lift, p-value, CUPED), the SRM check, guardrails, the summary."""
    console = _console(out)
    e = report.experiment
    level = report.confidence_percent
    console.print(
        f"{e.name}  {_state_name(e.state)}  layer {e.layer}  traffic {e.traffic_percent}%  "
        f"confidence {level}%",
        markup=False,
    )
    total = sum(v.exposed_profiles for v in report.variants) or 1
    primary = Table(title=f"primary metric: {_metric_name(e.primary_metric)}")
    for column in (
        "variant",
        "profiles",
        "exposures",
        "share (expected)",
        "mean",
        "delta",
        f"{level}% CI",
        "lift",
        "p-value",
        "CUPED",
    ):
        primary.add_column(column)
    for i, v in enumerate(report.variants):
        p = v.primary
        control = i == 0
        primary.add_row(
            v.variant + (" (control)" if control else ""),
            str(v.exposed_profiles),
            str(v.exposures),
            f"{v.exposed_profiles / total:.1%} ({v.expected_share_percent}%)",
            fmt_mean(p.mean),
            "-" if control else fmt_delta(p.delta),
            "-" if control else fmt_ci(p.delta_ci_low, p.delta_ci_high),
            "-" if control else fmt_lift(p.relative_delta),
            "-" if control else fmt_p(p.p_value),
            "-" if control else _cuped(p),
        )
    console.print(primary)
    treated = [v.primary for v in report.variants[1:]]
    if any(p.cuped for p in treated):
        console.print(
            "CUPED: the pre-period (14 days before first exposure) is the covariate; the "
            "intervals are variance-reduced as shown",
            markup=False,
        )
    else:
        console.print(
            "CUPED: no pre-period covariate for this metric; plain Welch t-test", markup=False
        )
    verdict = (
        "MISMATCH: the split is broken, do not read the metrics"
        if report.sample_ratio_mismatch
        else "ok"
    )
    console.print(f"SRM p-value {fmt_p(report.srm_p_value)}: {verdict}", markup=False)
    if e.guardrail_metrics:
        guardrails = Table(title="guardrails")
        for column in ("variant", "metric", "mean", "delta", f"{level}% CI", "lift", "p-value"):
            guardrails.add_column(column)
        for i, v in enumerate(report.variants):
            for g in v.guardrails:
                control = i == 0
                if not g.profiles:
                    guardrails.add_row(v.variant, _metric_name(g.metric), "no data", *["-"] * 4)
                    continue
                guardrails.add_row(
                    v.variant,
                    _metric_name(g.metric),
                    fmt_mean(g.mean),
                    "-" if control else fmt_delta(g.delta),
                    "-" if control else fmt_ci(g.delta_ci_low, g.delta_ci_high),
                    "-" if control else fmt_lift(g.relative_delta),
                    "-" if control else fmt_p(g.p_value),
                )
        console.print(guardrails)
        if report.guardrail_violations:
            for violation in report.guardrail_violations:
                console.print(f"guardrail violated: {violation}", markup=False)
        else:
            console.print("guardrails: none significantly worse", markup=False)
    console.print(f"summary: {report.summary}", markup=False)
