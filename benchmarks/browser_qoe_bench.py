"""Viewer QoE in a real browser: time to first frame and rebuffer ratio of the web app (web/app,
served by the gateway on the front port) playing in Debian's headless Chromium on a link shaped
by Chromium's own network emulation (DevTools protocol, Network.emulateNetworkConditions: 10
Mbit/s down and up, 50 ms latency), as measured by the QoE pipeline itself, next to the same
plays on an unshaped loopback (the same-run baseline). Prints numbers; asserts nothing.

The mesh: `mesh.launcher.LocalMesh` on free ports under a scratch VOD_HOME (`mesh_settings` of
benchmarks/licensing_bench.py). Set-up, not measured: a --clip-s (24) s 1280x720 test clip made
with imageio-ffmpeg's ffmpeg, ingested by the admin through the gateway (tests/e2e/media.py)
with a 720/480/360 ladder ONCE PER CONDITION (two titles from the same source: the QoE report
aggregates every play of a title, and TTFF percentiles come from a histogram that the report
only gives as percentiles, so the conditions cannot be told apart by differencing one title's
reports); --plays (3) premium viewers per condition signed up through the public route.

Measured, by benchmarks/browser_qoe.mjs (playwright-core driving /usr/bin/chromium; no browser is
downloaded): per play, a fresh browser context (empty cache), the throttle set through its CDP
session before the app loads; sign in with the form, open the title page, press Enter on Play
and play --seconds (20) from that keypress, then "← Back" (the app sends its last QoE batch and
stops the session). The plays of a condition run one after the other; the baseline first.

Read back: GET /v1/titles/{id}/qoeReport as the admin, once the pipeline (QoeService → outbox →
NATS → the durable consumer → per-minute aggregates) has folded every play (polled until the
report's plays equal the plays that showed a first frame): plays, TTFF p50/p95 (bucket upper
bounds: 10 ms wide under 1 s, 50 ms under 5 s) and rebuffer ratio (stalled / (played +
stalled)). Printed next to them, for comparison: what the driver measured in the page itself
(keydown → first frame presented by requestVideoFrameCallback; `waiting` → `playing` stalls)
and the FIRST_FRAME values the app posted; per play also the requests the page sent between the
keypress and the first frame (Network events of its CDP session) and the media time lost against
the wall clock after the first frame.

Needs `scripts/web-deps` (Debian chromium at /usr/bin/chromium, node, web/node_modules); fails
with that message when they are missing.

    scripts/bench browser_qoe [--plays 3] [--seconds 20] [--clip-s 24]
                              [--latency-ms 50] [--mbps 10]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "gen" / "python")]

import httpx  # noqa: E402

DRIVER = ROOT / "benchmarks" / "browser_qoe.mjs"
CHROMIUM = Path(os.environ.get("VOD_CHROMIUM", "/usr/bin/chromium"))
WEB = ROOT / "web"
PASSWORD = "browser qoe bench password 42"
RUNGS = [
    {"height": 720, "bitrateBps": 2_500_000},
    {"height": 480, "bitrateBps": 1_000_000},
    {"height": 360, "bitrateBps": 500_000},
]


def say(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def check_prerequisites() -> None:
    """Exit with the fix when the browser, node or the npm packages are missing."""
    missing = []
    if not (CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK)):
        missing.append(str(CHROMIUM))
    if shutil.which("node") is None:
        missing.append("node")
    for package in ("playwright-core", "shaka-player"):
        if not (WEB / "node_modules" / package / "package.json").exists():
            missing.append(f"web/node_modules/{package}")
    if missing:
        sys.exit(f"browser_qoe bench: missing {', '.join(missing)}: run scripts/web-deps")


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile, exact over the samples (NaN for none)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def make_clip(path: Path, seconds: float) -> bytes:
    import imageio_ffmpeg

    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error",
            "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=24",
            "-f", "lavfi", "-i", "sine=frequency=440",
            "-t", f"{seconds:g}", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
            "-shortest", str(path),
        ],
        check=True,
        timeout=300,
    )  # fmt: skip
    return path.read_bytes()


def sign_up(gateway: str, region: str, email: str) -> None:
    with httpx.Client(base_url=gateway, timeout=30) as http:
        made = http.post(
            "/v1/users",
            json={
                "user": {
                    "email": email,
                    "displayName": email.split("@")[0],
                    "plan": "plans/premium",
                    "homeRegion": region,
                },
                "password": PASSWORD,
            },
        )
    if made.status_code != 200:
        raise RuntimeError(f"sign-up of {email} answered {made.status_code}: {made.text}")


def admin_headers(gateway: str, mesh: Any) -> dict[str, str]:
    """A fresh admin access token (the launcher's is 15 minutes old by the end of a long run)."""
    from mesh.launcher import DEMO_USERS

    admin = next(u for u in DEMO_USERS if u.admin)
    r = httpx.post(
        f"{gateway}/v1/auth:login",
        json={"email": admin.email, "password": mesh.demo_passwords[admin.email]},
        timeout=30,
    )
    if r.status_code != 200:
        return dict(mesh.admin_metadata())
    return {"authorization": f"Bearer {r.json()['tokens']['accessToken']}"}


def drive(config: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    done = subprocess.run(
        ["node", str(DRIVER), json.dumps(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if not lines:
        raise RuntimeError(
            f"the browser driver printed nothing (exit {done.returncode}): {done.stderr[-3000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    if "fatal" in result:
        raise RuntimeError(f"browser driver: {result['fatal']}")
    return result


def read_report(
    gateway: str, headers: dict[str, str], title: str, plays: int, timeout_s: float = 120
) -> tuple[dict[str, Any], float]:
    """The title's QoE report once it counts `plays` plays (or what it holds at the timeout);
    and the seconds waited for it."""
    began = time.monotonic()
    report: dict[str, Any] = {}
    with httpx.Client(base_url=gateway, timeout=30, headers=headers) as http:
        while True:
            r = http.get(f"/v1/{title}/qoeReport")
            if r.status_code != 200:
                raise RuntimeError(f"GET /v1/{title}/qoeReport answered {r.status_code}: {r.text}")
            report = r.json()
            if int(report.get("plays", 0)) >= plays or time.monotonic() - began > timeout_s:
                return report, time.monotonic() - began
            time.sleep(0.5)


def machine_line() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"machine: {platform.machine()} {cpu}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; Chromium, the mesh, Postgres, NATS and the edges share the "
        f"host; load average before the run {load}"
    )


def fmt(value: float | None, spec: str = ".0f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def run(args: argparse.Namespace) -> None:
    os.environ.setdefault("VOD_TRACING", "off")
    from benchmarks.licensing_bench import mesh_settings
    from mesh.launcher import LocalMesh
    from tests.conftest import scratch_dir
    from tests.e2e.media import ingest_through_gateway

    print(machine_line())
    chromium = subprocess.run(
        [str(CHROMIUM), "--version"], capture_output=True, text=True, timeout=30
    ).stdout.strip()
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=30)
    print(f"browser: {chromium} (headless, playwright-core), node {node.stdout.strip()}")
    throttled = {
        "latencyMs": args.latency_ms,
        "downloadBps": args.mbps * 1e6,
        "uploadBps": args.mbps * 1e6,
    }
    conditions = [
        ("unthrottled", None),
        (f"{args.mbps:g} Mbit/s {args.latency_ms:g} ms", throttled),
    ]
    with scratch_dir("vod-browser-qoe-bench-") as home:
        mesh = LocalMesh(mesh_settings(home, args.log_level))
        setup: dict[str, float] = {}
        try:
            t = time.perf_counter()
            say("starting the mesh…")
            mesh.start()
            setup["mesh start"] = time.perf_counter() - t
            s = mesh.settings
            region = s.regions[0]
            t = time.perf_counter()
            say(f"making a {args.clip_s:g} s 720p clip…")
            source = make_clip(Path(home) / "source.mp4", args.clip_s)
            setup["clip"] = time.perf_counter() - t
            titles = []
            for label, _ in conditions:
                t = time.perf_counter()
                say(f"ingesting the title for '{label}'…")
                ingested = ingest_through_gateway(
                    s.gateway_url,
                    dict(mesh.admin_metadata()),
                    source,
                    options={"renditions": RUNGS},
                    regions=[region],
                    display_name=f"Browser QoE {label} {uuid.uuid4().hex[:4]}",
                )
                titles.append(ingested)
                setup[f"ingest '{label}'"] = time.perf_counter() - t
            ladder = sorted(
                (int(r["height"]), int(r.get("bitrateBps", 0) or 0))
                for r in titles[0].job.get("renditions", [])
            )
            t = time.perf_counter()
            say(f"signing up {args.plays * len(conditions)} viewers…")
            viewers: list[list[dict[str, str]]] = []
            for _ in conditions:
                group = []
                for _ in range(args.plays):
                    email = f"qoe-{uuid.uuid4().hex[:10]}@example.com"
                    sign_up(s.gateway_url, region, email)
                    group.append({"email": email, "password": PASSWORD})
                viewers.append(group)
            setup["sign-ups"] = time.perf_counter() - t
            print(
                f"title: {titles[0].duration_s:.1f} s, 1280x720 testsrc2, ladder "
                + ", ".join(f"{h}p {b / 1e6:.2f} Mbit/s" for h, b in reversed(ladder))
                + f"; one title per condition; {args.plays} plays each, {args.seconds:g} s from "
                "the click on Play, each in a fresh browser context"
            )
            print(
                "set-up (not in the figures): "
                + ", ".join(f"{k} {v:.1f}s" for k, v in setup.items())
            )
            rows = []
            for (label, throttle), title, group in zip(conditions, titles, viewers, strict=True):
                say(f"playing '{label}' {args.plays} x {args.seconds:g} s in Chromium…")
                result = drive(
                    {
                        "appUrl": f"{s.gateway_url}/",
                        "title": title.title,
                        "seconds": args.seconds,
                        "viewers": group,
                        "throttle": throttle,
                    },
                    timeout_s=args.plays * (args.seconds + 120) + 60,
                )
                plays = result["plays"]
                good = [p for p in plays if "error" not in p and p.get("ttffMs") is not None]
                say("waiting for the QoE pipeline to fold the plays…")
                report, waited = read_report(
                    s.gateway_url, admin_headers(s.gateway_url, mesh), title.title, len(good)
                )
                rows.append((label, result, good, report, waited))
            print_results(rows, args)
        finally:
            mesh.stop()


def print_results(rows: list[tuple[str, dict, list[dict], dict, float]], args) -> None:
    print(
        f"\n{'condition':<20}{'plays':>6}  {'QoE pipeline (GET …/qoeReport)':<40}"
        f"{'browser (driver, in the page)':<44}"
    )
    print(
        f"{'':<20}{'':>6}  {'TTFF p50':>9}{'TTFF p95':>10}{'rebuffer':>10}{'stalls':>8}   "
        f"{'TTFF p50':>9}{'TTFF p95':>10}{'rebuffer':>10}{'stalls':>8}{'app TTFF p50':>14}"
    )
    for label, _result, good, report, _ in rows:
        total = report.get("total") or {}
        stalls = sum(int(r.get("stalls", 0) or 0) for r in report.get("rungs") or [])
        ttff = [p["ttffMs"] for p in good]
        app = [p["appTtffMs"] for p in good if p.get("appTtffMs") is not None]
        stall_ms = sum(p["stallMs"] for p in good)
        played_ms = sum(p["playedMs"] for p in good)
        ratio = stall_ms / (stall_ms + played_ms) if stall_ms + played_ms else float("nan")
        print(
            f"{label:<20}{int(report.get('plays', 0)):>6}  "
            f"{fmt(total.get('ttffP50Ms')):>6} ms{fmt(total.get('ttffP95Ms')):>7} ms"
            f"{fmt(total.get('rebufferRatio', 0.0), '.4f'):>10}{stalls:>8}   "
            f"{fmt(percentile(ttff, 50)):>6} ms{fmt(percentile(ttff, 95)):>7} ms"
            f"{fmt(ratio, '.4f'):>10}{sum(p['stalls'] for p in good):>8}"
            f"{fmt(percentile(app, 50)):>11} ms"
        )
    base = rows[0][3].get("total") or {}
    for label, _, _, report, _ in rows[1:]:
        total = report.get("total") or {}
        b50, t50 = float(base.get("ttffP50Ms", 0) or 0), float(total.get("ttffP50Ms", 0) or 0)
        if b50:
            print(f"{label} / unthrottled, pipeline TTFF p50: x{t50 / b50:.2f}")
    print(
        "\nper play (browser): TTFF, the app's posted FIRST_FRAME and the requests sent between the "
        "keypress and the first frame (and their bytes, some arriving after it); `waiting` stalls; "
        "media time lost against the wall clock since the first frame (stalls, and any wait "
        "between the first frame painted and playback starting)"
    )
    for label, result, _, report, waited in rows:
        for p in result["plays"]:
            if "error" in p:
                print(f"  {label:<20}play {p['index']}: ERROR {p['error'].splitlines()[0]}")
                continue
            print(
                f"  {label:<20}play {p['index']}: TTFF {fmt(p['ttffMs'])} ms, app "
                f"{fmt(p.get('appTtffMs'))} ms ({p.get('requestsBeforeFirstFrame')} requests "
                f"sent before it, {p.get('bytesBeforeFirstFrame', 0) / 1e6:.2f} MB), stalls "
                f"{p['stalls']}/{p['stallMs']:.0f} ms, media behind the clock "
                f"{fmt(p.get('lagMs'))} ms, "
                f"played {p['playedMs'] / 1000:.1f} s to t={fmt(p.get('currentTime'), '.1f')} s, "
                f"{p.get('resolution')} {'/'.join(p.get('renditions') or [])}, QoE POSTs "
                f"{p.get('qoeStatuses')}, console errors {len(p['consoleErrors'])}, page errors "
                f"{len(p['pageErrors'])}"
            )
        print(
            f"  {label:<20}pipeline: report counted {report.get('plays', 0)} plays "
            f"{waited:.1f} s after the last play; rungs "
            + ", ".join(
                f"{r.get('rendition')} {float(r.get('secondsPlayed', 0) or 0):.0f}s"
                for r in report.get("rungs") or []
                if float(r.get("secondsPlayed", 0) or 0) > 0
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plays", type=int, default=3, help="plays per condition (3)")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per play (20)")
    parser.add_argument("--clip-s", type=float, default=24.0, help="the title's length (24)")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="emulated latency (50)")
    parser.add_argument("--mbps", type=float, default=10.0, help="emulated Mbit/s each way (10)")
    parser.add_argument("--log-level", default="WARNING", help="services' log level")
    args = parser.parse_args()
    if not 1 <= args.plays <= 20 or not 1 <= args.seconds <= 600 or not 2 <= args.clip_s <= 600:
        parser.error("--plays 1..20, --seconds 1..600, --clip-s 2..600")
    check_prerequisites()
    from services.runtime.logs import configure_logging

    configure_logging("browser-qoe-bench", "WARNING")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the finally stops the mesh
    run(args)


if __name__ == "__main__":
    main()
