"""`vod up`: the whole mesh on one machine from embedded defaults.

Order: PostgreSQL → NATS (JetStream streams) → migrations → services → Envoy (config rendered
from the mesh spec) → health through Envoy → demo content. Everything stops in reverse order.
State (pids, ports, URLs) goes to `<home>/run/state.json` so `vod status` / `vod down` work from
another shell; data stays under `<home>` so the next `vod up` resumes with it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from secrets import token_urlsafe
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mesh.edge import EdgeSpec, regional_edges
from mesh.embedded import (
    EmbeddedEnvoy,
    EmbeddedNats,
    EmbeddedPostgres,
    ManagedProcess,
    pid_alive,
)
from mesh.envoy_config import HEALTH_SERVICE_HEADER, render_yaml
from mesh.local import LocalSettings
from mesh.nginx import EmbeddedNginx
from mesh.secrets import load_or_create_json, load_or_create_secret, secrets_dir
from mesh.services import SERVICES, HttpExport, ServiceEntry
from mesh.spec import AuthSpec, HttpUpstreamSpec, MeshSpec, RegionalFront, ServiceSpec
from mesh.supervisor import (
    Supervisor,
    leftover_daemons,
    process_record,
    start_time,
    sweep,
    verified_alive,
)
from services.runtime.db import migrate
from services.runtime.events import EventBus
from services.runtime.identity import TOKEN_AUDIENCE, TOKEN_ISSUER

__all__ = [
    "DEMO_USERS",
    "DemoUser",
    "LocalMesh",
    "MeshState",
    "cleanup_leftovers",
    "health_through_envoy",
    "read_state",
]

ROOT = Path(__file__).resolve().parents[1]
DESCRIPTOR = ROOT / "gen" / "descriptor" / "vod.binpb"
DATABASE = "vod"


def grpc_health(
    target: str, service: str, *, header: str | None = None, timeout: float = 1.0
) -> str:
    """SERVING / NOT_SERVING / SERVICE_UNKNOWN / UNREACHABLE for one service at `target`."""
    metadata = ((HEALTH_SERVICE_HEADER, header),) if header else None
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = stub.Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout, metadata=metadata
            )
        except grpc.RpcError as exc:
            return "UNREACHABLE" if exc.code() == grpc.StatusCode.UNAVAILABLE else exc.code().name
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))


def health_through_envoy(settings: LocalSettings, entry: ServiceEntry, timeout: float = 1.0) -> str:
    return grpc_health(
        settings.gateway_grpc, entry.grpc_service, header=entry.name, timeout=timeout
    )


class WorkerProcess(ManagedProcess):
    """A background worker (no listener): ready once it has stayed up for a moment."""

    def __init__(self, name: str, module: str, env: dict[str, str], log_path: Path) -> None:
        super().__init__(log_path, startup_timeout=30.0, stop_timeout=20.0, env=env)
        self.name = name
        self.module = module
        self._spawned_at = 0.0

    def command(self) -> list[str]:
        self._spawned_at = time.monotonic()
        return [sys.executable, "-m", self.module]

    def probe_ready(self) -> bool:
        return time.monotonic() - self._spawned_at > 1.0


class ServiceProcess(ManagedProcess):
    """One vodmesh service as a child process, ready when its gRPC health says SERVING."""

    def __init__(
        self, entry: ServiceEntry, address: str, env: dict[str, str], log_path: Path
    ) -> None:
        super().__init__(log_path, startup_timeout=60.0, stop_timeout=15.0, env=env)
        self.name = entry.name
        self.entry = entry
        self.address = address

    def command(self) -> list[str]:
        return [sys.executable, "-m", self.entry.module]

    def probe_ready(self) -> bool:
        return grpc_health(self.address, self.entry.grpc_service, timeout=0.5) == "SERVING"


@dataclass(frozen=True)
class DemoUser:
    email: str
    plan: str
    admin: bool


DEMO_USERS = (
    DemoUser("viewer@vodmesh.local", "standard", admin=False),
    DemoUser("admin@vodmesh.local", "premium", admin=True),
)
"""Seeded by every `vod up` (idempotently); their passwords are generated once into
`<home>/secrets/demo-users.json` and printed in the start-up summary."""


@dataclass
class MeshState:
    """What `vod status` and `vod down` need, written once the mesh is ready."""

    supervisor_pid: int
    status: str
    gateway: str
    admin: str
    database_url: str
    nats_url: str
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    fronts: dict[str, str] = field(default_factory=dict)
    """Region -> front listener URL (the gateway as seen from that region)."""
    edges: dict[str, str] = field(default_factory=dict)
    """Region -> edge base URL."""
    supervisor_start: int = 0
    """Start time (/proc ticks) of the supervisor, so a reused pid is not taken for it."""
    watchdog_pid: int = 0
    processes: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Name -> pid, start_time, cmdline, signal, ports, state, restarts (see mesh.supervisor)."""
    regions: list[str] = field(default_factory=list)
    prometheus: str = ""
    """Prometheus URL when started with --with-prometheus."""

    def supervisor_alive(self) -> bool:
        return verified_alive({"pid": self.supervisor_pid, "start_time": self.supervisor_start})

    def leftovers(self) -> list[dict[str, Any]]:
        """Recorded children that still run (pid and start time match)."""
        return [r for r in self.processes.values() if verified_alive(r)]

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.__dict__, indent=2))
        tmp.replace(path)


