"""Licensing benchmark, in one run on this machine. Prints numbers and ratios against baselines
measured in the same run; asserts nothing.

Part 1, licence requests through Envoy: the whole local mesh (`mesh.launcher.LocalMesh` on free
ports, scratch VOD_HOME, as tests/e2e/conftest.py starts it); the admin ingests one short title
with `encrypt: true` through the gateway (as tests/e2e/test_protected_path.py does); premium
viewers sign up and StartPlayback DASH sessions (one session per client, heartbeating); then
N clients (raw asyncio HTTP/1.1, keep-alive, one connection each) POST the CDM's ClearKey body
`{"kids": [...], "type": "temporary"}` to the session's licenseUrl for a fixed time: QPS, p50,
p99 and errors. The baseline is `GET /v1/plans` (accounts ListPlans: one small DB read) through
the same Envoy at the same concurrency, and the client's own ceiling is Envoy's admin `/ready`
(no upstream). The per-session licence cap is lifted for the run
(`VOD_LICENSING_MAX_LICENSES_PER_SESSION`), and the audit rows and outbox are checked after it.

Part 2, packaging: `tests.transcoding.packaging_bench.measure_packaging` on a 30 s 1080p
test pattern (a 1080/720/360 ladder): clear against encrypted packaging of the same renditions
(best of rounds) and the ratio, next to the time the same function spends encoding the ladder.

    scripts/bench licensing [--quick] [--part all|licence|packaging] [--seconds 8]
                            [--concurrency 1,32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "gen" / "python")]

import httpx  # noqa: E402
import imageio_ffmpeg  # noqa: E402

from mesh.embedded import free_port, free_port_block  # noqa: E402
from mesh.launcher import LocalMesh  # noqa: E402
from mesh.local import LocalSettings, load_local_settings  # noqa: E402

LICENCE_WORK = (
    "each licence request: Envoy JSON->gRPC transcoding; licensing verifies the session token's "
    "HMAC, asks playback GetSession (a primary-key read, never cached), catalog availability and "
    "accounts devices (cached per session for 5 s), reads the key records (DB), unwraps each "
    "content key (envelope AES), then one transaction: count+insert on session_licenses, an "
    "audit row and a LicenseAudited outbox event (relayed to NATS after commit)"
)


def machine_line(shared: str) -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load average {load} (other processes included); {shared}"
    )


# -- a small HTTP/1.1 keep-alive client -------------------------------------------------------


@dataclass
class Result:
    label: str
    concurrency: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    answered_200: int = 0
    """Every 200 received, warm-up included (to compare with the audit)."""

    @property
    def qps(self) -> float:
        return len(self.latencies_ms) / self.seconds

    def pct(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def merge(results: list[Result]) -> Result:
    merged = Result(results[0].label, results[0].concurrency, sum(r.seconds for r in results))
    for r in results:
        merged.latencies_ms += r.latencies_ms
        merged.errors.update(r.errors)
        merged.answered_200 += r.answered_200
    return merged


def http_request(method: str, url: str, body: bytes = b"") -> bytes:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    head = f"{method} {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body and whether the server keeps the connection open."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    headers = head.lower()
    keep = b"\r\nconnection: close" not in headers
    found = re.search(rb"\r\ncontent-length:\s*(\d+)", headers)
    if found:
        return status, await reader.readexactly(int(found.group(1))), keep
    if b"\r\ntransfer-encoding: chunked" in headers:
        chunks = []
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers expected
                return status, b"".join(chunks), keep
            chunks.append((await reader.readexactly(size + 2))[:-2])
    return status, b"", keep


async def http_load(
    label: str,
    host: str,
    port: int,
    requests: list[bytes],
    seconds: float,
    concurrency: int,
    warmup_s: float = 0.5,
) -> Result:
    """`concurrency` connections, worker k sending `requests[k % len(requests)]` back to back;
    requests begun during the first `warmup_s` are not counted."""
    begin = time.perf_counter()
    measure_from = begin + warmup_s
    stop_at = measure_from + seconds
    result = Result(label, concurrency, seconds)

    async def worker(k: int) -> None:
        request = requests[k % len(requests)]
        reader = writer = None
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                assert reader is not None
                writer.write(request)
                status, _body, keep = await asyncio.wait_for(read_response(reader), 30)
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                if started >= measure_from:
                    result.errors[type(exc).__name__] += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                continue
            result.answered_200 += status == 200
            if started >= measure_from and started < stop_at:
                if status == 200:
                    result.latencies_ms.append((time.perf_counter() - started) * 1000)
                else:
                    result.errors[f"HTTP {status}"] += 1
            if not keep:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return result


# -- the mesh ---------------------------------------------------------------------------------


def mesh_settings(home: Path, log_level: str) -> LocalSettings:
    """As tests/e2e/conftest.py's `local_settings`, with a port block for the services."""
    base = load_local_settings(env={}, home=str(home))
    return replace(
        base,
        gateway_port=free_port(),
        admin_port=free_port(),
        service_base_port=free_port_block(10),
        metrics_base_port=free_port_block(10),
        http_base_port=free_port_block(5),
        edge_base_port=free_port_block(2),
        postgres_port=free_port(),
        nats_port=free_port(),
        nats_monitor_port=free_port(),
        log_level=log_level,
    )


