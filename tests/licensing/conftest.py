"""Licensing fixtures: own database and NATS, the REAL catalog (availability) and accounts
(devices) servers, a small gRPC server answering playback's `GetSession` from a dict the tests
control (the playback server's GetSession is being built in parallel: this stands in for its
network API only), and the licensing server through its production `running()`. A real NATS
subscriber collects every `vod.licensing.audited` event."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import grpc
import nats
import pytest
from vod.accounts.v1 import accounts_pb2 as apb
from vod.accounts.v1 import accounts_pb2_grpc
from vod.catalog.v1 import catalog_pb2 as cpb
from vod.catalog.v1 import catalog_pb2_grpc
from vod.events.v1 import licensing_events_pb2 as ev
from vod.licensing.v1 import licensing_pb2 as pb
from vod.licensing.v1 import licensing_pb2_grpc
from vod.playback.v1 import playback_pb2 as ppb
from vod.playback.v1 import playback_pb2_grpc

from mesh.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from services.accounts.server import started as accounts_started
from services.catalog.server import running as catalog_running
from services.licensing.config import LicensingSettings
from services.licensing.envelope import MasterKeyRing, new_master_key
from services.licensing.server import Running
from services.licensing.server import running as licensing_running
from services.runtime.config import RuntimeSettings
from services.runtime.playback_tokens import SessionClaims, issue_session_token
from tests.accounts.conftest import accounts_settings
from tests.catalog.conftest import catalog_settings

PACKAGER = (("x-vod-packager", "packager-secret-for-tests"),)
ADMIN = (("x-vod-user", "users/root"), ("x-vod-roles", "viewer admin"))
TRACKS = {
    "sd": pb.TRACK_TYPE_VIDEO_SD,
    "hd": pb.TRACK_TYPE_VIDEO_HD,
    "uhd": pb.TRACK_TYPE_VIDEO_UHD,
    "audio": pb.TRACK_TYPE_AUDIO,
}


class SessionsDouble(playback_pb2_grpc.PlaybackServiceServicer):
    """TEST DOUBLE of playback's network API: `GetSession` answered from `sessions`."""

    def __init__(self) -> None:
        self.sessions: dict[str, ppb.GetSessionResponse] = {}
        self.calls = 0

    async def GetSession(
        self, request: ppb.GetSessionRequest, context: grpc.aio.ServicerContext
    ) -> ppb.GetSessionResponse:
        self.calls += 1
        reply = self.sessions.get(request.name)
        if reply is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"{request.name} does not exist")
        return reply  # type: ignore[return-value]


@dataclass
class Keys:
    """The content keys of one media asset, by track class, with their material."""

    media: str
    by_track: dict[str, pb.ContentKey]

    def kid(self, track: str) -> str:
        return self.by_track[track].key_id


@dataclass
class Session:
    name: str
    token: str
    reply: ppb.GetSessionResponse


