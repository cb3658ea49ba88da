"""Prometheus for the local mesh (`vod up --with-prometheus`): Debian's `prometheus` binary
(`scripts/system-deps` installs it) scraping every service's metrics port, Envoy's admin
`/stats/prometheus`, and the exporter (`mesh.observability.exporter`) that turns the edges'
access logs and NATS JetStream's `/jsz` into metrics. Rules (recording and alerts) are
`mesh/observability/rules/*.yml`; a Grafana dashboard is `mesh/observability/grafana/vodmesh.json`.

Jobs: one per service (named as in `mesh.services.SERVICES`), `envoy`, `edges`, `nats` (the last
only when the NATS monitoring port is known, i.e. the embedded NATS or VOD_NATS_MONITOR_URL).
"""

from __future__ import annotations

import os
import shutil
import sys
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mesh.embedded import ManagedProcess
from mesh.local import LocalSettings
from mesh.services import SERVICES
from services.runtime.config import env_int, env_str

if TYPE_CHECKING:
    from mesh.launcher import LocalMesh

__all__ = [
    "RULES_DIR",
    "MeshPrometheus",
    "PrometheusSettings",
    "ScrapeTargets",
    "load_prometheus_settings",
    "mesh_targets",
    "prometheus_command",
    "render_config",
    "start_mesh_prometheus",
    "write_config",
]

OBSERVABILITY = Path(__file__).resolve().parent / "observability"
RULES_DIR = OBSERVABILITY / "rules"
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class PrometheusSettings:
    host: str = "127.0.0.1"
    port: int = 9090
    """Prometheus' own UI and API (VOD_PROMETHEUS_PORT)."""
    exporter_port: int = 9190
    """The edges/NATS exporter (VOD_PROMETHEUS_EXPORTER_PORT)."""
    binary: str = "prometheus"
    """VOD_PROMETHEUS_BIN; Debian's package puts it at /usr/bin/prometheus."""
    scrape_interval_s: int = 5
    retention: str = "7d"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def load_prometheus_settings(
    local: LocalSettings, env: Mapping[str, str] | None = None
) -> PrometheusSettings:
    env = os.environ if env is None else env
    return PrometheusSettings(
        host=local.host,
        port=env_int(env, "VOD_PROMETHEUS_PORT", 9090),
        exporter_port=env_int(env, "VOD_PROMETHEUS_EXPORTER_PORT", 9190),
        binary=env_str(env, "VOD_PROMETHEUS_BIN", "prometheus"),
        scrape_interval_s=env_int(env, "VOD_PROMETHEUS_SCRAPE_INTERVAL", 5),
    )


@dataclass(frozen=True)
class ScrapeTargets:
    """What there is to scrape in one running mesh."""

    services: Mapping[str, str]
    """Service name -> host:port of its metrics server."""
    envoy_admin: str
    """host:port of Envoy's admin listener."""
    edge_logs: Mapping[str, Path]
    """Region -> the edge's JSON access log."""
    nats_monitor: str | None = None
    """Base URL of nats-server's monitoring port (None: no `nats` job)."""
    regions: tuple[str, ...] = field(default=())
    state_file: Path | None = None
    """The supervisor's state file (None: no `supervisor` job)."""


def mesh_targets(mesh: LocalMesh) -> ScrapeTargets:
    """The scrape targets of a mesh started by `LocalMesh` (services, Envoy, edges, NATS)."""
    s = mesh.settings
    specs = [edge.spec for edge in mesh.edges] or list(mesh.edge_specs())
    if mesh.nats is not None and mesh.nats.monitor_port:
        nats_monitor: str | None = f"http://{s.host}:{mesh.nats.monitor_port}"
    else:
        nats_monitor = os.environ.get("VOD_NATS_MONITOR_URL") or None
    return ScrapeTargets(
        services={e.name: mesh.metrics_address(e) for e in SERVICES},
        envoy_admin=f"{s.host}:{s.admin_port}",
        edge_logs={spec.region: Path(spec.access_log_path) for spec in specs},
        nats_monitor=nats_monitor,
        regions=tuple(spec.region for spec in specs),
        state_file=s.state_file,
    )


def render_config(
    settings: PrometheusSettings, targets: ScrapeTargets, rules_dir: Path = RULES_DIR
) -> dict[str, Any]:
    """prometheus.yml as a dict."""
    interval = f"{settings.scrape_interval_s}s"
    exporter = f"{settings.host}:{settings.exporter_port}"
    jobs: list[dict[str, Any]] = [
        {
            "job_name": name,
            "static_configs": [{"targets": [address], "labels": {"service": name}}],
        }
        for name, address in targets.services.items()
    ]
    jobs.append(
        {
            "job_name": "envoy",
            "metrics_path": "/stats/prometheus",
            "static_configs": [{"targets": [targets.envoy_admin]}],
        }
    )
    jobs.append(
        {
            "job_name": "edges",
            "metrics_path": "/metrics/edges",
            "static_configs": [{"targets": [exporter]}],
        }
    )
    if targets.nats_monitor:
        jobs.append(
            {
                "job_name": "nats",
                "metrics_path": "/metrics/nats",
                "static_configs": [{"targets": [exporter]}],
            }
        )
    if targets.state_file is not None:
        jobs.append(
            {
                "job_name": "supervisor",
                "metrics_path": "/metrics/supervisor",
                "static_configs": [{"targets": [exporter]}],
            }
        )
    return {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": interval,
            "external_labels": {"mesh": "vodmesh-local"},
        },
        "rule_files": [str(rules_dir / "*.yml")],
        "scrape_configs": jobs,
    }


