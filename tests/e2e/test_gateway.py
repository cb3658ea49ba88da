"""Through Envoy's front listener: gRPC health, REST+JSON (gRPC-JSON transcoder), native gRPC
with the generated stub, and gRPC-web — the same catalog, three client protocols, as the demo
admin `vod up` signs in (catalog writes are admin routes)."""

from __future__ import annotations

import json
import struct
import time
import uuid

import grpc
import httpx
import pytest
from vod.catalog.v1 import catalog_pb2 as pb
from vod.catalog.v1 import catalog_pb2_grpc

from mesh.launcher import LocalMesh, grpc_health
from mesh.services import SERVICES
from services.runtime.clients import open_channel
from tests.support import details_of


@pytest.fixture(scope="module")
def rest(mesh: LocalMesh, admin_headers: dict[str, str]) -> httpx.Client:
    with httpx.Client(
        base_url=mesh.settings.gateway_url, timeout=10, headers=admin_headers
    ) as client:
        yield client


def new_movie(**extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "type": "TITLE_TYPE_MOVIE",
        "displayName": f"Gateway Film {uuid.uuid4().hex[:6]}",
        "releaseYear": 2021,
        "genres": ["Gateway Tests"],
        "availability": [{"regionCode": "US", "startTime": "2020-01-01T00:00:00Z"}],
    }
    body.update(extra)
    return body


def test_health_checks_through_envoy_report_serving(mesh: LocalMesh) -> None:
    target = mesh.settings.gateway_grpc
    for entry in SERVICES:
        assert grpc_health(target, entry.grpc_service, header=entry.name) == "SERVING"
    # grpc_health_probe without the routing header lands on catalog, listed first.
    assert grpc_health(target, "vod.catalog.v1.CatalogService") == "SERVING"
    assert grpc_health(target, "vod.nope.v1.NopeService", header="catalog") == "NOT_FOUND"


