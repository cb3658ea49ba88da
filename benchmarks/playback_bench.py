"""Playback and edge benchmark, in one run on this machine. Prints numbers and ratios against
baselines measured in the same run; asserts nothing.

Part 1, the edges (no mesh): an edge (`mesh.edge`: nginx with `proxy_cache` and `secure_link`,
rendered by `render_nginx_conf`) in front of the transcoding origin (`origin_server` on a
filesystem store, in its own process), against the same nginx binary serving the same files as
plain static files (`location / { root ...; }`, same worker count, sendfile and keep-alive
settings). One Python client drives all of them (raw asyncio `BufferedProtocol`, keep-alive
connections, Content-Length framing, bodies read into one reused buffer):

* throughput (requests/s, MB/s, p50/p99) of cached 6 s CMAF segments: all 720p at 3 Mb/s
  (~2.2 MB), and a player's mix (720p 3 Mb/s, 480p 1.2 Mb/s and 128 kb/s audio, 1:1:2); each
  edge is warmed first (`mesh.edge.prewarm`) so the measured rounds are all hits (counted in its
  access log). The figure is edge MB/s over static MB/s. (With `tcp_nopush on`, which the edge
  config had until this benchmark found it, small cache hits stalled ~44 ms on a delayed ACK and
  the mix ran at 0.43x; when a config still has it, a third row shows the edge without it.)
* hit ratio and byte hit ratio (`mesh.edge_stats` on the edge's access log, after a warm-up) of
  M titles x K segments requested under a Zipf(s) title popularity, with `cache_max_size` at
  two fractions of the library, next to a strict LRU replay of the same requests and the best
  static cache of the same size.

Part 2, playback through the mesh (`mesh.launcher.LocalMesh` on free ports, scratch VOD_HOME):
the admin ingests a 12 s 720p test pattern (720p/480p ladder, 6 s segments) through the gateway
while bench viewers (premium plan) sign up, sign in and get profile tokens with the gRPC stubs.

* StartPlayback p50/p99 and QPS (each start followed by a StopPlayback, so stream limits hold)
  through Envoy with JWT auth and directly at the service (identity headers), against a bare
  grpc.aio PlaybackService answering canned responses of the same sizes, directly and behind a
  second Envoy rendered from the same mesh spec (JWT auth on); CPU per call of every process.
* Heartbeats/s with p50/p99 over ~1000 live sessions: 32 callers at full speed (the issue's
  figure), one caller per session, and an evenly paced (open-loop) rate; and through Envoy.
* Time to first segment: StartPlayback -> per-session HLS master (gateway /play/) -> first
  media playlist -> init segment and first segment from the edge, to the last byte; warm
  (kept-alive connections, edge HIT) and cold (new connections, edge cache emptied: MISS).

    scripts/bench playback [--quick] [--part edge|mesh|all] [--seconds 2] [--grpc-seconds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import grp
import hashlib
import itertools
import os
import platform
import pwd
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "gen" / "python")]

import numpy as np  # noqa: E402

from mesh.edge import EdgeSpec, prewarm, render_nginx_conf  # noqa: E402
from mesh.edge_stats import EdgeStats, edge_stats  # noqa: E402
from mesh.embedded import ManagedProcess, free_port  # noqa: E402
from mesh.nginx import EmbeddedNginx, nginx_binary, prepare_dirs, validate_conf  # noqa: E402
from services.runtime.playback_tokens import edge_url  # noqa: E402

SEGMENT_S = 6
EDGE_SECRET = "bench-edge-secret-" + hashlib.sha256(b"playback-bench").hexdigest()[:24]
MB = 1_000_000

# track -> bits per second of a 6 s segment (sizes vary +-20% around it, like VBR encodes)
TRACKS = {"v720": 3_000_000, "v480": 1_200_000, "a128": 128_000}


LOAD_BEFORE: tuple[float, ...] = ()


def machine_line() -> str:
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        ram = f"{pages / 2**30:.1f} GiB RAM"
    except (ValueError, OSError):
        ram = "RAM unknown"
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in LOAD_BEFORE or os.getloadavg())
    return (
        f"machine: {platform.machine()} {cpu or ''}, {os.cpu_count()} cores, {ram}, "
        f"Python {platform.python_version()}, Linux {platform.release()}; "
        f"client and servers on the same host; load average before the run {load} "
        "(1/5/15 min: anything else running shares the cores)"
    )


def scratch(prefix: str) -> Path:
    """A 0755 temp directory: nginx workers run as `nobody` when started as root."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def pct(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


# ============================================================================================
# Part 1: edges
# ============================================================================================

ORIGIN_SERVER = r"""
import asyncio, sys
sys.path[:0] = sys.argv[3:]
from services.transcoding.store import FileSystemStore
from services.transcoding.web import origin_server

async def published(title, media):
    return True

async def main():
    await origin_server(sys.argv[1], FileSystemStore(sys.argv[2]), published).start()
    print("origin ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


class OriginProcess(ManagedProcess):
    """The transcoding origin (`services.transcoding.web.origin_server`) over a filesystem store,
    every media published, in its own process (so its GIL is not the load client's)."""

    name = "bench-origin"

    def __init__(self, root: Path, port: int, log_path: Path) -> None:
        super().__init__(log_path, startup_timeout=30.0, stop_timeout=5.0)
        self.root = root
        self.port = port

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-c",
            ORIGIN_SERVER,
            f"127.0.0.1:{self.port}",
            str(self.root),
            str(ROOT),
            str(ROOT / "gen" / "python"),
        ]

    def probe_ready(self) -> bool:
        try:
            urllib.request.urlopen(  # noqa: S310 (our own origin)
                f"http://127.0.0.1:{self.port}/titles/x/renditions/y/z", timeout=1
            )
        except urllib.error.HTTPError:
            return True  # it answered (404)
        except OSError:
            return False
        return True


def _user_directive() -> str:
    """Same rule as `mesh.edge`: workers drop to `nobody` when nginx starts as root."""
    if os.geteuid() != 0:
        return ""
    entry = pwd.getpwnam("nobody")
    try:
        group = grp.getgrgid(entry.pw_gid).gr_name
    except KeyError:
        group = str(entry.pw_gid)
    return f"user nobody {group};\n"


class StaticNginx(ManagedProcess):
    """The baseline: the same nginx binary serving `root` as plain static files, with the edge's
    worker count and its sendfile / keep-alive settings, and nginx's default access log."""

    name = "nginx-static"
    stop_signal = signal.SIGQUIT

    def __init__(self, root: Path, port: int, workdir: Path, workers: int) -> None:
        self.workdir = workdir
        super().__init__(workdir / "error.log", startup_timeout=30.0, stop_timeout=10.0)
        self.root = root
        self.port = port
        self.workers = workers

    @property
    def access_log_path(self) -> Path:
        return self.workdir / "access.log"

    def prepare(self) -> None:
        (self.workdir / "tmp").mkdir(parents=True, exist_ok=True)
        (self.workdir / "nginx.conf").write_text(
            f"""{_user_directive()}daemon off;
master_process on;
worker_processes {self.workers};
pid "{self.workdir}/nginx.pid";
error_log "{self.workdir}/error.log" warn;
events {{
    worker_connections 4096;
}}
http {{
    server_tokens off;
    sendfile on;
    tcp_nodelay on;
    keepalive_timeout 65s;
    keepalive_requests 10000;
    default_type application/octet-stream;
    access_log "{self.access_log_path}";
    client_body_temp_path "{self.workdir}/tmp/client_body";
    proxy_temp_path "{self.workdir}/tmp/proxy";
    fastcgi_temp_path "{self.workdir}/tmp/fastcgi";
    uwsgi_temp_path "{self.workdir}/tmp/uwsgi";
    scgi_temp_path "{self.workdir}/tmp/scgi";
    server {{
        listen 127.0.0.1:{self.port};
        location / {{
            root "{self.root}";
        }}
    }}
}}
"""
        )

    def command(self) -> list[str]:
        return [
            str(nginx_binary()),
            "-p",
            f"{self.workdir}/",
            "-c",
            str(self.workdir / "nginx.conf"),
        ]

    def probe_ready(self) -> bool:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=1)  # noqa: S310
        except urllib.error.HTTPError:
            return True  # 403/404 for the directory: it answered
        except OSError:
            return False
        return True


class EdgeVariant(ManagedProcess):
    """An edge on `render_nginx_conf(spec)` with one edit applied (to measure a proposed config
    change next to the shipped one); otherwise run like `EmbeddedNginx`."""

    stop_signal = signal.SIGQUIT

    def __init__(self, spec: EdgeSpec, workdir: Path, edit: Callable[[str], str]) -> None:
        super().__init__(spec.error_log_path, startup_timeout=30.0, stop_timeout=10.0)
        self.name = "nginx-edge-variant"
        self.spec = spec
        self.workdir = workdir
        self.edit = edit

    @property
    def base_url(self) -> str:
        return self.spec.base_url

    def prepare(self) -> None:
        prepare_dirs(self.spec, self.workdir)
        conf = self.workdir / "nginx.conf"
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self.edit(render_nginx_conf(self.spec, run_dir=self.workdir)))
        validate_conf(conf, prefix=self.workdir)

    def command(self) -> list[str]:
        return [
            str(nginx_binary()),
            "-p",
            f"{self.workdir}/",
            "-c",
            str(self.workdir / "nginx.conf"),
        ]

    def probe_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/edge/health", timeout=1) as r:  # noqa: S310
                return r.status == 200
        except OSError:
            return False


# -- the load client ---------------------------------------------------------------------------


