"""No key material anywhere but in the responses that carry it: the production entry point
(`python -m services.licensing`, JSON logs at DEBUG) runs a full round (keys created and
fetched, licences and HLS keys granted and refused, audits listed, a shutdown); its whole output
and every message of the licensing NATS stream are then searched for the hex, base64 and
base64url forms of every key and IV this test run created, and for the session tokens."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import nats
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from vod.licensing.v1 import licensing_pb2 as pb
from vod.licensing.v1 import licensing_pb2_grpc
from vod.playback.v1 import playback_pb2 as ppb

from mesh.embedded import EmbeddedPostgres, free_port
from services.licensing.envelope import MasterKeyRing, format_master_keys, new_master_key
from services.runtime.playback_tokens import SessionClaims, issue_session_token
from tests.licensing.conftest import ADMIN, PACKAGER, TRACKS, LicensingMesh

ROOT = Path(__file__).resolve().parents[2]


def forms(secret: bytes) -> list[str]:
    b64 = base64.b64encode(secret).decode()
    b64url = base64.urlsafe_b64encode(secret).decode()
    return [secret.hex(), secret.hex().upper(), b64, b64.rstrip("="), b64url, b64url.rstrip("=")]


async def wait_serving(channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    request = health_pb2.HealthCheckRequest(service="vod.licensing.v1.LicensingService")
    async for reply in health.Watch(request, wait_for_ready=True):
        if reply.status == health_pb2.HealthCheckResponse.SERVING:
            return


async def stream_text(nats_url: str) -> bytes:
    """Every message on VOD_LICENSING (payload and headers), as one byte string."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info("VOD_LICENSING")
        payloads = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            message = await js.get_msg("VOD_LICENSING", seq)
            payloads.append((message.data or b"") + repr(message.headers).encode())
    finally:
        await nc.close()
    return b"\n".join(payloads)