def test_rest_create_list_update_delete(rest: httpx.Client) -> None:
    created = rest.post("/v1/titles", json=new_movie(synopsis="first"))
    assert created.status_code == 200, created.text
    title = created.json()["title"]
    name = title["name"]
    assert name.startswith("titles/gateway-film-") and title["etag"]
    for i in range(4):
        assert rest.post("/v1/titles", json=new_movie(releaseYear=2000 + i)).status_code == 200
    # Filters and paging over REST query parameters.
    page = rest.get(
        "/v1/titles",
        params={"genre": "Gateway Tests", "pageSize": 2, "orderBy": "release_year desc"},
    )
    assert page.status_code == 200, page.text
    body = page.json()
    assert len(body["titles"]) == 2 and body["nextPageToken"] and body["totalSize"] >= 5
    seen = [t["name"] for t in body["titles"]]
    while body.get("nextPageToken"):
        body = rest.get(
            "/v1/titles",
            params={
                "genre": "Gateway Tests",
                "pageSize": 2,
                "orderBy": "release_year desc",
                "pageToken": body["nextPageToken"],
            },
        ).json()
        seen += [t["name"] for t in body["titles"]]
    assert len(seen) == len(set(seen)) and name in seen
    years = rest.get(
        "/v1/titles",
        params={"genre": "Gateway Tests", "releaseYearMin": 2001, "releaseYearMax": 2002},
    ).json()
    assert sorted(t["releaseYear"] for t in years["titles"]) == [2001, 2002]
    # Update with a field mask and the etag; a stale etag is a 409.
    patched = rest.patch(
        f"/v1/{name}",
        params={"updateMask": "synopsis"},
        json={"synopsis": "second", "etag": title["etag"]},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["title"]["synopsis"] == "second"
    stale = rest.patch(
        f"/v1/{name}",
        params={"updateMask": "synopsis"},
        json={"synopsis": "third", "etag": title["etag"]},
    )
    assert stale.status_code == 409
    assert stale.json()["details"][0]["reason"] == "ETAG_MISMATCH"
    available = rest.get(f"/v1/{name}:checkAvailability", params={"regionCode": "US"})
    assert available.status_code == 200 and available.json()["available"] is True
    assert rest.delete(f"/v1/{name}").status_code == 200
    gone = rest.get(f"/v1/{name}")
    assert gone.status_code == 404 and gone.json()["message"] == f"{name} does not exist"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "field"),
    [
        (
            "post",
            "/v1/titles",
            {"json": {"type": "TITLE_TYPE_MOVIE", "displayName": ""}},
            400,
            "title.display_name",
        ),
        (
            "post",
            "/v1/titles",
            {"json": {"type": "TITLE_TYPE_NOPE", "displayName": "x"}},
            400,
            None,
        ),
        (
            "post",
            "/v1/titles",
            {
                "json": new_movie(
                    availability=[
                        {
                            "regionCode": "US",
                            "startTime": "2022-01-01T00:00:00Z",
                            "endTime": "2021-01-01T00:00:00Z",
                        }
                    ]
                )
            },
            400,
            "title.availability[0].end_time",
        ),
        (
            "post",
            "/v1/titles",
            {
                "json": new_movie(
                    availability=[{"regionCode": "QQ", "startTime": "2022-01-01T00:00:00Z"}]
                )
            },
            400,
            "title.availability[0].region_code",
        ),
        (
            "post",
            "/v1/titles",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            400,
            None,
        ),
        ("get", "/v1/titles", {"params": {"pageSize": 100000}}, 400, "page_size"),
        ("get", "/v1/titles", {"params": {"pageToken": "garbage!"}}, 400, "page_token"),
        ("get", "/v1/titles", {"params": {"availableIn": "Mars"}}, 400, "available_in"),
        ("get", "/v1/titles", {"params": {"noSuchFilter": "1"}}, 400, None),
        ("get", "/v1/titles/unknown-title", {}, 404, None),
        (
            "get",
            "/v1/titles/x:checkAvailability",
            {"params": {"regionCode": "usa"}},
            400,
            "region_code",
        ),
    ],
)
def test_rest_bad_input(
    rest: httpx.Client, method: str, path: str, kwargs: dict, status: int, field: str | None
) -> None:
    response = getattr(rest, method)(path, **kwargs)
    assert response.status_code == status, response.text
    text = response.text
    assert "Traceback" not in text and "psycopg" not in text and "sqlalchemy" not in text.lower()
    if field is not None:
        violations = {
            v["field"] for d in response.json()["details"] for v in d.get("fieldViolations", [])
        }
        assert field in violations


def test_rest_duplicate_is_409(rest: httpx.Client) -> None:
    title_id = f"dup-{uuid.uuid4().hex[:6]}"
    assert (
        rest.post("/v1/titles", params={"titleId": title_id}, json=new_movie()).status_code == 200
    )
    again = rest.post("/v1/titles", params={"titleId": title_id}, json=new_movie())
    assert (
        again.status_code == 409 and again.json()["code"] == grpc.StatusCode.ALREADY_EXISTS.value[0]
    )


async def test_native_grpc_through_envoy(mesh: LocalMesh, admin_md) -> None:  # type: ignore[no-untyped-def]
    async with open_channel(mesh.settings.gateway_grpc, timeout_s=10, metadata=admin_md) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        created = (
            await stub.CreateTitle(
                pb.CreateTitleRequest(
                    title=pb.Title(
                        type=pb.TITLE_TYPE_SERIES,
                        display_name="Through Envoy",
                        genres=["Gateway gRPC"],
                    )
                )
            )
        ).title
        got = (await stub.GetTitle(pb.GetTitleRequest(name=created.name))).title
        assert got == created
        listed = await stub.ListTitles(pb.ListTitlesRequest(genre="Gateway gRPC"))
        assert created.name in [t.name for t in listed.titles]
        updated = (
            await stub.UpdateTitle(
                pb.UpdateTitleRequest(
                    title=pb.Title(name=created.name, synopsis="via envoy", etag=created.etag)
                )
            )
        ).title
        assert updated.synopsis == "via envoy"
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.CreateTitle(pb.CreateTitleRequest(title=pb.Title(type=pb.TITLE_TYPE_MOVIE)))
        d = details_of(err.value)  # rich details survive the proxy
        assert d.code == grpc.StatusCode.INVALID_ARGUMENT and "title.display_name" in d.violations
        await stub.DeleteTitle(pb.DeleteTitleRequest(name=created.name))
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetTitle(pb.GetTitleRequest(name=created.name))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