class _Conn(asyncio.BufferedProtocol):
    """One keep-alive HTTP/1.1 connection, one request at a time. Bodies land in a
    preallocated buffer that is overwritten (only their length is kept): no per-request
    allocation beyond the header bytes, Content-Length framing only (nginx always sends it)."""

    def __init__(self, bufsize: int) -> None:
        self.buf = bytearray(bufsize)
        self.view = memoryview(self.buf)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.head = bytearray()
        self.remaining = -1
        self.status = 0
        self.length = 0
        self.cache = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        if self.remaining >= 0:
            self.remaining -= nbytes
        else:
            if self.head:
                self.head += self.view[:nbytes]
                end = self.head.find(b"\r\n\r\n")
                if end < 0:
                    return
                header, available = bytes(self.head[:end]), len(self.head)
                self.head = bytearray()
            else:
                end = self.buf.find(b"\r\n\r\n", 0, nbytes)
                if end < 0:
                    self.head = bytearray(self.view[:nbytes])
                    return
                header, available = bytes(self.view[:end]), nbytes
            self._parse(header)
            self.remaining = self.length - (available - end - 4)
        if self.remaining <= 0:
            waiter, self.waiter = self.waiter, None
            error = self.remaining < 0
            self.remaining = -1
            if waiter is not None and not waiter.done():
                if error:
                    waiter.set_exception(ConnectionError("more bytes than Content-Length"))
                else:
                    waiter.set_result(None)

    def _parse(self, header: bytes) -> None:
        lines = header.split(b"\r\n")
        self.status = int(lines[0].split(b" ", 2)[1])
        self.length = 0
        self.cache = ""
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                self.length = int(value)
            elif name == b"x-cache-status":
                self.cache = value.strip().decode()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"connection lost: {exc}"))

    def request(self, data: bytes) -> asyncio.Future[None]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.waiter


@dataclass
class HttpResult:
    label: str
    requests: int
    bytes: int
    seconds: float
    latencies_ms: list[float]
    statuses: Counter[int] = field(default_factory=Counter)
    cache: Counter[str] = field(default_factory=Counter)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def mbps(self) -> float:
        return self.bytes / MB / self.seconds


def request_bytes(target: str) -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: vod-bench\r\n\r\n".encode()


async def http_load(
    label: str,
    port: int,
    requests: Sequence[bytes],
    *,
    connections: int,
    seconds: float | None = None,
    bufsize: int = 1 << 20,
) -> HttpResult:
    """`connections` keep-alive connections to 127.0.0.1:`port` walking `requests` in order
    (each connection takes the next one): once through when `seconds` is None, else cycling
    until `seconds` have passed."""
    loop = asyncio.get_running_loop()
    conns: list[_Conn] = []
    for _ in range(connections):
        _, proto = await loop.create_connection(lambda: _Conn(bufsize), "127.0.0.1", port)
        conns.append(proto)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    cache: Counter[str] = Counter()
    total = 0
    counter = itertools.count()
    count = len(requests)
    perf = time.perf_counter
    stop_at = perf() + seconds if seconds is not None else 0.0

    async def worker(conn: _Conn) -> None:
        nonlocal total
        for i in counter:
            if seconds is None:
                if i >= count:
                    return
            elif perf() >= stop_at:
                return
            began = perf()
            await conn.request(requests[i % count])
            latencies.append((perf() - began) * 1000)
            total += conn.length
            statuses[conn.status] += 1
            if conn.cache:
                cache[conn.cache] += 1

    began = perf()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = perf() - began
    for conn in conns:
        if conn.transport is not None:
            conn.transport.close()
    return HttpResult(label, len(latencies), total, elapsed, latencies, statuses, cache)


# -- the files ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Obj:
    title: str
    media: str
    track: str
    file: str
    size: int

    @property
    def origin_path(self) -> str:
        return f"/titles/{self.title}/renditions/{self.media}/{self.track}/{self.file}"

    def signed(self, edge_base: str, region: str, session: str, expires: int) -> str:
        return edge_url(
            edge_base,
            EDGE_SECRET,
            region=region,
            title=self.title,
            media=self.media,
            track=self.track,
            file=self.file,
            session=session,
            expires=expires,
        )


def write_objects(root: Path, objects: list[Obj], rng: np.random.Generator) -> None:
    """Random bytes laid out as the origin's store expects (`titles/<t>/renditions/...`). One
    random pool, sliced at random offsets: the edge keys on the path, not the content."""
    pool = rng.integers(0, 256, size=max(o.size for o in objects) * 2, dtype=np.uint8).tobytes()
    for obj in objects:
        path = root / obj.origin_path.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        offset = int(rng.integers(0, len(pool) - obj.size))
        path.write_bytes(pool[offset : offset + obj.size])


def segment_size(track: str, rng: np.random.Generator) -> int:
    nominal = TRACKS[track] * SEGMENT_S // 8
    return int(nominal * rng.uniform(0.8, 1.2))


def hot_library(segments: int, rng: np.random.Generator) -> dict[str, list[Obj]]:
    """One title, media `m1`, `segments` 6 s segments of each track."""
    out: dict[str, list[Obj]] = {}
    for track in TRACKS:
        out[track] = [
            Obj("hot-title", "m1", track, f"seg-{n:05d}.m4s", segment_size(track, rng))
            for n in range(1, segments + 1)
        ]
    return out


def zipf_library(titles: int, segments: int, rng: np.random.Generator) -> list[list[Obj]]:
    """`titles` titles, each with `segments` video segments of one rung (720p or 480p, half
    and half at random)."""
    library = []
    for t in range(titles):
        track = "v720" if rng.random() < 0.5 else "v480"
        library.append(
            [
                Obj(f"zipf-{t:04d}", "m1", track, f"seg-{n:05d}.m4s", segment_size(track, rng))
                for n in range(1, segments + 1)
            ]
        )
    return library


def zipf_weights(n: int, s: float) -> np.ndarray:
    ranks = np.arange(1, n + 1, dtype=float)
    weights = 1.0 / ranks**s
    return weights / weights.sum()


def best_static_hit_ratio(
    library: list[list[Obj]], weights: np.ndarray, cap_bytes: int
) -> tuple[float, float]:
    """(hit ratio, byte hit ratio) of an oracle cache holding the most requested objects that
    fit in `cap_bytes` (requests: title ~ weights, segment uniform within the title)."""
    objs = [(weights[t] / len(segs), o.size) for t, segs in enumerate(library) for o in segs]
    objs.sort(key=lambda x: -x[0])
    used = 0
    hit = byte_hit = 0.0
    total_bytes = sum(p * size for p, size in objs)
    for p, size in objs:
        if used + size > cap_bytes:
            continue
        used += size
        hit += p
        byte_hit += p * size
    return hit, byte_hit / total_bytes


def lru_hit_ratio(warm: list[Obj], measured: list[Obj], cap_bytes: int) -> tuple[float, float]:
    """(hit ratio, byte hit ratio) of a strict byte-capped LRU over `measured`, after `warm`:
    what nginx's cache converges to when its manager keeps up (see the notes)."""
    cache: OrderedDict[Obj, int] = OrderedDict()
    used = hits = hit_bytes = total_bytes = 0

    def access(obj: Obj) -> bool:
        nonlocal used
        if obj in cache:
            cache.move_to_end(obj)
            return True
        cache[obj] = obj.size
        used += obj.size
        while used > cap_bytes and cache:
            _, size = cache.popitem(last=False)
            used -= size
        return False

    for obj in warm:
        access(obj)
    for obj in measured:
        total_bytes += obj.size
        if access(obj):
            hits += 1
            hit_bytes += obj.size
    return hits / len(measured), hit_bytes / total_bytes


# -- the runs ----------------------------------------------------------------------------------


def wait_log_lines(path: Path, count: int, timeout: float = 10.0) -> EdgeStats:
    """nginx writes a log line after the response: wait until the log holds `count` lines."""
    deadline = time.monotonic() + timeout
    while True:
        stats = edge_stats(path)
        if stats.requests >= count or time.monotonic() > deadline:
            return stats
        time.sleep(0.05)


def truncate(path: Path) -> None:
    # nginx opens its logs with O_APPEND, so truncating in place is safe.
    with path.open("r+b") as fh:
        fh.truncate(0)


@dataclass
class ZipfRow:
    label: str
    cap_mib: int
    stats: EdgeStats
    lru: tuple[float, float]
    oracle: tuple[float, float]
    result: HttpResult
    disk_bytes: int


