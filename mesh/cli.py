"""The `vod` command: run the local mesh and talk to it.

    vod up [--detach] [--no-demo] [--with-prometheus]
                                      start everything on embedded defaults (Ctrl-C stops it);
                                      crashed children are restarted with backoff
    vod status                        what runs where, alive or not, restarts, health
    vod down                          stop the mesh (or what a crashed `vod up` left behind)
    vod catalog import CSV            load titles in the netflix_titles.csv format

Services add their own commands through a `services/<name>/cli.py` module with
`register(subparsers)`.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from mesh import cli_examples, config_cli, logs_cli, trace_cli
from mesh.embedded import enable_parent_death_signal
from mesh.launcher import (
    DEMO_USERS,
    LocalMesh,
    MeshState,
    cleanup_leftovers,
    health_through_envoy,
    read_state,
)
from mesh.local import LocalSettings, load_local_settings
from mesh.services import SERVICES
from mesh.supervisor import verified_alive
from services.runtime.clients import open_channel

console = Console(stderr=False, soft_wrap=True)
err = Console(stderr=True)

_PLUGIN_CLIS = (
    "services.accounts.cli",
    "services.licensing.cli",
    "services.transcoding.cli",
    "services.search.cli",
    "services.recommendations.cli",
    "services.experiments.cli",
    "gateway.qoe.cli",
)


# -- up / status / down ------------------------------------------------------------------------


def cmd_up(args: argparse.Namespace) -> int:
    settings = load_local_settings(home=args.home)
    if args.detach:
        return _up_detached(settings, args)
    mesh = LocalMesh(settings, say=_say)
    stop_requested = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop_requested
        if stop_requested:  # a second Ctrl-C must not interrupt the orderly stop
            return
        stop_requested = True
        _say(f"{signal.Signals(signum).name} received")
        raise KeyboardInterrupt

    # Set explicitly: a shell starting us in the background (or a parent) may have SIGINT
    # ignored, and Python then installs no KeyboardInterrupt handler of its own.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    # Children die with us, whatever kills us (the watchdog handles the rest).
    enable_parent_death_signal()
    try:
        state = mesh.start(with_prometheus=args.with_prometheus)
        if not args.no_demo:
            created, existing = asyncio.run(
                _seed_demo(settings.gateway_grpc, mesh.admin_metadata())
            )
            err.print(
                f"[dim]•[/dim] demo content: {created} titles created, {existing} already there"
            )
        _print_summary(settings, state)
        console.print(
            "\n[bold]Ctrl-C[/bold] stops everything; data stays in "
            f"{settings.home} for the next `vod up`.",
            highlight=False,
        )
        sys.stdout.flush()
        while True:
            mesh.supervise()
            time.sleep(0.5)
    except KeyboardInterrupt:
        err.print("\nstopping…")
        return 0
    except Exception as exc:  # startup failed: say why and where to look
        err.print(f"[red]vod up failed:[/red] {exc}")
        err.print(f"logs: {settings.logs}")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # nothing interrupts the stop
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        mesh.stop()


def _say(message: str) -> None:
    err.print(f"[dim]{time.strftime('%H:%M:%S')} •[/dim] {message}", highlight=False)
    sys.stderr.flush()


def _up_detached(settings: LocalSettings, args: argparse.Namespace) -> int:
    existing = read_state(settings)
    if existing is not None and existing.supervisor_alive():
        err.print(f"a mesh is already running (pid {existing.supervisor_pid}); `vod down` stops it")
        return 1
    settings.logs.mkdir(parents=True, exist_ok=True)
    log = settings.logs / "vod-up.log"
    command = [sys.executable, "-m", "mesh.cli", "up", "--home", str(settings.home)]
    if args.no_demo:
        command.append("--no-demo")
    if args.with_prometheus:
        command.append("--with-prometheus")
    with log.open("ab") as out:
        child = subprocess.Popen(
            command,
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=os.environ.copy(),
        )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        state = read_state(settings)
        if state is not None and state.supervisor_pid == child.pid and state.status == "ready":
            _print_summary(settings, state)
            console.print(
                f"\nrunning in the background (pid {child.pid}); `vod down` stops it; log: {log}",
                highlight=False,
            )
            return 0
        if child.poll() is not None:
            err.print(f"[red]vod up failed[/red] (exit {child.returncode}); last lines of {log}:")
            err.print("\n".join(log.read_text(errors="replace").splitlines()[-25:]))
            return 1
        time.sleep(0.3)
    err.print(f"[red]vod up did not become ready in 180s[/red]; see {log}")
    child.terminate()
    return 1


def cmd_status(args: argparse.Namespace) -> int:
    """What runs from the data directory, read from state.json and checked against /proc:
    0 all healthy, 1 something is down (or left over by a dead `vod up`), 3 nothing runs."""
    settings = load_local_settings(home=args.home)
    state = read_state(settings)
    if state is None:
        console.print(f"no mesh running from {settings.home} (`vod up` starts one)")
        return 3
    supervised = state.supervisor_alive()
    leftovers = state.leftovers()
    if not supervised and not leftovers:
        console.print(
            f"no mesh running from {settings.home}; `vod up` pid {state.supervisor_pid} died "
            "and left nothing running (`vod up` starts one)"
        )
        return 3
    title = (
        f"vodmesh at {settings.gateway_url} (vod up pid {state.supervisor_pid}, {state.status})"
        if supervised
        else f"LEFTOVERS from {settings.home}: vod up pid {state.supervisor_pid} is not running"
    )
    table = Table(title=title)
    for column in ("component", "pid", "process", "state", "restarts", "ports", "health"):
        table.add_column(column)
    healthy = supervised and state.status == "ready"
    by_service = {entry.name: entry for entry in SERVICES}
    envoy_up = verified_alive(state.processes.get("envoy", {}))
    for name, record in state.processes.items():
        alive = verified_alive(record)
        ports = record.get("ports", [])
        health = ""
        if name in by_service and alive:
            if envoy_up:
                health = f"{health_through_envoy(settings, by_service[name])} (via envoy)"
            else:
                from mesh.launcher import grpc_health

                target = state.services.get(name, {}).get("grpc", "")
                health = f"{grpc_health(target, by_service[name].grpc_service)} (direct)"
            healthy &= health.startswith("SERVING")
        elif alive:
            listening = [p for p in ports if _listening(settings.host, p)]
            health = "listening" if len(listening) == len(ports) else "not listening"
            healthy &= bool(listening) or not ports
        shown = record.get("state", "RUNNING") if supervised else "LEFTOVER"
        if not alive:
            shown = "DEAD" if not supervised or shown == "RUNNING" else shown
        healthy &= alive and shown == "RUNNING"
        table.add_row(
            name,
            str(record.get("pid") or ""),
            "alive" if alive else "dead",
            shown,
            str(record.get("restarts", 0)),
            ",".join(str(p) for p in ports),
            health,
        )
    if not state.processes:  # written by an older vod up
        for entry in SERVICES:
            health = health_through_envoy(settings, entry)
            healthy &= health == "SERVING"
            table.add_row(entry.name, str(state.pids.get(entry.name, "")), "", "", "", "", health)
    console.print(table)
    if state.prometheus:
        console.print(f"prometheus: {state.prometheus}", highlight=False)
    if not supervised:
        console.print("`vod down` stops the leftovers; `vod up` does too before it starts")
    return 0 if healthy else 1


def _listening(host: str, port: int) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def cmd_down(args: argparse.Namespace) -> int:
    """Stop the mesh through its `vod up` when that is alive, then stop whatever is left
    (recorded children, servers found by their pid files) either way."""
    settings = load_local_settings(home=args.home)
    state = read_state(settings)
    if state is not None and state.supervisor_alive():
        os.kill(state.supervisor_pid, signal.SIGTERM)
        deadline = time.monotonic() + 90
        while state.supervisor_alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        if state.supervisor_alive():
            err.print(
                f"[red]the mesh (pid {state.supervisor_pid}) did not stop in 90s[/red]; "
                "stopping its children directly"
            )
            os.kill(state.supervisor_pid, signal.SIGKILL)
        else:
            console.print(f"stopped vod up pid {state.supervisor_pid}")
    stopped = cleanup_leftovers(
        settings, read_state(settings) or state, lambda m: console.print(m, highlight=False)
    )
    settings.state_file.unlink(missing_ok=True)
    if state is None and not stopped:
        console.print("no mesh running")
    else:
        console.print("stopped")
    return 0


def _print_summary(settings: LocalSettings, state: MeshState) -> None:
    table = Table(title="vodmesh is up")
    table.add_column("what")
    table.add_column("where")
    table.add_row("gateway (REST, gRPC, gRPC-web)", state.gateway)
    for region, url in state.fronts.items():
        table.add_row(f"  front door for region {region}", url)
    for region, url in state.edges.items():
        table.add_row(f"edge (CDN) for region {region}", f"{url}/cdn/{region}/…")
    table.add_row("envoy admin", state.admin)
    for name, info in state.services.items():
        table.add_row(f"{name} (direct gRPC)", info["grpc"])
        table.add_row(f"{name} metrics", info["metrics"])
    table.add_row("postgres", state.database_url.split("@")[-1])
    table.add_row("nats", state.nats_url)
    if state.prometheus:
        table.add_row("prometheus", state.prometheus)
    table.add_row("data + logs", str(settings.home))
    console.print(table)
    users = Table(title="demo accounts (passwords in " + str(settings.home / "secrets") + ")")
    for column in ("email", "password", "plan", "role"):
        users.add_column(column)
    passwords = _demo_passwords(settings)
    for user in DEMO_USERS:
        users.add_row(
            user.email,
            passwords.get(user.email, "?"),
            user.plan,
            "admin" if user.admin else "viewer",
        )
    console.print(users)
    console.print(
        f"the admin is signed in for `vod` commands ({settings.home / 'credentials.json'}); "
        "`vod login EMAIL` switches",
        highlight=False,
    )
    g = state.gateway
    admin = next(u for u in DEMO_USERS if u.admin)
    password = passwords.get(admin.email, "<password>")
    console.print(
        "\nTry (every route but sign-in, sign-up and plans needs a token):", highlight=False
    )
    console.print(
        f"  TOKEN=$(curl -s -X POST {g}/v1/auth:login -H 'content-type: application/json' "
        f'-d \'{{"email":"{admin.email}","password":"{password}"}}\' '
        '| python3 -c \'import json,sys; print(json.load(sys.stdin)["tokens"]["accessToken"])\')',
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f'  curl -s -H "authorization: Bearer $TOKEN" '
        f"'{g}/v1/titles?pageSize=3&orderBy=release_year%20desc'",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        "  vod catalog import ../shared/datasets/netflix_titles.csv "
        f"--target {settings.gateway_grpc}   # as the signed-in admin",
        highlight=False,
        soft_wrap=True,
    )


def _demo_passwords(settings: LocalSettings) -> dict[str, str]:
    import json

    try:
        data = json.loads((settings.home / "secrets" / "demo-users.json").read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


async def _seed_demo(target: str, metadata: tuple[tuple[str, str], ...]) -> tuple[int, int]:
    from vod.catalog.v1 import catalog_pb2_grpc

    from services.catalog.demo import seed_demo

    async with open_channel(target, timeout_s=30.0, metadata=metadata) as channel:
        return await seed_demo(catalog_pb2_grpc.CatalogServiceStub(channel))


def _signed_in(target: str) -> tuple[tuple[str, str], ...] | None:
    """The stored sign-in's bearer metadata, or None after telling the user what to run."""
    from services.accounts.cli import signed_in_metadata

    return signed_in_metadata(target)


