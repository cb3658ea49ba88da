"""Faults across the mesh, measured (issue 12): SIGKILL one component at a time under load.

A LocalMesh (`vod up`'s launcher) on free loopback ports under a scratch VOD_HOME. A steady mixed
load runs through the gateway from a background thread: catalog reads (REST list, gRPC get) and
writes (REST create with a client-chosen title id as the idempotency key, gRPC update), searches,
recommendation feedback (client event ids), one viewer's playback sessions (start, heartbeats,
stop) of a tiny ingested title, and transcode jobs of a 2 s upload (client job ids), one at a time.
Every failed write is retried with the same idempotency key until it is acknowledged.

Then, one at a time, each fault SIGKILLs a component: every service process, the transcode worker,
NATS, PostgreSQL and Envoy. The launcher's supervisor (mesh/supervisor.py, which watches every
component of `LocalMesh.components()`, the servers included) restarts it; this module only calls
`mesh.supervise()` from the thread that started the mesh, as `vod up` does. Per fault it measures:

* failed requests: attempts that began between the kill and the recovery and failed;
* recovery: seconds from the kill until the component is RUNNING again and every route has
  answered a request that began after the kill;
* events lost: acknowledged writes of that fault's window (kill .. next kill) missing downstream:
  a create without its `vod.catalog.title_published` message in VOD_CATALOG or its search
  document, an update without its `vod.catalog.title_updated`, a feedback event id without its
  `vod.feedback.recorded` in VOD_FEEDBACK, a job without `vod.media.job_completed` in VOD_MEDIA
  (or with a job_failed);
* duplicated side effects: more than one title_published per title, more than one
  title_updated carrying the same revision, more than one feedback_recorded per event id, more
  than one job_completed per job, a 409 on the first create of a fresh id;
* reads agree: every acknowledged title read back after the last recovery (REST) carries its
  display name and a revision between its last acknowledged and its last attempted update.

`scripts/chaos` runs it; `--faults catalog,nats,postgres` picks faults, `--no-jobs` leaves the
transcode jobs out, `--keep-logs DIR` keeps the mesh's logs. It prints numbers, a markdown table
and how each failed request failed (HTTP status / gRPC code); it asserts nothing
(tests/e2e/test_chaos.py asserts on a reduced run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import signal
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROUTES = (
    "catalog.list REST",
    "catalog.get gRPC",
    "catalog.create REST",
    "catalog.update gRPC",
    "search",
    "feedback",
    "playback.start",
    "playback.heartbeat",
    "playback.stop",
)
PASSWORD = "chaos suite password 42"
JOB_OPTIONS = {"renditions": [{"height": 360, "bitrateBps": 150_000}]}
TERMINAL_JOB_STATES = ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED")
REQUEST_TIMEOUT_S = 5.0


def say(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def wait_until(
    what: str, check: Callable[[], Any], timeout_s: float, tick: Callable[[], None] = lambda: None
) -> Any:
    """Poll `check` (calling `tick` between polls, e.g. the supervisor) until truthy; bounded."""
    deadline = time.monotonic() + timeout_s
    while True:
        tick()
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(0.1)


# -- what the load did -----------------------------------------------------------------------


@dataclass
class Attempt:
    route: str
    began: float
    ended: float
    ok: bool
    code: str


@dataclass
class Ledger:
    """Every attempt and every acknowledged write, with monotonic times. Shared between the load
    thread (appends) and the main thread (reads); list appends are atomic in CPython."""

    attempts: list[Attempt] = field(default_factory=list)
    created: dict[str, float] = field(default_factory=dict)
    """Title name -> when its create was acknowledged."""
    display: dict[str, str] = field(default_factory=dict)
    created_by_retry: set[str] = field(default_factory=set)
    """Acknowledged as 409 ALREADY_EXISTS on a retry: an earlier attempt had succeeded."""
    conflicts_first_try: list[str] = field(default_factory=list)
    """409 on the very first attempt of a fresh title id: someone else created it (a bug)."""
    updates: dict[str, list[tuple[int, float]]] = field(default_factory=lambda: defaultdict(list))
    """Title name -> acknowledged (revision, time)."""
    attempted_rev: dict[str, int] = field(default_factory=dict)
    feedback: dict[str, float] = field(default_factory=dict)
    """Feedback event id -> when it was acknowledged."""
    jobs: dict[str, float] = field(default_factory=dict)
    """Transcode job name -> when its create was acknowledged (job id = idempotency key)."""
    job_states: dict[str, str] = field(default_factory=dict)
    """Job name -> terminal state seen by the load's polling."""

    def add(self, route: str, began: float, ok: bool, code: str) -> None:
        self.attempts.append(Attempt(route, began, time.monotonic(), ok, code))

    def successes_since(self, t: float) -> Counter[str]:
        return Counter(a.route for a in list(self.attempts) if a.ok and a.began >= t)