def ingest_protected(mesh: LocalMesh, work: Path) -> tuple[str, float]:
    """What tests/e2e/test_protected_path.py's `protected` fixture does: its 6 s 1080p source
    ingested as the admin through the gateway with `encrypt: true` (its 1080/360 rungs), READY.
    Returns the title and the seconds from upload to READY."""
    from tests.e2e.media import ingest_through_gateway
    from tests.e2e.test_protected_path import RUNGS
    from tests.e2e.test_viewer_path import make_source

    data = make_source(work / "source.mp4")
    began = time.perf_counter()
    ingested = ingest_through_gateway(
        mesh.settings.gateway_url,
        dict(mesh.admin_metadata()),
        data,
        options={"renditions": RUNGS, "encrypt": True},
        regions=[mesh.settings.regions[0]],
        display_name=f"Licensing Bench {uuid.uuid4().hex[:6]}",
    )
    if not all(r.get("encrypted") for r in ingested.job["renditions"]):
        raise RuntimeError(f"the renditions are not encrypted: {ingested.job['renditions']}")
    return ingested.title, time.perf_counter() - began


@dataclass
class Session:
    viewer: object
    name: str
    license_url: str
    manifest_url: str
    heartbeat_s: float


def start_sessions(mesh: LocalMesh, title: str, count: int) -> list[Session]:
    """`count` DASH sessions over ceil(count / 4) premium viewers (4 streams each)."""
    from tests.e2e.test_viewer_path import sign_up, start

    base = mesh.settings.gateway_url
    sessions = []
    for v in range(math.ceil(count / 4)):
        viewer = sign_up(mesh, f"lic-bench-{v}-{uuid.uuid4().hex[:6]}@example.com", "premium")
        for d in range(min(4, count - len(sessions))):
            started = start(base, viewer, title, f"bench-{v}-{d}", "DEVICE_TYPE_WEB",
                            preferredProtocol="STREAMING_PROTOCOL_DASH")  # fmt: skip
            if started.status_code != 200:
                raise RuntimeError(f"StartPlayback: {started.status_code} {started.text}")
            s = started.json()["session"]
            if not s.get("encrypted") or not s.get("licenseUrl"):
                raise RuntimeError(f"the session is not encrypted: {s}")
            interval = float(s.get("heartbeatInterval", "10s").rstrip("s") or 10)
            sessions.append(Session(viewer, s["name"], s["licenseUrl"], s["manifestUrl"], interval))
    return sessions


async def heartbeat(base: str, sessions: list[Session], stop: asyncio.Event) -> Counter[int]:
    """Keeps the sessions' leases (3 heartbeat intervals) alive while the load runs."""
    statuses: Counter[int] = Counter()
    interval = min(s.heartbeat_s for s in sessions)
    async with httpx.AsyncClient(base_url=base, timeout=15) as http:
        while not stop.is_set():
            replies = await asyncio.gather(
                *(
                    http.post(
                        f"/v1/{s.name}:heartbeat",
                        json={"position": "1s", "state": "PLAYER_STATE_PLAYING"},
                        headers=s.viewer.headers,  # type: ignore[attr-defined]
                    )
                    for s in sessions
                ),
                return_exceptions=True,
            )
            for r in replies:
                statuses[r.status_code if isinstance(r, httpx.Response) else -1] += 1
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                pass
    return statuses


