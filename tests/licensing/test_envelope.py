"""Envelope encryption at rest: the stored row holds neither the key nor the IV in any
encoding, a record decrypts only as it was written, tampering is a clean DATA_LOSS (and an
audited refusal), and master-key rotation re-wraps every record (content keys unchanged) so
the old master key can be removed."""

from __future__ import annotations

import argparse
import base64
import io
import secrets
import stat
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa
from vod.licensing.v1 import licensing_pb2 as pb
from vod.licensing.v1 import licensing_pb2_grpc

from services.licensing import cli, envelope
from services.licensing.envelope import EnvelopeError, MasterKeyRing, new_master_key
from services.licensing.server import running
from services.runtime.db import async_url
from tests.licensing.conftest import PACKAGER, LicensingMesh, licensing_settings
from tests.support import details_of


def encodings(secret: bytes) -> list[bytes]:
    """Every form a 16-byte secret could be written in."""
    b64 = base64.b64encode(secret)
    b64url = base64.urlsafe_b64encode(secret)
    forms = [secret, secret.hex().encode(), secret.hex().upper().encode(), b64, b64url]
    forms += [b64.rstrip(b"="), b64url.rstrip(b"=")]
    return forms


def rows(database_url: str, query: str, **params: object) -> list[sa.Row]:
    engine = sa.create_engine(async_url(database_url))
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(query), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def row_bytes(row: sa.Row) -> bytes:
    out = b""
    for value in row:
        out += (
            bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
        ) + b"|"
    return out


# -- unit ------------------------------------------------------------------------------------------


def test_seal_open_round_trip_and_tampering() -> None:
    ring = MasterKeyRing((new_master_key("mk-a"),))
    key, iv = secrets.token_bytes(16), secrets.token_bytes(16)
    kid = secrets.token_hex(16)
    sealed = envelope.seal_content_key(ring, kid, "media/m1", key, iv)
    assert sealed.master_key_id == "mk-a"
    assert envelope.open_content_key(ring, kid, "media/m1", sealed) == (key, iv)
    blob = sealed.sealed_key + sealed.wrapped_data_key
    assert not any(form in blob for form in encodings(key) + encodings(iv))

    flipped = bytearray(sealed.sealed_key)
    flipped[20] ^= 0x01
    broken = envelope.Sealed(sealed.master_key_id, sealed.wrapped_data_key, bytes(flipped))
    with pytest.raises(EnvelopeError) as caught:
        envelope.open_content_key(ring, kid, "media/m1", broken)
    assert key.hex() not in str(caught.value)
    wrapped = bytearray(sealed.wrapped_data_key)
    wrapped[-1] ^= 0x80
    with pytest.raises(EnvelopeError):
        envelope.open_content_key(
            ring, kid, "media/m1", envelope.Sealed("mk-a", bytes(wrapped), sealed.sealed_key)
        )
    # Bound to its key id and media asset: the same blob under another row does not open.
    with pytest.raises(EnvelopeError):
        envelope.open_content_key(ring, kid, "media/m2", sealed)
    with pytest.raises(EnvelopeError):
        envelope.open_content_key(ring, secrets.token_hex(16), "media/m1", sealed)
    with pytest.raises(EnvelopeError, match="not configured"):
        envelope.open_content_key(MasterKeyRing((new_master_key("mk-b"),)), kid, "media/m1", sealed)


def test_rewrap_keeps_the_sealed_key() -> None:
    old = new_master_key("mk-old")
    ring = MasterKeyRing((old,))
    key, iv = secrets.token_bytes(16), secrets.token_bytes(16)
    sealed = envelope.seal_content_key(ring, "ab" * 16, "media/m", key, iv)
    rotated = MasterKeyRing((new_master_key("mk-new"), old))
    again = envelope.rewrap(rotated, "ab" * 16, sealed)
    assert (again.master_key_id, again.sealed_key) == ("mk-new", sealed.sealed_key)
    assert again.wrapped_data_key != sealed.wrapped_data_key
    only_new = MasterKeyRing((rotated.current,))
    assert envelope.open_content_key(only_new, "ab" * 16, "media/m", again) == (key, iv)


def test_master_key_configuration(tmp_path: Path) -> None:
    ring = MasterKeyRing((new_master_key("k2"), new_master_key("k1")))
    text = envelope.format_master_keys(ring)
    parsed = envelope.parse_master_keys(text)
    assert [k.id for k in parsed.keys] == ["k2", "k1"]
    assert parsed.current.key == ring.current.key
    assert "key=" not in repr(parsed) and ring.current.key.hex() not in repr(parsed)
    secret_text = text.split(",")[0].split(":")[1]
    for bad in ("k1", f"k1:{secret_text[:-4]}", f"k1:{secret_text},k1:{secret_text}"):
        with pytest.raises(ValueError) as caught:
            envelope.parse_master_keys(bad)
        assert secret_text[:8] not in str(caught.value)

    path = tmp_path / "secrets" / "licensing_master_keys"
    first = envelope.ensure_master_keys_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert envelope.ensure_master_keys_file(path) == first  # generated once, then reused
    assert len(envelope.parse_master_keys(first).current.key) == 32


# -- stored rows -----------------------------------------------------------------------------------


async def test_stored_row_holds_neither_key_nor_iv(lic_mesh: LicensingMesh) -> None:
    keys = await lic_mesh.keys(f"media/env-{secrets.token_hex(4)}", ("sd", "hd"))
    for key in keys.by_track.values():
        (row,) = rows(
            lic_mesh.database_url,
            "SELECT * FROM licensing.content_keys WHERE key_id = :kid",
            kid=key.key_id,
        )
        stored = row_bytes(row)
        for secret in (key.key, key.iv):
            assert not any(form in stored for form in encodings(secret))
        assert row.master_key_id == "mk-tests"


