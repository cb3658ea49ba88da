"""The plain-HTTP JWKS listener Envoy's jwt_authn fetches keys from."""

from __future__ import annotations

import httpx

from services.accounts.server import AccountsRuntime


async def test_jwks_healthz_and_json_errors(accounts_service: AccountsRuntime) -> None:
    base = f"http://127.0.0.1:{accounts_service.http_port}"
    async with httpx.AsyncClient(base_url=base) as client:
        jwks = await client.get("/.well-known/jwks.json")
        assert jwks.status_code == 200
        assert jwks.json() == accounts_service.domain.jwks()
        assert jwks.json()["keys"][0]["kid"] == accounts_service.domain.signing_key().kid

        health = await client.get("/healthz")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})

        missing = await client.get("/.well-known/other.json")
        assert (missing.status_code, missing.json()) == (404, {"error": "not found"})
        assert missing.headers["content-type"] == "application/json"

        post = await client.post("/.well-known/jwks.json", content=b"{}")
        assert post.status_code == 405
        assert post.json() == {"error": "method not allowed", "allowed": ["GET", "HEAD"]}
        assert post.headers["allow"] == "GET, HEAD"

        delete = await client.delete("/healthz")
        assert (delete.status_code, delete.json()["error"]) == (405, "method not allowed")