def licensing_counts(database_url: str) -> tuple[int, int, int]:
    """Granted audit rows, all audit rows, outbox events not yet published."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        granted, total = conn.execute(
            "SELECT count(*) FILTER (WHERE reason = 'GRANTED'), count(*) "
            "FROM licensing.license_audits"
        ).fetchone()  # type: ignore[misc]
        (pending,) = conn.execute(
            "SELECT count(*) FROM licensing.outbox WHERE published_at IS NULL"
        ).fetchone()  # type: ignore[misc]
    return int(granted), int(total), int(pending)


ENVOY_COUNTERS = (
    "upstream_rq_total",
    "upstream_rq_per_try_timeout",
    "upstream_rq_retry",
    "upstream_rq_retry_overflow",
    "upstream_rq_tx_reset",
    "upstream_rq_504",
)


def envoy_counters(admin: str, cluster: str) -> dict[str, int]:
    text = httpx.get(f"{admin}/stats", params={"filter": f"^cluster\\.{cluster}\\."}).text
    values = {}
    for line in text.splitlines():
        name, _, value = line.partition(": ")
        if value.isdigit():
            values[name.removeprefix(f"cluster.{cluster}.")] = int(value)
    return {k: values.get(k, 0) for k in ENVOY_COUNTERS}


@dataclass
class LicenceRow:
    baseline: Result
    licence: Result
    ceiling: Result | None
    granted: int
    refused: int
    pending: int
    """Outbox events not yet relayed right after the run."""
    drain_s: float | None
    """How long until none were pending (None: not within the limit)."""
    envoy: dict[str, int]
    """Envoy's licensing-cluster counters over the licence halves."""


async def drained(database_url: str, limit_s: float = 30.0) -> float | None:
    began = time.perf_counter()
    while time.perf_counter() - began < limit_s:
        if (await asyncio.to_thread(licensing_counts, database_url))[2] == 0:
            return time.perf_counter() - began
        await asyncio.sleep(0.1)
    return None


async def measure_licences(
    mesh: LocalMesh, sessions: list[Session], kids: list[str], args: argparse.Namespace
) -> list[LicenceRow]:
    from tests.e2e.test_protected_path import b64url

    s = mesh.settings
    host, port = s.host, s.gateway_port
    body = json.dumps({"kids": [b64url(k) for k in kids], "type": "temporary"}).encode()
    licences = [http_request("POST", x.license_url, body) for x in sessions]
    plans = [http_request("GET", f"{s.gateway_url}/v1/plans")]
    admin = f"http://{s.host}:{s.admin_port}"
    ready = [http_request("GET", f"{admin}/ready")]
    stop = asyncio.Event()
    beats = asyncio.create_task(heartbeat(s.gateway_url, sessions, stop))
    rows = []
    try:
        for concurrency in args.concurrency:
            # Baseline and licences alternate in halves, so a change in the host's load during
            # the run lands on both.
            half = args.seconds / 2
            say(f"measuring ListPlans and licences alternately, {concurrency} clients…")
            g0, t0, _ = await asyncio.to_thread(licensing_counts, mesh.database_url)
            parts: dict[str, list[Result]] = {"base": [], "lic": []}
            envoy = dict.fromkeys(ENVOY_COUNTERS, 0)
            for _ in range(2):
                parts["base"].append(
                    await http_load(
                        "GET /v1/plans (ListPlans)", host, port, plans, half, concurrency
                    )
                )
                e0 = await asyncio.to_thread(envoy_counters, admin, "licensing")
                parts["lic"].append(
                    await http_load(
                        f"POST licenseUrl ({len(kids)} kids)",
                        host,
                        port,
                        licences,
                        half,
                        concurrency,
                    )
                )
                e1 = await asyncio.to_thread(envoy_counters, admin, "licensing")
                for k in ENVOY_COUNTERS:
                    envoy[k] += e1[k] - e0[k]
            base, lic = merge(parts["base"]), merge(parts["lic"])
            g1, t1, pending = await asyncio.to_thread(licensing_counts, mesh.database_url)
            drain_s = await drained(mesh.database_url)
            ceiling = None
            if concurrency == max(args.concurrency):
                say(f"measuring envoy admin /ready, {concurrency} clients…")
                ceiling = await http_load(
                    "envoy admin /ready (client ceiling)",
                    host,
                    s.admin_port,
                    ready,
                    min(args.seconds, 5.0),
                    concurrency,
                )
            rows.append(
                LicenceRow(
                    base, lic, ceiling, g1 - g0, (t1 - t0) - (g1 - g0), pending, drain_s, envoy
                )
            )
    finally:
        stop.set()
        statuses = await beats
    bad = {k: v for k, v in statuses.items() if k != 200}
    print(
        f"heartbeats during the runs: {sum(statuses.values())} sent"
        + (f", not 200: {bad}" if bad else ", all 200")
    )
    return rows


