"""The shared runtime: validation rules, the error model, the interceptor's guarantees (no
leaks, no crash on garbage), default deadlines on outbound calls, and graceful drain."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from vod.catalog.v1 import catalog_pb2 as pb
from vod.catalog.v1 import catalog_pb2_grpc

from mesh.embedded import free_port
from services.runtime import validation
from services.runtime.clients import idempotent_methods, open_channel
from services.runtime.config import load_runtime_settings
from services.runtime.errors import NotFound
from services.runtime.server import Registration, build_server, start
from tests.support import details_of

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "vod.catalog.v1.CatalogService"


def test_validation_collects_every_violation_with_paths() -> None:
    request = pb.CreateTitleRequest(
        title=pb.Title(
            type=77,
            display_name="",
            credits=[
                pb.Credit(person="ok", role=pb.CREDIT_ROLE_ACTOR),
                pb.Credit(person="", role=9),
            ],
        ),
        title_id="UPPER",
    )
    found = {v.field: v.description for v in validation.violations(request)}
    assert set(found) == {
        "title.type",
        "title.display_name",
        "title.credits[1].person",
        "title.credits[1].role",
        "title_id",
    }
    assert "TITLE_TYPE_MOVIE" in found["title.type"]


def test_partial_messages_skip_required_but_keep_other_rules() -> None:
    patch = pb.UpdateTitleRequest(title=pb.Title(name="titles/a", synopsis="x" * 5001))
    found = {v.field for v in validation.violations(patch)}
    assert found == {"title.synopsis"}  # display_name/type not required in a patch


def test_settings_reject_malformed_numbers() -> None:
    with pytest.raises(ValueError, match="VOD_DRAIN_GRACE_S"):
        load_runtime_settings("catalog", {"VOD_DRAIN_GRACE_S": "soon"})
    settings = load_runtime_settings("catalog", {"VOD_CATALOG_GRPC_ADDRESS": "0.0.0.0:1"})
    assert settings.grpc_address == "0.0.0.0:1" and settings.metrics_address == "127.0.0.1:9100"


def test_idempotent_methods_come_from_the_contract() -> None:
    methods = idempotent_methods(pb.DESCRIPTOR.services_by_name["CatalogService"])
    assert "GetTitle" in methods and "DeleteTitle" in methods and "CreateTitle" not in methods


class ProbeServicer(catalog_pb2_grpc.CatalogServiceServicer):
    """Raises what the test asks for; records the deadline it was called with."""

    def __init__(self) -> None:
        self.time_remaining: float | None = None

    async def GetTitle(self, request, context):  # type: ignore[no-untyped-def]
        self.time_remaining = context.time_remaining()
        if request.name == "titles/boom":
            raise RuntimeError("SELECT password FROM secrets -- connection to 10.0.0.7 failed")
        if request.name == "titles/missing":
            raise NotFound(
                message="titles/missing does not exist",
                reason="TITLE_NOT_FOUND",
                resource_type="vod.catalog.v1.Title",
                resource_name="titles/missing",
            )
        return pb.GetTitleResponse(title=pb.Title(name=request.name))


@pytest.fixture
async def probe_server():
    servicer = ProbeServicer()
    handle = build_server(
        "127.0.0.1:0",
        [Registration(SERVICE, catalog_pb2_grpc.add_CatalogServiceServicer_to_server, servicer)],
    )
    await start(handle)
    try:
        yield f"127.0.0.1:{handle.port}", servicer, handle
    finally:
        await handle.server.stop(0)


async def test_unexpected_errors_leak_nothing(probe_server) -> None:
    target, _, _ = probe_server
    async with grpc.aio.insecure_channel(target) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetTitle(
                pb.GetTitleRequest(name="titles/boom"), metadata=(("x-request-id", "req-42"),)
            )
        d = details_of(err.value)
        assert d.code == grpc.StatusCode.INTERNAL and d.reason == "INTERNAL"
        assert "req-42" in d.message
        for secret in ("SELECT", "password", "10.0.0.7", "RuntimeError", "Traceback"):
            assert secret not in d.message
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetTitle(pb.GetTitleRequest(name="titles/missing"))
        d = details_of(err.value)
        assert (d.code, d.reason, d.resource_name) == (
            grpc.StatusCode.NOT_FOUND,
            "TITLE_NOT_FOUND",
            "titles/missing",
        )


async def test_garbage_payloads_do_not_crash_the_server(probe_server) -> None:
    target, _, _ = probe_server
    async with grpc.aio.insecure_channel(target) as channel:
        raw = channel.unary_unary(
            f"/{SERVICE}/GetTitle", request_serializer=None, response_deserializer=None
        )
        for payload in (b"\xff\xff\xff", b"\x0a\xff\xff\xff\xff\x0f", os.urandom(512)):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await raw(payload)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "not a valid vod.catalog.v1.GetTitleRequest" in (err.value.details() or "")
            assert "DecodeError" not in (err.value.details() or "")
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        assert (
            await stub.GetTitle(pb.GetTitleRequest(name="titles/still-up"))
        ).title.name == "titles/still-up"


async def test_outbound_channels_always_carry_a_deadline(probe_server) -> None:
    target, servicer, _ = probe_server
    channel = open_channel(
        target, timeout_s=2.0, services=[pb.DESCRIPTOR.services_by_name["CatalogService"]]
    )
    async with channel:
        await catalog_pb2_grpc.CatalogServiceStub(channel).GetTitle(
            pb.GetTitleRequest(name="titles/a")
        )
    # Without the default deadline the server would see None (no deadline at all).
    assert servicer.time_remaining is not None and 0 < servicer.time_remaining <= 2.5


async def test_health_and_reflection_are_served(probe_server) -> None:
    target, _, handle = probe_server
    async with grpc.aio.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        status = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE))
        assert status.status == health_pb2.HealthCheckResponse.SERVING
        await handle.set_serving(False)
        status = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE))
        assert status.status == health_pb2.HealthCheckResponse.NOT_SERVING
        from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        async for response in responses:
            names = {s.name for s in response.list_services_response.service}
            assert SERVICE in names
            break


async def test_sigterm_drains_a_real_service_process(session_database, nats_server) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "gen" / "python")]),
        "VOD_DATABASE_URL": session_database,
        "VOD_NATS_URL": nats_server.url,
        "VOD_CATALOG_GRPC_ADDRESS": f"127.0.0.1:{port}",
        "VOD_CATALOG_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        "VOD_DRAIN_GRACE_S": "1",
    }
    log = tempfile.TemporaryFile()  # a file, not a pipe: a full pipe would block the logger
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.catalog"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for _ in range(100):
                try:
                    status = await health.Check(
                        health_pb2.HealthCheckRequest(service=SERVICE), timeout=0.5
                    )
                    if status.status == health_pb2.HealthCheckResponse.SERVING:
                        break
                except grpc.aio.AioRpcError:
                    pass
                await asyncio.sleep(0.1)
            else:
                pytest.fail("catalog never became SERVING")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        log.seek(0)
        output = log.read().decode()
        assert '"event": "server.draining"' in output and '"event": "server.stopped"' in output
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_consumers_skip_poison_messages_and_redeliver_failures(nats_server) -> None:
    """An undecodable payload is acked once and skipped; a handler failure is redelivered."""
    from vod.events.v1 import catalog_events_pb2 as ev

    from services.runtime.events import EventBus, StreamSpec, new_meta

    stream = StreamSpec("TEST_POISON", ("test.poison.>",))
    bus = await EventBus.connect(nats_server.url, name="poison-test")
    seen: list[str] = []
    failed_once: set[str] = set()

    async def handler(event: ev.TitleRemoved) -> None:
        if event.name == "titles/flaky" and event.name not in failed_once:
            failed_once.add(event.name)
            raise RuntimeError("transient")
        seen.append(event.name)

    try:
        await bus.ensure_streams([stream])
        await bus.publish_raw("test.poison.x", b"\xff\xff\xff not protobuf", "poison-1")
        for name in ("titles/good", "titles/flaky"):
            event = ev.TitleRemoved(meta=new_meta("test"), name=name)
            await bus.publish_raw("test.poison.x", event.SerializeToString(), event.meta.event_id)
        bus.consume(
            stream="TEST_POISON",
            durable="poison-consumer",
            subject="test.poison.>",
            decode=lambda subject, data: ev.TitleRemoved.FromString(data),
            handler=handler,
        )
        for _ in range(100):
            if sorted(seen) == ["titles/flaky", "titles/good"]:
                break
            await asyncio.sleep(0.1)
        assert sorted(seen) == ["titles/flaky", "titles/good"]
        info = await bus._js.consumer_info("TEST_POISON", "poison-consumer")
        assert info.num_ack_pending == 0 and info.num_pending == 0
        assert info.num_redelivered <= 1  # only the flaky one came back, not the poison
    finally:
        await bus.close()
