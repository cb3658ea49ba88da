"""Prometheus metrics per RPC: count by status code and a latency histogram.

Each process exposes its registry on its own metrics port (`start_metrics_server`).
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

__all__ = ["RpcMetrics", "start_metrics_server"]

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class RpcMetrics:
    registry: CollectorRegistry
    handled: Counter
    latency: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> RpcMetrics:
        registry = registry or CollectorRegistry()
        handled = Counter(
            "grpc_server_handled_total",
            "RPCs completed on the server, by method and status code.",
            ["grpc_service", "grpc_method", "grpc_code"],
            registry=registry,
        )
        latency = Histogram(
            "grpc_server_handling_seconds",
            "Time from request to final status, by method.",
            ["grpc_service", "grpc_method"],
            buckets=_BUCKETS,
            registry=registry,
        )
        return cls(registry, handled, latency)

    def observe(self, full_method: str, code: str, seconds: float) -> None:
        service, _, method = full_method.lstrip("/").partition("/")
        self.handled.labels(service, method, code).inc()
        self.latency.labels(service, method).observe(seconds)


def start_metrics_server(metrics: RpcMetrics, host: str, port: int) -> int:
    """Serve /metrics over HTTP; returns the bound port (0 picks a free one)."""
    server, _thread = start_http_server(port, addr=host, registry=metrics.registry)
    return int(server.server_address[1])