def print_licences(rows: list[LicenceRow]) -> None:
    print(f"\n{'route':<38}{'clients':>8}{'QPS':>9}{'p50 ms':>9}{'p99 ms':>9}  errors")
    for row in rows:
        for r in (row.baseline, row.licence, row.ceiling):
            if r is None:
                continue
            errors = ", ".join(f"{k} x{v}" for k, v in r.errors.items()) or "0"
            print(
                f"{r.label:<38}{r.concurrency:>8}{r.qps:>9.0f}{r.pct(50):>9.2f}{r.pct(99):>9.2f}"
                f"  {errors}"
            )
    print()
    for row in rows:
        lic, base = row.licence, row.baseline
        print(
            f"{lic.concurrency:>3} clients: licence/ListPlans QPS {lic.qps / base.qps:.2f}x, "
            f"p50 {lic.pct(50) / base.pct(50):.1f}x, p99 {lic.pct(99) / base.pct(99):.1f}x"
        )
    print()
    for row in rows:
        drain = f"{row.drain_s:.1f}s" if row.drain_s is not None else "more than 30s"
        lic = row.licence
        print(
            f"{lic.concurrency:>3} clients: the audit has {row.granted} grants and {row.refused} "
            f"refusals; the clients received {lic.answered_200} licences (warm-ups included): "
            f"{row.granted - lic.answered_200} granted, audited and counted against their "
            f"session but never delivered; {row.pending} LicenseAudited events still in the "
            f"outbox at the end, relayed within {drain}"
        )
        e = row.envoy
        print(
            f"{'':>13}envoy, licensing cluster: {e['upstream_rq_total']} upstream requests, "
            f"{e['upstream_rq_per_try_timeout']} per-try timeouts (stream reset: "
            f"{e['upstream_rq_tx_reset']}), {e['upstream_rq_retry']} retries "
            f"({e['upstream_rq_retry_overflow']} not retried: retry budget), "
            f"{e['upstream_rq_504']} 504s"
        )
    if any(row.envoy["upstream_rq_per_try_timeout"] for row in rows):
        print(
            "  (AcquireClearKeyLicense is IDEMPOTENT, so Envoy retries it with a per-try timeout "
            "of the service's 5 s / 3 attempts; a try cut off after licensing committed is a "
            "grant the player never gets)"
        )


def run_licences(args: argparse.Namespace) -> None:
    os.environ["VOD_TRACING"] = "off"
    os.environ["VOD_LICENSING_MAX_LICENSES_PER_SESSION"] = str(10**9)
    from tests.conftest import scratch_dir

    with scratch_dir("vod-licensing-bench-") as home:
        t0 = time.perf_counter()
        mesh = LocalMesh(
            mesh_settings(home, args.log_level),
            say=lambda text: (
                say(f"[{time.perf_counter() - t0:5.1f}s] {text}") if args.verbose else None
            ),
        )
        try:
            began = time.perf_counter()
            say("starting the mesh (postgres, nats, services, edges, envoy)…")
            mesh.start()
            say(f"mesh up in {time.perf_counter() - began:.1f}s; ingesting an encrypted title…")
            title, transcode_s = ingest_protected(mesh, home)
            count = max(args.concurrency)
            say(f"title READY ({transcode_s:.1f}s from upload); {count} premium DASH sessions…")
            sessions = start_sessions(mesh, title, count)
            mpd = httpx.get(sessions[0].manifest_url, timeout=15).text
            kids = sorted(
                {k.replace("-", "") for k in re.findall(r'default_KID="([0-9a-fA-F-]+)"', mpd)}
            )
            from tests.e2e.test_protected_path import licence

            sample = licence(sessions[0].license_url, kids)
            if sample.status_code != 200 or len(sample.json()["keys"]) != len(kids):
                raise RuntimeError(f"a first licence failed: {sample.status_code} {sample.text}")
            print(
                f"\nLicence requests through Envoy ({mesh.settings.gateway_url}): {len(sessions)} "
                f"premium DASH sessions over {math.ceil(len(sessions) / 4)} viewers, client k on "
                f"session k; {len(kids)} kids per request (both video classes and audio), licence "
                f"{len(sample.content)} bytes; {args.seconds:.0f}s per route and client count, in "
                "two halves alternating with the baseline's, each after a 0.5s warm-up; services "
                f"log at {args.log_level}, tracing off"
            )
            print(machine_line("client, Envoy, services, Postgres and NATS share the host"))
            print(LICENCE_WORK)
            print(
                "baseline: GET /v1/plans (public; Envoy transcoding; accounts ListPlans, one "
                "small DB read), same Envoy, same client, same concurrency"
            )
            rows = asyncio.run(measure_licences(mesh, sessions, kids, args))
            print_licences(rows)
        finally:
            mesh.stop()