def _grpc_web_frames(body: bytes) -> tuple[list[bytes], dict[str, str]]:
    messages, trailers, offset = [], {}, 0
    while offset < len(body):
        flag, length = struct.unpack(">BI", body[offset : offset + 5])
        payload = body[offset + 5 : offset + 5 + length]
        offset += 5 + length
        if flag & 0x80:
            for line in payload.decode().strip().split("\r\n"):
                key, _, value = line.partition(":")
                trailers[key.strip().lower()] = value.strip()
        else:
            messages.append(payload)
    return messages, trailers


def test_grpc_web_through_envoy(rest: httpx.Client) -> None:
    title = rest.post("/v1/titles", json=new_movie()).json()["title"]
    request = pb.GetTitleRequest(name=title["name"]).SerializeToString()
    response = rest.post(
        "/vod.catalog.v1.CatalogService/GetTitle",
        content=struct.pack(">BI", 0, len(request)) + request,
        headers={
            "content-type": "application/grpc-web+proto",
            "x-grpc-web": "1",
            "x-user-agent": "grpc-web-test",
        },
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/grpc-web")
    messages, trailers = _grpc_web_frames(response.content)
    assert trailers.get("grpc-status") == "0"
    decoded = pb.GetTitleResponse.FromString(messages[0]).title
    assert decoded.name == title["name"] and decoded.display_name == title["displayName"]
    missing = pb.GetTitleRequest(name="titles/not-there").SerializeToString()
    response = rest.post(
        "/vod.catalog.v1.CatalogService/GetTitle",
        content=struct.pack(">BI", 0, len(missing)) + missing,
        headers={"content-type": "application/grpc-web+proto", "x-grpc-web": "1"},
    )
    status = response.headers.get("grpc-status") or _grpc_web_frames(response.content)[1].get(
        "grpc-status"
    )
    assert status == str(grpc.StatusCode.NOT_FOUND.value[0])


def test_request_id_reaches_access_log_and_service_log(mesh: LocalMesh, rest: httpx.Client) -> None:
    request_id = f"e2e-{uuid.uuid4().hex}"
    probe = rest.get("/v1/titles/request-id-probe", headers={"x-request-id": request_id})
    assert probe.status_code == 404 and probe.headers["x-request-id"] == request_id

    def lines_with(log: str) -> list[dict]:
        for _ in range(100):
            found = [
                json.loads(line)
                for line in (mesh.settings.logs / log).read_text().splitlines()
                if request_id in line
            ]
            if found:
                return found
            time.sleep(0.1)
        return []

    # Envoy buffers access logs; reopening them (admin API) flushes the buffer.
    httpx.post(f"http://{mesh.settings.host}:{mesh.settings.admin_port}/reopen_logs", timeout=5)
    entries = lines_with("envoy-access.log")
    assert entries and entries[-1]["response_code"] == 404
    lines = lines_with("catalog.log")
    assert lines and lines[-1]["code"] == "NOT_FOUND" and lines[-1]["method"].endswith("/GetTitle")


def test_metrics_count_rpcs_by_code(mesh: LocalMesh, rest: httpx.Client) -> None:
    rest.get("/v1/titles/metrics-probe")
    metrics = httpx.get(f"http://{mesh.metrics_address(SERVICES[0])}/metrics", timeout=5).text
    assert (
        'grpc_server_handled_total{grpc_code="NOT_FOUND",grpc_method="GetTitle",grpc_service="vod.catalog.v1.CatalogService"}'
        in metrics
    )
    assert "grpc_server_handling_seconds_bucket" in metrics
