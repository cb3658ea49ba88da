"""Settings of the local mesh (`vod up`), read from the environment once.

Defaults follow DESIGN.md: data under ./var (VOD_HOME), the gateway on 127.0.0.1:8080, Envoy
admin on 9901, services from 50051, metrics from 9100. External servers replace the embedded ones
when VOD_DATABASE_URL / VOD_NATS_URL are set."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.runtime import ports
from services.runtime.config import env_int, env_str

__all__ = ["LocalSettings", "load_local_settings"]


@dataclass(frozen=True)
class LocalSettings:
    home: Path
    host: str = ports.HOST
    gateway_port: int = ports.FRONT_PORT
    admin_port: int = 9901
    service_base_port: int = ports.GRPC_BASE_PORT
    metrics_base_port: int = ports.METRICS_BASE_PORT
    http_base_port: int = ports.HTTP_BASE_PORT
    transcode_workers: int = 1
    postgres_port: int = 5433
    nats_port: int = 4222
    nats_monitor_port: int = 8222
    external_database_url: str = ""
    external_nats_url: str = ""
    log_level: str = "INFO"
    regions: tuple[str, ...] = ("US", "GB")
    """Simulated regions: each gets its own front listener (standing in for GeoIP) and edge."""
    edge_base_port: int = ports.EDGE_BASE_PORT

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def state_file(self) -> Path:
        return self.run_dir / "state.json"

    @property
    def gateway_url(self) -> str:
        return f"http://{self.host}:{self.gateway_port}"

    @property
    def gateway_grpc(self) -> str:
        return f"{self.host}:{self.gateway_port}"

    def front_address(self, index: int) -> tuple[str, int]:
        """The front listener of `regions[index]`: the first region is the gateway address; the
        others listen on their own loopback address with the same port (127.0.0.2:8080, ...),
        or on the next ports when the host is not 127.0.0.1."""
        if index == 0:
            return self.host, self.gateway_port
        if self.host == "127.0.0.1":
            return f"127.0.0.{index + 1}", self.gateway_port
        return self.host, self.gateway_port + index

    def edge_address(self, index: int) -> tuple[str, int]:
        """The edge (CDN node) of `regions[index]`."""
        return self.host, self.edge_base_port + index


def load_local_settings(
    env: Mapping[str, str] | None = None, home: str | None = None
) -> LocalSettings:
    env = os.environ if env is None else env
    return LocalSettings(
        home=Path(home or env_str(env, "VOD_HOME", "var")).resolve(),
        host=env_str(env, "VOD_HOST", ports.HOST),
        gateway_port=env_int(env, "VOD_GATEWAY_PORT", ports.FRONT_PORT),
        admin_port=env_int(env, "VOD_ADMIN_PORT", 9901),
        service_base_port=env_int(env, "VOD_SERVICE_BASE_PORT", ports.GRPC_BASE_PORT),
        metrics_base_port=env_int(env, "VOD_METRICS_BASE_PORT", ports.METRICS_BASE_PORT),
        http_base_port=env_int(env, "VOD_HTTP_BASE_PORT", ports.HTTP_BASE_PORT),
        transcode_workers=env_int(env, "VOD_TRANSCODE_WORKERS", 1),
        postgres_port=env_int(env, "VOD_POSTGRES_PORT", 5433),
        nats_port=env_int(env, "VOD_NATS_PORT", 4222),
        nats_monitor_port=env_int(env, "VOD_NATS_MONITOR_PORT", 8222),
        external_database_url=env_str(env, "VOD_DATABASE_URL", ""),
        external_nats_url=env_str(env, "VOD_NATS_URL", ""),
        log_level=env_str(env, "VOD_LOG_LEVEL", "INFO"),
        regions=_regions(env_str(env, "VOD_REGIONS", "US,GB")),
        edge_base_port=env_int(env, "VOD_EDGE_BASE_PORT", ports.EDGE_BASE_PORT),
    )


def _regions(raw: str) -> tuple[str, ...]:
    regions = tuple(part.strip().upper() for part in raw.split(",") if part.strip())
    bad = [r for r in regions if len(r) != 2 or not r.isalpha() or not r.isascii()]
    if not regions or bad or len(set(regions)) != len(regions):
        raise ValueError(
            f"VOD_REGIONS must list distinct ISO 3166-1 alpha-2 codes such as US,GB; got {raw!r}"
        )
    return regions
