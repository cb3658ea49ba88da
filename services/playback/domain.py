"""Playback's logic: who may start what where, sessions and their leases, heartbeats gathered
into batched writes, resume points, and edge pre-warming. No grpc imports: dependencies sit
behind the Protocols of `deps` (catalog, transcoding, accounts, the origin) and
`PlaybackRepository` (storage); errors are `services.runtime.errors` exceptions."""

from __future__ import annotations

import asyncio
import re
import secrets
import string
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlencode

import httpx
from google.protobuf import duration_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from vod.accounts.v1 import accounts_pb2 as apb
from vod.catalog.v1 import catalog_pb2 as cpb
from vod.events.v1 import playback_events_pb2 as ev
from vod.playback.v1 import playback_pb2 as pb
from vod.transcoding.v1 import transcoding_pb2 as tpb

from services.playback import manifests
from services.runtime import playback_tokens
from services.runtime.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    OutOfRange,
    PermissionDenied,
    ResourceExhausted,
    Unavailable,
)
from services.runtime.events import new_meta
from services.runtime.identity import Caller, forward_metadata, platform_region
from services.runtime.logs import get_logger
from services.runtime.maturity import maturity_allows, parse_maturity
from services.runtime.page_tokens import PageTokens, bad_page_token, default_page_tokens
from services.runtime.processes import SiblingVersions

if TYPE_CHECKING:
    from services.playback.config import PlaybackSettings
    from services.playback.deps import (
        AccountsDirectory,
        MediaLibrary,
        OriginManifests,
        TitleCatalog,
    )

__all__ = [
    "COMPLETE_FRACTION",
    "CREDITS_MIN_DURATION_S",
    "CREDITS_S",
    "HeartbeatBatcher",
    "HeartbeatWrite",
    "PlaybackDomain",
    "PlaybackRepository",
    "ResumeRecord",
    "SessionRecord",
    "StartOutcome",
    "StreamLimitReached",
    "clearkey_license_url",
    "is_completed",
    "maturity_allows",
]

_log = get_logger("playback")

PRODUCER = "playback"

COMPLETE_FRACTION = 0.95
"""A title is finished once the position reaches 95% of its duration..."""
CREDITS_S = 30.0
"""...or, for media of at least CREDITS_MIN_DURATION_S, once fewer than 30 s are left (credits).
Shorter clips use the fraction alone: 30 s would be most of them."""
CREDITS_MIN_DURATION_S = 120.0
POSITION_TOLERANCE_S = 1.0
"""A heartbeat may report up to this much past the duration (players round)."""
WATCH_SLACK_S = 2.0
"""Progress counted as watched may exceed the wall-clock time between heartbeats by this much."""

DEVICE_HEIGHT_CAP = {pb.DEVICE_TYPE_MOBILE: 1080}
"""Highest frame height per device type; absent = no device cap."""
HLS_DEVICES = (pb.DEVICE_TYPE_MOBILE, pb.DEVICE_TYPE_TABLET)

_SESSION_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_ALPHABET = string.ascii_lowercase + string.digits


def is_completed(position_s: float, duration_s: float) -> bool:
    if duration_s <= 0:
        return False
    if position_s >= COMPLETE_FRACTION * duration_s:
        return True
    return duration_s >= CREDITS_MIN_DURATION_S and duration_s - position_s <= CREDITS_S


def new_session_id() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(16))


def _duration(seconds: float) -> duration_pb2.Duration:
    out = duration_pb2.Duration()
    out.FromNanoseconds(int(round(seconds * 1e9)))
    return out


def _seconds(value: duration_pb2.Duration) -> float:
    return value.seconds + value.nanos / 1e9


def _user_of(profile: str) -> str:
    return profile.split("/profiles/", 1)[0]


# -- records ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionRecord:
    id: str
    user: str
    profile: str
    title: str
    media: str
    device_type: int
    device_id: str
    region: str
    protocol: int
    max_height: int
    video_tracks: tuple[str, ...]
    encrypted: bool
    duration_s: float
    start_position_s: float
    position_s: float
    watch_time_s: float
    state: int
    start_time: datetime
    expire_time: datetime
    token_expires: int
    end_time: datetime | None = None
    plan: str = ""
    """The plan the session was started under, "plans/{plan}"."""

    @property
    def name(self) -> str:
        return f"sessions/{self.id}"

    def live(self, now: datetime) -> bool:
        return self.state == pb.SESSION_STATE_ACTIVE and self.expire_time > now

    def state_at(self, now: datetime) -> int:
        """The state as of `now`: an ACTIVE session whose lease ran out is EXPIRED even before
        the sweeper has written it."""
        if self.state == pb.SESSION_STATE_ACTIVE and self.expire_time <= now:
            return pb.SESSION_STATE_EXPIRED
        return self.state


@dataclass(frozen=True)
class ResumeRecord:
    profile: str
    title: str
    position_s: float
    duration_s: float
    completed: bool
    update_time: datetime | None


@dataclass(frozen=True)
class HeartbeatWrite:
    session: str
    user: str
    position_s: float
    playing: bool
    expire: datetime
    """The lease the heartbeat was answered with (its arrival + the lease): what is stored."""