# -- catalog -----------------------------------------------------------------------------------


def cmd_catalog_import(args: argparse.Namespace) -> int:
    from services.catalog.importer import CsvFormatError

    path = Path(args.csv)
    if not path.is_file():
        err.print(f"[red]{path} does not exist[/red]")
        return 2
    regions = [r.strip().upper() for r in args.regions.split(",") if r.strip()]
    metadata = _signed_in(args.target)
    if metadata is None:
        return 1
    try:
        report = asyncio.run(_import(args, path, regions, metadata))
    except CsvFormatError as exc:
        err.print(f"[red]{exc}[/red]")
        return 2
    except grpc.aio.AioRpcError as exc:
        hint = {
            grpc.StatusCode.UNAUTHENTICATED: "sign in again: `vod login EMAIL`",
            grpc.StatusCode.PERMISSION_DENIED: "importing needs an admin: `vod login` as one",
        }.get(exc.code(), "is `vod up` running? pass --target HOST:PORT")
        err.print(f"[red]catalog import failed at {args.target}: {exc.code().name}[/red] ({hint})")
        return 1
    console.print(
        f"created {report.created}, already present {report.skipped}, failed {len(report.failed)}"
    )
    for line, reason in report.failed[:20]:
        console.print(f"  line {line}: {reason}", highlight=False)
    return 0 if not report.failed else 1


