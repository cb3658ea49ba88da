"""Viewing-session load generator: N simulated viewers against a whole local mesh, on loopback,
bounded in count and time. Prints numbers; asserts nothing.

The mesh: `mesh.launcher.LocalMesh` on free ports under a scratch VOD_HOME (`mesh_settings` of
benchmarks/licensing_bench.py); the admin ingests tests/e2e/test_viewer_path.py's 6 s source
with its 1080/720/360 ladder through the gateway (tests/e2e/media.py). Set-up, not measured:
ceil(N / K) premium accounts (the premium plan allows 4 concurrent streams per account, counted
per user over all its profiles and devices, so K = 4 viewers share an account, one device each),
created through the public sign-up route with bounded concurrency (each is an argon2 hash).

Measured, every viewer one asyncio task, all HTTP through one aiohttp ClientSession (Envoy's
REST routes for the API, the region's edge for segments), starts spread over a ramp:

* login (POST /v1/auth:login: once per account, by its first viewer; an argon2 verify),
  token (POST /v1/{profile}:issueToken, per viewer), home (GET /v1/{profile}/home),
  search (GET /v1/search), start (POST /v1/sessions:start, HLS), manifest (the session's master
  playlist at the gateway and the chosen rung's media playlist);
* while the session lasts: a heartbeat every --heartbeat-s (POST /v1/{session}:heartbeat, at
  start + k * interval), segments from the edge in real time (two to fill the buffer, then one
  per segment duration, looping over the title) with a simple ABR: the highest rung whose
  bandwidth fits 0.7 x the measured throughput of the previous segment (the first at the lowest
  rung); a QoE batch with each heartbeat (POST /v1/{session}/qoe:record) unless that route
  answers 404/501 (not deployed: counted as 'unavailable', the viewer stops posting);
* stop (POST /v1/{session}:stop), duration - ramp after the viewer's planned start: stops are
  spread like the starts, the last at run start + --duration, and all N sessions are held at
  once between the last start and the first stop.

Printed: sessions held concurrently (the maximum, and when the first left), p50/p99 per step
(exact, from every sample), heartbeat p99 during the ramp and after it, errors by step and code,
segment bytes (checked against each response's Content-Length) and the set-up time apart.

Playback answers a heartbeat of a session it knows live before the batched UPDATE that
carries it (write-behind, VOD_PLAYBACK_WRITE_BEHIND, on by default; see PlaybackSettings); with
--write-behind off it answers after that UPDATE (VOD_PLAYBACK_FLUSH_S, 0.2 s by default, the
latency floor then); --flush-s sets the window for the run's mesh.

Same-run baseline (unless --no-baseline): a bare grpc.aio PlaybackService in its own process
answers Heartbeat with a canned HeartbeatResponse; every viewer sends it a heartbeat-shaped RPC
(the same session name, position and state, and the identity headers the front door forwards)
right after each of its heartbeats, from the same client process on one shared channel. Printed
next to the heartbeat row: its p50/p99 and the ratio heartbeat / baseline. The baseline is direct
gRPC; the heartbeat goes through Envoy (JSON transcoding, JWT) to playback, so the ratio is the
cost of the whole path over an RPC that does nothing, on this machine at this load.

With --experiment the run is an A/B test of the home page's row order
(benchmarks/viewers_experiment.py): each viewer is its own account and profile, reacts to the
top row of the home it is served (a play with a known probability, higher when trending is on
top) and only the viewers who decide to play start a session; the read-out is printed with the
true effect, and the exposure records are checked one for one against the home responses.

    scripts/bench viewers [--viewers 20] [--duration 20] [--heartbeat-s 5] [--ramp-s S]
                          [--flush-s 0.2] [--write-behind on|off] [--no-baseline]
                          [--signups 4] [--experiment [--base P --lift L]]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "gen" / "python")]

import aiohttp  # noqa: E402

from benchmarks.viewers_experiment import HomeSeen, ViewerModel  # noqa: E402

STEPS = ("login", "token", "home", "search", "start", "manifest", "heartbeat", "segment", "qoe",
         "stop")  # fmt: skip
PASSWORD = "viewers bench password 42"
PER_ACCOUNT = 4  # the premium plan's concurrent streams
ABR_SAFETY = 0.7


# -- statistics ----------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile, exact over the samples (NaN for none)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class SessionLog:
    viewer: int
    name: str
    started_at: float
    """perf_counter when StartPlayback answered."""
    leave_at: float
    """perf_counter when the viewer is due to stop."""
    beats: int = 0
    expected_beats: int = 0
    stopped: bool = False
    stop_at: float = 0.0
    """perf_counter when the viewer left (sent StopPlayback)."""
    rungs: Counter[int] = field(default_factory=Counter)
    """Segments fetched per rung height."""
    rendition: str = ""
    bitrate: int = 0


@dataclass
class Report:
    viewers: int
    duration_s: float
    heartbeat_s: float
    ramp_s: float
    samples: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STEPS})
    """Milliseconds per step."""
    beat_times: list[tuple[float, float]] = field(default_factory=list)
    """(seconds since the run began, ms) per heartbeat."""
    errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    unavailable: Counter[str] = field(default_factory=Counter)
    sessions: list[SessionLog] = field(default_factory=list)
    homes: list[HomeSeen] = field(default_factory=list)
    """With a viewer model: what each viewer's home showed on top and whether it played."""
    baseline: list[float] = field(default_factory=list)
    """Milliseconds per heartbeat-shaped RPC to the bare grpc.aio server."""
    baseline_errors: Counter[str] = field(default_factory=Counter)
    segment_bytes: int = 0
    segment_content_length: int = 0
    active: int = 0
    max_active: int = 0
    held_at_plateau: int = 0
    """Sessions live when the first viewer was due to leave (run start + duration - ramp)."""
    elapsed_s: float = 0.0
    began: float = 0.0
    """perf_counter when the run began (the deadline is `duration_s` later)."""

    def error(self, step: str, code: object) -> None:
        self.errors[(step, str(code))] += 1

    @property
    def total_errors(self) -> int:
        return sum(self.errors.values())