@dataclass(frozen=True)
class StartOutcome:
    """The started session, or None with the live sessions that hold every slot; `replaced`:
    the ids of the same device's sessions of the same title it stopped (either way)."""

    session: SessionRecord | None
    in_use: tuple[SessionRecord, ...] = ()
    replaced: tuple[str, ...] = ()


StartedEvent = Callable[[SessionRecord], Message]
StoppedEvent = Callable[[SessionRecord, int], Message]


class PlaybackRepository(Protocol):
    async def get_session(self, session_id: str) -> SessionRecord | None: ...

    async def start_session(
        self,
        new: SessionRecord,
        *,
        max_streams: int,
        resume_from: Callable[[ResumeRecord | None], float] | None,
        started: StartedEvent,
        stopped: StoppedEvent,
    ) -> StartOutcome:
        """Atomically per user: stop the same device's live session of the same title, count
        the user's live sessions, and insert `new` (with its start position from `resume_from`
        of the saved resume point, when given) only below `max_streams`."""
        ...

    async def apply_heartbeats(self, writes: Sequence[HeartbeatWrite], now: datetime) -> set[str]:
        """One batched write of the sessions live at `now`, each lease extended to its write's
        `expire` (never shortened); returns the ids of the sessions updated."""
        ...

    async def stop_session(
        self, session_id: str, position_s: float | None, now: datetime, stopped: StoppedEvent
    ) -> SessionRecord | None:
        """End a live session (a no-op for an ended one); returns it as it is now."""
        ...

    async def expire_due(self, now: datetime, limit: int, stopped: StoppedEvent) -> int: ...

    async def get_resume_point(self, profile: str, title: str) -> ResumeRecord | None: ...

    async def list_continue_watching(
        self, profile: str, after: tuple[datetime, str] | None, limit: int
    ) -> list[ResumeRecord]: ...


# -- errors -----------------------------------------------------------------------------------


@dataclass
class StreamLimitReached(ResourceExhausted):
    """RESOURCE_EXHAUSTED with a google.rpc.QuotaFailure listing the sessions holding the slots
    (subject = session name), so a client can offer to stop one of them."""

    in_use: tuple[tuple[str, str], ...] = ()
    reason: str = "STREAM_LIMIT_REACHED"

    def details(self) -> list[object]:
        quota = error_details_pb2.QuotaFailure(
            violations=[
                error_details_pb2.QuotaFailure.Violation(subject=subject, description=description)
                for subject, description in self.in_use
            ]
        )
        return [*super().details(), quota]


def _title_not_found(title: str) -> NotFound:
    return NotFound(
        f"{title} does not exist",
        reason="TITLE_NOT_FOUND",
        resource_type="vod.catalog.v1.Title",
        resource_name=title,
    )


def _session_not_found(name: str) -> NotFound:
    return NotFound(
        f"{name} does not exist",
        reason="SESSION_NOT_FOUND",
        resource_type="vod.playback.v1.PlaybackSession",
        resource_name=name,
    )


def _media_not_ready(title: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"{title} has no playable media yet",
        reason="MEDIA_NOT_READY",
        violations=(("MEDIA_NOT_READY", title, "the title's media is not transcoded yet"),),
    )


def _device_label(device_type: int) -> str:
    return pb.DeviceType.Name(device_type).removeprefix("DEVICE_TYPE_").lower()


# -- heartbeat batching -----------------------------------------------------------------------


@dataclass
class _Pending:
    write: HeartbeatWrite
    waiters: list[asyncio.Future[datetime | None]] = field(default_factory=list)
    acked: bool = False
    """Some caller was already answered (write-behind): a failed flush keeps the write."""
    failures: int = 0


@dataclass
class _Batch:
    pending: dict[str, _Pending] = field(default_factory=dict)
    users: set[str] = field(default_factory=set)
    done: asyncio.Future[None] | None = None
    """Resolved once this batch's flush ended (written or failed); made on first `settle`."""


