"""The home feed's title cache against the real catalog and its events on NATS: titles are
asked of the catalog once, then served from the cache; a catalog write (UpdateTitle, which
publishes vod.catalog.title_updated) drops the title at once, so the next home shows the new
data. The gateway's clock is frozen, so nothing here can expire by TTL: only the event can."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import grpc
from google.protobuf import field_mask_pb2
from vod.catalog.v1 import catalog_pb2 as cpb
from vod.gateway.v1 import gateway_pb2 as gpb
from vod.gateway.v1 import gateway_pb2_grpc

from gateway.home.server import running
from tests.gateway.conftest import (
    FakeClock,
    GatewayMesh,
    gateway_settings,
    home_request,
    identity,
)

ADMIN = (("x-vod-user", "users/ops"), ("x-vod-roles", "viewer admin"))


def _names(reply: gpb.GetHomeResponse) -> dict[str, str]:
    return {item.title: item.display_name for row in reply.rows for item in row.items}


async def test_titles_come_from_the_cache_until_the_catalog_says_they_changed(
    gw_mesh: GatewayMesh,
) -> None:
    settings = gateway_settings(gw_mesh)
    settings = replace(settings, runtime=replace(settings.runtime, nats_url=gw_mesh.nats_url))
    viewer = gw_mesh.viewer
    async with (
        running(settings, serve_metrics=False, clock=FakeClock()) as run,
        grpc.aio.insecure_channel(f"127.0.0.1:{run.port}") as channel,
    ):
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        registry = run.handle.metrics.registry

        def metric(name: str, **labels: str) -> float:
            return registry.get_sample_value(name, labels) or 0.0

        def batch_calls() -> float:
            return metric(
                "gateway_dependency_calls_total",
                dependency="catalog",
                method="BatchGetTitles",
                result="ok",
            )

        async def home() -> gpb.GetHomeResponse:
            return await stub.GetHome(home_request(viewer), metadata=identity(viewer))

        first = await home()
        shown = _names(first)
        assert shown
        asked = metric("gateway_title_cache_lookups_total", result="miss")
        assert asked >= len(shown) and batch_calls() >= 1
        calls = batch_calls()

        second = await home()
        assert _names(second) == shown
        assert batch_calls() == calls  # nothing asked of the catalog
        assert metric("gateway_title_cache_lookups_total", result="hit") == asked
        assert metric("gateway_title_cache_lookups_total", result="miss") == asked

        # A catalog write: the event drops that title, the next home shows the new name.
        target = sorted(shown)[0]
        renamed = f"{shown[target]} (director's cut)"
        await gw_mesh.catalog_stub.UpdateTitle(
            cpb.UpdateTitleRequest(
                title=cpb.Title(name=target, display_name=renamed),
                update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
            ),
            metadata=ADMIN,
        )
        deadline = time.monotonic() + 30
        while metric("gateway_title_cache_invalidations_total", reason="updated") < 1:
            assert time.monotonic() < deadline, "no title_updated event reached the gateway"
            await asyncio.sleep(0.05)
        third = await home()
        assert _names(third)[target] == renamed
        assert metric("gateway_title_cache_invalidations_total", reason="updated") == 1
        assert batch_calls() == calls + 1  # only the dropped title was asked again
        assert metric("gateway_title_cache_lookups_total", result="miss") == asked + 1

        # Put the name back for the other tests of the session.
        await gw_mesh.catalog_stub.UpdateTitle(
            cpb.UpdateTitleRequest(
                title=cpb.Title(name=target, display_name=shown[target]),
                update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
            ),
            metadata=ADMIN,
        )