@dataclass
class LicensingMesh:
    settings: LicensingSettings
    running: Running
    stub: licensing_pb2_grpc.LicensingServiceStub
    catalog: catalog_pb2_grpc.CatalogServiceStub
    accounts: accounts_pb2_grpc.AccountsServiceStub
    playback: SessionsDouble
    playback_address: str
    catalog_address: str
    accounts_address: str
    nats_url: str
    database_url: str
    events: list[ev.LicenseAudited] = field(default_factory=list)
    created: list[pb.ContentKey] = field(default_factory=list)

    async def keys(self, media: str, tracks: tuple[str, ...] = tuple(TRACKS)) -> Keys:
        """Create keys of `tracks` for `media` and fetch them with their material."""
        for track in tracks:
            await self.stub.CreateContentKey(
                pb.CreateContentKeyRequest(
                    content_key=pb.ContentKey(media_asset=media, track_type=TRACKS[track])
                ),
                metadata=PACKAGER,
            )
        got = await self.stub.GetContentKeys(
            pb.GetContentKeysRequest(media_asset=media), metadata=PACKAGER
        )
        by_type = {k.track_type: k for k in got.content_keys}
        self.created.extend(got.content_keys)
        return Keys(media, {t: by_type[TRACKS[t]] for t in tracks})

    def session(
        self,
        *,
        title: str = "titles/lic-movie",
        media: str = "media/lic-movie",
        plan: str = "plans/standard",
        max_height: int = 1080,
        region: str = "US",
        user: str = "",
        device_id: str = "web-1",
        expires_in_s: float = 30.0,
        token_ttl_s: int = 3600,
        secret: bytes | None = None,
    ) -> Session:
        """A live session in the playback double, and its token."""
        session_id = f"s{secrets.token_hex(6)}"
        user = user or f"users/nobody-{secrets.token_hex(4)}"
        reply = ppb.GetSessionResponse(
            session=ppb.PlaybackSession(
                name=f"sessions/{session_id}",
                profile=f"{user}/profiles/main",
                title=title,
                device_id=device_id,
                region_code=region,
                max_height=max_height,
                state=ppb.SESSION_STATE_ACTIVE,
            ),
            user=user,
            media_asset=media,
            plan=plan,
        )
        reply.session.expire_time.FromDatetime(datetime.now(UTC) + timedelta(seconds=expires_in_s))
        self.playback.sessions[reply.session.name] = reply
        claims = SessionClaims(
            session_id, title.removeprefix("titles/"), region, int(time.time()) + token_ttl_s
        )
        token = issue_session_token(secret or self.settings.playback_secret, claims)
        return Session(reply.session.name, token, reply)

    def set_state(self, session: Session, state: int) -> None:
        self.playback.sessions[session.name].session.state = state  # type: ignore[assignment]

    async def audits(self, session: str) -> list[pb.LicenseAudit]:
        reply = await self.stub.ListLicenseAudits(
            pb.ListLicenseAuditsRequest(session=session, page_size=100), metadata=ADMIN
        )
        return list(reply.license_audits)

    async def event_for(self, audit_name: str) -> ev.LicenseAudited:
        async def found() -> ev.LicenseAudited | None:
            return next((e for e in self.events if e.audit.name == audit_name), None)

        return await wait_for(found)  # type: ignore[return-value]