class HeartbeatBatcher:
    """Gathers heartbeats for `interval_s` (or until `max_batch` sessions) and writes them with
    one statement. A write comes in one of two ways:

    * `submit`: the caller awaits the flush that carries it, so its answer (the new expiry, or
      None when the session was no longer live) reflects what was written;
    * `enqueue` (write-behind): the caller was answered already; the write joins the same
      batches, and a failed flush keeps it for the next one (up to `MAX_FAILURES` flushes).

    `settle(user)` waits until every write of `user` gathered so far has been flushed (and
    hurries that flush), so a reader of what heartbeats write sees its own heartbeats."""

    MAX_FAILURES = 5

    def __init__(
        self,
        apply: Callable[[list[HeartbeatWrite]], Awaitable[dict[str, datetime]]],
        *,
        interval_s: float,
        max_batch: int,
    ) -> None:
        self._apply = apply
        self._interval_s = interval_s
        self._max_batch = max_batch
        self._batch = _Batch()
        self._inflight: _Batch | None = None
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        """Stop taking writes and flush what is gathered (the drain of a SIGTERM)."""
        self._closing = True
        self._wake.set()
        self._full.set()
        if self._task is not None:
            await self._task
        while self._batch.pending:
            await self._flush(final=True)

    def _refuse_if_closing(self) -> None:
        if self._closing:
            raise Unavailable("playback is shutting down", reason="SHUTTING_DOWN")

    def _add(self, write: HeartbeatWrite) -> _Pending:
        batch = self._batch
        pending = batch.pending.get(write.session)
        if pending is None:
            pending = batch.pending[write.session] = _Pending(write)
            batch.users.add(write.user)
        else:  # the newest heartbeat of a session in one batch wins; all callers get its result
            pending.write = write
        self._wake.set()
        if len(batch.pending) >= self._max_batch:
            self._full.set()
        return pending

    def submit(self, write: HeartbeatWrite) -> asyncio.Future[datetime | None]:
        future: asyncio.Future[datetime | None] = asyncio.get_running_loop().create_future()
        try:
            self._refuse_if_closing()
        except Unavailable as exc:
            future.set_exception(exc)
            return future
        self._add(write).waiters.append(future)
        return future

    def enqueue(self, write: HeartbeatWrite) -> None:
        """Write-behind: gather `write` for the next flush; nobody awaits it."""
        self._refuse_if_closing()
        self._add(write).acked = True

    async def settle(self, user: str) -> None:
        waits: list[asyncio.Future[None]] = []
        loop = asyncio.get_running_loop()
        for batch in (self._inflight, self._batch):
            if batch is not None and user in batch.users:
                if batch.done is None:
                    batch.done = loop.create_future()
                waits.append(batch.done)
        if not waits:
            return
        if user in self._batch.users:
            self._full.set()  # a reader waits: flush now rather than at the end of the window
        await asyncio.gather(*(asyncio.shield(w) for w in waits))

    async def _run(self) -> None:
        while not self._closing:
            await self._wake.wait()
            if self._closing:
                break
            try:
                await asyncio.wait_for(self._full.wait(), timeout=self._interval_s)
            except TimeoutError:
                pass
            await self._flush()

    async def _flush(self, *, final: bool = False) -> None:
        batch, self._batch = self._batch, _Batch()
        self._inflight = batch
        self._wake.clear()
        self._full.clear()
        try:
            if batch.pending:
                await self._write(batch, final=final)
        finally:
            self._inflight = None
            if batch.done is not None and not batch.done.done():
                batch.done.set_result(None)

    async def _write(self, batch: _Batch, *, final: bool) -> None:
        try:
            applied = await self._apply([p.write for p in batch.pending.values()])
        except Exception as exc:
            _log.warning("heartbeat.flush_failed", error=str(exc), sessions=len(batch.pending))
            error = Unavailable("heartbeats could not be saved; retry", reason="STORAGE_BUSY")
            kept = dropped = 0
            for session_id, pending in batch.pending.items():
                for waiter in pending.waiters:
                    if not waiter.done():
                        waiter.set_exception(error)
                pending.waiters.clear()
                pending.failures += 1
                if not pending.acked or session_id in self._batch.pending:
                    continue  # nobody was promised it, or a newer write supersedes it
                if pending.failures >= self.MAX_FAILURES:
                    dropped += 1
                    continue
                self._batch.pending[session_id] = pending
                self._batch.users.add(pending.write.user)
                kept += 1
            if dropped:
                _log.error("heartbeat.writes_dropped", sessions=dropped)
            if kept:
                self._wake.set()
                if final:  # the drain retries at once: give the database a moment
                    await asyncio.sleep(0.1)
            return
        for session_id, pending in batch.pending.items():
            result = applied.get(session_id)
            for waiter in pending.waiters:
                if not waiter.done():
                    waiter.set_result(result)


# -- page tokens ------------------------------------------------------------------------------


CONTINUE_WATCHING_SCOPE = "vod.playback.v1.PlaybackService/ListContinueWatching"


def _encode_cursor(codec: PageTokens, profile: str, record: ResumeRecord) -> str:
    assert record.update_time is not None
    payload = {"t": record.update_time.isoformat(), "k": record.title}
    return codec.encode(CONTINUE_WATCHING_SCOPE, None, payload, bind=profile)


def _decode_cursor(codec: PageTokens, profile: str, token: str) -> tuple[datetime, str]:
    """The (update time, title) a signed token (`services.runtime.page_tokens`) issued for
    `profile` resumes after."""
    doc = codec.decode(token, CONTINUE_WATCHING_SCOPE, None, bind=profile)
    bad = bad_page_token("does not hold a position in this list")
    at, title = doc.get("t"), doc.get("k")
    if not isinstance(at, str) or not isinstance(title, str):
        raise bad
    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        raise bad from None
    if when.tzinfo is None:
        raise bad
    return when, title


# -- the domain -------------------------------------------------------------------------------


@dataclass
class _Known:
    """What this replica knows of a session for its heartbeats. The owner, duration, device
    and title never change; `stored_expire` is a lower bound of the lease the database holds
    (other replicas only extend it; ending it happens here or is learnt from a flush)."""

    user: str
    duration_s: float
    device_id: str
    title: str
    stored_expire: datetime | None
    ended: bool = False
    """Stopped, replaced or expired, as seen here: its heartbeats are refused."""
    holds: int = 0
    """Stops or starts under way that may end it: its heartbeats wait for their writes."""
    stamp: int = 0
    """The session's sibling write counter when this process last saw it live in the database:
    a sibling process that ended it since has bumped it (`PlaybackDomain.siblings`)."""


