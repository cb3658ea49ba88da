"""Outbound gRPC channels: created at start-up and injected, a deadline on every call, and
retries only for idempotent methods (declared with `idempotency_level` in the protos)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import grpc
from google.protobuf import descriptor as _descriptor
from google.protobuf import descriptor_pb2

__all__ = ["idempotent_methods", "open_channel"]


def idempotent_methods(service: _descriptor.ServiceDescriptor) -> list[str]:
    """Names of the methods of `service` that are safe to retry."""
    safe = (
        descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS,
        descriptor_pb2.MethodOptions.IDEMPOTENT,
    )
    return [m.name for m in service.methods if m.GetOptions().idempotency_level in safe]


class _DefaultDeadline(
    grpc.aio.UnaryUnaryClientInterceptor,
    grpc.aio.UnaryStreamClientInterceptor,
    grpc.aio.StreamUnaryClientInterceptor,
):
    """Adds `timeout_s` to every call made without its own deadline, and `metadata` (e.g. the
    caller's `authorization`) to every call."""

    def __init__(self, timeout_s: float, metadata: tuple[tuple[str, str], ...] = ()) -> None:
        self._timeout_s = timeout_s
        self._metadata = metadata

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        if details.timeout is not None and not self._metadata:
            return details
        metadata = details.metadata
        if self._metadata:
            merged = grpc.aio.Metadata(*(metadata or ()))
            for key, value in self._metadata:
                if key not in merged:
                    merged.add(key, value)
            metadata = merged
        return grpc.aio.ClientCallDetails(
            details.method,
            self._timeout_s if details.timeout is None else details.timeout,
            metadata,
            details.credentials,
            details.wait_for_ready,
        )

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)

    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)

    async def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(self._details(details), requests)


def open_channel(
    target: str,
    *,
    timeout_s: float,
    services: Iterable[_descriptor.ServiceDescriptor] = (),
    max_attempts: int = 3,
    metadata: tuple[tuple[str, str], ...] = (),
) -> grpc.aio.Channel:
    """An insecure channel to `target` with default deadlines and a retry policy (UNAVAILABLE
    only, exponential backoff) on the idempotent methods of `services`; `metadata` (such as
    `(("authorization", "Bearer ..."),)`) goes with every call."""
    names = [{"service": s.full_name, "method": m} for s in services for m in idempotent_methods(s)]
    options: list[tuple[str, Any]] = [("grpc.enable_retries", 1)]
    if names:
        config = {
            "methodConfig": [
                {
                    "name": names,
                    "retryPolicy": {
                        "maxAttempts": max_attempts,
                        "initialBackoff": "0.05s",
                        "maxBackoff": "1s",
                        "backoffMultiplier": 2,
                        "retryableStatusCodes": ["UNAVAILABLE"],
                    },
                }
            ]
        }
        options.append(("grpc.service_config", json.dumps(config)))
    return grpc.aio.insecure_channel(
        target, options=options, interceptors=[_DefaultDeadline(timeout_s, metadata)]
    )
