"""The services that exist, in one place: how the launcher starts them, where their gRPC and
metrics ports sit relative to the base ports, and what they migrate.

Adding a service to the mesh is adding a line here (the Envoy routes, health checks and `vod up`
follow from it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["SERVICES", "ServiceEntry"]

_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ServiceEntry:
    name: str
    """Short name: the env prefix (VOD_<NAME>_...), the log file and the Envoy cluster."""
    module: str
    """`python -m <module>` runs the service."""
    grpc_service: str
    port_offset: int
    """gRPC port = base (50051) + offset; metrics port = base (9100) + offset."""
    schema: str | None = None
    """Postgres schema the service owns (migrated by the launcher before it starts)."""

    @property
    def migrations(self) -> Path | None:
        if self.schema is None:
            return None
        return _ROOT / "services" / self.name / "migrations"


# Catalog first: un-addressed gRPC health checks through Envoy go to the first service.
SERVICES: tuple[ServiceEntry, ...] = (
    ServiceEntry(
        "catalog", "services.catalog", "vod.catalog.v1.CatalogService", 0, schema="catalog"
    ),
)