@dataclass
class _Plan:
    name: str
    max_streams: int
    max_resolution: int


class PlaybackDomain:
    def __init__(
        self,
        settings: PlaybackSettings,
        repository: PlaybackRepository,
        *,
        catalog: TitleCatalog,
        media: MediaLibrary,
        accounts: AccountsDirectory,
        origin: OriginManifests,
        edge_http: httpx.AsyncClient | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        page_tokens: PageTokens | None = None,
        siblings: SiblingVersions | None = None,
    ) -> None:
        self._page_tokens = page_tokens or default_page_tokens()
        self.siblings = siblings
        """Write counters shared with sibling processes on the same port: a stop or a replacing
        start made by one bumps the session's, and the others' write-behind answers check it."""
        self.settings = settings
        self.repository = repository
        self._catalog = catalog
        self._media = media
        self._accounts = accounts
        self.origin = origin
        self._edge_http = edge_http
        self.clock = clock
        self._plans: tuple[float, dict[str, _Plan]] | None = None
        self._plans_lock = asyncio.Lock()
        # What heartbeats need of a session, kept in memory (see `_Known`).
        self._known: OrderedDict[str, _Known] = OrderedDict()
        self._known_max = 200_000
        self._by_device: dict[tuple[str, str, str], set[str]] = {}
        """(user, device id, title) -> known sessions: the ones a start may replace."""
        self.batcher = HeartbeatBatcher(
            self._apply_heartbeats,
            interval_s=settings.flush_interval_s,
            max_batch=settings.flush_max_batch,
        )

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        self.batcher.start()

    async def close(self) -> None:
        await self.batcher.close()

    # -- StartPlayback ------------------------------------------------------------------------

    async def start_playback(
        self, caller: Caller, request: pb.StartPlaybackRequest
    ) -> pb.PlaybackSession:
        caller.check_owns_profile(request.profile)
        region = platform_region(caller, request.region_code, default=self.settings.default_region)
        edges = self.settings.edge_map
        if not region:
            raise InvalidArgument.for_field(
                "region_code", "no platform region on the request and none given"
            )
        if region not in edges:
            raise FailedPrecondition(
                f"playback is not offered in region {region}: no edge serves it",
                reason="NO_EDGE_FOR_REGION",
                violations=(("NO_EDGE_FOR_REGION", region, "no edge is configured for it"),),
            )
        forward = forward_metadata(caller)
        title = await self._catalog.get_title(request.title, forward)
        if title is None:
            raise _title_not_found(request.title)
        limit = await self._maturity_limit(caller, request.profile)
        if not maturity_allows(limit, title.maturity_rating):
            raise PermissionDenied(
                f"{request.title} is rated "
                f"{cpb.MaturityRating.Name(title.maturity_rating).removeprefix('MATURITY_RATING_')}"
                f", above the profile's limit "
                f"{apb.MaturityLimit.Name(limit).removeprefix('MATURITY_LIMIT_')}",
                reason="MATURITY_LIMIT",
            )
        now = self.clock()
        if not await self._catalog.is_available(request.title, region, now, forward):
            raise FailedPrecondition(
                f"{request.title} is not available in {region} now",
                reason="NOT_AVAILABLE_IN_REGION",
                violations=(
                    (
                        "NOT_AVAILABLE_IN_REGION",
                        request.title,
                        f"no availability window of the title in {region} is open now",
                    ),
                ),
                metadata={"region_code": region},
            )
        if title.media.state != cpb.MEDIA_STATE_READY or not title.media.asset:
            raise _media_not_ready(request.title)
        asset = await self._media.get_media_asset(title.media.asset)
        if asset is None or asset.title != request.title:
            raise _media_not_ready(request.title)
        user = _user_of(request.profile)
        plan = await self._plan_of(caller, user)
        cap = plan.max_resolution
        device_cap = DEVICE_HEIGHT_CAP.get(request.device_type, 0)
        if device_cap:
            cap = min(cap, device_cap) if cap else device_cap
        tracks, max_height = allowed_renditions(asset, cap)
        if not tracks:
            raise _media_not_ready(request.title)
        protocol = request.preferred_protocol or (
            pb.STREAMING_PROTOCOL_HLS
            if request.device_type in HLS_DEVICES
            else pb.STREAMING_PROTOCOL_DASH
        )
        lease = timedelta(seconds=self.settings.lease_s)
        new = SessionRecord(
            id=new_session_id(),
            user=user,
            profile=request.profile,
            title=request.title,
            media=asset.name,
            device_type=request.device_type,
            device_id=request.device_id,
            region=region,
            protocol=protocol,
            max_height=max_height,
            video_tracks=tuple(tracks),
            encrypted=asset.encrypted,
            duration_s=asset.duration_seconds,
            start_position_s=0.0,
            position_s=0.0,
            watch_time_s=0.0,
            state=pb.SESSION_STATE_ACTIVE,
            start_time=now,
            expire_time=now + lease,
            token_expires=int(now.timestamp() + self.settings.token_ttl_s),
            plan=plan.name,
        )
        resume_from = None
        if request.HasField("start_position"):
            start = _seconds(request.start_position)
            _check_position(start, asset.duration_seconds, "start_position")
            new = replace(new, start_position_s=start, position_s=start)
        else:
            resume_from = _resume_position
        # The same device's session of the same title may be replaced: its heartbeats wait for
        # their writes meanwhile; and the user's gathered heartbeats land first (resume point).
        held = self._replaceable(user, new.device_id, new.title)
        for known in held:
            known.holds += 1
        try:
            await self.batcher.settle(user)
            outcome = await self.repository.start_session(
                new,
                max_streams=plan.max_streams,
                resume_from=resume_from,
                started=started_event,
                stopped=stopped_event,
            )
            for session_id in outcome.replaced:
                if (replaced := self._known.get(session_id)) is not None:
                    replaced.ended = True
            self._ended_here(outcome.replaced)
        finally:
            for known in held:
                known.holds -= 1
        if outcome.session is None:
            raise StreamLimitReached(
                f"the plan allows {plan.max_streams} concurrent stream(s) and all are in use; "
                "stop one of the sessions listed to watch here",
                metadata={"max_streams": str(plan.max_streams), "plan": plan.name},
                in_use=tuple(
                    (
                        s.name,
                        f"{s.title} on {s.profile}, {_device_label(s.device_type)} {s.device_id}",
                    )
                    for s in outcome.in_use
                ),
            )
        session = outcome.session
        self._remember(session)
        _log.info(
            "session.started",
            session=session.name,
            title=session.title,
            region=region,
            max_height=max_height,
        )
        return self.session_message(session)

    def session_token(self, session: SessionRecord) -> str:
        claims = playback_tokens.SessionClaims(
            session.id,
            session.title.removeprefix("titles/"),
            session.region,
            session.token_expires,
        )
        return playback_tokens.issue_session_token(self.settings.playback_secret, claims)

    def license_url(self, session: SessionRecord, token: str) -> str:
        """The ClearKey licence URL of a DASH session of an encrypted title; "" otherwise (HLS
        sessions find their key URIs in the media playlists)."""
        if not session.encrypted or session.protocol != pb.STREAMING_PROTOCOL_DASH:
            return ""
        return clearkey_license_url(self.settings.public_license_base, token)

    def session_message(
        self, session: SessionRecord, *, credentials: bool = True, state: int | None = None
    ) -> pb.PlaybackSession:
        """The session as clients see it. Without `credentials`, the token and the URLs carrying
        it (manifest, licence) are left out: what internal readers (licensing) get."""
        message = pb.PlaybackSession(
            name=session.name,
            profile=session.profile,
            title=session.title,
            device_type=session.device_type,  # type: ignore[arg-type]
            device_id=session.device_id,
            region_code=session.region,
            protocol=session.protocol,  # type: ignore[arg-type]
            encrypted=session.encrypted,
            max_height=session.max_height,
            state=session.state if state is None else state,  # type: ignore[arg-type]
        )
        if credentials:
            token = self.session_token(session)
            file = (
                "manifest.mpd" if session.protocol == pb.STREAMING_PROTOCOL_DASH else "master.m3u8"
            )
            message.session_token = token
            message.manifest_url = (
                f"{self.settings.public_play_base}/play/v1/sessions/{session.id}/{file}?"
                + urlencode({"token": token})
            )
            message.license_url = self.license_url(session, token)
        message.resume_position.CopyFrom(_duration(session.start_position_s))
        message.heartbeat_interval.CopyFrom(_duration(self.settings.heartbeat_s))
        message.start_time.FromDatetime(session.start_time)
        message.expire_time.FromDatetime(session.expire_time)
        return message

    async def _maturity_limit(self, caller: Caller, profile: str) -> int:
        if caller.profile == profile:
            return parse_maturity(caller.maturity)
        found = await self._accounts.get_profile(profile, forward_metadata(caller))
        if found is None:
            raise NotFound(
                f"{profile} does not exist",
                reason="PROFILE_NOT_FOUND",
                resource_type="vod.accounts.v1.Profile",
                resource_name=profile,
            )
        return found.maturity_limit or apb.MATURITY_LIMIT_ALL

    async def _plan_of(self, caller: Caller, user: str) -> _Plan:
        plan_name = caller.plan if caller.user == user else ""
        if not plan_name:
            found = await self._accounts.get_user(user, forward_metadata(caller))
            plan_name = found.plan if found is not None else ""
        plans = await self._plan_table()
        plan = plans.get(plan_name)
        if plan is None or plan.max_streams <= 0:
            raise PermissionDenied(
                f"{user} has no plan that includes streaming", reason="NO_STREAMING_PLAN"
            )
        return plan

    async def _plan_table(self) -> dict[str, _Plan]:
        cached = self._plans
        if cached is not None and time.monotonic() - cached[0] < self.settings.plans_ttl_s:
            return cached[1]
        async with self._plans_lock:
            cached = self._plans
            if cached is not None and time.monotonic() - cached[0] < self.settings.plans_ttl_s:
                return cached[1]
            plans = await self._accounts.list_plans()
            table = {p.name: _Plan(p.name, p.max_streams, p.max_resolution) for p in plans}
            self._plans = (time.monotonic(), table)
            return table

    # -- GetSession (internal) ----------------------------------------------------------------

    async def get_session(self, name: str) -> pb.GetSessionResponse:
        """A session as stored now, for licensing: one primary-key read, no identity needed (the
        mesh keeps INTERNAL methods off the front door). Its state is as of now (a lease that ran
        out reads EXPIRED before the sweeper writes it); no token nor URLs carrying it."""
        session_id = _session_id(name, "name")
        known = self._known.get(session_id)
        if known is not None:  # the lease as answered to its heartbeats
            await self.batcher.settle(known.user)
        session = await self.repository.get_session(session_id)
        if session is None:
            raise _session_not_found(name)
        return pb.GetSessionResponse(
            session=self.session_message(
                session, credentials=False, state=session.state_at(self.clock())
            ),
            user=session.user,
            media_asset=session.media,
            plan=session.plan,
        )

    # -- Heartbeat ----------------------------------------------------------------------------

    def _replaceable(self, user: str, device_id: str, title: str) -> list[_Known]:
        ids = self._by_device.get((user, device_id, title))
        if not ids:
            return []
        out: list[_Known] = []
        for session_id in list(ids):
            known = self._known.get(session_id)
            if known is None or known.ended:
                ids.discard(session_id)
            else:
                out.append(known)
        if not ids:
            del self._by_device[(user, device_id, title)]
        return out

    def _remember(self, session: SessionRecord, stamp: int = 0) -> _Known:
        known = _Known(
            user=session.user,
            duration_s=session.duration_s,
            device_id=session.device_id,
            title=session.title,
            stored_expire=session.expire_time,
            ended=session.state != pb.SESSION_STATE_ACTIVE,
            stamp=stamp,
        )
        self._known[session.id] = known
        self._by_device.setdefault((known.user, known.device_id, known.title), set()).add(
            session.id
        )
        while len(self._known) > self._known_max:
            old_id, old = self._known.popitem(last=False)
            slot = (old.user, old.device_id, old.title)
            if (ids := self._by_device.get(slot)) is not None:
                ids.discard(old_id)
                if not ids:
                    del self._by_device[slot]
        return known

    async def _session_known(self, session_id: str) -> _Known | None:
        known = self._known.get(session_id)
        if known is not None:
            self._known.move_to_end(session_id)
            return known
        stamp = self._stamp(session_id)
        session = await self.repository.get_session(session_id)
        if session is None:
            return None
        return self._known.get(session_id) or self._remember(session, stamp)

    def _stamp(self, session_id: str) -> int:
        return 0 if self.siblings is None else self.siblings.stamp(session_id)

    def _ended_here(self, session_ids: Iterable[str]) -> None:
        """Tell sibling processes these sessions ended (before the caller is answered)."""
        if self.siblings is not None:
            for session_id in session_ids:
                self.siblings.bump(session_id)

    async def heartbeat(
        self, caller: Caller, name: str, position: duration_pb2.Duration, state: int
    ) -> pb.HeartbeatResponse:
        """Extends the lease and records the position. Write-behind: when this replica knows the
        session live with more than `write_behind_margin_s` of its stored lease left (nothing
        ended it here, no start that may replace it is under way), the answer does not wait
        for the batched write; otherwise (and with `write_behind` off) it awaits the flush and
        reflects what was written. See docs in `PlaybackSettings.write_behind`."""
        caller.require_user()
        session_id = _session_id(name)
        known = await self._session_known(session_id)
        if known is None:
            raise _session_not_found(name)
        if not caller.owns_user(known.user):
            raise PermissionDenied(f"{name} is not a session of the signed-in user", "NOT_OWNER")
        position_s = _seconds(position)
        _check_position(position_s, known.duration_s, "position")
        if known.ended:
            raise await self._ended(name, session_id)
        playing = state in (pb.PLAYER_STATE_UNSPECIFIED, pb.PLAYER_STATE_PLAYING)
        now = self.clock()
        expire = now + timedelta(seconds=self.settings.lease_s)
        write = HeartbeatWrite(session_id, known.user, position_s, playing, expire)
        stored = known.stored_expire
        stamp = self._stamp(session_id)
        if (
            self.settings.write_behind
            and not known.holds
            and stored is not None
            and (stored - now).total_seconds() > self.settings.write_behind_margin_s
            and stamp == known.stamp  # no sibling process ended it since
        ):
            self.batcher.enqueue(write)
        else:
            written = await self.batcher.submit(write)
            if written is None:
                raise await self._ended(name, session_id)
            expire = written
            known.stamp = stamp  # live in the database after that counter value
        response = pb.HeartbeatResponse()
        response.expire_time.FromDatetime(expire)
        response.heartbeat_interval.CopyFrom(_duration(self.settings.heartbeat_s))
        return response

    async def _apply_heartbeats(self, writes: list[HeartbeatWrite]) -> dict[str, datetime]:
        applied = await self.repository.apply_heartbeats(writes, self.clock())
        for write in writes:
            known = self._known.get(write.session)
            if known is None:
                continue
            if write.session not in applied:
                known.ended = True  # not live when written: sessions never come back
            elif known.stored_expire is None or known.stored_expire < write.expire:
                known.stored_expire = write.expire
        return {w.session: w.expire for w in writes if w.session in applied}

    async def _ended(self, name: str, session_id: str) -> FailedPrecondition | NotFound:
        session = await self.repository.get_session(session_id)
        if session is None:
            return _session_not_found(name)
        kind = "SESSION_STOPPED" if session.state == pb.SESSION_STATE_STOPPED else "SESSION_EXPIRED"
        what = "was stopped" if kind == "SESSION_STOPPED" else "expired (missed its heartbeats)"
        return FailedPrecondition(
            f"{name} {what}; start a new session",
            reason="SESSION_ENDED",
            violations=((kind, name, f"the session {what}"),),
        )

    # -- StopPlayback -------------------------------------------------------------------------

    async def stop_playback(
        self, caller: Caller, name: str, position: duration_pb2.Duration | None
    ) -> pb.ResumePoint:
        caller.require_user()
        session_id = _session_id(name)
        session = await self.repository.get_session(session_id)
        if session is None:
            raise _session_not_found(name)
        if not caller.owns_user(session.user):
            raise PermissionDenied(f"{name} is not a session of the signed-in user", "NOT_OWNER")
        position_s = None
        if position is not None:
            position_s = _seconds(position)
            _check_position(position_s, session.duration_s, "position")
        # Its heartbeats wait for their writes while it stops; the gathered ones land first
        # (a stop without a position ends at the last heartbeat's).
        known = self._known.get(session_id)
        if known is not None:
            known.holds += 1
        try:
            await self.batcher.settle(session.user)
            ended = await self.repository.stop_session(
                session_id, position_s, self.clock(), stopped_event
            )
            if known is not None and ended is not None and ended.state != pb.SESSION_STATE_ACTIVE:
                known.ended = True
            if ended is not None and ended.state != pb.SESSION_STATE_ACTIVE:
                self._ended_here([session_id])
        finally:
            if known is not None:
                known.holds -= 1
        if ended is None:
            raise _session_not_found(name)
        return resume_message(
            ResumeRecord(
                ended.profile,
                ended.title,
                ended.position_s,
                ended.duration_s,
                is_completed(ended.position_s, ended.duration_s),
                ended.end_time,
            )
        )

    async def sweep_once(self, limit: int = 500) -> int:
        """Expire live sessions whose lease ran out: EXPIRED, resume point saved, stopped event."""
        total = 0
        while True:
            count = await self.repository.expire_due(self.clock(), limit, stopped_event)
            total += count
            if count < limit:
                return total

    # -- resume points ------------------------------------------------------------------------

    async def resume_point(self, caller: Caller, profile: str, title: str) -> pb.ResumePoint:
        caller.check_owns_profile(profile)
        await self.batcher.settle(_user_of(profile))  # read your own heartbeats
        found = await self.repository.get_resume_point(profile, title)
        if found is None:
            return pb.ResumePoint(profile=profile, title=title)
        return resume_message(found)

    async def continue_watching(
        self, caller: Caller, profile: str, page_size: int, page_token: str
    ) -> pb.ListContinueWatchingResponse:
        caller.check_owns_profile(profile)
        after = _decode_cursor(self._page_tokens, profile, page_token) if page_token else None
        if caller.profile != profile and not page_token:
            found = await self._accounts.get_profile(profile, forward_metadata(caller))
            if found is None:
                raise NotFound(
                    f"{profile} does not exist",
                    reason="PROFILE_NOT_FOUND",
                    resource_type="vod.accounts.v1.Profile",
                    resource_name=profile,
                )
        limit = page_size or 20
        await self.batcher.settle(_user_of(profile))  # read your own heartbeats
        rows = await self.repository.list_continue_watching(profile, after, limit + 1)
        response = pb.ListContinueWatchingResponse(
            resume_points=[resume_message(r) for r in rows[:limit]]
        )
        if len(rows) > limit:
            response.next_page_token = _encode_cursor(self._page_tokens, profile, rows[limit - 1])
        return response

    # -- PrewarmTitle -------------------------------------------------------------------------

    async def prewarm(
        self, caller: Caller, title_name: str, regions: Sequence[str]
    ) -> pb.PrewarmTitleResponse:
        if caller.authenticated and not caller.is_admin:  # no identity = an internal call
            raise PermissionDenied("pre-warming edges is for admins", reason="ADMIN_ONLY")
        edges = self.settings.edge_map
        unknown = [
            FieldViolation(f"region_codes[{i}]", f"no edge is configured for {r}")
            for i, r in enumerate(regions)
            if r not in edges
        ]
        if unknown:
            raise InvalidArgument.of(unknown)
        title = await self._catalog.get_title(title_name, forward_metadata(caller))
        if title is None:
            raise _title_not_found(title_name)
        if title.media.state != cpb.MEDIA_STATE_READY or not title.media.asset:
            raise _media_not_ready(title_name)
        asset = await self._media.get_media_asset(title.media.asset)
        if asset is None:
            raise _media_not_ready(title_name)
        title_id = title_name.removeprefix("titles/")
        media_id = asset.name.removeprefix("media/")
        objects = await manifests.media_objects(
            self.origin, title_id, media_id, encrypted=asset.encrypted
        )
        if self._edge_http is None:
            raise Unavailable("no HTTP client for the edges", reason="EDGES_UNAVAILABLE")
        response = pb.PrewarmTitleResponse()
        for region in list(dict.fromkeys(regions)) or sorted(edges):
            response.results.append(
                await self._warm_edge(region, edges[region], title_id, media_id, objects)
            )
        return response

    async def _warm_edge(
        self,
        region: str,
        base: str,
        title_id: str,
        media_id: str,
        objects: Sequence[tuple[str, str]],
    ) -> pb.EdgeWarmResult:
        assert self._edge_http is not None
        session = f"prewarm-{new_session_id()}"
        expires = int(time.time() + 3600)
        result = pb.EdgeWarmResult(region_code=region)
        gate = asyncio.Semaphore(max(1, self.settings.prewarm_parallelism))
        client = self._edge_http

        async def fetch(track: str, file: str) -> tuple[int, bool] | None:
            url = playback_tokens.edge_url(
                base,
                self.settings.edge_secret,
                region=region,
                title=title_id,
                media=media_id,
                track=track,
                file=file,
                session=session,
                expires=expires,
            )
            async with gate:
                try:
                    size = 0
                    async with client.stream("GET", url) as reply:
                        if reply.status_code != 200:
                            _log.warning("prewarm.miss", region=region, status=reply.status_code)
                            return None
                        async for chunk in reply.aiter_raw():
                            size += len(chunk)
                        hit = reply.headers.get("x-cache-status", "").upper() == "HIT"
                        return size, hit
                except httpx.HTTPError as exc:
                    _log.warning("prewarm.failed", region=region, error=str(exc))
                    return None

        for outcome in await asyncio.gather(*(fetch(t, f) for t, f in objects)):
            if outcome is None:
                continue
            result.objects += 1
            result.bytes += outcome[0]
            result.already_cached += int(outcome[1])
        return result