# -- the viewers ---------------------------------------------------------------------------------


def error_reason(raw: bytes) -> str:
    """The google.rpc.Status reason (and precondition type) of an error body, when it has one:
    "SESSION_ENDED/SESSION_EXPIRED"; "" otherwise (Envoy's own 504s are plain text)."""
    import json

    try:
        doc = json.loads(raw)
    except ValueError:
        return ""
    if not isinstance(doc, dict):
        return ""
    reason, kinds = "", []
    for detail in doc.get("details") or []:
        if not isinstance(detail, dict):
            continue
        reason = reason or str(detail.get("reason", ""))
        kinds += [str(v.get("type", "")) for v in detail.get("violations") or [] if "type" in v]
    return "/".join([reason, *kinds]) if reason else ""


@dataclass
class Account:
    email: str
    user: str
    profile: str
    login: asyncio.Future[str] | None = None
    signed_in: str = ""
    """A user access token from set-up (--sign-in setup): the run's viewers skip the login."""
    """The user access token, shared by the account's viewers (set by the first)."""


class Failed(Exception):
    pass


class Run:
    def __init__(
        self,
        http: aiohttp.ClientSession,
        gateway: str,
        title: str,
        report: Report,
        query: str,
    ) -> None:
        self.http = http
        self.gateway = gateway.rstrip("/")
        self.title = title
        self.report = report
        self.query = query
        self.began = 0.0
        self.deadline = 0.0
        self.qoe_available = True
        self.fetch_segments = True
        self.model: ViewerModel | None = None
        self.bare: BareHeartbeats | None = None

    async def call(
        self,
        step: str,
        method: str,
        url: str,
        *,
        json: object = None,
        token: str = "",
        ok: tuple[int, ...] = (200,),
        record: bool = True,
    ) -> dict:
        headers = {"authorization": f"Bearer {token}"} if token else None
        began = time.perf_counter()
        try:
            async with self.http.request(method, url, json=json, headers=headers) as resp:
                body = await resp.json(content_type=None) if resp.status in ok else None
                raw = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self.report.error(step, type(exc).__name__)
            raise Failed(step) from exc
        ms = (time.perf_counter() - began) * 1000
        if status not in ok:
            if step == "qoe" and status in (404, 501):
                self.report.unavailable[step] += 1
                self.qoe_available = False
                raise Failed(step)
            self.report.error(step, f"{status} {error_reason(raw)}".rstrip())
            raise Failed(step)
        if record:
            self.report.samples[step].append(ms)
            if step == "heartbeat":
                self.report.beat_times.append((began - self.began, ms))
        return body or {}

    async def user_token(self, account: Account) -> str:
        if account.signed_in:
            return account.signed_in
        if account.login is None:
            account.login = asyncio.get_running_loop().create_future()
            try:
                body = await self.call(
                    "login",
                    "POST",
                    f"{self.gateway}/v1/auth:login",
                    json={"email": account.email, "password": PASSWORD},
                )
                account.login.set_result(body["tokens"]["accessToken"])
            except BaseException as exc:
                account.login.set_exception(Failed("login"))
                account.login.exception()  # retrieved: no 'never retrieved' warning
                raise Failed("login") from exc
        return await asyncio.shield(account.login)

    async def segment(self, url: str) -> tuple[int, float]:
        """Fetches one segment to the last byte; returns (bytes, seconds)."""
        began = time.perf_counter()
        try:
            async with self.http.get(url) as resp:
                if resp.status != 200:
                    await resp.read()
                    self.report.error("segment", resp.status)
                    raise Failed("segment")
                size = 0
                async for chunk in resp.content.iter_chunked(1 << 16):
                    size += len(chunk)
                length = resp.content_length
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.report.error("segment", type(exc).__name__)
            raise Failed("segment") from exc
        seconds = time.perf_counter() - began
        if length is None or length != size:
            self.report.error("segment", "length-mismatch")
            raise Failed("segment")
        self.report.samples["segment"].append(seconds * 1000)
        self.report.segment_bytes += size
        self.report.segment_content_length += length
        return size, seconds

    async def viewer(self, i: int, account: Account, offset_s: float) -> None:
        await asyncio.sleep(max(0.0, self.began + offset_s - time.perf_counter()))
        # every viewer watches for duration - ramp from its planned start: the stops are as
        # spread as the starts, and all N sessions are held at once between the two
        leave_at = self.began + offset_s + self.report.duration_s - self.report.ramp_s
        try:
            await self.watch(i, account, leave_at)
        except Failed:
            pass

    async def watch(self, i: int, account: Account, leave_at: float) -> None:
        g = self.gateway
        user_token = await self.user_token(account)
        issued = await self.call(
            "token", "POST", f"{g}/v1/{account.profile}:issueToken", json={}, token=user_token
        )
        token = issued["tokens"]["accessToken"]
        home = await self.call("home", "GET", f"{g}/v1/{account.profile}/home", token=token)
        if self.model is not None:  # the viewer reacts to what the home shows on top
            rows = home.get("rows") or [{}]
            top = str(rows[0].get("kind", ""))
            plays = self.model.plays(i, top)
            trending = any(r.get("kind") == "ROW_KIND_TRENDING_NOW" for r in rows)
            self.report.homes.append(HomeSeen(i, account.profile, top, plays, trending))
            if not plays:
                return
        await self.call(
            "search",
            "GET",
            f"{g}/v1/search?query={self.query}&profile={account.profile}&pageSize=10",
            token=token,
        )
        if time.perf_counter() >= leave_at:
            return
        body = await self.call(
            "start",
            "POST",
            f"{g}/v1/sessions:start",
            json={
                "profile": account.profile,
                "title": self.title,
                "deviceType": "DEVICE_TYPE_WEB",
                "deviceId": f"bench-viewer-{i}",
                "preferredProtocol": "STREAMING_PROTOCOL_HLS",
            },
            token=token,
        )
        session = body["session"]
        log = SessionLog(i, session["name"], time.perf_counter(), leave_at)
        self.report.sessions.append(log)
        r = self.report
        r.active += 1
        r.max_active = max(r.max_active, r.active)
        try:
            await self.play(log, session, token)
        finally:
            r.active -= 1
            log.stop_at = time.perf_counter()
            position = max(0.0, time.perf_counter() - log.started_at)
            await self.call(
                "stop",
                "POST",
                f"{g}/v1/{log.name}:stop",
                json={"position": f"{position % max(1.0, self.duration_s):.3f}s"},
                token=token,
            )
            log.stopped = True

    duration_s = 1.0  # the title's; set by run_viewers

    async def play(self, log: SessionLog, session: dict, token: str) -> None:
        """Heartbeats and segments side by side, as a player does, until the deadline."""
        h = self.report.heartbeat_s
        # beats at start + k*h for every k >= 1 before the deadline (each sent, even if late)
        log.expected_beats = max(0, math.ceil((log.leave_at - log.started_at) / h) - 1)
        await asyncio.gather(
            self.beats(log, token), self.segments(log, session, fetch=self.fetch_segments)
        )
        await asyncio.sleep(max(0.0, log.leave_at - time.perf_counter()))

    async def beats(self, log: SessionLog, token: str) -> None:
        h = self.report.heartbeat_s
        for k in range(1, log.expected_beats + 1):
            due = log.started_at + k * h
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            played = due - log.started_at
            with contextlib.suppress(Failed):
                await self.call(
                    "heartbeat",
                    "POST",
                    f"{self.gateway}/v1/{log.name}:heartbeat",
                    json={
                        "position": f"{played % self.duration_s:.3f}s",
                        "state": "PLAYER_STATE_PLAYING",
                    },
                    token=token,
                )
                log.beats += 1
            if self.bare is not None:
                await self.bare.beat(log.name, f"{played % self.duration_s:.3f}s")
            if self.qoe_available:
                with contextlib.suppress(Failed):
                    await self.call(
                        "qoe",
                        "POST",
                        f"{self.gateway}/v1/{log.name}/qoe:record",
                        json={
                            "batchId": f"b-{k}",
                            "events": [
                                {
                                    "kind": "QOE_EVENT_KIND_PLAYING",
                                    "offsetMs": str(int(played * 1000)),
                                    "valueMs": str(int(h * 1000)),
                                    "rendition": log.rendition or "unknown",
                                    "bitrateBps": str(log.bitrate),
                                }
                            ],
                        },
                        token=token,
                    )

    async def text(self, step: str, url: str) -> str:
        try:
            async with self.http.get(url) as resp:
                body = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.report.error(step, type(exc).__name__)
            raise Failed(step) from exc
        if status != 200:
            self.report.error(step, status)
            raise Failed(step)
        return body

    async def segments(self, log: SessionLog, session: dict, *, fetch: bool = True) -> None:
        """The session's HLS master, then segments in real time: two to fill the buffer, then
        one per segment duration, looping over the title, at the rung the ABR picks (none when
        not `fetch`: the API's load alone)."""
        import m3u8

        master_url = session["manifestUrl"]
        began = time.perf_counter()
        try:
            master = m3u8.loads(await self.text("manifest", master_url))
            rungs = sorted(
                (p.stream_info.bandwidth, p.stream_info.resolution[1], urljoin(master_url, p.uri))
                for p in master.playlists
            )
            if not rungs:
                self.report.error("manifest", "no-variants")
                return
            playlists: dict[int, tuple[str, list[str]]] = {}

            async def media(rung: int) -> tuple[str, list[str]]:
                if rung not in playlists:
                    url = rungs[rung][2]
                    playlist = m3u8.loads(await self.text("manifest", url))
                    uris = [urljoin(url, s.uri) for s in playlist.segments]
                    if not uris:
                        self.report.error("manifest", "no-segments")
                        raise Failed("manifest")
                    init = urljoin(url, playlist.segment_map[0].uri) if playlist.segment_map else ""
                    playlists[rung] = (init, uris)
                return playlists[rung]

            rung = 0
            await media(rung)
        except Failed:
            return
        self.report.samples["manifest"].append((time.perf_counter() - began) * 1000)
        if not fetch:
            return
        seg_s = float(master.target_duration or 0) or 6.0
        have_init: set[int] = set()
        index = fetches = 0
        next_seg = time.perf_counter()
        while next_seg < log.leave_at:
            await asyncio.sleep(max(0.0, next_seg - time.perf_counter()))
            log.rendition, log.bitrate = f"{rungs[rung][1]}p", rungs[rung][0]
            try:
                init, uris = await media(rung)
                if init and rung not in have_init:
                    await self.segment(init)
                    have_init.add(rung)
                size, seconds = await self.segment(uris[index % len(uris)])
                log.rungs[rungs[rung][1]] += 1
                index += 1
                throughput = size * 8 / max(seconds, 1e-6)
                fits = [k for k, r in enumerate(rungs) if r[0] <= ABR_SAFETY * throughput]
                rung = max(fits) if fits else 0
            except Failed:
                pass
            fetches += 1
            next_seg = next_seg + seg_s if fetches >= 2 else time.perf_counter()