@dataclass
class Viewer:
    profile: str
    token: str


class Load:
    """The steady mixed load, run in its own thread and event loop until `stop` is set."""

    def __init__(
        self,
        gateway_url: str,
        grpc_target: str,
        admin: dict[str, str],
        viewer: Viewer,
        media_title: str,
        tag: str,
        job_upload: str = "",
    ) -> None:
        self.gateway_url = gateway_url
        self.grpc_target = grpc_target
        self.admin = admin
        self.viewer = viewer
        self.media_title = media_title
        self.tag = tag
        self.job_upload = job_upload
        self.ledger = Ledger()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self) -> None:
        def main() -> None:
            try:
                asyncio.run(self._run())
            except BaseException as exc:  # surfaced by join()
                self.error = exc

        self.thread = threading.Thread(target=main, name="chaos-load", daemon=True)
        self.thread.start()

    def join(self, timeout_s: float = 60.0) -> None:
        self.stop.set()
        assert self.thread is not None
        self.thread.join(timeout_s)
        if self.thread.is_alive():
            raise TimeoutError("the load did not stop within 60 s")
        if self.error is not None:
            raise RuntimeError(f"the load crashed: {self.error!r}") from self.error

    async def _run(self) -> None:
        import grpc
        import httpx
        from vod.catalog.v1 import catalog_pb2_grpc

        limits = httpx.Limits(max_keepalive_connections=8, keepalive_expiry=5)
        async with (
            httpx.AsyncClient(
                base_url=self.gateway_url, timeout=REQUEST_TIMEOUT_S, limits=limits
            ) as self.http,
            grpc.aio.insecure_channel(self.grpc_target) as channel,
        ):
            self.catalog = catalog_pb2_grpc.CatalogServiceStub(channel)
            await asyncio.gather(
                self._loop(self._list, 0.5),
                self._loop(self._get, 0.5),
                self._writer(),
                self._loop(self._search, 0.5),
                self._feedbacker(),
                self._viewer(),
                self._jobs(),
            )

    async def _loop(self, step: Callable[[], Any], pace_s: float) -> None:
        while not self.stop.is_set():
            await step()
            await asyncio.sleep(pace_s)

    async def _pause(self, seconds: float) -> None:
        """Pacing of the load itself (not synchronisation): a short wait that ends on stop."""
        end = time.monotonic() + seconds
        while not self.stop.is_set() and time.monotonic() < end:
            await asyncio.sleep(min(0.1, end - time.monotonic()))

    async def _http(
        self,
        route: str,
        method: str,
        url: str,
        *,
        ok: tuple[int, ...] = (200,),
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> tuple[int, Any] | None:
        began = time.monotonic()
        try:
            resp = await self.http.request(method, url, headers=headers or self.admin, **kwargs)
        except Exception as exc:  # noqa: BLE001 (any transport failure is a failed attempt)
            self.ledger.add(route, began, False, type(exc).__name__)
            return None
        good = resp.status_code in ok
        self.ledger.add(route, began, good, str(resp.status_code))
        if not good:
            return None
        try:
            return resp.status_code, resp.json()
        except ValueError:
            return resp.status_code, None

    async def _create(
        self, route: str, path: str, params: dict[str, str], body: Any, name: str, pause_s: float
    ) -> int | None:
        """POST with a client-chosen id until acknowledged (200, or 409: an earlier attempt
        got through), retrying the same id; the status, or None if the run ended first. A 409
        on the first try is a conflict the run must never see (the ids are fresh)."""
        tries = 0
        while not self.stop.is_set():
            tries += 1
            done = await self._http(route, "POST", path, params=params, json=body, ok=(200, 409))
            if done is not None:
                if done[0] == 409 and tries == 1:
                    self.ledger.conflicts_first_try.append(name)
                return int(done[0])
            await self._pause(pause_s)
        return None

    async def _grpc(self, route: str, call: Callable[[], Any]) -> Any:
        import grpc

        began = time.monotonic()
        try:
            result = await call()
        except grpc.aio.AioRpcError as exc:
            self.ledger.add(route, began, False, exc.code().name)
            return None
        except Exception as exc:  # noqa: BLE001
            self.ledger.add(route, began, False, type(exc).__name__)
            return None
        self.ledger.add(route, began, True, "OK")
        return result

    # -- routes ----------------------------------------------------------------------------

    async def _list(self) -> None:
        await self._http("catalog.list REST", "GET", "/v1/titles", params={"pageSize": 5})

    async def _get(self) -> None:
        from vod.catalog.v1 import catalog_pb2

        md = tuple(self.admin.items())
        await self._grpc(
            "catalog.get gRPC",
            lambda: self.catalog.GetTitle(
                catalog_pb2.GetTitleRequest(name=self.media_title),
                metadata=md,
                timeout=REQUEST_TIMEOUT_S,
            ),
        )

    async def _search(self) -> None:
        viewer = {"authorization": f"Bearer {self.viewer.token}"}
        await self._http(
            "search",
            "GET",
            "/v1/search",
            params={"query": "chaos", "pageSize": 5},
            headers=viewer,
        )

    async def _writer(self) -> None:
        """Creates titles (REST, title id = idempotency key) and updates each once (gRPC)."""
        from google.protobuf import field_mask_pb2
        from vod.catalog.v1 import catalog_pb2

        md = tuple(self.admin.items())
        n = 0
        while not self.stop.is_set():
            n += 1
            title_id = f"chaos-{self.tag}-{n:05d}"
            name = f"titles/{title_id}"
            display = f"Chaos zq{self.tag}n{n:05d}"
            body = {
                "type": "TITLE_TYPE_MOVIE",
                "displayName": display,
                "synopsis": "rev 0",
                "releaseYear": 2024,
                "availability": [{"regionCode": "US", "startTime": "2020-01-01T00:00:00Z"}],
            }
            status = await self._create(
                "catalog.create REST", "/v1/titles", {"titleId": title_id}, body, name, 0.2
            )
            if status is None:
                return
            if status == 409 and name not in self.ledger.conflicts_first_try:
                self.ledger.created_by_retry.add(name)
            self.ledger.display[name] = display
            self.ledger.created[name] = time.monotonic()
            rev = 1
            self.ledger.attempted_rev[name] = rev
            request = catalog_pb2.UpdateTitleRequest(
                title=catalog_pb2.Title(name=name, synopsis=f"rev {rev}"),
                update_mask=field_mask_pb2.FieldMask(paths=["synopsis"]),
            )
            while not self.stop.is_set():
                updated = await self._grpc(
                    "catalog.update gRPC",
                    lambda r=request: self.catalog.UpdateTitle(
                        r, metadata=md, timeout=REQUEST_TIMEOUT_S
                    ),
                )
                if updated is not None:
                    self.ledger.updates[name].append((rev, time.monotonic()))
                    break
                await self._pause(0.2)
            await self._pause(0.3)

    async def _feedbacker(self) -> None:
        viewer = {"authorization": f"Bearer {self.viewer.token}"}
        kinds = ("FEEDBACK_KIND_VIEW", "FEEDBACK_KIND_LIKE")
        n = 0
        while not self.stop.is_set():
            n += 1
            event_id = str(uuid.uuid4())
            body = {
                "title": self.media_title,
                "kind": kinds[n % 2],
                "watchedFraction": 0.5,
                "eventId": event_id,
            }
            while not self.stop.is_set():
                done = await self._http(
                    "feedback",
                    "POST",
                    f"/v1/{self.viewer.profile}/feedback",
                    json=body,
                    headers=viewer,
                )
                if done is not None:
                    self.ledger.feedback[event_id] = time.monotonic()
                    break
                await self._pause(0.2)
            await self._pause(0.5)

    async def _jobs(self) -> None:
        """One transcode job at a time of a 2 s source (job id = idempotency key), polled to
        its end. Not a route of the recovery condition: a job caught by a killed worker is
        redelivered only after the work queue's ack wait (30 s)."""
        if not self.job_upload:
            return
        n = 0
        while not self.stop.is_set():
            n += 1
            job_id = f"chaos-{self.tag}-job-{n:04d}"
            name = f"jobs/{job_id}"
            body = {"upload": self.job_upload, "options": JOB_OPTIONS}
            if await self._create("job.create", "/v1/jobs", {"jobId": job_id}, body, name, 0.3):
                self.ledger.jobs[name] = time.monotonic()
            while name in self.ledger.jobs and not self.stop.is_set():
                got = await self._http("job.get", "GET", f"/v1/{name}")
                state = got[1]["job"]["state"] if got is not None else ""
                if state in TERMINAL_JOB_STATES:
                    self.ledger.job_states[name] = state
                    break
                await self._pause(0.5)

    async def _viewer(self) -> None:
        """One viewer: start a session, heartbeat every 0.5 s three times, stop; again."""
        viewer = {"authorization": f"Bearer {self.viewer.token}"}
        n = 0
        while not self.stop.is_set():
            n += 1
            started = await self._http(
                "playback.start",
                "POST",
                "/v1/sessions:start",
                json={
                    "profile": self.viewer.profile,
                    "title": self.media_title,
                    "deviceType": "DEVICE_TYPE_WEB",
                    "deviceId": "chaos-viewer",
                    "preferredProtocol": "STREAMING_PROTOCOL_HLS",
                },
                headers=viewer,
            )
            if started is None:
                await self._pause(0.3)
                continue
            session = started[1]["session"]["name"]
            for k in range(1, 4):
                await self._pause(0.5)
                await self._http(
                    "playback.heartbeat",
                    "POST",
                    f"/v1/{session}:heartbeat",
                    json={"position": f"{k * 0.5:.3f}s", "state": "PLAYER_STATE_PLAYING"},
                    headers=viewer,
                )
            while not self.stop.is_set():  # stop frees the stream slot: retry it
                stopped = await self._http(
                    "playback.stop",
                    "POST",
                    f"/v1/{session}:stop",
                    json={"position": "1.500s"},
                    headers=viewer,
                    ok=(200, 404),
                )
                if stopped is not None:
                    break
                await self._pause(0.3)


# -- faults ----------------------------------------------------------------------------------


@dataclass
class FaultResult:
    fault: str
    pid: int
    killed_at: float
    recovered_at: float = 0.0
    restarted_by: str = "supervisor"
    failed: Counter[str] = field(default_factory=Counter)
    """Route -> failed attempts that began between the kill and the recovery."""
    codes: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(route, HTTP status / gRPC code / exception) -> failed attempts."""
    attempts: int = 0
    error: str = ""

    @property
    def recovery_s(self) -> float:
        return self.recovered_at - self.killed_at if self.recovered_at else float("nan")


def inject(
    mesh: Any, load: Load, fault: str, *, steady_after: float, timeout_s: float = 120.0
) -> FaultResult:
    """SIGKILL `fault` once every route has answered since `steady_after`; wait for recovery."""
    tick = mesh.supervise
    wait_until(
        f"steady load before killing {fault}",
        lambda: all(load.ledger.successes_since(steady_after)[r] >= 2 for r in ROUTES),
        timeout_s,
        tick,
    )
    process = mesh.components()[fault]
    before = mesh.supervisor.restarts().get(fault, 0)
    pid = process.pid
    assert pid, f"{fault} is not running"
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    result = FaultResult(fault, pid, killed_at)
    say(f"SIGKILLed {fault} (pid {pid})")

    def component_back() -> bool:
        w = mesh.supervisor.watched[fault]
        return (
            mesh.supervisor.restarts().get(fault, 0) > before
            and w.state == "RUNNING"
            and process.pid not in (None, pid)
        )

    try:
        wait_until(f"the supervisor to restart {fault}", component_back, timeout_s, tick)
    except TimeoutError as exc:  # the launcher's own object restarts it then
        result.restarted_by = "launcher (supervisor did not)"
        result.error = str(exc)
        say(f"{exc}; restarting {fault} through the launcher")
        process.kill()
        process.start()
        mesh.supervisor.watched[fault].state = "RUNNING"
    try:
        wait_until(
            f"every route to answer after killing {fault}",
            lambda: set(ROUTES) <= set(+load.ledger.successes_since(killed_at)),
            timeout_s,
            tick,
        )
        result.recovered_at = max(
            min(
                a.ended
                for a in load.ledger.attempts
                if a.ok and a.began >= killed_at and a.route == r
            )
            for r in ROUTES
        )
        result.recovered_at = max(result.recovered_at, _restart_ready_at(mesh, fault, killed_at))
    except TimeoutError as exc:
        result.error = (result.error + "; " if result.error else "") + str(exc)
        missing = set(ROUTES) - set(+load.ledger.successes_since(killed_at))
        say(f"NOT RECOVERED after {fault}: routes still failing: {sorted(missing)}")
    end = result.recovered_at or time.monotonic()
    window = [a for a in list(load.ledger.attempts) if killed_at <= a.began <= end]
    result.attempts = len(window)
    result.failed = Counter(a.route for a in window if not a.ok)
    result.codes = Counter((a.route, a.code) for a in window if not a.ok)
    say(
        f"{fault}: recovered in {result.recovery_s:.1f}s, "
        f"{sum(result.failed.values())} of {result.attempts} requests failed"
    )
    return result


def _restart_ready_at(mesh: Any, fault: str, killed_at: float) -> float:
    """When the supervisor saw the restarted component ready (its monotonic clock): readiness
    counts for components no route of the load reaches (licensing, the worker, ...)."""
    w = mesh.supervisor.watched[fault]
    return max(killed_at, w.running_since)


# -- checks after the run --------------------------------------------------------------------


@dataclass
class Downstream:
    published: Counter[str] = field(default_factory=Counter)
    """Title name -> title_published messages in VOD_CATALOG."""
    updated: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(title name, synopsis) -> title_updated messages."""
    feedback: Counter[str] = field(default_factory=Counter)
    """Event id -> feedback_recorded messages in VOD_FEEDBACK."""
    indexed: set[str] = field(default_factory=set)
    """Acknowledged titles found by search."""
    jobs_completed: Counter[str] = field(default_factory=Counter)
    """Job name -> job_completed messages in VOD_MEDIA."""
    jobs_failed: Counter[str] = field(default_factory=Counter)
    """Job name -> job_failed messages in VOD_MEDIA."""


async def read_streams(nats_url: str) -> Downstream:
    """Every message of VOD_CATALOG and VOD_FEEDBACK, by direct get (no consumer state)."""
    import nats
    from nats.js.errors import NotFoundError
    from vod.events.v1 import catalog_events_pb2 as cev
    from vod.events.v1 import feedback_events_pb2 as fev
    from vod.events.v1 import media_events_pb2 as mev

    found = Downstream()
    nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=3)
    try:
        js = nc.jetstream(timeout=5)
        for stream in ("VOD_CATALOG", "VOD_FEEDBACK", "VOD_MEDIA"):
            info = await js.stream_info(stream)
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                try:
                    msg = await js.get_msg(stream, seq)
                except NotFoundError:
                    continue
                if msg.subject == "vod.catalog.title_published":
                    found.published[cev.TitlePublished.FromString(msg.data).title.name] += 1
                elif msg.subject == "vod.catalog.title_updated":
                    event = cev.TitleUpdated.FromString(msg.data)
                    if "synopsis" in event.changed_fields:
                        found.updated[(event.title.name, event.title.synopsis)] += 1
                elif msg.subject == "vod.media.job_completed":
                    job = mev.TranscodeJobCompleted.FromString(msg.data).job.name
                    found.jobs_completed[job] += 1
                elif msg.subject == "vod.media.job_failed":
                    found.jobs_failed[mev.TranscodeJobFailed.FromString(msg.data).job.name] += 1
                elif msg.subject == "vod.feedback.recorded":
                    found.feedback[fev.FeedbackRecorded.FromString(msg.data).meta.event_id] += 1
    finally:
        await nc.close()
    return found