def read_state(settings: LocalSettings) -> MeshState | None:
    try:
        return MeshState(**json.loads(settings.state_file.read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


class LocalMesh:
    """Starts and stops the local mesh. `say` reports progress to the user."""

    def __init__(
        self, settings: LocalSettings, say: Callable[[str], None] = lambda s: None
    ) -> None:
        self.settings = settings
        self.say = say
        self.postgres: EmbeddedPostgres | None = None
        self.nats: EmbeddedNats | None = None
        self.envoy: EmbeddedEnvoy | None = None
        self.services: list[ServiceProcess] = []
        self.edges: list[EmbeddedNginx] = []
        self.workers: list[WorkerProcess] = []
        self.database_url = ""
        self.nats_url = ""
        self.demo_passwords: dict[str, str] = {}
        self.admin_token = ""
        self.prometheus: Any = None  # mesh.prometheus.MeshPrometheus with --with-prometheus
        self.supervisor = Supervisor(self.say, on_change=lambda: None if self._record() else None)
        self.watchdog_pid = 0
        self._watchdog_pipe: int | None = None
        self._status = "starting"

    # -- ports -----------------------------------------------------------------------------

    def grpc_address(self, entry: ServiceEntry) -> str:
        return f"{self.settings.host}:{self.settings.service_base_port + entry.port_offset}"

    def metrics_address(self, entry: ServiceEntry) -> str:
        return f"{self.settings.host}:{self.settings.metrics_base_port + entry.port_offset}"

    def http_address(self, export: HttpExport) -> str:
        return f"{self.settings.host}:{self.settings.http_base_port + export.port_offset}"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, *, with_prometheus: bool = False, watchdog: bool = True) -> MeshState:
        s = self.settings
        existing = read_state(s)
        if existing is not None and existing.supervisor_alive():
            raise RuntimeError(
                f"a mesh is already running from {s.home} (pid {existing.supervisor_pid}); "
                "run `vod down` first or use another VOD_HOME"
            )
        for folder in (s.logs, s.run_dir):
            folder.mkdir(parents=True, exist_ok=True)
        cleanup_leftovers(s, existing, self.say)
        if watchdog:
            from mesh.supervisor import start_watchdog

            self.watchdog_pid, self._watchdog_pipe = start_watchdog(s.home, s.logs / "watchdog.log")
        self._record()
        self._start_postgres()
        self._start_nats()
        self._migrate()
        self._seed_accounts()
        self._start_services()
        self._start_edges()
        self._start_envoy()
        self._wait_healthy_through_envoy()
        self._sign_in_admin()
        if with_prometheus:
            from mesh.prometheus import start_mesh_prometheus

            self.prometheus = start_mesh_prometheus(self)
        for name, process in self.components().items():
            self.supervisor.watch(name, process)
        self._status = "ready"
        return self._record()

    def supervise(self) -> None:
        """One round of healing (call it from the thread that started the mesh)."""
        self.supervisor.tick()

    def components(self) -> dict[str, ManagedProcess]:
        """Every managed child by name, in start order."""
        found: dict[str, ManagedProcess] = {}
        if self.postgres is not None:
            found["postgres"] = self.postgres
        if self.nats is not None:
            found["nats"] = self.nats
        for process in [*self.services, *self.workers]:
            found[process.name] = process
        for edge in self.edges:
            found[f"edge-{edge.spec.region}"] = edge
        if self.envoy is not None:
            found["envoy"] = self.envoy
        if self.prometheus is not None:
            for p in (self.prometheus.exporter, self.prometheus.prometheus):
                if p is not None:
                    found[p.name] = p
        return found

    def _record(self) -> MeshState:
        """Write the current state (also while starting, so a crash leaves a trace)."""
        state = self.state(self._status)
        state.write(self.settings.state_file)
        return state

    def _ports(self, name: str) -> list[int]:
        s = self.settings
        if name == "postgres":
            return [s.postgres_port]
        if name == "nats":
            return [s.nats_port, s.nats_monitor_port]
        if name == "envoy":
            return [s.gateway_port, s.admin_port]
        if self.prometheus is not None and name == "prometheus":
            return [self.prometheus.settings.port]
        if self.prometheus is not None and name == "prometheus-exporter":
            return [self.prometheus.settings.exporter_port]
        if name.startswith("edge-"):
            return [s.edge_base_port + s.regions.index(name.removeprefix("edge-"))]
        for e in SERVICES:
            if e.name == name:
                return [
                    s.service_base_port + e.port_offset,
                    s.metrics_base_port + e.port_offset,
                    *(s.http_base_port + x.port_offset for x in e.http),
                ]
        return []

    def stop(self) -> None:
        """Stop everything that was started, in reverse order; safe to call twice."""
        self._status = "stopping"
        self.supervisor.watched.clear()
        if self.prometheus is not None:
            self.prometheus.stop()
            self.prometheus = None
        if self.envoy is not None:
            self.say("stopping envoy")
            self.envoy.stop()
        for edge in reversed(self.edges):
            self.say(f"stopping edge {edge.spec.region}")
            edge.stop()
        for worker in reversed(self.workers):
            self.say(f"stopping {worker.name}")
            worker.stop()
        for process in reversed(self.services):
            self.say(f"stopping {process.name}")
            process.stop()
        if self.nats is not None:
            self.say("stopping nats")
            self.nats.stop()
        if self.postgres is not None:
            self.say("stopping postgres")
            self.postgres.stop()
        self.settings.state_file.unlink(missing_ok=True)
        pipe = getattr(self, "_watchdog_pipe", None)
        if pipe is not None:  # the watchdog sees EOF, finds no state and exits
            os.close(pipe)
            self._watchdog_pipe = None

    def state(self, status: str) -> MeshState:
        s = self.settings
        pids = {p.name: p.pid or 0 for p in [*self.services, *self.workers]}
        for name, proc in (("postgres", self.postgres), ("nats", self.nats), ("envoy", self.envoy)):
            if proc is not None and proc.pid:
                pids[name] = proc.pid
        for edge in self.edges:
            if edge.pid:
                pids[f"edge-{edge.spec.region}"] = edge.pid
        restarts = self.supervisor.restarts()
        states = self.supervisor.states()
        processes = {}
        for name, process in self.components().items():
            pid = process.pid
            if pid:
                pids[name] = pid
            sig = signal.SIGTERM if process.stop_signal == signal.SIGQUIT else process.stop_signal
            record = process_record(name, pid or 0, sig, self._ports(name))
            record["state"] = states.get(name, "RUNNING" if pid else "DOWN")
            record["restarts"] = restarts.get(name, 0)
            record["log"] = str(process.log_path)
            processes[name] = record
        return MeshState(
            supervisor_pid=os.getpid(),
            status=status,
            gateway=s.gateway_url,
            admin=f"http://{s.host}:{s.admin_port}",
            database_url=self.database_url,
            nats_url=self.nats_url,
            services={
                e.name: {
                    "grpc": self.grpc_address(e),
                    "metrics": f"http://{self.metrics_address(e)}/metrics",
                    "grpc_service": e.grpc_service,
                    "http": {x.name: f"{s.gateway_url}{x.prefix}" for x in e.http},
                }
                for e in SERVICES
            },
            pids=pids,
            fronts={
                region: "http://{}:{}".format(*s.front_address(index))
                for index, region in enumerate(s.regions)
            },
            edges=self.edge_urls(),
            supervisor_start=start_time(os.getpid()),
            watchdog_pid=self.watchdog_pid,
            processes=processes,
            regions=list(s.regions),
            prometheus=self.prometheus.url if self.prometheus is not None else "",
        )

    # -- steps -----------------------------------------------------------------------------

    def _start_postgres(self) -> None:
        s = self.settings
        if s.external_database_url:
            self.database_url = s.external_database_url
            self.say(f"postgres: external ({s.external_database_url.split('@')[-1]})")
            return
        self.say(
            f"postgres: starting on {s.host}:{s.postgres_port} (data in {s.home / 'postgres'})"
        )
        self.postgres = EmbeddedPostgres(
            s.home / "postgres" / "data", s.postgres_port, s.host, log_path=s.logs / "postgres.log"
        )
        self.postgres.start()
        self._record()
        self.database_url = self.postgres.create_database(DATABASE)

    def _start_nats(self) -> None:
        s = self.settings
        if s.external_nats_url:
            self.nats_url = s.external_nats_url
            self.say(f"nats: external ({s.external_nats_url})")
        else:
            self.say(f"nats: starting JetStream on {s.host}:{s.nats_port}")
            self.nats = EmbeddedNats(
                s.home / "nats",
                s.nats_port,
                s.nats_monitor_port,
                s.host,
                log_path=s.logs / "nats.log",
            )
            self.nats.start()
            self._record()
            self.nats_url = self.nats.url
        asyncio.run(_ensure_streams(self.nats_url))

    def _migrate(self) -> None:
        for entry in SERVICES:
            if entry.schema and entry.migrations is not None:
                self.say(f"migrations: {entry.name} (schema {entry.schema})")
                migrate(self.database_url, entry.schema, entry.migrations)

    def _seed_accounts(self) -> None:
        """The demo viewer and admin, created directly in the accounts schema when missing."""
        self.demo_passwords = load_or_create_json(
            self.settings.home,
            "demo-users",
            {user.email: token_urlsafe(12) for user in DEMO_USERS},
        )
        for user in DEMO_USERS:  # a user added to DEMO_USERS later gets a password too
            self.demo_passwords.setdefault(user.email, token_urlsafe(12))
        self.say(f"accounts: demo users {', '.join(u.email for u in DEMO_USERS)}")
        asyncio.run(_ensure_users(self.database_url, self.demo_passwords, self.settings.regions[0]))

    def _sign_in_admin(self) -> None:
        """Signs the demo admin in through the gateway, so `vod` commands that change things
        work at once; the tokens go to `<home>/credentials.json` (0600)."""
        from vod.accounts.v1 import accounts_pb2, accounts_pb2_grpc

        from services.accounts.cli import save_credentials, stored_credentials

        admin = next(u for u in DEMO_USERS if u.admin)
        target = self.settings.gateway_grpc
        with grpc.insecure_channel(target) as channel:
            response = accounts_pb2_grpc.AccountsServiceStub(channel).Login(
                accounts_pb2.LoginRequest(
                    email=admin.email, password=self.demo_passwords[admin.email]
                ),
                timeout=10,
            )
        self.admin_token = response.tokens.access_token
        save_credentials(
            stored_credentials(response.tokens, response.user.name, admin.email, target),
            self.settings.home / "credentials.json",
        )

    def admin_metadata(self) -> tuple[tuple[str, str], ...]:
        """Bearer metadata of the demo admin signed in at start-up (short-lived)."""
        return (("authorization", f"Bearer {self.admin_token}"),)

    def service_env(
        self, entry: ServiceEntry, base: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The environment a service or worker process of `entry` starts with: `base` (default
        this process's environment) plus what the launcher sets."""
        s = self.settings
        env = {
            **(os.environ if base is None else base),
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "gen" / "python")]),
            "PYTHONUNBUFFERED": "1",  # log lines reach the log file as they happen
            "VOD_HOME": str(s.home),
            "VOD_DATABASE_URL": self.database_url,
            "VOD_NATS_URL": self.nats_url,
            "VOD_LOG_LEVEL": s.log_level,
            "VOD_GATEWAY_GRPC": s.gateway_grpc,
            f"VOD_{entry.name.upper()}_GRPC_ADDRESS": self.grpc_address(entry),
            f"VOD_{entry.name.upper()}_METRICS_ADDRESS": self.metrics_address(entry),
            # Media URLs handed to clients point at the gateway's origin route.
            "VOD_ORIGIN_PUBLIC_URL": f"{s.gateway_url}/origin",
        }
        for export in entry.http:
            env[export.env_var] = self.http_address(export)
        for variable in entry.secrets:
            env[variable] = self.secret(variable)
        # Where media lives and where viewers fetch it: the origin (edges pull from it), the
        # edge of each region, and the gateway that serves per-session manifests.
        env["VOD_ORIGIN_URL"] = f"http://{self.http_address(self.export('origin'))}"
        env["VOD_EDGE_URLS"] = ",".join(f"{r}={url}" for r, url in self.edge_urls().items())
        env["VOD_EDGE_LOGS"] = ",".join(
            f"{spec.region}={spec.access_log_path}" for spec in self.edge_specs()
        )
        env["VOD_PLAYBACK_PUBLIC_URL"] = s.gateway_url
        for other in SERVICES:  # every service can reach the others directly
            env[f"VOD_{other.name.upper()}_ADDRESS"] = self.grpc_address(other)
        return env

    def _start_services(self) -> None:
        s = self.settings
        for entry in SERVICES:
            env = self.service_env(entry)
            self.say(f"{entry.name}: starting on {self.grpc_address(entry)}")
            process = ServiceProcess(
                entry, self.grpc_address(entry), env, s.logs / f"{entry.name}.log"
            )
            self.services.append(process)
            process.start()
            self._record()
            for module in entry.workers:
                for index in range(max(1, s.transcode_workers)):
                    name = f"{module.rsplit('.', 1)[-1]}-{entry.name}-{index + 1}"
                    worker_env = {**env, "VOD_WORKER_NAME": name}
                    self.say(f"{name}: starting")
                    worker = WorkerProcess(name, module, worker_env, s.logs / f"{name}.log")
                    self.workers.append(worker)
                    worker.start()
                    self._record()

    def secret(self, variable: str) -> str:
        """A per-deployment secret (`VOD_EDGE_SECRET` -> `<home>/secrets/edge_secret`)."""
        if variable == "VOD_LICENSING_MASTER_KEYS":
            from services.licensing.envelope import ensure_master_keys_file

            folder = secrets_dir(self.settings.home)
            return ensure_master_keys_file(folder / "licensing_master_keys")
        name = variable.removeprefix("VOD_").lower()
        return load_or_create_secret(self.settings.home, name)

    def edge_urls(self) -> dict[str, str]:
        """Region -> base URL of its edge."""
        s = self.settings
        return {
            region: "http://{}:{}".format(*s.edge_address(index))
            for index, region in enumerate(s.regions)
        }

    def export(self, name: str) -> HttpExport:
        for entry in SERVICES:
            for export in entry.http:
                if export.name == name:
                    return export
        raise KeyError(name)

    def mesh_spec(self) -> MeshSpec:
        s = self.settings
        jwks_host, _, jwks_port = self.http_address(self.export("jwks")).rpartition(":")
        regional = []
        for index, region in enumerate(s.regions[1:], start=1):
            host, port = s.front_address(index)
            regional.append(RegionalFront(region, host, port))
        return MeshSpec(
            front_host=s.host,
            front_port=s.gateway_port,
            admin_host=s.host,
            admin_port=s.admin_port,
            services=tuple(
                ServiceSpec(
                    name=e.name,
                    grpc_service=e.grpc_service,
                    host=s.host,
                    port=s.service_base_port + e.port_offset,
                )
                for e in SERVICES
            ),
            descriptor_path=DESCRIPTOR,
            access_log_path=str(s.logs / "envoy-access.log"),
            http_upstreams=tuple(
                HttpUpstreamSpec(
                    name=x.name,
                    prefix=x.prefix,
                    host=s.host,
                    port=s.http_base_port + x.port_offset,
                    rewrite=x.rewrite,
                    timeout_s=x.timeout_s,
                    idle_timeout_s=x.idle_timeout_s,
                    access=x.access,
                )
                for e in SERVICES
                for x in e.http
                if x.access != "internal"
            ),
            auth=AuthSpec(jwks_host, int(jwks_port), TOKEN_ISSUER, (TOKEN_AUDIENCE,)),
            front_region=s.regions[0],
            regional_fronts=tuple(regional),
        )

    def edge_specs(self) -> tuple[EdgeSpec, ...]:
        """One edge per region, pulling misses from the transcoding origin."""
        s = self.settings
        origin_host, _, origin_port = self.http_address(self.export("origin")).rpartition(":")
        return regional_edges(
            s.regions,
            host=s.host,
            base_port=s.edge_base_port,
            origin_host=origin_host,
            origin_port=int(origin_port),
            secret=self.secret("VOD_EDGE_SECRET"),
            root=s.home / "edges",
        )

    def _start_edges(self) -> None:
        for spec in self.edge_specs():
            self.say(f"edge {spec.region}: starting nginx on {spec.base_url}")
            edge = EmbeddedNginx(spec, self.settings.home / "edges" / spec.region / "run")
            self.edges.append(edge)
            edge.start()
            self._record()

    def _start_envoy(self) -> None:
        s = self.settings
        config = s.run_dir / "envoy.json"
        config.write_text(render_yaml(self.mesh_spec()))
        self.say(f"envoy: starting gateway on {s.gateway_url} (admin :{s.admin_port})")
        self.envoy = EmbeddedEnvoy(
            config,
            f"http://{s.host}:{s.admin_port}",
            log_path=s.logs / "envoy.log",
            # access log lines reach the file within half a second
            extra_args=["--file-flush-interval-msec", "500", "--file-flush-min-size-kb", "1"],
        )
        self.envoy.start()
        self._record()

    def _wait_healthy_through_envoy(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        for entry in SERVICES:
            while True:
                status = health_through_envoy(self.settings, entry)
                if status == "SERVING":
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{entry.name} is {status} through Envoy after {timeout_s:.0f}s; "
                        f"see {self.settings.logs / (entry.name + '.log')} and envoy.log"
                    )
                time.sleep(0.2)