async def test_tampered_record_is_data_loss_and_audited(lic_mesh: LicensingMesh) -> None:
    media = f"media/tamper-{secrets.token_hex(4)}"
    keys = await lic_mesh.keys(media, ("sd", "audio"))
    rows(
        lic_mesh.database_url,
        "UPDATE licensing.content_keys SET sealed_key = overlay(sealed_key placing "
        "decode(lpad(to_hex(get_byte(sealed_key, 20) # 1), 2, '0'), 'hex') from 21 for 1) "
        "WHERE key_id = :kid",
        kid=keys.kid("sd"),
    )
    rows(
        lic_mesh.database_url,
        "UPDATE licensing.content_keys SET wrapped_data_key = overlay(wrapped_data_key placing "
        "decode(lpad(to_hex(get_byte(wrapped_data_key, 5) # 128), 2, '0'), 'hex') from 6 for 1) "
        "WHERE key_id = :kid",
        kid=keys.kid("audio"),
    )
    for kid in (keys.kid("sd"), keys.kid("audio")):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await lic_mesh.stub.GetContentKeys(
                pb.GetContentKeysRequest(media_asset=media, key_ids=[kid]), metadata=PACKAGER
            )
        details = details_of(caught.value)
        assert (details.code, details.reason) == (grpc.StatusCode.DATA_LOSS, "KEY_UNREADABLE")
        assert details.message == f"content key {kid} cannot be read"

    session = lic_mesh.session(title="titles/lic-other", media=media)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await lic_mesh.stub.GetHlsKey(
            pb.GetHlsKeyRequest(key_id=keys.kid("sd"), session_token=session.token)
        )
    assert details_of(caught.value).reason == "KEY_UNREADABLE"
    (audit,) = await lic_mesh.audits(session.name)
    assert (audit.decision, audit.reason) == (pb.LICENSE_DECISION_REFUSED, "KEY_UNREADABLE")
    # Nothing was counted against the session for the failed delivery.
    count = rows(
        lic_mesh.database_url,
        "SELECT count(*) FROM licensing.session_licenses WHERE session = :s",
        s=session.name,
    )
    assert count[0][0] == 0


# -- rotation --------------------------------------------------------------------------------------


async def test_rotate_master_key_rewraps_every_record(
    lic_mesh: LicensingMesh, fresh_database: str, tmp_path: Path
) -> None:
    old = MasterKeyRing((new_master_key("mk-first"),))

    def settings(ring: MasterKeyRing):  # type: ignore[no-untyped-def]
        return licensing_settings(
            fresh_database,
            "",
            ring=ring,
            playback=lic_mesh.playback_address,
            catalog=lic_mesh.catalog_address,
            accounts=lic_mesh.accounts_address,
            playback_secret=lic_mesh.settings.playback_secret,
        )

    async def fetch(
        ring: MasterKeyRing, media: str, *, create: bool = False
    ) -> list[pb.ContentKey]:
        async with running(settings(ring), serve_metrics=False) as run:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{run.port}") as channel:
                stub = licensing_pb2_grpc.LicensingServiceStub(channel)
                if create:
                    for track in (pb.TRACK_TYPE_VIDEO_SD, pb.TRACK_TYPE_VIDEO_HD):
                        await stub.CreateContentKey(
                            pb.CreateContentKeyRequest(
                                content_key=pb.ContentKey(media_asset=media, track_type=track)
                            ),
                            metadata=PACKAGER,
                        )
                reply = await stub.GetContentKeys(
                    pb.GetContentKeysRequest(media_asset=media), metadata=PACKAGER
                )
                return list(reply.content_keys)

    before = await fetch(old, "media/rot-a", create=True) + await fetch(
        old, "media/rot-b", create=True
    )
    lic_mesh.created.extend(before)
    sealed_before = {
        r.key_id: bytes(r.sealed_key)
        for r in rows(fresh_database, "SELECT key_id, sealed_key FROM licensing.content_keys")
    }
    assert len(sealed_before) == 4

    keys_file = tmp_path / "licensing_master_keys"
    envelope.write_private(keys_file, envelope.format_master_keys(old))
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "licensing",
            "rotate-master-key",
            "--keys-file",
            str(keys_file),
            "--database-url",
            fresh_database,
            "--retire",
        ]
    )
    out = io.StringIO()
    assert await cli.run_rotate(args, out) == 0
    new_ring = envelope.parse_master_keys(keys_file.read_text().strip())
    assert [k.id for k in new_ring.keys] == [new_ring.current.id]  # the old key is gone
    assert new_ring.current.id != "mk-first"
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    printed = out.getvalue()
    assert f"new master key: {new_ring.current.id}" in printed
    assert "records re-wrapped: 4" in printed
    for key in before:
        assert not any(form.decode() in printed for form in encodings(key.key)[1:])

    after_rows = rows(
        fresh_database,
        "SELECT key_id, master_key_id, sealed_key, rewrap_time FROM licensing.content_keys",
    )
    assert {r.master_key_id for r in after_rows} == {new_ring.current.id}
    assert {r.key_id: bytes(r.sealed_key) for r in after_rows} == sealed_before
    assert all(r.rewrap_time is not None for r in after_rows)

    # Served with the new key alone: the same keys (packaged media stays valid).
    after = await fetch(new_ring, "media/rot-a") + await fetch(new_ring, "media/rot-b")
    assert [(k.key_id, k.key, k.iv) for k in after] == [(k.key_id, k.key, k.iv) for k in before]
    # The retired key opens nothing any more.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await fetch(old, "media/rot-a")
    assert details_of(caught.value).reason == "KEY_UNREADABLE"