async def search_finds(gateway_url: str, admin: dict[str, str], ledger: Ledger) -> set[str]:
    """The acknowledged titles whose unique word finds them through the gateway's search."""
    import httpx

    gate = asyncio.Semaphore(6)
    found: set[str] = set()
    async with httpx.AsyncClient(base_url=gateway_url, timeout=10, headers=admin) as http:

        async def one(name: str) -> None:
            word = ledger.display[name].split()[-1]
            async with gate:
                r = await http.get("/v1/search", params={"query": word, "pageSize": 10})
            if r.status_code == 200:
                hits = r.json().get("hits", [])
                if any(h.get("summary", {}).get("title") == name for h in hits):
                    found.add(name)

        await asyncio.gather(*(one(n) for n in list(ledger.created)))
    return found


async def read_back(gateway_url: str, admin: dict[str, str], ledger: Ledger) -> dict[str, str]:
    """Title name -> what disagrees with its acknowledged writes ('' when it agrees)."""
    import httpx

    gate = asyncio.Semaphore(6)
    verdicts: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=gateway_url, timeout=10, headers=admin) as http:

        async def one(name: str) -> None:
            async with gate:
                r = await http.get(f"/v1/{name}")
            if r.status_code != 200:
                verdicts[name] = f"GET {r.status_code}"
                return
            title = r.json()["title"]
            acked = max((rev for rev, _ in ledger.updates.get(name, [])), default=0)
            attempted = ledger.attempted_rev.get(name, 0)
            rev = int(str(title.get("synopsis", "rev -1")).split()[-1])
            wrong = []
            if title.get("displayName") != ledger.display[name]:
                wrong.append(f"displayName {title.get('displayName')!r}")
            if not acked <= rev <= attempted:
                wrong.append(f"synopsis rev {rev}, acknowledged {acked}, attempted {attempted}")
            verdicts[name] = "; ".join(wrong)

        await asyncio.gather(*(one(n) for n in list(ledger.created)))
    return verdicts