def write_config(
    settings: PrometheusSettings, targets: ScrapeTargets, path: Path, rules_dir: Path = RULES_DIR
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Written by mesh/prometheus.py for this mesh; rewritten by every start.\n"
        + yaml.safe_dump(render_config(settings, targets, rules_dir), sort_keys=False)
    )
    return path


def prometheus_command(settings: PrometheusSettings, home: Path) -> list[str]:
    """argv of Prometheus with its config at `<home>/prometheus.yml` and data in `<home>/data`."""
    binary = shutil.which(settings.binary) or settings.binary
    return [
        binary,
        f"--config.file={home / 'prometheus.yml'}",
        f"--storage.tsdb.path={home / 'data'}",
        f"--storage.tsdb.retention.time={settings.retention}",
        f"--web.listen-address={settings.host}:{settings.port}",
        "--web.enable-lifecycle",  # POST /-/reload after rules change
        "--log.level=warn",
    ]


def exporter_command(settings: PrometheusSettings, targets: ScrapeTargets) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "mesh.observability.exporter",
        f"--listen={settings.host}:{settings.exporter_port}",
    ]
    argv += [f"--edge={region}={path}" for region, path in targets.edge_logs.items()]
    if targets.nats_monitor:
        argv.append(f"--nats-monitor={targets.nats_monitor}")
    if targets.state_file is not None:
        argv.append(f"--state-file={targets.state_file}")
    return argv


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as response:
            return int(response.status) == 200
    except OSError:
        return False


class _Process(ManagedProcess):
    def __init__(
        self, name: str, argv: list[str], ready_url: str, log_path: Path, env: dict[str, str]
    ) -> None:
        super().__init__(log_path, startup_timeout=30.0, stop_timeout=10.0, env=env)
        self.name = name
        self._argv = argv
        self._ready_url = ready_url

    def command(self) -> list[str]:
        return self._argv

    def probe_ready(self) -> bool:
        return _http_ok(self._ready_url)


class MeshPrometheus:
    """Prometheus plus the edges/NATS exporter, started and stopped as one component."""

    def __init__(
        self,
        settings: PrometheusSettings,
        targets: ScrapeTargets,
        home: Path,
        logs: Path,
        say: Callable[[str], None] = lambda s: None,
    ) -> None:
        self.settings = settings
        self.targets = targets
        self.home = home
        self.logs = logs
        self.say = say
        self.exporter: _Process | None = None
        self.prometheus: _Process | None = None

    @property
    def url(self) -> str:
        return self.settings.url

    @property
    def pids(self) -> dict[str, int]:
        return {p.name: p.pid for p in (self.exporter, self.prometheus) if p and p.pid}

    def start(self) -> MeshPrometheus:
        s = self.settings
        if shutil.which(s.binary) is None:
            raise RuntimeError(
                f"{s.binary} not found: run ./scripts/system-deps (installs Debian's prometheus) "
                "or set VOD_PROMETHEUS_BIN"
            )
        write_config(s, self.targets, self.home / "prometheus.yml")
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "gen" / "python")]),
        }
        self.say(f"exporter: edges and NATS metrics on {s.host}:{s.exporter_port}")
        self.exporter = _Process(
            "prometheus-exporter",
            exporter_command(s, self.targets),
            f"http://{s.host}:{s.exporter_port}/healthz",
            self.logs / "prometheus-exporter.log",
            env,
        )
        self.exporter.start()
        self.say(f"prometheus: starting on {s.url} (rules in {RULES_DIR})")
        self.prometheus = _Process(
            "prometheus",
            prometheus_command(s, self.home),
            f"{s.url}/-/ready",
            self.logs / "prometheus.log",
            env,
        )
        try:
            self.prometheus.start()
        except BaseException:
            self.exporter.stop()
            raise
        return self

    def stop(self) -> None:
        for process in (self.prometheus, self.exporter):
            if process is not None:
                self.say(f"stopping {process.name}")
                process.stop()


def start_mesh_prometheus(
    mesh: LocalMesh,
    settings: PrometheusSettings | None = None,
    say: Callable[[str], None] | None = None,
) -> MeshPrometheus:
    """The launcher's one call for `--with-prometheus`: start Prometheus (data under
    `<VOD_HOME>/prometheus`, logs in `<VOD_HOME>/logs`) scraping `mesh`, which must be started."""
    s = mesh.settings
    return MeshPrometheus(
        settings or load_prometheus_settings(s),
        mesh_targets(mesh),
        s.home / "prometheus",
        s.logs,
        say or mesh.say,
    ).start()
