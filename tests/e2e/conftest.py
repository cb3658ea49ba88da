"""The whole local mesh, started by the production launcher (`vod up`'s LocalMesh) on free
ports under a temporary VOD_HOME: real Postgres, NATS, catalog process and Envoy."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from mesh.embedded import free_port, free_port_block
from mesh.launcher import LocalMesh
from mesh.local import LocalSettings, load_local_settings
from tests.conftest import scratch_dir


def local_settings(home) -> LocalSettings:  # type: ignore[no-untyped-def]
    base = load_local_settings(env={}, home=str(home))
    service_base = free_port_block(10)
    return replace(
        base,
        gateway_port=free_port(),
        admin_port=free_port(),
        service_base_port=service_base,
        metrics_base_port=free_port_block(10),
        http_base_port=free_port_block(5),
        edge_base_port=free_port_block(2),
        postgres_port=free_port(),
        nats_port=free_port(),
        nats_monitor_port=free_port(),
    )


@pytest.fixture(scope="package")
def mesh() -> Iterator[LocalMesh]:
    with scratch_dir("vodtest-home-") as home:
        local = LocalMesh(local_settings(home))
        try:
            local.start()
            yield local
        finally:
            local.stop()


@pytest.fixture(scope="package")
def admin_md(mesh: LocalMesh) -> tuple[tuple[str, str], ...]:
    """gRPC metadata of the demo admin `vod up` signed in (catalog writes, uploads, jobs)."""
    return mesh.admin_metadata()


@pytest.fixture(scope="package")
def admin_headers(admin_md: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return dict(admin_md)