@dataclass
class Verdict:
    """Per window (index into the faults, -1 = before the first fault)."""

    lost: Counter[int] = field(default_factory=Counter)
    duplicates: Counter[int] = field(default_factory=Counter)
    disagree: Counter[int] = field(default_factory=Counter)
    writes: Counter[int] = field(default_factory=Counter)
    details: list[str] = field(default_factory=list)


def judge(
    ledger: Ledger,
    results: Sequence[FaultResult],
    down: Downstream,
    reads: dict[str, str],
) -> Verdict:
    v = Verdict()
    kills = [r.killed_at for r in results]

    def window(t: float) -> int:
        return sum(1 for k in kills if k <= t) - 1

    for name, t in ledger.created.items():
        w = window(t)
        v.writes[w] += 1
        if down.published[name] == 0:
            v.lost[w] += 1
            v.details.append(f"lost: title_published of {name}")
        if name not in down.indexed:
            v.lost[w] += 1
            v.details.append(f"lost: search document of {name}")
        if down.published[name] > 1:
            v.duplicates[w] += down.published[name] - 1
            v.details.append(f"duplicate: {down.published[name]} title_published of {name}")
        if reads.get(name):
            v.disagree[w] += 1
            v.details.append(f"read-back of {name}: {reads[name]}")
    for name in ledger.conflicts_first_try:
        v.duplicates[-1] += 1
        v.details.append(f"duplicate: {name} existed before its first create")
    for name, acks in ledger.updates.items():
        for rev, t in acks:
            w = window(t)
            v.writes[w] += 1
            n = down.updated[(name, f"rev {rev}")]
            if n == 0:
                v.lost[w] += 1
                v.details.append(f"lost: title_updated rev {rev} of {name}")
            elif n > 1:
                v.duplicates[w] += n - 1
                v.details.append(f"duplicate: {n} title_updated rev {rev} of {name}")
    for event_id, t in ledger.feedback.items():
        w = window(t)
        v.writes[w] += 1
        n = down.feedback[event_id]
        if n == 0:
            v.lost[w] += 1
            v.details.append(f"lost: feedback_recorded {event_id}")
        elif n > 1:
            v.duplicates[w] += n - 1
            v.details.append(f"duplicate: {n} feedback_recorded {event_id}")
    for job, t in ledger.jobs.items():
        w = window(t)
        v.writes[w] += 1
        n = down.jobs_completed[job]
        if down.jobs_failed[job]:
            v.lost[w] += 1
            v.details.append(f"lost: {job} FAILED ({down.jobs_failed[job]} job_failed)")
        elif n == 0:
            v.lost[w] += 1
            v.details.append(f"lost: {job} never completed (no job_completed)")
        elif n > 1:
            v.duplicates[w] += n - 1
            v.details.append(f"duplicate: {n} job_completed of {job}")
    return v