# -- helpers ----------------------------------------------------------------------------------


def allowed_renditions(asset: tpb.MediaAsset, cap: int) -> tuple[list[str], int]:
    """Video rendition ids at or under `cap` (0 = no cap), never none: the lowest rung stays
    when every rung is above the cap. Returns (ids, highest height offered)."""
    videos = [r for r in asset.renditions if r.height > 0]
    if not videos:
        return [], 0
    allowed = [r for r in videos if not cap or r.height <= cap]
    if not allowed:
        allowed = [min(videos, key=lambda r: r.height)]
    return [r.id for r in allowed], max(r.height for r in allowed)


def _check_position(position_s: float, duration_s: float, field_name: str) -> None:
    if position_s < 0:
        raise InvalidArgument.for_field(field_name, "must not be negative")
    if duration_s > 0 and position_s > duration_s + POSITION_TOLERANCE_S:
        raise OutOfRange(
            f"{field_name} {position_s:.3f}s is beyond the media's duration {duration_s:.3f}s",
            field=field_name,
        )


def _session_id(name: str, field_name: str = "session") -> str:
    session_id = name.removeprefix("sessions/")
    if not name.startswith("sessions/") or not _SESSION_ID.match(session_id):
        raise InvalidArgument.for_field(field_name, "must look like sessions/{session}")
    return session_id


