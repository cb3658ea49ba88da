"""ClearKey licences and HLS AES-128 keys bound to playback sessions: what is granted (exact
JWK values, only the rungs the plan and session allow), what is refused (each with its code and
reason), and that every grant and refusal is audited: a row ListLicenseAudits returns and a
`vod.licensing.audited` event a real NATS subscriber receives."""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
from datetime import timedelta

import grpc
import pytest
from vod.accounts.v1 import accounts_pb2 as apb
from vod.licensing.v1 import licensing_pb2 as pb
from vod.playback.v1 import playback_pb2 as ppb

from services.runtime.playback_tokens import SessionClaims, issue_session_token
from tests.licensing.conftest import (
    ADMIN,
    Keys,
    LicensingMesh,
    Session,
    register_user_with_devices,
)
from tests.support import details_of

REFUSED = pb.LICENSE_DECISION_REFUSED
GRANTED = pb.LICENSE_DECISION_GRANTED


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def kid_b64(key_id: str) -> str:
    return b64url(bytes.fromhex(key_id))


def clearkey(
    session: Session, *kids: str, type: str = "temporary"
) -> pb.AcquireClearKeyLicenseRequest:
    return pb.AcquireClearKeyLicenseRequest(
        session_token=session.token,
        license_request=pb.ClearKeyLicenseRequest(kids=[kid_b64(k) for k in kids], type=type),
    )


def region(code: str) -> tuple[tuple[str, str], ...]:
    return (("x-vod-region", code),)


@pytest.fixture(scope="module")
async def movie(lic_mesh: LicensingMesh) -> Keys:
    return await lic_mesh.keys("media/lic-movie")


@pytest.fixture(scope="module")
async def other(lic_mesh: LicensingMesh) -> Keys:
    return await lic_mesh.keys("media/lic-other", ("sd",))