def settle(mesh: Any, load: Load, timeout_s: float = 120.0) -> tuple[Downstream, dict[str, str]]:
    """Wait (bounded) until every acknowledged write is downstream, then read everything back."""
    gateway = mesh.settings.gateway_url
    admin = dict(mesh.admin_metadata())
    ledger = load.ledger
    latest: list[Downstream] = []

    def complete() -> bool:
        down = asyncio.run(read_streams(mesh.nats_url))
        down.indexed = asyncio.run(search_finds(gateway, admin, ledger))
        latest[:] = [down]
        return (
            all(down.published[n] for n in ledger.created)
            and set(ledger.created) <= down.indexed
            and all(down.updated[(n, f"rev {r}")] for n, a in ledger.updates.items() for r, _ in a)
            and all(down.feedback[e] for e in ledger.feedback)
            and all(down.jobs_completed[j] or down.jobs_failed[j] for j in ledger.jobs)
        )

    with contextlib.suppress(TimeoutError):
        wait_until("every acknowledged write downstream", complete, timeout_s, mesh.supervise)
    reads = asyncio.run(read_back(gateway, admin, ledger))
    return latest[0], reads


# -- set-up ----------------------------------------------------------------------------------


def make_tiny_source(path: Path) -> bytes:
    import subprocess

    import imageio_ffmpeg

    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error",
            "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=12",
            "-f", "lavfi", "-i", "sine=frequency=440",
            "-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest",
            str(path),
        ],
        check=True,
        timeout=120,
    )  # fmt: skip
    return path.read_bytes()