def clearkey_license_url(base: str, token: str) -> str:
    """Licensing's ClearKey endpoint through the gateway, authorised by the session token."""
    return f"{base.rstrip('/')}/v1/licenses/clearkey?" + urlencode({"session_token": token})


def _resume_position(saved: ResumeRecord | None) -> float:
    if saved is None or saved.completed:
        return 0.0
    return saved.position_s


def resume_message(record: ResumeRecord) -> pb.ResumePoint:
    message = pb.ResumePoint(
        profile=record.profile,
        title=record.title,
        watched_fraction=(
            min(1.0, record.position_s / record.duration_s) if record.duration_s > 0 else 0.0
        ),
        completed=record.completed,
    )
    message.position.CopyFrom(_duration(record.position_s))
    message.duration.CopyFrom(_duration(record.duration_s))
    if record.update_time is not None:
        message.update_time.FromDatetime(record.update_time)
    return message


def started_event(session: SessionRecord) -> ev.PlaybackStarted:
    event = ev.PlaybackStarted(
        meta=new_meta(PRODUCER),
        session=session.name,
        profile=session.profile,
        title=session.title,
        device_type=session.device_type,  # type: ignore[arg-type]
        region_code=session.region,
        protocol=session.protocol,  # type: ignore[arg-type]
    )
    event.start_position.CopyFrom(_duration(session.start_position_s))
    return event


def stopped_event(session: SessionRecord, reason: int) -> ev.PlaybackStopped:
    event = ev.PlaybackStopped(
        meta=new_meta(PRODUCER),
        session=session.name,
        profile=session.profile,
        title=session.title,
        region_code=session.region,
        watched_fraction=(
            min(1.0, session.position_s / session.duration_s) if session.duration_s > 0 else 0.0
        ),
        completed=is_completed(session.position_s, session.duration_s),
        reason=reason,  # type: ignore[arg-type]
    )
    event.position.CopyFrom(_duration(session.position_s))
    event.duration.CopyFrom(_duration(session.duration_s))
    event.watch_time.CopyFrom(_duration(session.watch_time_s))
    return event