async def wait_for(
    condition: Callable[[], Awaitable[object]], timeout: float = 20.0, every: float = 0.02
) -> object:
    """Poll `condition` until it returns something truthy; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = await condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(every)


def licensing_settings(
    database: str,
    nats_url: str,
    *,
    ring: MasterKeyRing,
    playback: str,
    catalog: str,
    accounts: str,
    playback_secret: bytes,
    max_licenses: int = 6,
) -> LicensingSettings:
    return LicensingSettings(
        runtime=RuntimeSettings(
            service="licensing",
            grpc_address="127.0.0.1:0",
            metrics_address=f"127.0.0.1:{free_port()}",
            database_url=database,
            nats_url=nats_url,
            drain_grace_s=0.5,
        ),
        master_keys=ring,
        playback_secret=playback_secret,
        packager_secret=PACKAGER[0][1].encode(),
        playback_address=playback,
        catalog_address=catalog,
        accounts_address=accounts,
        max_licenses_per_session=max_licenses,
        cache_ttl_s=5.0,
    )


async def create_title(
    catalog: catalog_pb2_grpc.CatalogServiceStub, title_id: str, regions: tuple[str, ...]
) -> None:
    title = cpb.Title(
        type=cpb.TITLE_TYPE_MOVIE,
        display_name=title_id.replace("-", " ").title(),
        release_year=2020,
        maturity_rating=cpb.MATURITY_RATING_PG_13,
        genres=["Dramas"],
    )
    for region in regions:
        window = title.availability.add(region_code=region)
        window.start_time.FromDatetime(datetime(2024, 1, 1, tzinfo=UTC))
    await catalog.CreateTitle(cpb.CreateTitleRequest(title=title, title_id=title_id))


@pytest.fixture(scope="session")
async def lic_mesh(postgres: EmbeddedPostgres, tmp_path_factory) -> AsyncIterator[LicensingMesh]:
    database = postgres.create_database("licensing_tests")
    accounts_db = postgres.create_database("licensing_accounts_tests")
    root = tmp_path_factory.mktemp("licensing")
    with EmbeddedNats(root / "js", free_port(), monitor_port=free_port()) as nats_server:
        double = SessionsDouble()
        playback_server = grpc.aio.server()
        playback_pb2_grpc.add_PlaybackServiceServicer_to_server(double, playback_server)
        playback_port = playback_server.add_insecure_port("127.0.0.1:0")
        await playback_server.start()
        try:
            async with (
                catalog_running(
                    catalog_settings(database, nats_server.url), serve_metrics=False
                ) as cat,
                accounts_started(accounts_settings(accounts_db), serve_metrics=False) as acc,
                grpc.aio.insecure_channel(f"127.0.0.1:{cat.port}") as cat_channel,
                grpc.aio.insecure_channel(f"127.0.0.1:{acc.handle.port}") as acc_channel,
            ):
                catalog = catalog_pb2_grpc.CatalogServiceStub(cat_channel)
                await create_title(catalog, "lic-movie", ("US", "GB"))
                await create_title(catalog, "lic-other", ("US", "GB"))
                await create_title(catalog, "lic-gb-only", ("GB",))
                settings = licensing_settings(
                    database,
                    nats_server.url,
                    ring=MasterKeyRing((new_master_key("mk-tests"),)),
                    playback=f"127.0.0.1:{playback_port}",
                    catalog=f"127.0.0.1:{cat.port}",
                    accounts=f"127.0.0.1:{acc.handle.port}",
                    playback_secret=secrets.token_bytes(32),
                )
                nc = await nats.connect(nats_server.url)
                collected: list[ev.LicenseAudited] = []

                async def on_message(msg) -> None:  # type: ignore[no-untyped-def]
                    collected.append(ev.LicenseAudited.FromString(msg.data))

                await nc.subscribe("vod.licensing.audited", cb=on_message)
                try:
                    async with (
                        licensing_running(settings, serve_metrics=False) as run,
                        grpc.aio.insecure_channel(f"127.0.0.1:{run.port}") as channel,
                    ):
                        yield LicensingMesh(
                            settings=settings,
                            running=run,
                            stub=licensing_pb2_grpc.LicensingServiceStub(channel),
                            catalog=catalog,
                            accounts=accounts_pb2_grpc.AccountsServiceStub(acc_channel),
                            playback=double,
                            playback_address=f"127.0.0.1:{playback_port}",
                            catalog_address=f"127.0.0.1:{cat.port}",
                            accounts_address=f"127.0.0.1:{acc.handle.port}",
                            nats_url=nats_server.url,
                            database_url=database,
                            events=collected,
                        )
                finally:
                    await nc.close()
        finally:
            await playback_server.stop(0)


async def register_user_with_devices(
    accounts: accounts_pb2_grpc.AccountsServiceStub, device_ids: tuple[str, ...]
) -> tuple[str, dict[str, str]]:
    """A real accounts user with registered devices; returns (user, device_id -> device name)."""
    created = await accounts.CreateUser(
        apb.CreateUserRequest(
            user=apb.User(
                email=f"lic-{secrets.token_hex(5)}@example.com",
                display_name="Licence Tester",
                plan="plans/standard",
                home_region="US",
            ),
            password="correct horse battery staple",
        )
    )
    user = created.user.name
    names = {}
    for device_id in device_ids:
        reply = await accounts.RegisterDevice(
            apb.RegisterDeviceRequest(
                parent=user,
                device=apb.Device(device_id=device_id, type=apb.DEVICE_TYPE_TV),
            ),
            metadata=(("x-vod-user", user), ("x-vod-roles", "viewer")),
        )
        names[device_id] = reply.device.name
    return user, names