def sign_up_viewer(gateway_url: str, region: str) -> Viewer:
    import httpx

    email = f"chaos-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=gateway_url, timeout=30) as http:
        made = http.post(
            "/v1/users",
            json={
                "user": {
                    "email": email,
                    "displayName": "Chaos viewer",
                    "plan": "plans/premium",
                    "homeRegion": region,
                },
                "password": PASSWORD,
            },
        )
        made.raise_for_status()
        profile = made.json()["profile"]["name"]
        login = http.post("/v1/auth:login", json={"email": email, "password": PASSWORD})
        login.raise_for_status()
        user_token = login.json()["tokens"]["accessToken"]
        issued = http.post(
            f"/v1/{profile}:issueToken",
            json={},
            headers={"authorization": f"Bearer {user_token}"},
        )
        issued.raise_for_status()
        return Viewer(profile, issued.json()["tokens"]["accessToken"])


def mesh_faults(mesh: Any) -> list[str]:
    """Every service process, the transcode worker(s), NATS, PostgreSQL and Envoy."""
    names = [p.name for p in mesh.services] + [w.name for w in mesh.workers]
    return [*names, "nats", "postgres", "envoy"]


@dataclass
class ChaosRun:
    results: list[FaultResult]
    verdict: Verdict
    ledger: Ledger
    setup: dict[str, float]
    run_s: float