# -- the same-run baseline -----------------------------------------------------------------------

BARE_SERVER = r"""
import asyncio, sys
from datetime import UTC, datetime, timedelta
import grpc
from vod.playback.v1 import playback_pb2 as pb, playback_pb2_grpc

class Bare(playback_pb2_grpc.PlaybackServiceServicer):
    async def Heartbeat(self, request, context):
        reply = pb.HeartbeatResponse()
        reply.expire_time.FromDatetime(datetime.now(UTC) + timedelta(seconds=30))
        reply.heartbeat_interval.FromSeconds(10)
        return reply

async def main():
    server = grpc.aio.server()
    playback_pb2_grpc.add_PlaybackServiceServicer_to_server(Bare(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await server.wait_for_termination()

asyncio.run(main())
"""


@contextlib.contextmanager
def bare_server():
    """A bare grpc.aio PlaybackService (Heartbeat only) in its own process; yields its target."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'gen' / 'python'}"}
    proc = subprocess.Popen(
        [sys.executable, "-c", BARE_SERVER], stdout=subprocess.PIPE, env=env, text=True
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().strip() or 0)
        if not port:
            raise RuntimeError("the bare heartbeat server did not start")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class BareHeartbeats:
    """The baseline's client: heartbeat-shaped RPCs on one channel (as one aiohttp session
    carries the viewers' HTTP), each with a 15 s deadline like the viewers' requests."""

    def __init__(self, target: str, report: Report) -> None:
        import grpc
        from vod.playback.v1 import playback_pb2, playback_pb2_grpc

        self._grpc = grpc
        self._pb = playback_pb2
        self.channel = grpc.aio.insecure_channel(target)
        self.stub = playback_pb2_grpc.PlaybackServiceStub(self.channel)
        self.report = report

    async def beat(self, session: str, position: str) -> None:
        request = self._pb.HeartbeatRequest(session=session, state=self._pb.PLAYER_STATE_PLAYING)
        request.position.FromJsonString(position)
        metadata = (("x-vod-user", "users/bench"), ("x-vod-profile", "users/bench/profiles/p"))
        began = time.perf_counter()
        try:
            await self.stub.Heartbeat(request, metadata=metadata, timeout=15)
        except self._grpc.aio.AioRpcError as exc:
            self.report.baseline_errors[exc.code().name] += 1
            return
        self.report.baseline.append((time.perf_counter() - began) * 1000)


async def run_viewers(
    gateway_url: str,
    accounts: Sequence[Account],
    title: str,
    *,
    viewers: int,
    duration_s: float,
    heartbeat_s: float,
    ramp_s: float,
    title_duration_s: float,
    query: str = "bench",
    per_account: int = PER_ACCOUNT,
    segments: bool = True,
    model: ViewerModel | None = None,
    baseline: str = "",
) -> Report:
    """The load itself: `viewers` viewers over `accounts` (viewer i on account i // per_account),
    started evenly over `ramp_s`, all stopped at `duration_s` after the start; returns the
    report. Bounded: every request has a 15 s timeout and the whole run `duration_s + 60`."""
    if len(accounts) * per_account < viewers:
        raise ValueError(f"{viewers} viewers need {math.ceil(viewers / per_account)} accounts")
    report = Report(viewers, duration_s, heartbeat_s, ramp_s)
    connector = aiohttp.TCPConnector(limit=min(max(viewers, 16), 512), limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        run = Run(http, gateway_url, title, report, query)
        run.duration_s = max(1.0, title_duration_s)
        run.fetch_segments = segments
        run.model = model
        if baseline:
            run.bare = BareHeartbeats(baseline, report)
        run.began = report.began = time.perf_counter()
        run.deadline = run.began + duration_s

        tasks = [
            asyncio.create_task(
                run.viewer(i, accounts[i // per_account], ramp_s * i / max(1, viewers))
            )
            for i in range(viewers)
        ]
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), duration_s + 60)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if run.bare is not None:
            await run.bare.channel.close()
        report.elapsed_s = time.perf_counter() - run.began
        plateau = run.began + duration_s - ramp_s  # the first planned stop
        report.held_at_plateau = sum(x.started_at < plateau <= x.stop_at for x in report.sessions)
    return report


async def create_accounts(
    gateway_url: str, count: int, region: str, *, concurrency: int = 4
) -> list[Account]:
    """`count` premium accounts through the public sign-up route (POST /v1/users), `concurrency`
    at a time (each is an argon2 hash in accounts)."""
    tag = uuid.uuid4().hex[:8]
    gate = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:

        async def one(i: int) -> Account:
            email = f"viewers-{tag}-{i}@example.com"
            body = {
                "user": {
                    "email": email,
                    "displayName": f"Bench viewer {i}",
                    "plan": "plans/premium",
                    "homeRegion": region,
                },
                "password": PASSWORD,
            }
            async with gate:
                for attempt in range(5):
                    async with http.post(f"{gateway_url}/v1/users", json=body) as resp:
                        made = await resp.json(content_type=None)
                        if resp.status == 200:
                            break
                        if resp.status not in (503, 504) or attempt == 4:
                            raise RuntimeError(f"CreateUser: {resp.status} {made}")
                    await asyncio.sleep(1.0)
            return Account(email, made["user"]["name"], made["profile"]["name"])

        return list(await asyncio.gather(*(one(i) for i in range(count))))


async def sign_in(gateway_url: str, accounts: Sequence[Account], concurrency: int) -> list[float]:
    """Signs every account in before the run (--sign-in setup), `concurrency` at a time;
    returns the login latencies (ms)."""
    gate = asyncio.Semaphore(concurrency)
    out: list[float] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:

        async def one(a: Account) -> None:
            async with gate:
                began = time.perf_counter()
                body = {"email": a.email, "password": PASSWORD}
                async with http.post(f"{gateway_url}/v1/auth:login", json=body) as resp:
                    answer = await resp.json(content_type=None)
                    if resp.status != 200:
                        raise RuntimeError(f"Login: {resp.status} {answer}")
                out.append((time.perf_counter() - began) * 1000)
                a.signed_in = answer["tokens"]["accessToken"]

        await asyncio.gather(*(one(a) for a in accounts))
    return out


# -- printing ------------------------------------------------------------------------------------


def print_report(r: Report) -> None:
    print(
        f"\n{r.viewers} viewers, {r.duration_s:.0f}s (starts spread over {r.ramp_s:.1f}s), "
        f"heartbeat every {r.heartbeat_s:g}s; run took {r.elapsed_s:.1f}s"
    )
    print(
        f"sessions started {len(r.sessions)}, stopped {sum(s.stopped for s in r.sessions)}; "
        f"held concurrently: max {r.max_active}, when the first viewer left "
        f"{r.held_at_plateau}"
    )
    print(f"\n{'step':<11}{'count':>8}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for step in STEPS:
        v = r.samples[step]
        if not v:
            continue
        print(
            f"{step:<11}{len(v):>8}{percentile(v, 50):>10.2f}{percentile(v, 99):>10.2f}"
            f"{max(v):>10.2f}"
        )
    ramp = [ms for t, ms in r.beat_times if t <= r.ramp_s]
    steady = [ms for t, ms in r.beat_times if t > r.ramp_s]
    beats_ms = r.samples["heartbeat"]
    if r.baseline and beats_ms:
        b50, b99 = percentile(r.baseline, 50), percentile(r.baseline, 99)
        print(
            f"{'baseline':<11}{len(r.baseline):>8}{b50:>10.2f}{b99:>10.2f}{max(r.baseline):>10.2f}"
            "  (bare grpc.aio Heartbeat, same viewers and schedule, direct gRPC)"
        )
        print(
            f"heartbeat / baseline: p50 x{percentile(beats_ms, 50) / b50:.1f}, "
            f"p99 x{percentile(beats_ms, 99) / b99:.1f}"
        )
    if r.baseline_errors:
        print(f"baseline errors: {dict(r.baseline_errors)}")
    if ramp or steady:
        print(
            f"heartbeat p99 during the ramp {percentile(ramp, 99):.2f} ms ({len(ramp)}), after it "
            f"{percentile(steady, 99):.2f} ms ({len(steady)})"
        )
    beats = sum(s.beats for s in r.sessions)
    expected = sum(s.expected_beats for s in r.sessions)
    rungs: Counter[int] = Counter()
    for s in r.sessions:
        rungs.update(s.rungs)
    print(
        f"heartbeats {beats} (scheduled {expected}); segments {len(r.samples['segment'])}, "
        f"{r.segment_bytes / 1e6:.1f} MB ({r.segment_bytes / 1e6 / max(r.elapsed_s, 1e-9):.1f} "
        f"MB/s; Content-Length total {r.segment_content_length / 1e6:.1f} MB); ABR rungs "
        f"(height: segments): {dict(sorted(rungs.items()))}"
    )
    if r.unavailable:
        print(f"unavailable (route answered 404/501): {dict(r.unavailable)}")
    if r.errors:
        print("errors by step and code:")
        for (step, code), n in sorted(r.errors.items()):
            print(f"  {step:<11}{code:<24}{n:>6}")
    else:
        print("errors: 0")


def machine_line() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; client, Envoy, services, Postgres, NATS and the edges share "
        f"the host; load average before the run {load}"
    )


# -- main ----------------------------------------------------------------------------------------


def say(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> None:
    os.environ.setdefault("VOD_TRACING", "off")
    from benchmarks.licensing_bench import mesh_settings
    from benchmarks.viewers_experiment import (
        check_simulation,
        print_readout,
        read_report,
        start_experiment,
        stop_experiment,
    )
    from mesh.launcher import LocalMesh
    from tests.conftest import scratch_dir
    from tests.e2e.media import ingest_through_gateway
    from tests.e2e.test_viewer_path import RUNGS, make_source

    print(machine_line())
    print(
        "playback's heartbeat batching window (VOD_PLAYBACK_FLUSH_S): "
        f"{os.environ.get('VOD_PLAYBACK_FLUSH_S', '0.2 (default)')} s; write-behind "
        f"(VOD_PLAYBACK_WRITE_BEHIND): {os.environ.get('VOD_PLAYBACK_WRITE_BEHIND', '1 (default)')}"
    )
    with scratch_dir("vod-viewers-bench-") as home, contextlib.ExitStack() as stack:
        baseline = "" if args.no_baseline else stack.enter_context(bare_server())
        setup: dict[str, float] = {}
        mesh = LocalMesh(mesh_settings(home, args.log_level))
        try:
            t = time.perf_counter()
            say("starting the mesh…")
            mesh.start()
            setup["mesh start"] = time.perf_counter() - t
            s = mesh.settings
            region = s.regions[0]
            t = time.perf_counter()
            say("ingesting the title…")
            ingested = ingest_through_gateway(
                s.gateway_url,
                dict(mesh.admin_metadata()),
                make_source(Path(home) / "source.mp4"),
                options={"renditions": RUNGS},
                regions=[region],
                display_name="Viewers Bench Title",
            )
            setup["ingest"] = time.perf_counter() - t
            per_account = 1 if args.experiment else PER_ACCOUNT
            n_accounts = math.ceil(args.viewers / per_account)
            t = time.perf_counter()
            say(f"creating {n_accounts} premium accounts…")
            accounts = asyncio.run(
                create_accounts(s.gateway_url, n_accounts, region, concurrency=args.signups)
            )
            setup[f"{n_accounts} accounts"] = time.perf_counter() - t
            if args.sign_in == "setup":
                t = time.perf_counter()
                say(f"signing {n_accounts} accounts in…")
                ms = asyncio.run(sign_in(s.gateway_url, accounts, args.signups))
                setup[f"{n_accounts} logins"] = time.perf_counter() - t
                print(
                    f"set-up logins ({args.signups} at a time): p50 {percentile(ms, 50):.0f} ms, "
                    f"p99 {percentile(ms, 99):.0f} ms"
                )
            print(
                "set-up (not in the figures): "
                + ", ".join(f"{k} {v:.1f}s" for k, v in setup.items())
            )
            model = experiment = None
            admin = dict(mesh.admin_metadata())
            if args.experiment:
                model = ViewerModel(base=args.base, lift=args.lift)
                experiment = asyncio.run(start_experiment(s.gateway_url, admin))
            say(f"running {args.viewers} viewers for {args.duration:g}s…")
            report = asyncio.run(
                run_viewers(
                    s.gateway_url,
                    accounts,
                    ingested.title,
                    viewers=args.viewers,
                    duration_s=args.duration,
                    heartbeat_s=args.heartbeat_s,
                    ramp_s=args.ramp_s,
                    title_duration_s=ingested.duration_s,
                    query="viewers",
                    segments=not args.no_segments,
                    per_account=per_account,
                    model=model,
                    baseline=baseline,
                )
            )
            print_report(report)
            if experiment is not None and model is not None:
                check = check_simulation(mesh.database_url, experiment, report.homes)
                readout = asyncio.run(read_report(s.gateway_url, admin, experiment))
                print_readout(readout, model, check)
                asyncio.run(stop_experiment(s.gateway_url, admin, experiment))
        finally:
            mesh.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the defaults (already quick)")
    parser.add_argument("--viewers", type=int, default=20, help="simulated viewers (20)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load (20)")
    parser.add_argument("--heartbeat-s", type=float, default=5.0, help="heartbeat interval (5)")
    parser.add_argument(
        "--ramp-s", type=float, help="starts spread over (default: a third of --duration)"
    )
    parser.add_argument(
        "--no-segments", action="store_true", help="API only: no segment downloads from the edge"
    )
    parser.add_argument("--signups", type=int, default=4, help="concurrent sign-ups in set-up")
    parser.add_argument(
        "--sign-in",
        choices=["run", "setup"],
        default="run",
        help="where accounts log in (an argon2 verify each): in the run, by each account's first "
        "viewer (default), or in set-up, --signups at a time (the run then has no login step)",
    )
    parser.add_argument(
        "--experiment",
        action="store_true",
        help="run an A/B test of the home's row order: one account per viewer, viewers play "
        "with probability --base, x(1 + --lift) when trending is the top row",
    )
    parser.add_argument("--base", type=float, default=0.4, help="play probability (0.4)")
    parser.add_argument("--lift", type=float, default=0.5, help="relative lift on top (0.5)")
    parser.add_argument("--log-level", default="WARNING", help="services' log level")
    parser.add_argument(
        "--flush-s",
        type=float,
        help="playback's heartbeat write-batching window (VOD_PLAYBACK_FLUSH_S; default 0.2): "
        "a heartbeat is answered after its batch's UPDATE, so this bounds its latency from below",
    )
    parser.add_argument(
        "--write-behind",
        choices=["on", "off"],
        help="playback answers heartbeats before their batched write (on, the default) or after "
        "it (off) (VOD_PLAYBACK_WRITE_BEHIND)",
    )
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="no same-run bare grpc.aio heartbeat baseline",
    )
    args = parser.parse_args()
    if not 1 <= args.viewers <= 5000 or not 1 <= args.duration <= 3600 or args.heartbeat_s <= 0:
        parser.error("--viewers 1..5000, --duration 1..3600 s, --heartbeat-s > 0")
    if args.heartbeat_s >= 10:
        say("note: playback's lease is 3 x its heartbeat interval (10 s by default)")
    args.ramp_s = args.duration / 3 if args.ramp_s is None else min(args.ramp_s, args.duration)
    if args.write_behind is not None:
        os.environ["VOD_PLAYBACK_WRITE_BEHIND"] = "1" if args.write_behind == "on" else "0"
    if args.flush_s is not None:
        os.environ["VOD_PLAYBACK_FLUSH_S"] = f"{args.flush_s:g}"
    from services.runtime.logs import configure_logging

    configure_logging("viewers-bench", "WARNING")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the finally stops the mesh
    run(args)


if __name__ == "__main__":
    main()