def cleanup_leftovers(
    settings: LocalSettings, state: MeshState | None, say: Callable[[str], None]
) -> list[str]:
    """Stop what a dead supervisor left running from `settings.home`: the children recorded in
    its state file, then servers found through their pid files (postmaster.pid, nginx.pid).
    Returns the names of what it stopped; removes the stale state file."""
    stopped: list[str] = []
    if state is not None and not state.supervisor_alive():
        stopped += sweep(state.processes.values(), say)
        if state.watchdog_pid and pid_alive(state.watchdog_pid):
            say(f"a watchdog (pid {state.watchdog_pid}) of the dead vod up is still cleaning up")
    stopped += sweep(leftover_daemons(settings.home, settings.regions), say)
    if state is not None and not state.supervisor_alive():
        settings.state_file.unlink(missing_ok=True)
    if stopped:
        say(f"stopped {len(stopped)} leftover process(es) of an earlier run: {', '.join(stopped)}")
    return stopped


async def _ensure_users(database_url: str, passwords: dict[str, str], region: str) -> None:
    from services.accounts.domain import ensure_user
    from services.runtime.db import create_service_engine

    engine = create_service_engine(database_url, "accounts")
    try:
        for user in DEMO_USERS:
            await ensure_user(
                engine,
                email=user.email,
                password=passwords[user.email],
                plan=user.plan,
                region=region,
                admin=user.admin,
            )
    finally:
        await engine.dispose()


async def _ensure_streams(nats_url: str) -> None:
    bus = await EventBus.connect(nats_url, name="vod-up")
    try:
        await bus.ensure_streams()
    finally:
        await bus.close()