def run_chaos(
    home: Path, faults: Sequence[str] | None, log_level: str = "WARNING", *, with_jobs: bool = True
) -> ChaosRun:
    """Start a mesh under `home`, inject `faults` (None: all) one at a time, judge the run."""
    from benchmarks.licensing_bench import mesh_settings
    from mesh.launcher import LocalMesh
    from tests.e2e.media import ingest_through_gateway

    setup: dict[str, float] = {}
    mesh = LocalMesh(mesh_settings(home, log_level))
    try:
        t = time.perf_counter()
        say("starting the mesh…")
        mesh.start()
        setup["mesh start"] = time.perf_counter() - t
        s = mesh.settings
        t = time.perf_counter()
        say("ingesting two 2 s titles (the viewer's, the jobs')…")
        ingested = ingest_through_gateway(
            s.gateway_url,
            dict(mesh.admin_metadata()),
            make_tiny_source(home / "source.mp4"),
            options=JOB_OPTIONS,
            regions=[s.regions[0]],
            display_name="Chaos Playback Title",
        )
        jobs_title = ingest_through_gateway(
            s.gateway_url,
            dict(mesh.admin_metadata()),
            make_tiny_source(home / "source.mp4"),
            options=JOB_OPTIONS,
            regions=[s.regions[0]],
            display_name="Chaos Transcode Title",
        )
        viewer = sign_up_viewer(s.gateway_url, s.regions[0])
        setup["ingest + viewer"] = time.perf_counter() - t
        chosen = list(faults) if faults else mesh_faults(mesh)
        unknown = set(chosen) - set(mesh.components())
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {mesh_faults(mesh)}")
        load = Load(
            s.gateway_url,
            s.gateway_grpc,
            dict(mesh.admin_metadata()),
            viewer,
            ingested.title,
            uuid.uuid4().hex[:6],
            job_upload=jobs_title.job["upload"] if with_jobs else "",
        )
        began = time.perf_counter()
        load.start()
        results: list[FaultResult] = []
        try:
            steady_after = time.monotonic()
            for fault in chosen:
                result = inject(mesh, load, fault, steady_after=steady_after)
                results.append(result)
                steady_after = result.recovered_at or time.monotonic()
            wait_until(
                "steady load after the last fault",
                lambda: all(load.ledger.successes_since(steady_after)[r] >= 2 for r in ROUTES),
                120,
                mesh.supervise,
            )
        finally:
            load.join()
        run_s = time.perf_counter() - began
        say("checking events, search documents and read-backs…")
        down, reads = settle(mesh, load)
        verdict = judge(load.ledger, results, down, reads)
        return ChaosRun(results, verdict, load.ledger, setup, run_s)
    finally:
        mesh.stop()


