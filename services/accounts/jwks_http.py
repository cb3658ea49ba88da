"""The plain-HTTP JWKS endpoint Envoy's jwt_authn fetches keys from (aiohttp).

    GET /.well-known/jwks.json   the RFC 7517 key set, Cache-Control: max-age=60
    GET /healthz                 {"status": "ok"}

Anything else answers a JSON 404 or 405. The key set comes from memory (the domain's loaded
keys), so serving it cannot fail while the process is up.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from services.runtime.logs import get_logger
from services.runtime.processes import shares_port

__all__ = ["JWKS_PATH", "build_app", "serving"]

JWKS_PATH = "/.well-known/jwks.json"
_CACHE_SECONDS = 60
_log = get_logger("jwks_http")

JwksSource = Callable[[], dict[str, Any]]


def _json(body: Any, status: int = 200, **headers: str) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


@web.middleware
async def _json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPMethodNotAllowed as exc:
        return _json(
            {"error": "method not allowed", "allowed": sorted(exc.allowed_methods)},
            405,
            Allow=", ".join(sorted(exc.allowed_methods)),
        )
    except web.HTTPException as exc:
        return _json({"error": "not found" if exc.status == 404 else exc.reason}, exc.status)


def build_app(jwks: JwksSource) -> web.Application:
    async def jwks_handler(request: web.Request) -> web.Response:
        headers = {"Cache-Control": f"max-age={_CACHE_SECONDS}"}
        return _json(jwks(), 200, **headers)

    async def healthz(request: web.Request) -> web.Response:
        return _json({"status": "ok"})

    app = web.Application(middlewares=[_json_errors])
    app.router.add_get(JWKS_PATH, jwks_handler)
    app.router.add_get("/healthz", healthz)
    return app


@asynccontextmanager
async def serving(address: str, jwks: JwksSource) -> AsyncIterator[int]:
    """Serve the JWKS at `address` ("host:port"; port 0 picks one) while inside; yields the
    bound port."""
    host, _, port = address.rpartition(":")
    runner = web.AppRunner(build_app(jwks), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host or "127.0.0.1", int(port), reuse_port=shares_port())
        await site.start()
        bound = int(runner.addresses[0][1])
        _log.info("jwks_http.started", port=bound)
        yield bound
    finally:
        await runner.cleanup()