async def _import(  # type: ignore[no-untyped-def]
    args: argparse.Namespace,
    path: Path,
    regions: list[str],
    metadata: tuple[tuple[str, str], ...],
):
    from vod.catalog.v1 import catalog_pb2_grpc

    from services.catalog.importer import import_csv, read_rows

    total = sum(1 for _ in read_rows(path))
    if args.limit:
        total = min(total, args.limit)
    async with open_channel(args.target, timeout_s=60.0, metadata=metadata) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        with Progress(
            TextColumn("importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=False,
        ) as progress:
            task = progress.add_task("import", total=total)
            return await import_csv(
                stub,
                path,
                default_regions=regions,
                limit=args.limit,
                concurrency=args.concurrency,
                on_progress=lambda r: progress.update(task, completed=r.total),
            )


# -- edges -------------------------------------------------------------------------------------


def _gateway_target() -> str:
    return os.environ.get("VOD_GATEWAY_GRPC", "").strip() or "127.0.0.1:8080"


def cmd_edge_stats(args: argparse.Namespace) -> int:
    from mesh.edge_stats import edge_stats, format_stats

    settings = load_local_settings(home=args.home)
    stats = {
        region: edge_stats(settings.home / "edges" / region / "logs" / "access.log")
        for region in settings.regions
    }
    console.print(format_stats(stats), highlight=False)
    return 0


def cmd_edge_warm(args: argparse.Namespace) -> int:
    from vod.playback.v1 import playback_pb2, playback_pb2_grpc

    metadata = _signed_in(args.target)
    if metadata is None:
        return 1

    async def warm() -> playback_pb2.PrewarmTitleResponse:
        async with open_channel(args.target, timeout_s=600.0, metadata=metadata) as channel:
            stub = playback_pb2_grpc.PlaybackServiceStub(channel)
            return await stub.PrewarmTitle(
                playback_pb2.PrewarmTitleRequest(title=args.title, region_codes=args.region)
            )

    try:
        with console.status(f"warming the edges with {args.title}…"):
            response = asyncio.run(warm())
    except grpc.aio.AioRpcError as exc:
        err.print(f"[red]{exc.code().name}[/red]: {exc.details()}")
        return 1
    table = Table(title=f"edges warmed with {args.title}")
    for column in ("region", "objects", "already cached", "bytes"):
        table.add_column(column)
    for result in response.results:
        table.add_row(
            result.region_code,
            str(result.objects),
            str(result.already_cached),
            f"{result.bytes:,}",
        )
    console.print(table)
    return 0


# -- parser ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vod", description="vodmesh: a video-on-demand platform")
    parser.add_argument("--home", default=None, help="data directory (default $VOD_HOME or ./var)")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start the whole mesh on embedded defaults")
    up.add_argument("--detach", action="store_true", help="run in the background")
    up.add_argument("--no-demo", action="store_true", help="do not seed demo content")
    up.add_argument(
        "--with-prometheus",
        action="store_true",
        help="also run Prometheus (and the edges/NATS exporter) scraping the mesh",
    )
    up.add_argument("--home", default=argparse.SUPPRESS)
    up.set_defaults(func=cmd_up)
    status = sub.add_parser("status", help="what runs where, and its health")
    status.set_defaults(func=cmd_status)
    down = sub.add_parser("down", help="stop the mesh, or what a crashed `vod up` left")
    down.set_defaults(func=cmd_down)

    catalog = sub.add_parser("catalog", help="catalog tools")
    catalog_sub = catalog.add_subparsers(dest="catalog_command", required=True)
    imp = catalog_sub.add_parser(
        "import", help="import titles from a netflix_titles.csv-style file"
    )
    imp.add_argument("csv")
    imp.add_argument(
        "--target",
        default=os.environ.get("VOD_GATEWAY_GRPC", "127.0.0.1:8080"),
        help="catalog or gateway gRPC address (default: the local gateway)",
    )
    imp.add_argument(
        "--regions",
        default="US",
        help="regions every title is available in, besides its production countries",
    )
    imp.add_argument("--limit", type=int, default=None, help="import only the first N rows")
    imp.add_argument("--concurrency", type=int, default=4, help="batches of 100 in flight")
    imp.set_defaults(func=cmd_catalog_import)

    edge = sub.add_parser("edge", help="the CDN edges (one nginx per region)")
    edge_sub = edge.add_subparsers(dest="edge_command", required=True)
    stats = edge_sub.add_parser("stats", help="hit/miss counts per edge, from their access logs")
    stats.add_argument("--home", default=argparse.SUPPRESS)
    stats.set_defaults(func=cmd_edge_stats)
    warm = edge_sub.add_parser("warm", help="pre-warm the edges with a title (admin)")
    warm.add_argument("title", help="the title, e.g. titles/my-film")
    warm.add_argument(
        "--region", action="append", default=[], help="only this region's edge (repeatable)"
    )
    warm.add_argument("--target", default=_gateway_target(), help="gateway gRPC address")
    warm.set_defaults(func=cmd_edge_warm)

    trace_cli.register(sub)
    config_cli.register(sub)
    logs_cli.register(sub)

    for name in _PLUGIN_CLIS:
        importlib.import_module(name).register(sub)
    cli_examples.apply(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "home", None):
        # Every subcommand (stored credentials included) works on the same data directory.
        os.environ["VOD_HOME"] = str(Path(args.home).resolve())
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