# -- report ----------------------------------------------------------------------------------


def machine_line() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; load generator, Envoy, services, Postgres and NATS share "
        f"the host; load average before the run {load}"
    )


def table(run: ChaosRun) -> str:
    v = run.verdict
    lines = [
        "| fault (SIGKILL) | restarted by | failed / requests during fault | recovery (s) "
        "| acked writes in window | events lost | duplicates | reads agree |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    lines.append(
        f"| none (baseline) | – | – | – | {v.writes[-1]} | {v.lost[-1]} | {v.duplicates[-1]} "
        f"| {'yes' if v.disagree[-1] == 0 else f'no ({v.disagree[-1]})'} |"
    )
    for i, r in enumerate(run.results):
        failed = sum(r.failed.values())
        worst = ", ".join(f"{k} {n}" for k, n in r.failed.most_common(3))
        rec = f"{r.recovery_s:.1f}" if r.recovered_at else "**never**"
        lines.append(
            f"| {r.fault} | {r.restarted_by} | {failed} / {r.attempts}"
            f"{f' ({worst})' if worst else ''} | {rec} | {v.writes[i]} | {v.lost[i]} "
            f"| {v.duplicates[i]} | {'yes' if v.disagree[i] == 0 else f'no ({v.disagree[i]})'} |"
        )
    return "\n".join(lines)


def print_report(run: ChaosRun) -> None:
    ledger = run.ledger
    print(
        "set-up (not in the figures): " + ", ".join(f"{k} {v:.1f}s" for k, v in run.setup.items())
    )
    ok = sum(1 for a in ledger.attempts if a.ok)
    print(
        f"load: {len(ledger.attempts)} requests over {run.run_s:.0f}s ({ok} ok); "
        f"acknowledged: {len(ledger.created)} creates ({len(ledger.created_by_retry)} by a retry "
        f"answered 409), {sum(len(a) for a in ledger.updates.values())} updates, "
        f"{len(ledger.feedback)} feedback events, {len(ledger.jobs)} transcode jobs "
        f"({Counter(ledger.job_states.values()).most_common()} seen by polling)"
    )
    print()
    print(table(run))
    print()
    print("how requests failed during each fault (route: code x count):")
    for r in run.results:
        codes = ", ".join(f"{route}: {code} x{n}" for (route, code), n in sorted(r.codes.items()))
        print(f"  {r.fault}: {codes or 'none failed'}")
    print()
    if run.verdict.details:
        print("problems found:")
        for line in run.verdict.details[:50]:
            print(f"  {line}")
    for r in run.results:
        if r.error:
            print(f"  {r.fault}: {r.error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--faults", help="comma-separated components to kill (default: all, in start order)"
    )
    parser.add_argument("--log-level", default="WARNING", help="services' log level")
    parser.add_argument(
        "--keep-logs", type=Path, help="copy the mesh's logs (VOD_HOME/logs) here before cleanup"
    )
    parser.add_argument(
        "--no-jobs", action="store_true", help="no transcode jobs in the load (less CPU)"
    )
    args = parser.parse_args()
    os.environ.setdefault("VOD_TRACING", "off")
    # one run outlives the default 15 min access token of the load's admin and viewer
    os.environ.setdefault("VOD_ACCESS_TOKEN_TTL_S", "3600")
    from services.runtime.logs import configure_logging
    from tests.conftest import scratch_dir

    configure_logging("chaos", "WARNING")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the finally stops the mesh
    faults = [f.strip() for f in args.faults.split(",") if f.strip()] if args.faults else None
    print(machine_line())
    with scratch_dir("vod-chaos-") as home:
        try:
            run = run_chaos(home, faults, args.log_level, with_jobs=not args.no_jobs)
        finally:
            if args.keep_logs is not None:
                shutil.copytree(home / "logs", args.keep_logs, dirs_exist_ok=True)
                say(f"logs kept in {args.keep_logs}")
    print_report(run)


if __name__ == "__main__":
    main()
