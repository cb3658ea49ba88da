"""Settings of the local mesh (`vod up`), read from the environment once.

Defaults follow DESIGN.md: data under ./var (VOD_HOME), the gateway on 127.0.0.1:8080, Envoy
admin on 9901, services from 50051, metrics from 9100. External servers replace the embedded ones
when VOD_DATABASE_URL / VOD_NATS_URL are set."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.runtime.config import env_int, env_str

__all__ = ["LocalSettings", "load_local_settings"]


@dataclass(frozen=True)
class LocalSettings:
    home: Path
    host: str = "127.0.0.1"
    gateway_port: int = 8080
    admin_port: int = 9901
    service_base_port: int = 50051
    metrics_base_port: int = 9100
    http_base_port: int = 8070
    transcode_workers: int = 1
    postgres_port: int = 5433
    nats_port: int = 4222
    nats_monitor_port: int = 8222
    external_database_url: str = ""
    external_nats_url: str = ""
    log_level: str = "INFO"

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


def load_local_settings(
    env: Mapping[str, str] | None = None, home: str | None = None
) -> LocalSettings:
    env = os.environ if env is None else env
    return LocalSettings(
        home=Path(home or env_str(env, "VOD_HOME", "var")).resolve(),
        host=env_str(env, "VOD_HOST", "127.0.0.1"),
        gateway_port=env_int(env, "VOD_GATEWAY_PORT", 8080),
        admin_port=env_int(env, "VOD_ADMIN_PORT", 9901),
        service_base_port=env_int(env, "VOD_SERVICE_BASE_PORT", 50051),
        metrics_base_port=env_int(env, "VOD_METRICS_BASE_PORT", 9100),
        http_base_port=env_int(env, "VOD_HTTP_BASE_PORT", 8070),
        transcode_workers=env_int(env, "VOD_TRANSCODE_WORKERS", 1),
        postgres_port=env_int(env, "VOD_POSTGRES_PORT", 5433),
        nats_port=env_int(env, "VOD_NATS_PORT", 4222),
        nats_monitor_port=env_int(env, "VOD_NATS_MONITOR_PORT", 8222),
        external_database_url=env_str(env, "VOD_DATABASE_URL", ""),
        external_nats_url=env_str(env, "VOD_NATS_URL", ""),
        log_level=env_str(env, "VOD_LOG_LEVEL", "INFO"),
    )