async def test_no_key_material_in_logs_or_events(
    lic_mesh: LicensingMesh, postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    port = free_port()
    playback_secret = secrets.token_urlsafe(32)
    master = MasterKeyRing((new_master_key("mk-logs"),))
    env = {
        **os.environ,
        "VOD_DATABASE_URL": postgres.create_database(f"licensing_logs_{secrets.token_hex(4)}"),
        "VOD_NATS_URL": lic_mesh.nats_url,
        "VOD_LICENSING_GRPC_ADDRESS": f"127.0.0.1:{port}",
        "VOD_LICENSING_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        "VOD_LICENSING_MASTER_KEYS": format_master_keys(master),
        "VOD_PLAYBACK_SECRET": playback_secret,
        "VOD_PACKAGER_SECRET": PACKAGER[0][1],
        "VOD_PLAYBACK_ADDRESS": lic_mesh.playback_address,
        "VOD_CATALOG_ADDRESS": lic_mesh.catalog_address,
        "VOD_ACCOUNTS_ADDRESS": lic_mesh.accounts_address,
        "VOD_LOG_LEVEL": "DEBUG",
        "VOD_TRACING": "off",
    }
    log_path = tmp_path / "licensing.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.licensing"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    tokens: list[str] = []
    material: list[bytes] = []
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            await asyncio.wait_for(wait_serving(channel), timeout=60)
            stub = licensing_pb2_grpc.LicensingServiceStub(channel)
            media = "media/lic-movie"
            for track in TRACKS.values():
                await stub.CreateContentKey(
                    pb.CreateContentKeyRequest(
                        content_key=pb.ContentKey(media_asset=media, track_type=track)
                    ),
                    metadata=PACKAGER,
                )
            keys = (
                await stub.GetContentKeys(
                    pb.GetContentKeysRequest(media_asset=media), metadata=PACKAGER
                )
            ).content_keys
            material += [k.key for k in keys] + [k.iv for k in keys]
            kids = [
                base64.urlsafe_b64encode(bytes.fromhex(k.key_id)).rstrip(b"=").decode()
                for k in keys
            ]

            def token_for(session: ppb.GetSessionResponse, secret: str = playback_secret) -> str:
                claims = SessionClaims(
                    session.session.name.removeprefix("sessions/"),
                    "lic-movie",
                    "US",
                    int(time.time()) + 600,
                )
                token = issue_session_token(secret.encode(), claims)
                tokens.append(token)
                return token

            session = lic_mesh.session(max_height=2160, plan="plans/premium")
            token = token_for(session.reply)
            licence = await stub.AcquireClearKeyLicense(
                pb.AcquireClearKeyLicenseRequest(
                    session_token=token,
                    license_request=pb.ClearKeyLicenseRequest(kids=kids, type="temporary"),
                ),
                metadata=(("x-vod-region", "US"),),
            )
            assert len(licence.keys) == 4
            hls = await stub.GetHlsKey(
                pb.GetHlsKeyRequest(key_id=keys[0].key_id, session_token=token)
            )
            assert hls.key.data in material
            refusals = [
                pb.AcquireClearKeyLicenseRequest(  # unknown key
                    session_token=token,
                    license_request=pb.ClearKeyLicenseRequest(kids=["A" * 22]),
                ),
                pb.AcquireClearKeyLicenseRequest(  # forged token
                    session_token=token_for(session.reply, secrets.token_urlsafe(16)),
                    license_request=pb.ClearKeyLicenseRequest(kids=kids),
                ),
                pb.AcquireClearKeyLicenseRequest(  # malformed kids
                    session_token=token,
                    license_request=pb.ClearKeyLicenseRequest(kids=["%%%"]),
                ),
            ]
            for request in refusals:
                with pytest.raises(grpc.aio.AioRpcError):
                    await stub.AcquireClearKeyLicense(request)
            with pytest.raises(grpc.aio.AioRpcError):  # another region
                await stub.GetHlsKey(
                    pb.GetHlsKeyRequest(key_id=keys[1].key_id, session_token=token),
                    metadata=(("x-vod-region", "GB"),),
                )
            lic_mesh.set_state(session, ppb.SESSION_STATE_STOPPED)
            with pytest.raises(grpc.aio.AioRpcError):  # replayed after the stop
                await stub.GetHlsKey(
                    pb.GetHlsKeyRequest(key_id=keys[0].key_id, session_token=token)
                )
            audits = await stub.ListLicenseAudits(
                pb.ListLicenseAuditsRequest(session=session.name), metadata=ADMIN
            )
            assert [a.reason for a in audits.license_audits] == [
                "SESSION_STOPPED",
                "REGION_MISMATCH",
                "INVALID_REQUEST",  # the malformed kids, refused by the proto rules
                "UNKNOWN_KEY",
                "GRANTED",
                "GRANTED",
            ]
            expected_events = {a.name for a in audits.license_audits}
            # Audit events leave through the outbox relay: wait until every one is on the
            # stream (a condition, not a sleep) before stopping the service.
            stream = await stream_text(lic_mesh.nats_url)
            deadline = asyncio.get_running_loop().time() + 30
            while not all(name.encode() in stream for name in expected_events):
                assert asyncio.get_running_loop().time() < deadline, "audit events never published"
                await asyncio.sleep(0.1)
                stream = await stream_text(lic_mesh.nats_url)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0

    # Every audit event of the run, from the stream itself.
    stream = await stream_text(lic_mesh.nats_url)
    assert all(name.encode() in stream for name in expected_events)

    text = log_path.read_text()
    assert '"event": "license.granted"' in text and '"event": "license.refused"' in text
    every_key = material + [k.key for k in lic_mesh.created] + [k.iv for k in lic_mesh.created]
    assert len(every_key) >= 8
    for secret in every_key:
        assert secret not in stream
        for form in forms(secret):
            assert form not in text, "key material in the logs"
            assert form.encode() not in stream, "key material on NATS"
    for token in tokens:
        assert token not in text and token.encode() not in stream
        assert token.rsplit(".", 1)[1] not in text  # not even the MAC
