"""The fuzz suite's own live mesh (`vod up`'s LocalMesh on free ports under a scratch VOD_HOME:
Postgres, NATS, every service, Envoy's front door), so what the fuzzers create or delete touches
no other suite's data; a viewer signed up through the REST API; the demo admin's token."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from mesh.launcher import LocalMesh
from tests.conftest import scratch_dir
from tests.e2e.conftest import local_settings

PASSWORD = "fuzzing viewer 42"


@dataclass(frozen=True)
class Viewer:
    user: str
    profile: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="package")
def mesh() -> Iterator[LocalMesh]:
    with scratch_dir("vodfuzz-home-") as home:
        local = LocalMesh(local_settings(home))
        try:
            local.start()
            yield local
        finally:
            local.stop()


@pytest.fixture(scope="package")
def admin_headers(mesh: LocalMesh) -> dict[str, str]:
    return dict(mesh.admin_metadata())


def sign_up(base_url: str, region: str) -> Viewer:
    """A new standard-plan viewer, signed up and signed in through the REST API, holding a
    profile-scoped token (what a player uses)."""
    email = f"fuzz-{secrets.token_hex(4)}@vodmesh.local"
    with httpx.Client(base_url=base_url, timeout=15) as http:
        made = http.post(
            "/v1/users",
            json={
                "user": {
                    "email": email,
                    "displayName": "Fuzz Viewer",
                    "plan": "plans/standard",
                    "homeRegion": region,
                },
                "password": PASSWORD,
            },
        )
        assert made.status_code == 200, made.text
        user, profile = made.json()["user"]["name"], made.json()["profile"]["name"]
        login = http.post("/v1/auth:login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        issued = http.post(
            f"/v1/{profile}:issueToken",
            json={},
            headers={"authorization": f"Bearer {login.json()['tokens']['accessToken']}"},
        )
        assert issued.status_code == 200, issued.text
    return Viewer(user, profile, issued.json()["tokens"]["accessToken"])


@pytest.fixture(scope="package")
def viewer(mesh: LocalMesh) -> Viewer:
    return sign_up(mesh.settings.gateway_url, mesh.settings.regions[0])


def create_title(base_url: str, admin_headers: dict[str, str], region: str) -> str:
    """A published movie, created through the REST API; returns its name."""
    with httpx.Client(base_url=base_url, timeout=15, headers=admin_headers) as http:
        made = http.post(
            "/v1/titles",
            json={
                "type": "TITLE_TYPE_MOVIE",
                "displayName": f"Fuzz Film {secrets.token_hex(3)}",
                "releaseYear": 2021,
                "genres": ["Fuzz Tests"],
                "availability": [{"regionCode": region, "startTime": "2020-01-01T00:00:00Z"}],
            },
        )
    assert made.status_code == 200, made.text
    return str(made.json()["title"]["name"])