async def refused(
    mesh: LicensingMesh,
    call,  # type: ignore[no-untyped-def]
    session_name: str,
    code: grpc.StatusCode,
    reason: str,
    *,
    key_system: int = pb.KEY_SYSTEM_CLEARKEY,
) -> pb.LicenseAudit:
    """Assert the call fails with `code`/`reason`, that the refusal is the session's newest
    audit record, and that its event reached NATS."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    details = details_of(caught.value)
    assert (details.code, details.reason) == (code, reason), details.message
    audits = await mesh.audits(session_name)
    newest = audits[0]
    assert (newest.decision, newest.reason, newest.key_system) == (REFUSED, reason, key_system)
    assert list(newest.granted_key_ids) == []
    event = await mesh.event_for(newest.name)
    assert event.audit == newest
    assert event.meta.producer == "licensing"
    return newest


async def test_clearkey_licence_carries_exactly_the_allowed_keys(
    lic_mesh: LicensingMesh, movie: Keys
) -> None:
    session = lic_mesh.session(plan="plans/standard", max_height=1080)
    reply = await lic_mesh.stub.AcquireClearKeyLicense(
        clearkey(session, movie.kid("sd"), movie.kid("hd"), movie.kid("audio"), movie.kid("uhd")),
        metadata=region("US"),
    )
    expected = [
        pb.ClearKeyJsonWebKey(kty="oct", kid=kid_b64(movie.kid(t)), k=b64url(movie.by_track[t].key))
        for t in ("sd", "hd", "audio")
    ]
    assert list(reply.keys) == expected  # UHD (above 1080 lines) is left out
    assert reply.type == "temporary"
    assert reply.policy.session == session.name
    assert reply.policy.persistent is False
    assert reply.policy.license_duration.ToTimedelta() == timedelta(hours=4)
    # Capped at the session's expiry (30 s away), far sooner than the 4 h duration.
    assert reply.policy.expire_time == session.reply.session.expire_time

    (audit,) = await lic_mesh.audits(session.name)
    assert audit.decision == GRANTED
    assert audit.reason == "GRANTED"
    assert audit.key_system == pb.KEY_SYSTEM_CLEARKEY
    assert audit.title == "titles/lic-movie"
    assert audit.profile == session.reply.session.profile
    assert audit.region_code == "US"
    assert list(audit.requested_key_ids) == [movie.kid(t) for t in ("sd", "hd", "audio", "uhd")]
    assert list(audit.granted_key_ids) == [movie.kid(t) for t in ("sd", "hd", "audio")]
    event = await lic_mesh.event_for(audit.name)
    assert event.audit == audit


async def test_basic_plan_licence_never_carries_the_hd_key(
    lic_mesh: LicensingMesh, movie: Keys
) -> None:
    session = lic_mesh.session(plan="plans/basic", max_height=720)
    reply = await lic_mesh.stub.AcquireClearKeyLicense(
        clearkey(session, movie.kid("sd"), movie.kid("hd"), movie.kid("uhd"))
    )
    assert [k.kid for k in reply.keys] == [kid_b64(movie.kid("sd"))]
    assert [k.k for k in reply.keys] == [b64url(movie.by_track["sd"].key)]
    hd_forms = {kid_b64(movie.kid("hd")), b64url(movie.by_track["hd"].key)}
    assert not hd_forms & {v for k in reply.keys for v in (k.kid, k.k)}

    audit = await refused(
        lic_mesh,
        lic_mesh.stub.AcquireClearKeyLicense(clearkey(session, movie.kid("hd"))),
        session.name,
        grpc.StatusCode.PERMISSION_DENIED,
        "RESOLUTION_NOT_IN_PLAN",
    )
    assert list(audit.requested_key_ids) == [movie.kid("hd")]
    await refused(
        lic_mesh,
        lic_mesh.stub.GetHlsKey(
            pb.GetHlsKeyRequest(key_id=movie.kid("hd"), session_token=session.token)
        ),
        session.name,
        grpc.StatusCode.PERMISSION_DENIED,
        "RESOLUTION_NOT_IN_PLAN",
        key_system=pb.KEY_SYSTEM_HLS_AES_128,
    )


async def test_session_cap_below_the_plan_limits_the_keys(
    lic_mesh: LicensingMesh, movie: Keys
) -> None:
    # A premium plan on a device the session capped at 720 lines: SD only.
    session = lic_mesh.session(plan="plans/premium", max_height=720)
    reply = await lic_mesh.stub.AcquireClearKeyLicense(
        clearkey(session, movie.kid("sd"), movie.kid("hd"), movie.kid("uhd"))
    )
    assert [k.kid for k in reply.keys] == [kid_b64(movie.kid("sd"))]
    # Uncapped premium: all three rungs.
    session = lic_mesh.session(plan="plans/premium", max_height=2160)
    reply = await lic_mesh.stub.AcquireClearKeyLicense(
        clearkey(session, movie.kid("sd"), movie.kid("hd"), movie.kid("uhd"))
    )
    assert [k.k for k in reply.keys] == [b64url(movie.by_track[t].key) for t in ("sd", "hd", "uhd")]


async def test_hls_key_is_exactly_the_16_key_bytes(lic_mesh: LicensingMesh, movie: Keys) -> None:
    session = lic_mesh.session()
    reply = await lic_mesh.stub.GetHlsKey(
        pb.GetHlsKeyRequest(key_id=movie.kid("sd"), session_token=session.token),
        metadata=region("US"),
    )
    assert reply.key.content_type == "application/octet-stream"
    assert reply.key.data == movie.by_track["sd"].key
    assert len(reply.key.data) == 16
    assert reply.policy.session == session.name
    (audit,) = await lic_mesh.audits(session.name)
    assert (audit.decision, audit.key_system) == (GRANTED, pb.KEY_SYSTEM_HLS_AES_128)
    assert list(audit.granted_key_ids) == [movie.kid("sd")]


async def test_stopped_session_is_refused_on_the_very_next_request(
    lic_mesh: LicensingMesh, movie: Keys
) -> None:
    session = lic_mesh.session()
    granted = await lic_mesh.stub.AcquireClearKeyLicense(clearkey(session, movie.kid("sd")))
    assert len(granted.keys) == 1
    lic_mesh.set_state(session, ppb.SESSION_STATE_STOPPED)
    audit = await refused(
        lic_mesh,
        lic_mesh.stub.AcquireClearKeyLicense(clearkey(session, movie.kid("sd"))),
        session.name,
        grpc.StatusCode.FAILED_PRECONDITION,
        "SESSION_STOPPED",
    )
    assert audit.title == "titles/lic-movie"
    await refused(
        lic_mesh,
        lic_mesh.stub.GetHlsKey(
            pb.GetHlsKeyRequest(key_id=movie.kid("sd"), session_token=session.token)
        ),
        session.name,
        grpc.StatusCode.FAILED_PRECONDITION,
        "SESSION_STOPPED",
        key_system=pb.KEY_SYSTEM_HLS_AES_128,
    )


async def test_expired_sessions_are_refused(lic_mesh: LicensingMesh, movie: Keys) -> None:
    swept = lic_mesh.session()
    lic_mesh.set_state(swept, ppb.SESSION_STATE_EXPIRED)
    await refused(
        lic_mesh,
        lic_mesh.stub.AcquireClearKeyLicense(clearkey(swept, movie.kid("sd"))),
        swept.name,
        grpc.StatusCode.FAILED_PRECONDITION,
        "SESSION_EXPIRED",
    )
    lapsed = lic_mesh.session(expires_in_s=-1)  # still ACTIVE, lease already past
    await refused(
        lic_mesh,
        lic_mesh.stub.AcquireClearKeyLicense(clearkey(lapsed, movie.kid("sd"))),
        lapsed.name,
        grpc.StatusCode.FAILED_PRECONDITION,
        "SESSION_EXPIRED",
    )


async def test_expired_and_forged_tokens_are_refused(lic_mesh: LicensingMesh, movie: Keys) -> None:
    expired = lic_mesh.session(token_ttl_s=-5)
    audit = await refused(
        lic_mesh,
        lic_mesh.stub.AcquireClearKeyLicense(clearkey(expired, movie.kid("sd"))),
        expired.name,
        grpc.StatusCode.UNAUTHENTICATED,
        "TOKEN_EXPIRED",
    )
    assert audit.session == expired.name
    assert list(audit.requested_key_ids) == [movie.kid("sd")]

    # Signed with another secret: nothing in it is trusted, so the record names no session.
    forged = lic_mesh.session(secret=secrets.token_bytes(32))
    before = {a.name for a in await lic_mesh.audits("")}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await lic_mesh.stub.AcquireClearKeyLicense(clearkey(forged, movie.kid("sd")))
    details = details_of(caught.value)
    assert (details.code, details.reason) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_INVALID")
    new = [a for a in await lic_mesh.audits("") if a.name not in before]
    mine = [
        a for a in new if a.reason == "TOKEN_INVALID" and a.requested_key_ids == [movie.kid("sd")]
    ]
    assert len(mine) >= 1
    assert (mine[0].decision, mine[0].session, mine[0].title) == (REFUSED, "", "")
    await lic_mesh.event_for(mine[0].name)
    assert forged.name not in {a.session for a in await lic_mesh.audits("")}

    # A genuine token with one part changed (another session) fails its MAC.
    session = lic_mesh.session()
    parts = session.token.split(".")
    tampered = ".".join(["s" + secrets.token_hex(6), *parts[1:]])
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await lic_mesh.stub.GetHlsKey(
            pb.GetHlsKeyRequest(key_id=movie.kid("sd"), session_token=tampered)
        )
    assert details_of(caught.value).reason == "TOKEN_INVALID"


async def test_keys_of_another_title_and_unknown_keys_are_refused(
    lic_mesh: LicensingMesh, movie: Keys, other: Keys
) -> None:
    session = lic_mesh.session()
    audit = await refused(
        lic_mesh,
        lic_mesh.stub.AcquireClearKeyLicense(clearkey(session, movie.kid("sd"), other.kid("sd"))),
        session.name,
        grpc.StatusCode.PERMISSION_DENIED,
        "KEY_OF_ANOTHER_TITLE",
    )
    assert list(audit.requested_key_ids) == [movie.kid("sd"), other.kid("sd")]
    await refused(
        lic_mesh,
        lic_mesh.stub.GetHlsKey(
            pb.GetHlsKeyRequest(key_id=other.kid("sd"), session_token=session.token)
        ),
        session.name,
        grpc.StatusCode.PERMISSION_DENIED,
        "KEY_OF_ANOTHER_TITLE",
        key_system=pb.KEY_SYSTEM_HLS_AES_128,
    )
    unknown = secrets.token_hex(16)
    await refused(
        lic_mesh,
        lic_mesh.stub.AcquireClearKeyLicense(clearkey(session, unknown)),
        session.name,
        grpc.StatusCode.NOT_FOUND,
        "UNKNOWN_KEY",
    )
    await refused(
        lic_mesh,
        lic_mesh.stub.GetHlsKey(pb.GetHlsKeyRequest(key_id=unknown, session_token=session.token)),
        session.name,
        grpc.StatusCode.NOT_FOUND,
        "UNKNOWN_KEY",
        key_system=pb.KEY_SYSTEM_HLS_AES_128,
    )


async def test_other_region_and_unavailable_title_are_refused(
    lic_mesh: LicensingMesh, movie: Keys
) -> None:
    session = lic_mesh.session(region="US")
    audit = await refused(
        lic_mesh,
        lic_mesh.stub.AcquireClearKeyLicense(
            clearkey(session, movie.kid("sd")), metadata=region("GB")
        ),
        session.name,
        grpc.StatusCode.PERMISSION_DENIED,
        "REGION_MISMATCH",
    )
    assert audit.region_code == "US"

    gb_only = await lic_mesh.keys("media/lic-gb-only", ("sd",))
    session = lic_mesh.session(title="titles/lic-gb-only", media="media/lic-gb-only", region="US")
    await refused(
        lic_mesh,
        lic_mesh.stub.AcquireClearKeyLicense(
            clearkey(session, gb_only.kid("sd")), metadata=region("US")
        ),
        session.name,
        grpc.StatusCode.FAILED_PRECONDITION,
        "NOT_AVAILABLE_IN_REGION",
    )
    in_gb = lic_mesh.session(title="titles/lic-gb-only", media="media/lic-gb-only", region="GB")
    reply = await lic_mesh.stub.AcquireClearKeyLicense(
        clearkey(in_gb, gb_only.kid("sd")), metadata=region("GB")
    )
    assert [k.k for k in reply.keys] == [b64url(gb_only.by_track["sd"].key)]


async def test_revoked_device_is_refused(lic_mesh: LicensingMesh, movie: Keys) -> None:
    user, devices = await register_user_with_devices(lic_mesh.accounts, ("tv-1", "tv-2"))
    kept = lic_mesh.session(user=user, device_id="tv-2")
    reply = await lic_mesh.stub.AcquireClearKeyLicense(clearkey(kept, movie.kid("sd")))
    assert len(reply.keys) == 1
    # Removing a device from the account revokes it (accounts' DeleteDevice).
    await lic_mesh.accounts.DeleteDevice(
        apb.DeleteDeviceRequest(name=devices["tv-1"]),
        metadata=(("x-vod-user", user), ("x-vod-roles", "viewer")),
    )
    revoked = lic_mesh.session(user=user, device_id="tv-1")
    audit = await refused(
        lic_mesh,
        lic_mesh.stub.AcquireClearKeyLicense(clearkey(revoked, movie.kid("sd"))),
        revoked.name,
        grpc.StatusCode.PERMISSION_DENIED,
        "DEVICE_REVOKED",
    )
    assert audit.profile == f"{user}/profiles/main"
    await refused(
        lic_mesh,
        lic_mesh.stub.GetHlsKey(
            pb.GetHlsKeyRequest(key_id=movie.kid("sd"), session_token=revoked.token)
        ),
        revoked.name,
        grpc.StatusCode.PERMISSION_DENIED,
        "DEVICE_REVOKED",
        key_system=pb.KEY_SYSTEM_HLS_AES_128,
    )
    still = lic_mesh.session(user=user, device_id="tv-2")
    reply = await lic_mesh.stub.AcquireClearKeyLicense(clearkey(still, movie.kid("sd")))
    assert [k.k for k in reply.keys] == [b64url(movie.by_track["sd"].key)]


async def test_too_many_licences_per_session(lic_mesh: LicensingMesh, movie: Keys) -> None:
    limit = lic_mesh.settings.max_licenses_per_session
    session = lic_mesh.session(plan="plans/premium", max_height=2160)
    # limit + 4 distinct key sets (subsets of the movie's four keys), requested at once.
    tracks = sorted(movie.by_track)
    # Never the SD key alone: the HLS request below asks for exactly that key set, and a key set
    # this session was already granted is delivered again, not refused.
    subsets = [
        kids
        for mask in range(1, 2 ** len(tracks))
        if (kids := [movie.kid(t) for i, t in enumerate(tracks) if mask >> i & 1])
        != [movie.kid("sd")]
    ][: limit + 4]
    assert len(subsets) == limit + 4
    calls = [lic_mesh.stub.AcquireClearKeyLicense(clearkey(session, *kids)) for kids in subsets]
    results = await asyncio.gather(*calls, return_exceptions=True)
    granted = [r for r in results if isinstance(r, pb.AcquireClearKeyLicenseResponse)]
    errors = [details_of(r) for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(granted) == limit
    assert [(e.code, e.reason) for e in errors] == [
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "TOO_MANY_LICENSES")
    ] * 4
    audits = await lic_mesh.audits(session.name)
    assert sorted(a.reason for a in audits) == ["GRANTED"] * limit + ["TOO_MANY_LICENSES"] * 4
    await refused(
        lic_mesh,
        lic_mesh.stub.GetHlsKey(
            pb.GetHlsKeyRequest(key_id=movie.kid("sd"), session_token=session.token)
        ),
        session.name,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "TOO_MANY_LICENSES",
        key_system=pb.KEY_SYSTEM_HLS_AES_128,
    )


async def test_a_repeated_licence_request_is_delivered_again_without_counting(
    lic_mesh: LicensingMesh, movie: Keys
) -> None:
    # A client (or Envoy, the RPC is idempotent) retrying a request whose answer was lost must
    # get the same keys without using up the session's licences.
    limit = lic_mesh.settings.max_licenses_per_session
    session = lic_mesh.session()
    repeats = [
        await lic_mesh.stub.AcquireClearKeyLicense(clearkey(session, movie.kid("sd")))
        for _ in range(limit + 3)
    ]
    assert {tuple(k.k for k in r.keys) for r in repeats} == {(b64url(movie.by_track["sd"].key),)}
    audits = await lic_mesh.audits(session.name)
    assert [a.reason for a in audits] == ["GRANTED"] * (limit + 3)
    # Only one licence was counted: limit - 1 other key sets still fit.
    others = [[movie.kid("hd")], [movie.kid("audio")], [movie.kid("sd"), movie.kid("hd")]]
    others += [[movie.kid("sd"), movie.kid("audio")], [movie.kid("hd"), movie.kid("audio")]]
    others += [[movie.kid("sd"), movie.kid("hd"), movie.kid("audio")]]
    for kids in others[: limit - 1]:
        await lic_mesh.stub.AcquireClearKeyLicense(clearkey(session, *kids))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await lic_mesh.stub.AcquireClearKeyLicense(clearkey(session, *others[limit - 1]))
    assert details_of(caught.value).reason == "TOO_MANY_LICENSES"


async def test_bad_requests_are_refused(lic_mesh: LicensingMesh, movie: Keys) -> None:
    session = lic_mesh.session()
    # No key ids: reaches the service, refused and audited.
    await refused(
        lic_mesh,
        lic_mesh.stub.AcquireClearKeyLicense(clearkey(session)),
        session.name,
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
    )
    # Persistent licences are not in any plan's policy.
    await refused(
        lic_mesh,
        lic_mesh.stub.AcquireClearKeyLicense(
            clearkey(session, movie.kid("sd"), type="persistent-license")
        ),
        session.name,
        grpc.StatusCode.PERMISSION_DENIED,
        "PERSISTENT_LICENSE_NOT_ALLOWED",
    )
    # Malformed key ids, too many of them, an unknown type: the proto rules refuse them.
    for kids, kind in (
        (["not-a-kid!"], "temporary"),
        ([kid_b64(movie.kid("sd"))] * 17, "temporary"),
        ([kid_b64(movie.kid("sd"))], "offline"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await lic_mesh.stub.AcquireClearKeyLicense(
                pb.AcquireClearKeyLicenseRequest(
                    session_token=session.token,
                    license_request=pb.ClearKeyLicenseRequest(kids=kids, type=kind),
                )
            )
        assert details_of(caught.value).code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await lic_mesh.stub.GetHlsKey(
            pb.GetHlsKeyRequest(key_id=movie.kid("sd").upper(), session_token=session.token)
        )
    assert details_of(caught.value).violations.keys() == {"key_id"}
    # Those four were refused by the shared validation before the servicer: audited all the same,
    # against the session their (genuine) token names, with the key ids that look like key ids.
    audits = await lic_mesh.audits(session.name)
    malformed = [a for a in audits if a.reason == "INVALID_REQUEST"]
    assert [(a.decision, a.key_system) for a in malformed] == [
        (REFUSED, pb.KEY_SYSTEM_HLS_AES_128),
        *[(REFUSED, pb.KEY_SYSTEM_CLEARKEY)] * 3,
    ]
    assert [list(a.requested_key_ids) for a in malformed] == [
        [],  # the upper-case key id is not a key id
        [movie.kid("sd")],
        [movie.kid("sd")] * 16,
        [],
    ]
    assert all(a.title == "titles/lic-movie" for a in malformed)
    # A body past the server's 8 MiB limit never reaches the handler.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await lic_mesh.stub.AcquireClearKeyLicense(
            pb.AcquireClearKeyLicenseRequest(
                session_token="x" * (9 * 1024 * 1024),
                license_request=pb.ClearKeyLicenseRequest(kids=[kid_b64(movie.kid("sd"))]),
            )
        )
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # The session was never granted anything.
    assert {a.decision for a in await lic_mesh.audits(session.name)} == {REFUSED}


async def test_list_audits_filters_pages_and_is_for_admins(
    lic_mesh: LicensingMesh, movie: Keys
) -> None:
    session = lic_mesh.session()
    for _ in range(3):
        await lic_mesh.stub.AcquireClearKeyLicense(clearkey(session, movie.kid("sd")))
    with pytest.raises(grpc.aio.AioRpcError):
        await lic_mesh.stub.AcquireClearKeyLicense(
            clearkey(session, movie.kid("hd"), type="persistent-license")
        )
    everything = await lic_mesh.audits(session.name)
    assert [a.reason for a in everything] == [
        "PERSISTENT_LICENSE_NOT_ALLOWED",
        "GRANTED",
        "GRANTED",
        "GRANTED",
    ]
    times = [a.create_time.ToDatetime() for a in everything]
    assert times == sorted(times, reverse=True)

    pages: list[str] = []
    token = ""
    while True:
        reply = await lic_mesh.stub.ListLicenseAudits(
            pb.ListLicenseAuditsRequest(
                session=session.name, decision=GRANTED, page_size=2, page_token=token
            ),
            metadata=ADMIN,
        )
        pages.append(",".join(a.name for a in reply.license_audits))
        token = reply.next_page_token
        if not token:
            break
    granted_names = [a.name for a in everything if a.decision == GRANTED]
    assert pages == [",".join(granted_names[:2]), granted_names[2]]

    first = await lic_mesh.stub.ListLicenseAudits(
        pb.ListLicenseAuditsRequest(session=session.name, page_size=1), metadata=ADMIN
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await lic_mesh.stub.ListLicenseAudits(
            pb.ListLicenseAuditsRequest(
                session=session.name, decision=REFUSED, page_token=first.next_page_token
            ),
            metadata=ADMIN,
        )
    assert details_of(caught.value).violations.keys() == {"page_token"}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await lic_mesh.stub.ListLicenseAudits(
            pb.ListLicenseAuditsRequest(session=session.name),
            metadata=(("x-vod-user", "users/ada"), ("x-vod-roles", "viewer")),
        )
    details = details_of(caught.value)
    assert (details.code, details.reason) == (grpc.StatusCode.PERMISSION_DENIED, "ADMIN_ONLY")


def test_issue_helper_matches_playback_tokens() -> None:
    # The fixtures' tokens are the production format (sanity for the forged-token tests).
    token = issue_session_token(b"k" * 32, SessionClaims("s1", "t1", "US", int(time.time()) + 5))
    assert token.split(".")[:3] == ["s1", "t1", "US"]