# -- packaging --------------------------------------------------------------------------------


def run_packaging(args: argparse.Namespace) -> None:
    from tests.transcoding import packaging_bench

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    heights = (1080, 720, 360)
    with tempfile.TemporaryDirectory(prefix="licensing-bench-pkg-") as folder:
        root = Path(folder)
        source = root / "source.mp4"
        say(f"packaging: generating a {args.source_s:.0f}s 1080p test pattern…")
        subprocess.run(
            [ffmpeg, "-v", "error", "-y"]
            + ["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25"]
            + ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
            + ["-t", f"{args.source_s:g}", "-c:v", "libx264", "-preset", "ultrafast"]
            + ["-crf", "18", "-c:a", "aac", "-pix_fmt", "yuv420p", str(source)],
            check=True,
        )
        # measure_packaging encodes the ladder with its module's `_run` before packaging; timing
        # that call (in this process only) gives the encode time of the same renditions.
        encode_s = [0.0]
        original: Callable[[list[str]], None] = packaging_bench._run

        def timed(ffmpeg_args: list[str]) -> None:
            began = time.perf_counter()
            original(ffmpeg_args)
            encode_s[0] += time.perf_counter() - began

        packaging_bench._run = timed
        say(f"packaging: encoding {heights} and packaging, best of {args.rounds}…")
        try:
            report = asyncio.run(
                packaging_bench.measure_packaging(source, root, heights=heights, rounds=args.rounds)
            )
        finally:
            packaging_bench._run = original
    clear, encrypted = report["clear_s"], report["encrypted_s"]
    print(
        f"\nPackaging ({report['source_s']:.0f}s 1080p25 test pattern + AAC, "
        f"{report['rungs']} rungs {'/'.join(map(str, heights))} + audio, "
        f"{report['input_mb']} MB of fragmented MP4 in; best of {args.rounds}; parallelism 2)"
    )
    print(machine_line("ffmpeg and packaging in this process's children, mesh stopped"))
    print(f"  clear packaging      {clear:8.2f} s   (CMAF split + manifests)")
    print(
        f"  encrypted packaging  {encrypted:8.2f} s   (CENC remux + split for DASH, AES-128 "
        "copies for HLS + manifests)"
    )
    print(f"  encrypted / clear    {report['ratio']:8.2f}x  (+{encrypted - clear:.2f} s)")
    print(
        f"  encode of the ladder {encode_s[0]:8.2f} s   (libx264 ultrafast, one rung at a time, "
        "as measure_packaging encodes; the pipeline's veryfast encode is slower still)"
    )
    print(
        f"  encryption's extra packaging time is {(encrypted - clear) / encode_s[0]:.1%} of that "
        f"encode; encrypted packaging is {encrypted / (encode_s[0] + encrypted):.1%} of "
        "encode + encrypted packaging"
    )


# ---------------------------------------------------------------------------------------------


def say(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about a minute")
    parser.add_argument("--part", choices=["all", "licence", "packaging"], default="all")
    parser.add_argument(
        "--seconds", type=float, help="per route and client count (default 8, quick 4)"
    )
    parser.add_argument(
        "--concurrency", help="comma-separated client counts (default 1,32; quick 32)"
    )
    parser.add_argument("--source-s", type=float, help="packaging source (default 30, quick 10)")
    parser.add_argument("--rounds", type=int, help="packaging rounds (default 3, quick 1)")
    parser.add_argument("--log-level", default="INFO", help="services' log level (INFO)")
    parser.add_argument("--verbose", action="store_true", help="the launcher's progress too")
    args = parser.parse_args()
    args.seconds = args.seconds or (4.0 if args.quick else 8.0)
    args.concurrency = [
        int(c) for c in (args.concurrency or ("32" if args.quick else "1,32")).split(",")
    ]
    args.source_s = args.source_s or (10.0 if args.quick else 30.0)
    args.rounds = args.rounds or (1 if args.quick else 3)
    from services.runtime.logs import configure_logging

    configure_logging("licensing-bench", "WARNING")  # the launcher seeds accounts in-process
    # A terminated run still stops the mesh (the `finally` in run_licences).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    began = time.perf_counter()
    if args.part in ("all", "licence"):
        run_licences(args)
    if args.part in ("all", "packaging"):
        run_packaging(args)
    say(f"done in {time.perf_counter() - began:.0f}s")


if __name__ == "__main__":
    main()
