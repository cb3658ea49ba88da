"""The packager's internal key RPCs: only with the packager secret, no key material outside
GetContentKeys, one key per (media, track class), pages without material."""

from __future__ import annotations

import secrets

import grpc
import pytest
from vod.licensing.v1 import licensing_pb2 as pb

from services.licensing.domain import LIST_CONTENT_KEYS_SCOPE, LIST_LICENSE_AUDITS_SCOPE
from tests.licensing.conftest import ADMIN, PACKAGER, LicensingMesh
from tests.runtime.test_page_tokens import assert_refused_page_token, forgeries
from tests.support import details_of


def create(media: str, track: int = pb.TRACK_TYPE_VIDEO_SD) -> pb.CreateContentKeyRequest:
    return pb.CreateContentKeyRequest(
        content_key=pb.ContentKey(media_asset=media, track_type=track)  # type: ignore[arg-type]
    )


def media() -> str:
    return f"media/keys-{secrets.token_hex(4)}"


@pytest.mark.parametrize(
    "metadata",
    [(), (("x-vod-packager", "wrong"),), (("x-vod-user", "users/root"), ("x-vod-roles", "admin"))],
)
async def test_key_rpcs_are_for_the_packager_only(
    lic_mesh: LicensingMesh, metadata: tuple[tuple[str, str], ...]
) -> None:
    name = media()
    for call in (
        lic_mesh.stub.CreateContentKey(create(name), metadata=metadata),
        lic_mesh.stub.GetContentKeys(pb.GetContentKeysRequest(media_asset=name), metadata=metadata),
        lic_mesh.stub.ListContentKeys(pb.ListContentKeysRequest(), metadata=metadata),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        details = details_of(caught.value)
        assert (details.code, details.reason) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_PACKAGER")
    listed = await lic_mesh.stub.ListContentKeys(
        pb.ListContentKeysRequest(media_asset=name), metadata=PACKAGER
    )
    assert list(listed.content_keys) == []


async def test_create_returns_no_material_and_get_returns_it(lic_mesh: LicensingMesh) -> None:
    name = media()
    created = (
        await lic_mesh.stub.CreateContentKey(
            pb.CreateContentKeyRequest(
                content_key=pb.ContentKey(
                    media_asset=name,
                    track_type=pb.TRACK_TYPE_VIDEO_HD,
                    key_systems=[pb.KEY_SYSTEM_CLEARKEY],
                )
            ),
            metadata=PACKAGER,
        )
    ).content_key
    assert (created.key, created.iv) == (b"", b"")
    assert len(created.key_id) == 32 and int(created.key_id, 16) >= 0
    assert created.name == f"contentKeys/{created.key_id}"
    assert (created.media_asset, created.track_type) == (name, pb.TRACK_TYPE_VIDEO_HD)
    assert list(created.key_systems) == [pb.KEY_SYSTEM_CLEARKEY]

    (got,) = (
        await lic_mesh.stub.GetContentKeys(
            pb.GetContentKeysRequest(media_asset=name, key_ids=[created.key_id]), metadata=PACKAGER
        )
    ).content_keys
    assert got.key_id == created.key_id
    assert len(got.key) == 16 and len(got.iv) == 16 and got.key != got.iv
    assert got.create_time == created.create_time
    lic_mesh.created.append(got)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await lic_mesh.stub.CreateContentKey(
            create(name, pb.TRACK_TYPE_VIDEO_HD), metadata=PACKAGER
        )
    details = details_of(caught.value)
    assert (details.code, details.reason) == (grpc.StatusCode.ALREADY_EXISTS, "CONTENT_KEY_EXISTS")
    assert details.resource_name == created.name

    unknown = secrets.token_hex(16)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await lic_mesh.stub.GetContentKeys(
            pb.GetContentKeysRequest(media_asset=name, key_ids=[unknown]), metadata=PACKAGER
        )
    details = details_of(caught.value)
    assert (details.code, details.resource_name) == (
        grpc.StatusCode.NOT_FOUND,
        f"contentKeys/{unknown}",
    )


async def test_unspecified_track_means_all_and_keys_differ(lic_mesh: LicensingMesh) -> None:
    name = media()
    created = (
        await lic_mesh.stub.CreateContentKey(
            create(name, pb.TRACK_TYPE_UNSPECIFIED), metadata=PACKAGER
        )
    ).content_key
    assert created.track_type == pb.TRACK_TYPE_ALL
    await lic_mesh.stub.CreateContentKey(create(name, pb.TRACK_TYPE_AUDIO), metadata=PACKAGER)
    keys = (
        await lic_mesh.stub.GetContentKeys(
            pb.GetContentKeysRequest(media_asset=name), metadata=PACKAGER
        )
    ).content_keys
    lic_mesh.created.extend(keys)
    assert [k.track_type for k in keys] == [pb.TRACK_TYPE_ALL, pb.TRACK_TYPE_AUDIO]
    assert len({k.key for k in keys} | {k.iv for k in keys}) == 4


async def test_list_pages_without_material(lic_mesh: LicensingMesh) -> None:
    name = media()
    tracks = [pb.TRACK_TYPE_VIDEO_SD, pb.TRACK_TYPE_VIDEO_HD, pb.TRACK_TYPE_VIDEO_UHD]
    ids = []
    for track in tracks:
        ids.append(
            (
                await lic_mesh.stub.CreateContentKey(create(name, track), metadata=PACKAGER)
            ).content_key.key_id
        )
    seen: list[list[str]] = []
    token = ""
    while True:
        reply = await lic_mesh.stub.ListContentKeys(
            pb.ListContentKeysRequest(media_asset=name, page_size=2, page_token=token),
            metadata=PACKAGER,
        )
        assert all(k.key == b"" and k.iv == b"" for k in reply.content_keys)
        seen.append([k.key_id for k in reply.content_keys])
        token = reply.next_page_token
        if not token:
            break
    assert seen == [ids[:2], ids[2:]]
    first = await lic_mesh.stub.ListContentKeys(
        pb.ListContentKeysRequest(media_asset=name, page_size=1), metadata=PACKAGER
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await lic_mesh.stub.ListContentKeys(
            pb.ListContentKeysRequest(media_asset=media(), page_token=first.next_page_token),
            metadata=PACKAGER,
        )
    assert details_of(caught.value).violations.keys() == {"page_token"}
    keys = (
        await lic_mesh.stub.GetContentKeys(
            pb.GetContentKeysRequest(media_asset=name), metadata=PACKAGER
        )
    ).content_keys
    lic_mesh.created.extend(keys)


async def test_malformed_requests_are_invalid(lic_mesh: LicensingMesh) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await lic_mesh.stub.CreateContentKey(create("titles/not-media"), metadata=PACKAGER)
    assert details_of(caught.value).violations.keys() == {"content_key.media_asset"}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await lic_mesh.stub.GetContentKeys(
            pb.GetContentKeysRequest(media_asset=media(), key_ids=["XYZ"]), metadata=PACKAGER
        )
    assert details_of(caught.value).violations.keys() == {"key_ids[0]"}


async def test_forged_page_tokens_are_refused(lic_mesh: LicensingMesh) -> None:
    """A position forged in the unsigned format licensing used to issue (its filters in clear),
    or signed with anything but the deployment's secret, is INVALID_ARGUMENT on page_token."""
    name = media()
    await lic_mesh.stub.CreateContentKey(create(name), metadata=PACKAGER)
    session = "sessions/forged-audits"
    cases = (
        (
            LIST_CONTENT_KEYS_SCOPE,
            name,
            lambda token: lic_mesh.stub.ListContentKeys(
                pb.ListContentKeysRequest(media_asset=name, page_token=token), metadata=PACKAGER
            ),
        ),
        (
            LIST_LICENSE_AUDITS_SCOPE,
            f"{session}|0",
            lambda token: lic_mesh.stub.ListLicenseAudits(
                pb.ListLicenseAuditsRequest(session=session, page_token=token), metadata=ADMIN
            ),
        ),
    )
    for scope, filters, call in cases:
        for token in forgeries({"f": filters, "p": 0}, scope, None, {"p": 0}, bind=filters):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call(token)
            assert_refused_page_token(caught.value)
