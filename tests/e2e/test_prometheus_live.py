"""Prometheus (Debian's binary) against the running mesh, as `vod up --with-prometheus` starts it:
every target (each service's metrics port, Envoy's admin, the edges and NATS through the
exporter) is scraped and up, the recording rules evaluate over real series, and the exporter
counts an edge request and reports the transcode queue from nats-server's /jsz."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import grpc
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from vod.catalog.v1 import catalog_pb2, catalog_pb2_grpc

from mesh.embedded import free_port
from mesh.launcher import LocalMesh
from mesh.prometheus import MeshPrometheus, PrometheusSettings, mesh_targets
from mesh.services import SERVICES

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float = 60.0) -> T:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"{what}: not after {timeout_s:.0f}s (last: {last!r})")


@pytest.fixture(scope="module")
def prometheus(
    mesh: LocalMesh, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MeshPrometheus]:
    home = tmp_path_factory.mktemp("prometheus")
    settings = replace(
        PrometheusSettings(),
        host=mesh.settings.host,
        port=free_port(),
        exporter_port=free_port(),
        scrape_interval_s=1,
    )
    stack = MeshPrometheus(settings, mesh_targets(mesh), home, home / "logs")
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def api(prometheus: MeshPrometheus, path: str, **params: str) -> Any:
    response = httpx.get(f"{prometheus.url}/api/v1/{path}", params=params, timeout=5)
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]


def test_every_part_of_the_mesh_is_scraped_and_up(prometheus: MeshPrometheus) -> None:
    expected = {e.name for e in SERVICES} | {"envoy", "edges", "nats", "supervisor"}

    def all_up() -> dict[str, str] | None:
        targets = api(prometheus, "targets", state="active")["activeTargets"]
        health = {t["labels"]["job"]: t["health"] for t in targets}
        return health if set(health) == expected and set(health.values()) == {"up"} else None

    health = wait_for("every target up", all_up)
    assert sorted(health) == sorted(expected)
    groups = api(prometheus, "rules")["groups"]
    assert sorted(g["name"] for g in groups) == [
        "vodmesh-alerts",
        "vodmesh-edges",
        "vodmesh-events",
        "vodmesh-qoe",
        "vodmesh-rpc",
    ]

    def rules_healthy() -> list[str] | None:
        rules = [r for g in api(prometheus, "rules")["groups"] for r in g["rules"]]
        health = {r["name"]: r["health"] for r in rules}
        return sorted(health) if len(rules) == 25 and set(health.values()) == {"ok"} else None

    wait_for("all 25 rules evaluated without error", rules_healthy)


def test_recording_rules_evaluate_over_the_mesh(
    mesh: LocalMesh, admin_md: tuple[tuple[str, str], ...], prometheus: MeshPrometheus
) -> None:
    """Catalog RPCs through the gateway show up in the per-service recording rules: a nonzero
    request rate, and an error ratio of exactly 0 (NOT_FOUND is the caller's mistake)."""
    selector = '{job="catalog",grpc_service="vod.catalog.v1.CatalogService"}'

    def recorded(rule: str) -> float | None:
        result = api(prometheus, "query", query=rule + selector)["result"]
        return float(result[0]["value"][1]) if result else None

    with grpc.insecure_channel(mesh.settings.gateway_grpc) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        with pytest.raises(grpc.RpcError) as missing:
            stub.GetTitle(
                catalog_pb2.GetTitleRequest(name="titles/no-such-title"), metadata=admin_md
            )
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND

        def traffic_recorded() -> float | None:
            # A rate needs an increase between two scrapes: keep calling until one is seen.
            stub.ListTitles(catalog_pb2.ListTitlesRequest(page_size=1), metadata=admin_md)
            rate = recorded("job:grpc_server_requests:rate5m")
            return rate if rate is not None and rate > 0 else None

        wait_for("catalog's RPC rate recorded", traffic_recorded)
    assert recorded("job:grpc_server_error_ratio:rate5m") == 0.0

    def queue() -> list[Any] | None:
        return api(prometheus, "query", query="vod:transcode_queue_depth:max")["result"] or None

    (sample,) = wait_for("encode queue depth recorded", queue)
    assert sample["metric"] == {"__name__": "vod:transcode_queue_depth:max"}
    assert float(sample["value"][1]) >= 0


def exporter_samples(prometheus: MeshPrometheus, path: str) -> dict[tuple, float]:
    s = prometheus.settings
    text = httpx.get(f"http://{s.host}:{s.exporter_port}{path}", timeout=5).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_exporter_counts_an_edge_request(mesh: LocalMesh, prometheus: MeshPrometheus) -> None:
    region = mesh.settings.regions[0]
    key = ("vod_edge_refusals_total", (("reason", "not_found"), ("region", region)))
    before = exporter_samples(prometheus, "/metrics/edges").get(key, 0.0)
    response = httpx.get(f"{mesh.edge_urls()[region]}/no-such-thing", timeout=5)
    assert response.status_code == 404
    wait_for(
        "the 404 counted once",
        lambda: exporter_samples(prometheus, "/metrics/edges").get(key) == before + 1,
        timeout_s=10,
    )


def test_exporter_reads_jetstream(prometheus: MeshPrometheus) -> None:
    samples = exporter_samples(prometheus, "/metrics/nats")
    assert samples[("vod_nats_monitor_up", ())] == 1
    jobs = (("consumer", "transcode-workers"), ("stream", "VOD_JOBS"))
    assert ("vod_jetstream_consumer_pending_messages", jobs) in samples
    assert ("vod_jetstream_consumer_ack_pending_messages", jobs) in samples
    depth = samples[("vod_transcode_queue_depth", ())]
    assert depth == (
        samples[("vod_jetstream_consumer_pending_messages", jobs)]
        + samples[("vod_jetstream_consumer_ack_pending_messages", jobs)]
    )
    streams = {labels[0][1] for name, labels in samples if name == "vod_jetstream_stream_messages"}
    assert {"VOD_CATALOG", "VOD_JOBS", "VOD_PLAYBACK"} <= streams


def test_prometheus_writes_under_its_home(prometheus: MeshPrometheus) -> None:
    assert (prometheus.home / "prometheus.yml").is_file()
    assert Path(prometheus.home / "data").is_dir()
