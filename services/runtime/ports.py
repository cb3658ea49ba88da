"""Where everything listens by default, written once.

Each service's gRPC port is `GRPC_BASE_PORT + offset` and its metrics port
`METRICS_BASE_PORT + offset`; plain-HTTP listeners sit at `HTTP_BASE_PORT + their offset`. The
services' settings take their own defaults and the defaults of the services they call from here,
and the local mesh (`mesh/services.py`, `mesh/local.py`) derives its layout from the same table,
so a service started on its own finds its neighbours where `vod up` puts them.
"""

from __future__ import annotations

__all__ = [
    "EDGE_BASE_PORT",
    "FRONT_PORT",
    "GRPC_BASE_PORT",
    "HOST",
    "HTTP_BASE_PORT",
    "HTTP_OFFSETS",
    "METRICS_BASE_PORT",
    "SERVICE_OFFSETS",
    "grpc_address",
    "http_address",
    "edge_url",
    "front_url",
    "metrics_address",
]

HOST = "127.0.0.1"
GRPC_BASE_PORT = 50051
METRICS_BASE_PORT = 9100
HTTP_BASE_PORT = 8070
FRONT_PORT = 8080
"""The front door (Envoy): every client-facing route."""
EDGE_BASE_PORT = 8081
"""The first region's edge (the next regions count up)."""

SERVICE_OFFSETS: dict[str, int] = {
    "catalog": 0,
    "transcoding": 1,
    "playback": 2,
    "licensing": 3,
    "accounts": 4,
    "recommendations": 5,
    "search": 6,
    "experiments": 7,
    "gateway": 8,
    "qoe": 9,
}
"""Service name (the `VOD_<NAME>_*` prefix) -> its port offset."""

HTTP_OFFSETS: dict[str, int] = {
    "origin": 0,  # transcoding: published media
    "upload": 1,  # transcoding: resumable uploads
    "jwks": 2,  # accounts: the JWKS for Envoy
    "play": 3,  # playback: per-session manifests
    "web": 4,  # gateway: the web app
}
"""Plain-HTTP listener name -> its port offset."""


def _offset(table: dict[str, int], name: str, what: str) -> int:
    try:
        return table[name]
    except KeyError:
        raise KeyError(f"no {what} named {name!r}; known: {', '.join(sorted(table))}") from None


def grpc_address(service: str, host: str = HOST) -> str:
    return f"{host}:{GRPC_BASE_PORT + _offset(SERVICE_OFFSETS, service, 'service')}"


def metrics_address(service: str, host: str = HOST) -> str:
    return f"{host}:{METRICS_BASE_PORT + _offset(SERVICE_OFFSETS, service, 'service')}"


def http_address(listener: str, host: str = HOST) -> str:
    return f"{host}:{HTTP_BASE_PORT + _offset(HTTP_OFFSETS, listener, 'HTTP listener')}"


def front_url(host: str = HOST) -> str:
    return f"http://{host}:{FRONT_PORT}"


def edge_url(index: int = 0, host: str = HOST) -> str:
    return f"http://{host}:{EDGE_BASE_PORT + index}"