@dataclass
class EdgeReport:
    # workload -> server -> merged result, plus the edge access-log counts of the measured rounds
    throughput: list[tuple[str, dict[str, HttpResult], dict[str, EdgeStats]]] = field(
        default_factory=list
    )
    zipf: list[ZipfRow] = field(default_factory=list)
    sequential: list[tuple[str, dict[str, HttpResult]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    library_bytes: int = 0
    zipf_objects: int = 0
    zipf_requests: tuple[int, int] = (0, 0)
    variant: str = ""


NOPUSH_ON = "tcp_nopush on;"


def run_edges(args: argparse.Namespace) -> EdgeReport:
    report = EdgeReport()
    workers = args.nginx_workers or os.cpu_count() or 1
    rng = np.random.default_rng(20240601)
    work = scratch("vod-bench-edge-")
    objects_root = work / "objects"
    started: list[ManagedProcess] = []

    def edge_spec(name: str, origin_port: int, **overrides: object) -> EdgeSpec:
        return EdgeSpec(
            region="US",
            host="127.0.0.1",
            port=free_port(),
            origin_host="127.0.0.1",
            origin_port=origin_port,
            secret=EDGE_SECRET,
            cache_dir=work / name / "cache",
            log_dir=work / name / "logs",
            worker_processes=workers,
            **overrides,  # type: ignore[arg-type]
        )

    def start(proc: ManagedProcess) -> ManagedProcess:
        started.append(proc)
        return proc.start()

    try:
        say("part 1: writing the segment files…")
        hot = hot_library(args.hot_segments, rng)
        library = zipf_library(args.zipf_titles, args.zipf_segments, rng)
        every = [o for objs in hot.values() for o in objs] + [o for t in library for o in t]
        write_objects(objects_root, every, rng)
        report.library_bytes = sum(o.size for t in library for o in t)
        report.zipf_objects = sum(len(t) for t in library)

        origin = start(OriginProcess(objects_root, free_port(), work / "origin.log"))
        assert isinstance(origin, OriginProcess)
        static = start(StaticNginx(objects_root, free_port(), work / "static", workers))
        assert isinstance(static, StaticNginx)

        # -- throughput of cached segments: edge vs static ------------------------------------
        spec = edge_spec("edge-hot", origin.port)
        start(EmbeddedNginx(spec, work / "edge-hot" / "run"))
        servers: dict[str, tuple[int, str]] = {
            "static": (static.port, f"http://127.0.0.1:{static.port}"),
            "edge": (spec.port, spec.base_url),
        }
        logs = {"edge": spec.access_log_path}
        shipped = render_nginx_conf(spec)
        if args.variant and NOPUSH_ON in shipped:
            vspec = edge_spec("edge-variant", origin.port)
            start(
                EdgeVariant(
                    vspec,
                    work / "edge-variant" / "run",
                    lambda text: text.replace(NOPUSH_ON, "tcp_nopush off;"),
                )
            )
            report.variant = "edge, tcp_nopush off"
            servers[report.variant] = (vspec.port, vspec.base_url)
            logs[report.variant] = vspec.access_log_path
        expires = int(time.time()) + 3600
        hot_all = [o for objs in hot.values() for o in objs]
        # The token does not depend on the edge's address: one relative URL serves every edge.
        signed = {
            o: relative(o.signed(spec.base_url, "US", "bench-session", expires)) for o in hot_all
        }
        for name, (_, base) in servers.items():
            if name == "static":
                continue
            say(f"part 1: warming {name} with {len(hot_all)} objects…")
            warm = asyncio.run(prewarm(base, list(signed.values()), concurrency=8))
            report.notes.append(
                f"{name} warmed with {warm.objects} objects ({warm.bytes / MB:.0f} MB, "
                f"{warm.already_cached} already cached) before measuring"
            )
        check_same_bytes(servers, signed, objects_root, hot_all[:: max(1, len(hot_all) // 6)])
        os.sync()  # no writeback of the files just written while measuring

        def mix(kind: str) -> list[Obj]:
            if kind == "720p":
                pool = hot["v720"]
                return [pool[int(i)] for i in rng.integers(0, len(pool), 4000)]
            picks = []
            for _ in range(4000):
                r = rng.random()
                track = "v720" if r < 0.25 else "v480" if r < 0.5 else "a128"
                pool = hot[track]
                picks.append(pool[int(rng.integers(0, len(pool)))])
            return picks

        for kind, label in (
            ("720p", "720p 3 Mb/s (~2.2 MB)"),
            ("mix", "mix 720p/480p/audio 1:1:2"),
        ):
            order = mix(kind)
            reqs = {
                name: [
                    request_bytes(o.origin_path if name == "static" else signed[o]) for o in order
                ]
                for name in servers
            }
            runs: dict[str, list[HttpResult]] = {name: [] for name in servers}
            for name, (port, _) in servers.items():  # connections and page cache warm
                asyncio.run(
                    http_load(name, port, reqs[name][:200], connections=args.http_connections)
                )
            for path in logs.values():
                wait_log_lines(path, 0, timeout=0.3)
                truncate(path)
            for r in range(args.rounds):
                say(f"part 1: {label}, round {r + 1}/{args.rounds}: {', '.join(servers)}…")
                for name, (port, _) in servers.items():
                    runs[name].append(
                        asyncio.run(
                            http_load(
                                name,
                                port,
                                reqs[name],
                                connections=args.http_connections,
                                seconds=args.seconds,
                            )
                        )
                    )
            merged = {name: merge(results) for name, results in runs.items()}
            counted = {
                name: wait_log_lines(path, merged[name].requests) for name, path in logs.items()
            }
            report.throughput.append((label, merged, counted))

        # -- one connection, one request at a time: per-object latency, no queueing -----------
        say("part 1: one connection, sequential requests, per track…")
        for track, objs in hot.items():
            order = [objs[i % len(objs)] for i in range(args.sequential)]
            row: dict[str, HttpResult] = {}
            for name, (port, _) in servers.items():
                reqs = [
                    request_bytes(o.origin_path if name == "static" else signed[o]) for o in order
                ]
                asyncio.run(http_load(name, port, reqs[:5], connections=1))
                row[name] = asyncio.run(http_load(name, port, reqs, connections=1))
            report.sequential.append((track, row))

        # -- Zipf hit ratio -------------------------------------------------------------------
        weights = zipf_weights(len(library), args.zipf_s)
        warm_n, measure_n = args.zipf_warmup, args.zipf_requests
        report.zipf_requests = (warm_n, measure_n)
        titles = rng.choice(len(library), size=warm_n + measure_n, p=weights)
        segs = rng.integers(0, args.zipf_segments, size=warm_n + measure_n)
        order = [library[int(t)][int(k)] for t, k in zip(titles, segs, strict=True)]
        for fraction in args.cache_fractions:
            cap_mib = max(1, int(report.library_bytes * fraction / 2**20))
            name = f"edge-zipf-{cap_mib}m"
            zspec = edge_spec(name, origin.port, cache_max_size=f"{cap_mib}m")
            zedge = start(EmbeddedNginx(zspec, work / name / "run"))
            reqs_z = [
                request_bytes(relative(o.signed(zspec.base_url, "US", "zipf-session", expires)))
                for o in order
            ]
            say(
                f"part 1: Zipf s={args.zipf_s}, cache {cap_mib} MiB: {warm_n} warm-up + "
                f"{measure_n} measured requests…"
            )
            asyncio.run(
                http_load("warm", zspec.port, reqs_z[:warm_n], connections=args.zipf_connections)
            )
            wait_log_lines(zspec.access_log_path, warm_n)
            truncate(zspec.access_log_path)
            result = asyncio.run(
                http_load("zipf", zspec.port, reqs_z[warm_n:], connections=args.zipf_connections)
            )
            stats = wait_log_lines(zspec.access_log_path, measure_n)
            report.zipf.append(
                ZipfRow(
                    f"{fraction:.0%} of library",
                    cap_mib,
                    stats,
                    lru_hit_ratio(order[:warm_n], order[warm_n:], cap_mib * 2**20),
                    best_static_hit_ratio(library, weights, cap_mib * 2**20),
                    result,
                    du(zspec.cache_dir),
                )
            )
            zedge.stop()
            shutil.rmtree(zspec.cache_dir, ignore_errors=True)
    finally:
        for proc in reversed(started):
            proc.stop()
        shutil.rmtree(work, ignore_errors=True)
    return report


def relative(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def merge(runs: list[HttpResult]) -> HttpResult:
    out = HttpResult(runs[0].label, 0, 0, 0.0, [])
    for r in runs:
        out.requests += r.requests
        out.bytes += r.bytes
        out.seconds += r.seconds
        out.latencies_ms += r.latencies_ms
        out.statuses.update(r.statuses)
        out.cache.update(r.cache)
    return out


def check_same_bytes(
    servers: dict[str, tuple[int, str]], signed: dict[Obj, str], root: Path, sample: list[Obj]
) -> None:
    """Every server sends the same bytes for an object (so every run moves the same data)."""
    import httpx

    with httpx.Client(timeout=30) as http:
        for obj in sample:
            for name, (_, base) in servers.items():
                path = obj.origin_path if name == "static" else signed[obj]
                body = http.get(base + path).content
                if body != (root / obj.origin_path.lstrip("/")).read_bytes():
                    raise RuntimeError(f"{name} sent other bytes for {obj.origin_path}")


def print_edges(report: EdgeReport, args: argparse.Namespace) -> None:
    workers = args.nginx_workers or os.cpu_count()
    print("\n== Part 1: edges (nginx proxy_cache + secure_link) vs the same nginx serving files")
    print(machine_line())
    print(
        f"cached 6 s segments; {args.http_connections} keep-alive connections from one Python "
        f"process; {args.rounds} alternating round(s) x {args.seconds:g}s per server; "
        f"nginx {workers} worker(s) each"
    )
    print(
        f"\n{'workload':<27}{'server':<22}{'req/s':>8}{'MB/s':>8}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'hits':>8}{'MB/s vs static':>16}"
    )
    for label, results, counted in report.throughput:
        base = results["static"]
        for i, (name, r) in enumerate(results.items()):
            stats = counted.get(name)
            hit = f"{100 * stats.hit_ratio:.1f}%" if stats and stats.requests else "-"
            ratio = "" if name == "static" else f"{r.mbps / base.mbps:.2f}x"
            print(
                f"{label if i == 0 else '':<27}{name:<22}{r.rps:>8.0f}{r.mbps:>8.0f}"
                f"{pct(r.latencies_ms, 50):>8.2f}{pct(r.latencies_ms, 99):>8.2f}{hit:>8}"
                f"{ratio:>16}"
            )
            bad = {code: n for code, n in r.statuses.items() if code != 200}
            if bad:
                print(f"{'':<27}!! non-200 answers from {name}: {bad}")
    if report.sequential:
        names = list(report.sequential[0][1])
        print(
            f"\none keep-alive connection, one request at a time ({args.sequential} per track), "
            "p50 / p99 ms per request"
        )
        print(f"{'track (6 s segment)':<27}" + "".join(f"{n:>24}" for n in names))
        for track, row in report.sequential:
            size = sum(r.bytes for r in row.values()) / sum(r.requests for r in row.values())
            label = f"{track} (~{size / 1000:.0f} kB)"
            cells = "".join(
                f"{f'{pct(r.latencies_ms, 50):.2f} / {pct(r.latencies_ms, 99):.2f}':>24}"
                for r in row.values()
            )
            print(f"{label:<27}{cells}")
    warm_n, measure_n = report.zipf_requests
    print(
        f"\nhit ratio, Zipf(s={args.zipf_s}) title popularity: {args.zipf_titles} titles x "
        f"{args.zipf_segments} segments (720p or 480p per title; {report.zipf_objects} objects, "
        f"{report.library_bytes / 2**20:.0f} MiB), segment uniform within a title, "
        f"{warm_n} warm-up then {measure_n} measured requests on {args.zipf_connections} "
        "connections; edge counts from its access log (mesh.edge_stats)"
    )
    print(
        f"{'cache_max_size':<24}{'edge hit':>9}{'byte':>7}{'on disk':>10}"
        f"{'LRU model':>11}{'byte':>7}{'oracle':>8}{'byte':>7}{'req/s':>7}{'p99 ms':>8}"
    )
    for z in report.zipf:
        print(
            f"{f'{z.cap_mib} MiB ({z.label})':<24}{100 * z.stats.hit_ratio:>8.1f}%"
            f"{100 * z.stats.byte_hit_ratio:>6.1f}%{z.disk_bytes / 2**20:>6.0f} MiB"
            f"{100 * z.lru[0]:>10.1f}%{100 * z.lru[1]:>6.1f}%"
            f"{100 * z.oracle[0]:>7.1f}%{100 * z.oracle[1]:>6.1f}%"
            f"{z.result.rps:>7.0f}{pct(z.result.latencies_ms, 99):>8.1f}"
        )
    print("\nnotes:")
    notes = [
        "'MB/s vs static' is the figure (aim >= 0.8): the edge's MB/s over the static "
        "server's in the same run; 'hits' = HITs over requests in that edge's access log for "
        "the measured rounds (100% = no origin traffic while measuring)",
        "the load client is one Python process sharing the cores with nginx: on a small "
        "machine it is itself a bottleneck (every body is copied out of the kernel into one "
        "reused buffer), so absolute req/s and MB/s are the client's ceiling as much as "
        "nginx's; read the ratios",
        "static logs nginx's default combined line per request, the edge its JSON line; "
        "both use sendfile, tcp_nodelay (no tcp_nopush) and keepalive_requests 10000",
    ]
    if report.variant:
        notes.append(
            f"'{report.variant}' is the shipped mesh.edge config with that one directive "
            "changed (rendered by render_nginx_conf, edited in this benchmark only). With "
            "tcp_nopush on, cache hits of some sizes (the ~96 kB audio segment every time) wait "
            "~40 ms per request on a kept-alive connection (a delayed-ACK stall; curl and httpx "
            "see it too), which the static server with the same directive does not: see the "
            "one-connection table"
        )
    notes += [
        "'on disk' is the edge's cache directory right after the measured requests: nginx's "
        "cache manager enforces max_size only when it wakes, at most every 10 s when under the "
        "cap, so within a short run the cache grows past the cap and the edge's hit ratio is "
        "that of a larger cache. 'LRU model' replays the same requests through a strict "
        "byte-capped LRU: what the edge converges to when a 10 s fill is small against the "
        "cache (production sizes); 'oracle' is the best static cache of the same size (the "
        "most requested objects that fit)",
        *report.notes,
    ]
    for note in notes:
        print(f"  - {note}")


# ============================================================================================
# Part 2: playback through the mesh
# ============================================================================================

PASSWORD = "playback bench viewer 42"
CLIP_S = 12
LADDER = [{"height": 720, "bitrateBps": 3_000_000}, {"height": 480, "bitrateBps": 1_200_000}]

ECHO_PLAYBACK = r"""
import asyncio, struct, sys
import grpc
sys.path[:0] = [sys.argv[2]]
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from vod.playback.v1 import playback_pb2 as pb, playback_pb2_grpc

def messages(data):
    out = []
    while data:
        (n,) = struct.unpack(">I", data[:4])
        out.append(data[4 : 4 + n])
        data = data[4 + n :]
    return out

class Echo(playback_pb2_grpc.PlaybackServiceServicer):
    def __init__(self, start, beat, stop):
        self.start, self.beat, self.stop = start, beat, stop
    async def StartPlayback(self, request, context):
        return self.start
    async def Heartbeat(self, request, context):
        return self.beat
    async def StopPlayback(self, request, context):
        return self.stop

async def main():
    with open(sys.argv[3], "rb") as fh:
        start, beat, stop = messages(fh.read())
    server = grpc.aio.server()
    playback_pb2_grpc.add_PlaybackServiceServicer_to_server(
        Echo(
            pb.StartPlaybackResponse.FromString(start),
            pb.HeartbeatResponse.FromString(beat),
            pb.StopPlaybackResponse.FromString(stop),
        ),
        server,
    )
    checks = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checks, server)
    await checks.set("vod.playback.v1.PlaybackService", health_pb2.HealthCheckResponse.SERVING)
    await checks.set("", health_pb2.HealthCheckResponse.SERVING)
    server.add_insecure_port(sys.argv[1])
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()

asyncio.run(main())
"""


Metadata = tuple[tuple[str, str], ...]
Sessions = list[tuple[str, Metadata]]
"""Session names with the metadata to call as their owner."""


@dataclass(frozen=True)
class Viewer:
    user: str
    profile: str
    token: str = field(repr=False, default="")
    plan: str = "plans/premium"

    def bearer(self) -> Metadata:
        return (("authorization", f"Bearer {self.token}"),)

    def identity(self, region: str) -> Metadata:
        """What the front door would forward for this viewer's profile token."""
        return (
            ("x-vod-user", self.user),
            ("x-vod-profile", self.profile),
            ("x-vod-plan", self.plan),
            ("x-vod-roles", "viewer"),
            ("x-vod-maturity", "MATURITY_LIMIT_ALL"),
            ("x-vod-region", region),
        )


@dataclass
class RpcResult:
    label: str
    calls: int
    seconds: float
    latencies_ms: list[float]
    errors: Counter[str] = field(default_factory=Counter)
    stop_ms: list[float] = field(default_factory=list)
    note: str = ""
    callers: int = 0
    cpu: str = ""

    @property
    def qps(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0


def channels(target: str, count: int) -> list[object]:
    import grpc

    # A local subchannel pool each: otherwise identical channels share one HTTP/2 connection,
    # and one connection is served by one Envoy worker thread.
    return [
        grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(count)
    ]


async def start_stop_load(
    label: str,
    target: str,
    viewers: list[Viewer],
    metadata: Callable[[Viewer], Metadata],
    title: str,
    *,
    seconds: float,
    concurrency: int,
    connections: int,
    roots: dict[str, int] | None = None,
) -> RpcResult:
    """`concurrency` callers, caller k as viewers[k]: StartPlayback (timed) then StopPlayback
    (timed apart), in a loop, so no viewer ever holds more than one stream."""
    import grpc
    from vod.playback.v1 import playback_pb2 as ppb
    from vod.playback.v1 import playback_pb2_grpc

    chans = channels(target, connections)
    stubs = [playback_pb2_grpc.PlaybackServiceStub(c) for c in chans]
    latencies: list[float] = []
    stops: list[float] = []
    errors: Counter[str] = Counter()
    perf = time.perf_counter

    async def one(k: int, timed: bool) -> None:
        viewer = viewers[k % len(viewers)]
        md = metadata(viewer)
        stub = stubs[k % len(stubs)]
        request = ppb.StartPlaybackRequest(
            profile=viewer.profile,
            title=title,
            device_type=ppb.DEVICE_TYPE_WEB,
            device_id=f"bench-{k}",
            preferred_protocol=ppb.STREAMING_PROTOCOL_HLS,
        )
        began = perf()
        try:
            started = await stub.StartPlayback(request, metadata=md, timeout=10)
        except grpc.aio.AioRpcError as exc:
            errors[f"start {exc.code().name}"] += 1
            await asyncio.sleep(0.05)
            return
        mid = perf()
        try:
            await stub.StopPlayback(
                ppb.StopPlaybackRequest(session=started.session.name), metadata=md, timeout=10
            )
        except grpc.aio.AioRpcError as exc:
            errors[f"stop {exc.code().name}"] += 1
        if timed:
            latencies.append((mid - began) * 1000)
            stops.append((perf() - mid) * 1000)

    try:
        await asyncio.gather(*(one(k, False) for k in range(concurrency)))  # connect, warm up
        stop_at = perf() + seconds

        async def worker(k: int) -> None:
            while perf() < stop_at:
                await one(k, True)

        before = cpu_snapshot(roots or {})
        began = perf()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        elapsed = perf() - began
        cpu = cpu_per_call(before, cpu_snapshot(roots or {}), len(latencies))
    finally:
        for c in chans:
            await c.close()  # type: ignore[attr-defined]
    return RpcResult(label, len(latencies), elapsed, latencies, errors, stops, cpu=cpu)


async def heartbeat_load(
    label: str,
    target: str,
    sessions: Sessions,
    *,
    seconds: float,
    callers: int,
    connections: int,
    note: str = "",
    roots: dict[str, int] | None = None,
) -> RpcResult:
    """`callers` concurrent callers heart-beating `sessions` (name, metadata) round-robin (caller
    k takes sessions k, k + callers, ...), as fast as the answers come."""
    import grpc
    from google.protobuf import duration_pb2
    from vod.playback.v1 import playback_pb2 as ppb
    from vod.playback.v1 import playback_pb2_grpc

    chans = channels(target, connections)
    stubs = [playback_pb2_grpc.PlaybackServiceStub(c) for c in chans]
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    perf = time.perf_counter
    position = duration_pb2.Duration(seconds=3)
    requests = [
        (ppb.HeartbeatRequest(session=name, position=position, state=ppb.PLAYER_STATE_PLAYING), md)
        for name, md in sessions
    ]

    async def beat(k: int, i: int, timed: bool) -> None:
        request, md = requests[i % len(requests)]
        began = perf()
        try:
            await stubs[k % len(stubs)].Heartbeat(request, metadata=md, timeout=10)
        except grpc.aio.AioRpcError as exc:
            errors[exc.code().name] += 1
            return
        if timed:
            latencies.append((perf() - began) * 1000)

    try:
        await asyncio.gather(*(beat(k, k, False) for k in range(min(callers, 64))))
        stop_at = perf() + seconds

        async def worker(k: int) -> None:
            i = k
            while perf() < stop_at:
                await beat(k, i, True)
                i += callers

        before = cpu_snapshot(roots or {})
        began = perf()
        await asyncio.gather(*(worker(k) for k in range(callers)))
        elapsed = perf() - began
        cpu = cpu_per_call(before, cpu_snapshot(roots or {}), len(latencies))
    finally:
        for c in chans:
            await c.close()  # type: ignore[attr-defined]
    return RpcResult(
        label, len(latencies), elapsed, latencies, errors, note=note, callers=callers, cpu=cpu
    )


async def heartbeat_open_loop(
    label: str,
    target: str,
    sessions: Sessions,
    *,
    rate: float,
    seconds: float,
    connections: int,
    note: str = "",
    roots: dict[str, int] | None = None,
) -> RpcResult:
    """Heartbeats sent at a fixed `rate` spread evenly in time (open loop: a slow answer does
    not delay the next send), sessions in turn. Latency counts from the scheduled send time, so
    queueing in the client is not hidden."""
    import grpc
    from google.protobuf import duration_pb2
    from vod.playback.v1 import playback_pb2 as ppb
    from vod.playback.v1 import playback_pb2_grpc

    chans = channels(target, connections)
    stubs = [playback_pb2_grpc.PlaybackServiceStub(c) for c in chans]
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    perf = time.perf_counter
    position = duration_pb2.Duration(seconds=3)
    requests = [
        (ppb.HeartbeatRequest(session=name, position=position, state=ppb.PLAYER_STATE_PLAYING), md)
        for name, md in sessions
    ]

    async def beat(i: int, due: float) -> None:
        request, md = requests[i % len(requests)]
        try:
            await stubs[i % len(stubs)].Heartbeat(request, metadata=md, timeout=10)
        except grpc.aio.AioRpcError as exc:
            errors[exc.code().name] += 1
            return
        latencies.append((perf() - due) * 1000)

    tasks: list[asyncio.Task[None]] = []
    total = int(rate * seconds)
    try:
        await asyncio.gather(*(beat(i, perf()) for i in range(min(64, len(requests)))))
        latencies.clear()
        before = cpu_snapshot(roots or {})
        began = perf()
        sent = 0
        while sent < total:
            now = perf()
            due_count = min(total, int((now - began) * rate) + 1)
            while sent < due_count:
                tasks.append(asyncio.create_task(beat(sent, began + sent / rate)))
                sent += 1
            await asyncio.sleep(max(0.0, began + sent / rate - perf()))
        elapsed = perf() - began  # the sending window: beats/s is the rate answered in it
        await asyncio.gather(*tasks)
        cpu = cpu_per_call(before, cpu_snapshot(roots or {}), len(latencies))
    finally:
        for c in chans:
            await c.close()  # type: ignore[attr-defined]
    return RpcResult(
        label, len(latencies), elapsed, latencies, errors, note=note, callers=0, cpu=cpu
    )


async def start_sessions(
    target: str,
    viewers: list[Viewer],
    metadata: Callable[[Viewer], Metadata],
    title: str,
    per_viewer: int,
    concurrency: int = 16,
) -> tuple[Sessions, float, Counter[str]]:
    """Start `per_viewer` sessions for each viewer (devices d0, d1, ...); returns the sessions
    with the metadata to heart-beat them, the seconds it took and the errors. Sessions started
    so far get a heartbeat every 8 s meanwhile, as their players would send, so none runs out
    of its lease (three heartbeat intervals) before the measured runs."""
    import grpc
    from google.protobuf import duration_pb2
    from vod.playback.v1 import playback_pb2 as ppb
    from vod.playback.v1 import playback_pb2_grpc

    jobs = [(v, d) for v in viewers for d in range(per_viewer)]
    out: Sessions = []
    errors: Counter[str] = Counter()
    chans = channels(target, 4)
    stubs = [playback_pb2_grpc.PlaybackServiceStub(c) for c in chans]
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int, viewer: Viewer, device: int) -> None:
        md = metadata(viewer)
        async with gate:
            try:
                started = await stubs[i % len(stubs)].StartPlayback(
                    ppb.StartPlaybackRequest(
                        profile=viewer.profile,
                        title=title,
                        device_type=ppb.DEVICE_TYPE_TV,
                        device_id=f"d{device}",
                        preferred_protocol=ppb.STREAMING_PROTOCOL_HLS,
                    ),
                    metadata=md,
                    timeout=30,
                )
            except grpc.aio.AioRpcError as exc:
                errors[exc.code().name] += 1
                return
        out.append((started.session.name, md))

    async def keep_alive() -> None:
        beats = asyncio.Semaphore(32)

        async def beat(i: int, name: str, md: Metadata) -> None:
            async with beats:
                try:
                    await stubs[i % len(stubs)].Heartbeat(
                        ppb.HeartbeatRequest(
                            session=name, position=duration_pb2.Duration(seconds=1)
                        ),
                        metadata=md,
                        timeout=30,
                    )
                except grpc.aio.AioRpcError as exc:
                    errors[f"keep-alive heartbeat {exc.code().name}"] += 1

        while True:
            await asyncio.sleep(8)
            await asyncio.gather(*(beat(i, n, m) for i, (n, m) in enumerate(list(out))))

    began = time.perf_counter()
    keeper = asyncio.create_task(keep_alive())
    try:
        await asyncio.gather(*(one(i, v, d) for i, (v, d) in enumerate(jobs)))
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
        for c in chans:
            await c.close()  # type: ignore[attr-defined]
    return out, time.perf_counter() - began, errors


# -- time to first segment ---------------------------------------------------------------------


@dataclass
class FirstSegment:
    total_ms: float
    stages_ms: dict[str, float]
    cache: str
    segment_bytes: int


async def first_segment(
    stub: object, viewer: Viewer, title: str, http: object, device: str
) -> FirstSegment:
    """StartPlayback -> HLS master -> first variant's media playlist -> init segment -> first
    media segment's last byte, as a player starting at the first listed variant does."""
    from urllib.parse import urljoin

    import m3u8
    from vod.playback.v1 import playback_pb2 as ppb

    perf = time.perf_counter
    stages: dict[str, float] = {}
    began = mark = perf()

    def lap(name: str) -> None:
        nonlocal mark
        now = perf()
        stages[name] = (now - mark) * 1000
        mark = now

    started = await stub.StartPlayback(  # type: ignore[attr-defined]
        ppb.StartPlaybackRequest(
            profile=viewer.profile,
            title=title,
            device_type=ppb.DEVICE_TYPE_WEB,
            device_id=device,
            preferred_protocol=ppb.STREAMING_PROTOCOL_HLS,
        ),
        metadata=viewer.bearer(),
        timeout=10,
    )
    lap("start")
    session = started.session
    master_resp = await http.get(session.manifest_url)  # type: ignore[attr-defined]
    master_resp.raise_for_status()
    master = m3u8.loads(master_resp.text)
    lap("master")
    media_url = urljoin(session.manifest_url, master.playlists[0].uri)
    media_resp = await http.get(media_url)  # type: ignore[attr-defined]
    media_resp.raise_for_status()
    media = m3u8.loads(media_resp.text)
    lap("media playlist")
    if media.segment_map:
        init = await http.get(urljoin(media_url, media.segment_map[0].uri))  # type: ignore[attr-defined]
        init.raise_for_status()
        lap("init")
    size = 0
    async with http.stream("GET", urljoin(media_url, media.segments[0].uri)) as resp:  # type: ignore[attr-defined]
        resp.raise_for_status()
        cache = resp.headers.get("x-cache-status", "-")
        async for chunk in resp.aiter_raw():
            size += len(chunk)
    lap("segment")
    total = (perf() - began) * 1000
    await stub.StopPlayback(  # type: ignore[attr-defined]
        ppb.StopPlaybackRequest(session=session.name), metadata=viewer.bearer(), timeout=10
    )
    return FirstSegment(total, stages, cache, size)


def purge_cache(cache_dir: Path) -> None:
    """Remove the edge's cached objects (nginx treats a missing cache file as a MISS)."""
    for path in cache_dir.rglob("*"):
        if path.is_file():
            path.unlink(missing_ok=True)


async def time_to_first_segment(
    gateway: str, viewer: Viewer, title: str, runs: int, cold: bool, cache_dir: Path
) -> list[FirstSegment]:
    import grpc
    import httpx
    from vod.playback.v1 import playback_pb2_grpc

    out: list[FirstSegment] = []
    if cold:
        for i in range(runs):
            purge_cache(cache_dir)
            async with (
                grpc.aio.insecure_channel(
                    gateway, options=[("grpc.use_local_subchannel_pool", 1)]
                ) as channel,
                httpx.AsyncClient(timeout=30) as http,
            ):
                stub = playback_pb2_grpc.PlaybackServiceStub(channel)
                out.append(await first_segment(stub, viewer, title, http, f"ttfs-cold-{i}"))
        return out
    async with (
        grpc.aio.insecure_channel(gateway) as channel,
        httpx.AsyncClient(timeout=30) as http,
    ):
        stub = playback_pb2_grpc.PlaybackServiceStub(channel)
        await first_segment(stub, viewer, title, http, "ttfs-warm")  # fills the edge, connects
        for i in range(runs):
            out.append(await first_segment(stub, viewer, title, http, f"ttfs-warm-{i}"))
    return out


# -- set-up ------------------------------------------------------------------------------------


def make_clip(path: Path) -> bytes:
    import imageio_ffmpeg

    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error",
            "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=24",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-t", str(CLIP_S), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-shortest", str(path),
        ],
        check=True,
        timeout=120,
    )  # fmt: skip
    return path.read_bytes()


def ingest(gateway_url: str, admin: dict[str, str], work: Path, regions: Sequence[str]) -> str:
    """Create a title available now in `regions`, upload the clip, transcode it (720p/480p, 6 s
    segments) and wait until the catalog says its media is READY; returns the title's name."""
    import uuid

    import httpx

    data = make_clip(work / "clip.mp4")
    with httpx.Client(base_url=gateway_url, timeout=30, headers=admin) as http:
        created = http.post(
            "/v1/titles",
            json={
                "type": "TITLE_TYPE_MOVIE",
                "displayName": f"Playback Bench {uuid.uuid4().hex[:6]}",
                "maturityRating": "MATURITY_RATING_PG",
                "availability": [
                    {"regionCode": r, "startTime": "2020-01-01T00:00:00Z"} for r in regions
                ],
            },
        )
        created.raise_for_status()
        title = created.json()["title"]["name"]
        upload_id = f"bench-{uuid.uuid4().hex[:10]}"
        put = http.put(
            f"/upload/v1/uploads/{upload_id}",
            params={
                "title": title,
                "file_name": "clip.mp4",
                "size_bytes": len(data),
                "content_type": "video/mp4",
                "sha256": hashlib.sha256(data).hexdigest(),
            },
            content=data,
            headers={"Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"},
        )
        if put.status_code != 200:
            raise RuntimeError(f"upload failed: {put.status_code} {put.text}")
        job = http.post(
            "/v1/jobs",
            json={
                "upload": f"uploads/{upload_id}",
                "options": {"renditions": LADDER, "segmentDurationSeconds": SEGMENT_S},
            },
        )
        if job.status_code != 200:
            raise RuntimeError(f"CreateJob failed: {job.status_code} {job.text}")
        job_name = job.json()["job"]["name"]
        deadline = time.monotonic() + 300
        while True:
            current = http.get(f"/v1/{job_name}").json()["job"]
            if current["state"] == "JOB_STATE_SUCCEEDED":
                break
            if current["state"] in ("JOB_STATE_FAILED", "JOB_STATE_CANCELLED"):
                raise RuntimeError(f"transcode {current['state']}: {current}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"transcode not done after 300s: {current}")
            time.sleep(0.5)
        while True:
            media = http.get(f"/v1/{title}").json()["title"].get("media") or {}
            if media.get("state") == "MEDIA_STATE_READY":
                return title
            if time.monotonic() > deadline:
                raise RuntimeError(f"title media not READY: {media}")
            time.sleep(0.25)


async def create_viewers(gateway: str, count: int, tag: str) -> tuple[list[Viewer], int]:
    """Premium viewers through the gateway: CreateUser (public), Login, IssueToken for the
    `main` profile, with the gRPC stubs. A call cut off by the gateway's route timeout (a
    loaded machine: each CreateUser and Login is an argon2 hash) is retried; a CreateUser that
    did land then answers ALREADY_EXISTS and the profile is looked up instead. Returns the
    viewers and the number of retries."""
    import grpc
    from vod.accounts.v1 import accounts_pb2 as apb
    from vod.accounts.v1 import accounts_pb2_grpc

    retry_codes = (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE)
    retries = 0
    gate = asyncio.Semaphore(2)
    async with grpc.aio.insecure_channel(gateway) as channel:
        stub = accounts_pb2_grpc.AccountsServiceStub(channel)

        async def call(method: Callable[..., object], *a: object, **kw: object) -> object:
            nonlocal retries
            for attempt in range(5):
                try:
                    return await method(*a, timeout=30, **kw)  # type: ignore[misc]
                except grpc.aio.AioRpcError as exc:
                    if exc.code() not in retry_codes or attempt == 4:
                        raise
                    retries += 1
                    await asyncio.sleep(1.0)
            raise AssertionError("unreachable")

        async def one(i: int) -> Viewer:
            email = f"bench-{tag}-{i}@example.com"
            async with gate:
                profile = ""
                try:
                    made = await call(
                        stub.CreateUser,
                        apb.CreateUserRequest(
                            user=apb.User(
                                email=email,
                                display_name=f"Bench {i}",
                                plan="plans/premium",
                                home_region="US",
                            ),
                            password=PASSWORD,
                        ),
                    )
                    profile = made.profile.name  # type: ignore[attr-defined]
                except grpc.aio.AioRpcError as exc:
                    if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
                        raise
                login = await call(stub.Login, apb.LoginRequest(email=email, password=PASSWORD))
                bearer = (("authorization", f"Bearer {login.tokens.access_token}"),)  # type: ignore[attr-defined]
                user = login.user.name  # type: ignore[attr-defined]
                if not profile:
                    listed = await call(
                        stub.ListProfiles, apb.ListProfilesRequest(parent=user), metadata=bearer
                    )
                    profile = listed.profiles[0].name  # type: ignore[attr-defined]
                issued = await call(
                    stub.IssueToken, apb.IssueTokenRequest(profile=profile), metadata=bearer
                )
            return Viewer(user, profile, issued.tokens.access_token)  # type: ignore[attr-defined]

        viewers = list(await asyncio.gather(*(one(i) for i in range(count))))
    return viewers, retries


class EchoPlayback(ManagedProcess):
    """A bare grpc.aio PlaybackService answering canned responses (plus gRPC health), in its own
    process."""

    name = "echo-playback"

    def __init__(self, port: int, canned: list[bytes], workdir: Path) -> None:
        super().__init__(workdir / "echo.log", startup_timeout=30.0, stop_timeout=5.0)
        self.port = port
        self.canned_path = workdir / "canned.bin"
        self.canned_path.write_bytes(b"".join(struct.pack(">I", len(m)) + m for m in canned))

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-c",
            ECHO_PLAYBACK,
            f"127.0.0.1:{self.port}",
            str(ROOT / "gen" / "python"),
            str(self.canned_path),
        ]

    def probe_ready(self) -> bool:
        return "ready" in self.log_path.read_text(errors="replace")


_TICK = os.sysconf("SC_CLK_TCK")


def _proc_table() -> dict[int, tuple[int, float, float]]:
    """pid -> (ppid, own CPU seconds, CPU seconds of reaped children) of every process."""
    table: dict[int, tuple[int, float, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        rest = raw[raw.rfind(")") + 2 :].split()
        ppid = int(rest[1])
        own = (int(rest[11]) + int(rest[12])) / _TICK
        reaped = (int(rest[13]) + int(rest[14])) / _TICK
        table[int(entry.name)] = (ppid, own, reaped)
    return table


def cpu_snapshot(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each named process tree (live descendants and reaped ones),
    plus this benchmark process as "load client"."""
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out: dict[str, float] = {}
    for name, root in roots.items():
        total, stack = 0.0, [root]
        while stack:
            pid = stack.pop()
            if pid in table:
                _, own, reaped = table[pid]
                total += own + reaped
            stack.extend(children.get(pid, []))
        out[name] = total
    times = os.times()
    out["load client"] = times.user + times.system
    return out


def cpu_per_call(before: dict[str, float], after: dict[str, float], calls: int) -> str:
    """The busiest processes' CPU milliseconds per call between two snapshots."""
    if not calls:
        return "-"
    used = {k: (after.get(k, 0.0) - before.get(k, 0.0)) * 1000 / calls for k in after}
    top = sorted(((v, k) for k, v in used.items() if v >= 0.05), reverse=True)[:6]
    total = sum(used.values())
    return f"{total:.1f} in all: " + ", ".join(f"{k} {v:.1f}" for v, k in top)


@dataclass
class MeshReport:
    start: list[RpcResult] = field(default_factory=list)
    heartbeat: list[RpcResult] = field(default_factory=list)
    ttfs: dict[str, list[FirstSegment]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    setup: dict[str, float] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    failed: str = ""


def run_mesh(args: argparse.Namespace) -> MeshReport:
    from dataclasses import replace

    from mesh.embedded import EmbeddedEnvoy, free_port_block
    from mesh.envoy_config import render_yaml
    from mesh.launcher import LocalMesh
    from mesh.local import load_local_settings

    report = MeshReport()
    home = scratch("vod-bench-home-")
    work = scratch("vod-bench-mesh-")
    base = load_local_settings(env={}, home=str(home))
    settings = replace(
        base,
        gateway_port=free_port(),
        admin_port=free_port(),
        service_base_port=free_port_block(10),
        metrics_base_port=free_port_block(10),
        http_base_port=free_port_block(10),
        edge_base_port=free_port_block(len(base.regions)),
        postgres_port=free_port(),
        nats_port=free_port(),
        nats_monitor_port=free_port(),
        log_level="WARNING",
    )
    mesh = LocalMesh(settings, say=lambda s: say(f"mesh: {s}"))
    region = settings.regions[0]
    extra: list[ManagedProcess] = []
    try:
        t = time.monotonic()
        say("part 2: starting the mesh (vod up's launcher)…")
        mesh.start()
        report.setup["mesh start"] = time.monotonic() - t
        from concurrent.futures import ThreadPoolExecutor

        viewers_n = args.concurrency + 1
        t = time.monotonic()
        say(
            f"part 2: ingesting a {CLIP_S}s 720p clip as the admin, and creating {viewers_n} "
            "premium viewers (CreateUser, Login, IssueToken) meanwhile…"
        )

        def make_viewers() -> list[Viewer]:
            viewers, retries = asyncio.run(
                create_viewers(settings.gateway_grpc, viewers_n, os.urandom(3).hex())
            )
            report.setup[f"{viewers_n} viewers (during the ingest)"] = time.monotonic() - t
            if retries:
                report.notes.append(
                    f"{retries} accounts call(s) cut off by the gateway's route timeout while "
                    "creating the viewers were retried"
                )
            return viewers

        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(make_viewers)
            title = ingest(
                settings.gateway_url, dict(mesh.admin_metadata()), work, settings.regions
            )
            report.setup["ingest (ffmpeg + upload + transcode + READY)"] = time.monotonic() - t
            viewers = pending.result()
        ttfs_viewer, viewers = viewers[-1], viewers[:-1]
        gateway = settings.gateway_grpc
        playback_entry = next(p.entry for p in mesh.services if p.name == "playback")
        direct = mesh.grpc_address(playback_entry)

        # canned responses for the bare server: real ones, so the payloads are the same size
        canned = asyncio.run(capture_responses(gateway, ttfs_viewer, title))
        report.sizes = {
            "StartPlaybackResponse": len(canned[0]),
            "HeartbeatResponse": len(canned[1]),
            "StopPlaybackResponse": len(canned[2]),
        }
        echo = EchoPlayback(free_port(), canned, work)
        extra.append(echo)
        echo.start()
        spec = mesh.mesh_spec()
        spec = replace(
            spec,
            front_port=free_port(),
            admin_port=free_port(),
            regional_fronts=(),
            access_log_path=str(work / "echo-envoy-access.log"),
            services=tuple(
                replace(s, port=echo.port) if s.name == "playback" else s for s in spec.services
            ),
        )
        config = work / "echo-envoy.json"
        config.write_text(render_yaml(spec))
        echo_envoy = EmbeddedEnvoy(
            config,
            f"http://127.0.0.1:{spec.admin_port}",
            log_path=work / "echo-envoy.log",
            extra_args=["--file-flush-interval-msec", "500", "--file-flush-min-size-kb", "1"],
        )
        extra.append(echo_envoy)
        echo_envoy.start()
        echo_front = f"127.0.0.1:{spec.front_port}"
        asyncio.run(wait_routable(echo_front, ttfs_viewer, title))

        roots = {
            name: pid
            for name, pid in mesh.state("running").pids.items()
            if not name.startswith("edge-")
        }
        roots["bare server"] = echo.pid or 0
        roots["bare Envoy"] = echo_envoy.pid or 0

        # -- StartPlayback ---------------------------------------------------------------------
        runs = [
            ("bare grpc.aio, direct", f"127.0.0.1:{echo.port}", lambda v: v.identity(region)),
            ("bare grpc.aio behind Envoy+JWT", echo_front, Viewer.bearer),
            ("playback direct (x-vod-* headers)", direct, lambda v: v.identity(region)),
            ("playback through Envoy+JWT", gateway, Viewer.bearer),
        ]
        for label, target, md in runs:
            say(f"part 2: StartPlayback+StopPlayback, {label}, {args.grpc_seconds:g}s…")
            report.start.append(
                asyncio.run(
                    start_stop_load(
                        label,
                        target,
                        viewers,
                        md,
                        title,
                        seconds=args.grpc_seconds,
                        concurrency=args.concurrency,
                        connections=args.grpc_connections,
                        roots=roots,
                    )
                )
            )

        # -- Heartbeat -------------------------------------------------------------------------
        def heartbeats(
            label: str, target: str, sessions: Sessions, n: int, seconds: float, note: str
        ) -> None:
            say(f"part 2: Heartbeat, {label}, {n} callers, {seconds:g}s…")
            report.heartbeat.append(
                asyncio.run(
                    heartbeat_load(
                        label,
                        target,
                        sessions,
                        seconds=seconds,
                        callers=n,
                        connections=args.grpc_connections,
                        note=note,
                        roots=roots,
                    )
                )
            )

        callers, short = args.hb_callers, args.grpc_seconds
        # The bare server answers any session name; the Envoy one needs a viewer's token.
        canned_sessions = [(f"sessions/canned-{i}", v.bearer()) for i, v in enumerate(viewers * 4)]
        heartbeats(
            "bare grpc.aio, direct",
            f"127.0.0.1:{echo.port}",
            canned_sessions,
            callers,
            short,
            "canned",
        )
        heartbeats("bare grpc.aio behind Envoy+JWT", echo_front, canned_sessions, callers,
                   short, "canned")  # fmt: skip
        fake = [
            Viewer(f"users/hb-{i:05d}", f"users/hb-{i:05d}/profiles/main")
            for i in range(args.hb_sessions)
        ]
        say(f"part 2: starting {len(fake)} sessions directly at the playback service…")
        hb_sessions, took, errors = asyncio.run(
            start_sessions(direct, fake, lambda v: v.identity(region), title, per_viewer=1)
        )
        report.setup[f"{len(hb_sessions)} sessions started direct"] = took
        if errors:
            report.notes.append(f"errors starting heartbeat sessions: {dict(errors)}")
        note = f"{len(hb_sessions)} sessions"
        heartbeats("playback direct", direct, hb_sessions, callers, args.hb_seconds, note)
        heartbeats("playback direct, 1 caller/session", direct, hb_sessions, len(hb_sessions),
                   short, note)  # fmt: skip
        label = f"playback direct, paced {args.hb_rate:g}/s"
        say(f"part 2: Heartbeat, {label}, {short:g}s…")
        report.heartbeat.append(
            asyncio.run(
                heartbeat_open_loop(
                    label,
                    direct,
                    hb_sessions,
                    rate=args.hb_rate,
                    seconds=short,
                    connections=args.grpc_connections,
                    note=note,
                    roots=roots,
                )
            )
        )
        say(f"part 2: starting {len(viewers)} x 4 sessions through Envoy…")
        envoy_sessions, took, errors = asyncio.run(
            start_sessions(gateway, viewers, Viewer.bearer, title, per_viewer=4)
        )
        report.setup[f"{len(envoy_sessions)} sessions started through Envoy"] = took
        if errors:
            report.notes.append(f"errors starting Envoy sessions: {dict(errors)}")
        heartbeats("playback through Envoy+JWT", gateway, envoy_sessions, callers, short,
                   f"{len(envoy_sessions)} sessions")  # fmt: skip

        # -- time to first segment -------------------------------------------------------------
        cache_dir = next(e for e in mesh.edges if e.spec.region == region).spec.cache_dir
        for mode in ("warm", "cold"):
            say(f"part 2: time to first segment, {args.ttfs_runs} {mode} starts…")
            report.ttfs[mode] = asyncio.run(
                time_to_first_segment(
                    gateway, ttfs_viewer, title, args.ttfs_runs, mode == "cold", cache_dir
                )
            )
    except Exception as exc:  # report what ran; the traceback goes to stderr
        import traceback

        traceback.print_exc()
        report.failed = f"{type(exc).__name__}: {exc}"
    finally:
        for proc in reversed(extra):
            proc.stop()
        mesh.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
    return report


async def capture_responses(gateway: str, viewer: Viewer, title: str) -> list[bytes]:
    """One real StartPlayback, Heartbeat and StopPlayback through the gateway, serialized."""
    import grpc
    from google.protobuf import duration_pb2
    from vod.playback.v1 import playback_pb2 as ppb
    from vod.playback.v1 import playback_pb2_grpc

    async with grpc.aio.insecure_channel(gateway) as channel:
        stub = playback_pb2_grpc.PlaybackServiceStub(channel)
        md = viewer.bearer()
        started = await stub.StartPlayback(
            ppb.StartPlaybackRequest(
                profile=viewer.profile,
                title=title,
                device_type=ppb.DEVICE_TYPE_WEB,
                device_id="capture",
                preferred_protocol=ppb.STREAMING_PROTOCOL_HLS,
            ),
            metadata=md,
            timeout=30,
        )
        beat = await stub.Heartbeat(
            ppb.HeartbeatRequest(
                session=started.session.name, position=duration_pb2.Duration(seconds=1)
            ),
            metadata=md,
            timeout=30,
        )
        stopped = await stub.StopPlayback(
            ppb.StopPlaybackRequest(session=started.session.name), metadata=md, timeout=30
        )
    return [m.SerializeToString() for m in (started, beat, stopped)]


async def wait_routable(front: str, viewer: Viewer, title: str, timeout: float = 30.0) -> None:
    """Until the second Envoy routes to the bare server (its health check passed)."""
    import grpc
    from vod.playback.v1 import playback_pb2 as ppb
    from vod.playback.v1 import playback_pb2_grpc

    deadline = time.monotonic() + timeout
    async with grpc.aio.insecure_channel(front) as channel:
        stub = playback_pb2_grpc.PlaybackServiceStub(channel)
        while True:
            try:
                await stub.StopPlayback(
                    ppb.StopPlaybackRequest(session="sessions/probe"),
                    metadata=viewer.bearer(),
                    timeout=2,
                )
                return
            except grpc.aio.AioRpcError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)


def print_mesh(report: MeshReport, args: argparse.Namespace) -> None:
    print("\n== Part 2: playback through the local mesh (vod up's launcher)")
    print(machine_line())
    if report.setup:
        print("set-up: " + ", ".join(f"{k} {v:.1f}s" for k, v in report.setup.items()))
    if report.sizes:
        print("response sizes: " + ", ".join(f"{k} {v} B" for k, v in report.sizes.items()))
    if report.start:
        bare = report.start[0]
        bare_envoy = report.start[1] if len(report.start) > 1 else bare
        print(
            f"\nStartPlayback (each followed by a StopPlayback, timed apart), "
            f"{args.concurrency} concurrent callers, {args.grpc_seconds:g}s, "
            f"{args.grpc_connections} connections"
        )
        print(
            f"{'target':<36}{'starts/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'stop p50':>9}"
            f"{'stop p99':>9}{'vs bare':>9}{'vs bare+Envoy':>15}  errors"
        )
        for r in report.start:
            print(
                f"{r.label:<36}{r.qps:>9.0f}{pct(r.latencies_ms, 50):>8.2f}"
                f"{pct(r.latencies_ms, 99):>8.2f}{pct(r.stop_ms, 50):>9.2f}"
                f"{pct(r.stop_ms, 99):>9.2f}{r.qps / bare.qps:>8.2f}x"
                f"{r.qps / bare_envoy.qps:>14.2f}x  {dict(r.errors) or '-'}"
            )
        print("CPU ms per start+stop pair, by process tree:")
        for r in report.start:
            print(f"  {r.label:<34} {r.cpu}")
    if report.heartbeat:
        bare = report.heartbeat[0]
        print("\nHeartbeat, as fast as the answers come")
        print(
            f"{'target':<36}{'sessions':>14}{'callers':>8}{'beats/s':>9}{'p50 ms':>8}"
            f"{'p99 ms':>8}{'vs bare':>9}  errors"
        )
        for r in report.heartbeat:
            print(
                f"{r.label:<36}{r.note:>14}{r.callers or 'paced':>8}{r.qps:>9.0f}{pct(r.latencies_ms, 50):>8.2f}"
                f"{pct(r.latencies_ms, 99):>8.2f}{r.qps / bare.qps:>8.2f}x  {dict(r.errors) or '-'}"
            )
        print("CPU ms per heartbeat, by process tree:")
        for r in report.heartbeat:
            print(f"  {r.label:<34} {r.cpu}")
    if report.ttfs:
        print(
            "\ntime to first segment: StartPlayback (gRPC, Envoy+JWT) -> HLS master (gateway "
            "/play/) -> first variant's media playlist -> init + first segment from the edge, "
            "last byte"
        )
        print(
            f"{'starts':<44}{'n':>4}{'p50 ms':>9}{'p99 ms':>9}   median per stage (ms)"
            "                              edge cache"
        )
        for mode, runs in report.ttfs.items():
            if not runs:
                continue
            what = {
                "warm": "warm: kept-alive connections, edge HIT",
                "cold": "cold: new connections, edge cache emptied",
            }[mode]
            stages = {
                k: statistics_median([r.stages_ms.get(k, 0.0) for r in runs])
                for k in runs[0].stages_ms
            }
            cache = Counter(r.cache for r in runs)
            print(
                f"{what:<44}{len(runs):>4}{pct([r.total_ms for r in runs], 50):>9.1f}"
                f"{pct([r.total_ms for r in runs], 99):>9.1f}   "
                + " ".join(f"{k} {v:.1f}" for k, v in stages.items())
                + f"   {dict(cache)}, segment {runs[0].segment_bytes / 1000:.0f} kB"
            )
    if report.failed:
        print(f"\n!! part 2 stopped early: {report.failed} (see the traceback above)")
    print("\nnotes:")
    notes = [
        "'vs bare' divides by the bare grpc.aio PlaybackService (canned responses of the same "
        "sizes, its own process) measured in the same run: directly, and behind a second Envoy "
        "rendered from the same mesh spec (same filters, JWT auth on) for the Envoy rows",
        "the load generator is one Python process (grpc.aio) on the same 2 cores as Envoy, "
        "the services, PostgreSQL and NATS: it is a bottleneck of its own, most visibly in the "
        "bare rows",
        "services run at log level WARNING (as catalog_bench does); the Envoy rows use profile "
        "tokens from IssueToken; 'direct' rows send the identity headers the front door would "
        "set, to the service's own gRPC port",
        "heartbeats: the service batches them (one UPDATE per flush interval, 0.2 s by "
        "default) and answers each caller after its flush, so a caller waits up to a flush "
        "interval: with 32 callers the rate is latency-bound; the 1 caller/session row shows "
        "the most the service answers with every session beating at once (callers move in "
        "lock-step with the flushes, so latency there is a convoy, not a queue); the paced row "
        "offers a fixed rate spread evenly (open loop, latency from the scheduled send; 500/s "
        "is 5000 sessions at the default 10 s interval). The direct heartbeat sessions "
        "belong to synthetic users (users/hb-*, premium, 1 session each) started with identity "
        "headers at the service, since creating hundreds of accounts costs two argon2 hashes "
        "each; the Envoy row uses the real bench viewers' sessions (4 each, the plan's limit)",
        "cold starts empty the region's edge cache before each start (the first segment is "
        "fetched from the origin) and open new gRPC and HTTP connections; warm starts reuse "
        "both and hit the edge; audio is not fetched",
        *report.notes,
    ]
    for note in notes:
        print(f"  - {note}")


def statistics_median(values: list[float]) -> float:
    import statistics

    return statistics.median(values) if values else float("nan")


# ============================================================================================
# main
# ============================================================================================


def say(message: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about a minute in all")
    parser.add_argument("--part", choices=("edge", "mesh", "all"), default="all")
    parser.add_argument("--seconds", type=float, default=None, help="per measured run")
    parser.add_argument("--rounds", type=int, default=None, help="alternating static/edge")
    parser.add_argument("--http-connections", type=int, default=16)
    parser.add_argument("--nginx-workers", type=int, default=0, help="0 = one per core")
    parser.add_argument(
        "--no-variant", dest="variant", action="store_false",
        help="skip the edge config variant (tcp_nopush off) row",
    )  # fmt: skip
    parser.add_argument("--hot-segments", type=int, default=None)
    parser.add_argument(
        "--sequential", type=int, default=40, help="requests per track on one connection"
    )
    parser.add_argument("--zipf-titles", type=int, default=None)
    parser.add_argument("--zipf-segments", type=int, default=4)
    parser.add_argument("--zipf-s", type=float, default=1.0)
    parser.add_argument("--zipf-warmup", type=int, default=None)
    parser.add_argument("--zipf-requests", type=int, default=None)
    parser.add_argument("--zipf-connections", type=int, default=16)
    parser.add_argument(
        "--cache-fractions", type=float, nargs="+", default=[0.1, 0.3],
        help="edge cache size as fractions of the Zipf library",
    )  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=16, help="StartPlayback callers")
    parser.add_argument("--grpc-seconds", type=float, default=None)
    parser.add_argument("--grpc-connections", type=int, default=4)
    parser.add_argument("--hb-sessions", type=int, default=None)
    parser.add_argument("--hb-callers", type=int, default=32)
    parser.add_argument("--hb-seconds", type=float, default=None)
    parser.add_argument(
        "--hb-rate", type=float, default=500.0,
        help="offered rate of the paced (open-loop) heartbeat run",
    )  # fmt: skip
    parser.add_argument("--ttfs-runs", type=int, default=None)
    args = parser.parse_args()
    quick = args.quick
    defaults = {
        "seconds": 1.0 if quick else 2.0,
        "rounds": 1 if quick else 2,
        "hot_segments": 10 if quick else 30,
        "zipf_titles": 50 if quick else 100,
        "zipf_warmup": 300 if quick else 800,
        "zipf_requests": 600 if quick else 1600,
        "grpc_seconds": 1.0 if quick else 4.0,
        "hb_sessions": 200 if quick else 1000,
        "hb_seconds": 2.0 if quick else 10.0,
        "ttfs_runs": 8 if quick else 30,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)

    global LOAD_BEFORE
    LOAD_BEFORE = os.getloadavg()
    began = time.monotonic()
    if args.part in ("edge", "all"):
        print_edges(run_edges(args), args)
    if args.part in ("mesh", "all"):
        print_mesh(run_mesh(args), args)
    print(f"\n(total {time.monotonic() - began:.0f}s)")


if __name__ == "__main__":
    main()
