"""The web app (web/app/) end to end in a real browser against the whole local mesh, loaded from
the gateway's front port (gateway/web.py behind the front door's catch-all route: same origin as
the API, no ?api=). Debian's headless Chromium driven by playwright-core (web/app/e2e.mjs) signs in
with the keyboard only, picks the profile, searches a misspelled title ("/" focuses the box;
suggestions as you type, then results with the corrected query and facets), Tabs to it, plays it
with Shaka past 3 s, seeks with the scrubber and goes back (StopPlayback); a second browser
context signed in as the same user finds it in continue watching and resumes where the first one
stopped. The player's QoE batches (POST /v1/<session>/qoe:record) are captured and their shape
checked against proto/vod/gateway/v1/qoe.proto. On the basic plan (one stream) a second context
pressing Play gets the stream-limit dialog listing the first one's session, and "Stop playback
there" lets it play; the first is told at its next heartbeat. Sign-up creates an account and a
second profile; the admin sees the operations page. No page errors; the only console errors are
the browser's own lines for the HTTP errors the scenario provokes.

Needs `scripts/web-deps` (Debian chromium at /usr/bin/chromium and web/node_modules)."""

from __future__ import annotations

import json
import socket
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from mesh.launcher import DEMO_USERS, ROOT, LocalMesh
from mesh.services import SERVICES
from tests.e2e.media import Ingested, ingest_through_gateway
from tests.e2e.test_browser_playback import browser_ready  # noqa: F401 (fixture)
from tests.e2e.test_viewer_path import PASSWORD, make_source, sign_up

DRIVER = ROOT / "web" / "app" / "e2e.mjs"
DRIVER_TIMEOUT_S = 180
RUNGS = [
    {"height": 720, "bitrateBps": 900_000},
    {"height": 360, "bitrateBps": 250_000},
]


@pytest.fixture(scope="module")
def title(
    mesh: LocalMesh, admin_headers: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Ingested:
    """A READY 6 s title available in the first region (the gateway's front door)."""
    data = make_source(tmp_path_factory.mktemp("web-app") / "source.mp4")
    return ingest_through_gateway(
        mesh.settings.gateway_url,
        admin_headers,
        data,
        options={"renditions": RUNGS},
        regions=[mesh.settings.regions[0]],
        display_name=f"Lantern Harbor {uuid.uuid4().hex[:6]}",
    )


def misspelled(name: str) -> str:
    """The name with its second and third letters swapped: "Lantern" -> "Lnatern"."""
    return name[0] + name[2] + name[1] + name[3:]


def app_url(mesh: LocalMesh) -> str:
    """The front port itself: `/` redirects to `/app/`, and the API is the page's origin."""
    return f"{mesh.settings.gateway_url}/"


# QoE service deployed (another part of issue 10)? Until it is, RecordQoeEvents answers 404
# from the web app's catch-all: the app sends one batch, counts the failure and stops sending.
QOE_DEPLOYED = any(e.name == "qoe" for e in SERVICES)
QOE_KINDS = {
    f"QOE_EVENT_KIND_{k}"
    for k in (
        "STARTUP FIRST_FRAME REBUFFER_START REBUFFER_END BITRATE_SWITCH ERROR "
        "DROPPED_FRAMES PLAYING ENDED"
    ).split()
}
QOE_FIELDS = {"kind", "offsetMs", "valueMs", "bitrateBps", "droppedFrames", "errorCode"}


def qoe_failure(failed: dict[str, Any]) -> bool:
    return (not QOE_DEPLOYED) and failed["url"].endswith("/qoe:record") and failed["status"] == 404


def drive(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        ["node", str(DRIVER), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=DRIVER_TIMEOUT_S,
    )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert lines, f"the driver printed nothing (exit {done.returncode}): {done.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(lines[-1])
    assert "fatal" not in result, json.dumps(result, indent=1)[-6000:]
    return result


def steps(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in result["steps"]}


def test_sign_in_search_play_and_resume_in_another_browser(
    mesh: LocalMesh,
    title: Ingested,
    browser_ready: None,  # noqa: F811
    tmp_path: Path,
) -> None:
    email = f"web-{uuid.uuid4().hex[:8]}@example.com"
    viewer = sign_up(mesh, email, "standard")
    query = misspelled(title.display_name)
    assert query != title.display_name
    shot = tmp_path / "home.png"
    result = drive("resume", app_url(mesh), email, PASSWORD, query, title.title, str(shot))
    by = steps(result)

    assert by["A signed in"]["rows"], "the home page shows rows"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    searched = by["A searched"]
    assert searched["searchFocused"] == "search-input"  # "/" focuses the search box
    assert title.display_name in searched["suggestions"], searched
    assert title.title in searched["results"], searched
    assert searched["corrected"] and "lantern" in searched["corrected"].lower(), searched
    assert {"facet": "type", "value": "movie"} in searched["facets"], searched["facets"]
    assert searched["filtered"]["pressed"] == ["movie"], searched["filtered"]
    assert title.title in searched["filtered"]["results"], searched["filtered"]

    played = by["A played"]
    assert played["tabs"] > 0  # reached the tile with Tab alone
    assert played["focusedOnTitlePage"] == "play"
    assert played["played"]["currentTime"] > 3.0
    assert played["played"]["profile"] == viewer.profile
    # Focused scrubber + ArrowLeft: seeks back 5 s and shows the preview with the time.
    scrub = played["scrub"]
    assert scrub["thumbVisible"] and scrub["thumbTime"] == "0:00", scrub
    # ...with the trick-play tile: the first tile of sheet 1 of the DASH image track, a signed
    # URL on the region's edge, 160 px wide (the pipeline's tile width).
    assert scrub["thumbnails"] >= 1, scrub
    assert "/cdn/US/" in scrub["thumbImage"] and "/thumbs/sprite-001.jpg?" in scrub["thumbImage"]
    assert scrub["thumbWidth"] == "160px", scrub
    assert scrub["currentTime"] < played["played"]["currentTime"] - 3.0, scrub
    interval = played["played"]["heartbeatInterval"]
    assert interval > 0
    back = by["A went back"]["state"]
    assert back["session"] is None
    stopped_at = back["lastStop"]["position"]
    assert stopped_at > 3.0

    b = by["B signed in"]
    assert [t["title"] for t in b["continueWatching"]] == [title.title]
    assert b["continueWatching"][0]["progress"] > 0
    resumed = by["B resumed"]["state"]
    assert abs(resumed["resumePosition"] - stopped_at) <= interval
    assert abs(resumed["currentTime"] - stopped_at) <= interval

    left = by["B left with Escape"]["state"]
    assert left["session"] is None and left["lastStop"]["position"] >= resumed["currentTime"]

    # A refused access token (bad signature): the app renews it with the refresh token, retries,
    # and the viewer stays signed in on the home page.
    refreshed = by["B refreshed"]
    assert refreshed["signedIn"] and refreshed["rows"] > 0

    check_qoe(result, {by["A played"]["played"]["session"], resumed["session"]})

    assert result["pageErrors"] == []
    main_failed = [f for f in result["failedRequests"] if f["phase"] == "main"]
    assert [f for f in main_failed if not qoe_failure(f)] == [], main_failed
    # The QoE endpoint missing costs at most one console line per browser context.
    main = [e for e in result["consoleErrors"] if e["phase"] == "main"]
    assert len(main) == len(main_failed) <= 2, result["consoleErrors"]
    assert all("/qoe:record" in e["url"] for e in main), main
    # The refused call itself is the browser's own "Failed to load resource" line (401).
    refusals = [
        f for f in result["failedRequests"] if f["phase"] == "refresh" and not qoe_failure(f)
    ]
    assert [f["status"] for f in refusals] == [401], refusals
    assert all(e["text"].startswith("Failed to load resource") for e in result["consoleErrors"]), (
        result["consoleErrors"]
    )


def test_stream_limit_dialog_stops_the_other_screen(
    mesh: LocalMesh,
    title: Ingested,
    browser_ready: None,  # noqa: F811
) -> None:
    email = f"web-limit-{uuid.uuid4().hex[:8]}@example.com"
    sign_up(mesh, email, "basic")
    result = drive("limit", app_url(mesh), email, PASSWORD, title.title)
    by = steps(result)

    a_session = by["A playing"]["session"]
    dialog = by["B saw the limit dialog"]
    assert [item["session"] for item in dialog["listed"]] == [a_session]
    assert dialog["focus"] == "Stop playback there"
    b_state = by["B playing"]["state"]
    assert b_state["session"] not in (None, a_session)
    assert b_state["currentTime"] > 1.0
    told = by["A told"]
    assert told["state"]["stoppedRemotely"]
    assert "another screen" in told["toast"]
    beat = by["B heartbeat"]["state"]
    assert beat["heartbeats"] >= 1 and beat["lastHeartbeat"] > 1.0

    assert result["pageErrors"] == []
    # The browser itself logs a line for each HTTP error response; these two are the scenario's:
    # B's StartPlayback answered 429, and A's heartbeat after its session was stopped.
    expected = {
        ("B", "/v1/sessions:start", 429),
        ("A", f"/v1/{a_session}:heartbeat", None),
    }

    def known(context: str, url: str, status: int | None) -> bool:
        return any(
            context == c and url.endswith(path) and (s is None or status is None or status == s)
            for c, path, s in expected
        )

    failed = [f for f in result["failedRequests"] if not qoe_failure(f)]
    for one in failed:
        assert known(one["context"], one["url"], one["status"]), result["failedRequests"]
    errors = [e for e in result["consoleErrors"] if "/qoe:record" not in e["url"]]
    for error in result["consoleErrors"]:
        assert error["text"].startswith("Failed to load resource"), result["consoleErrors"]
    for error in errors:
        assert known(error["context"], error["url"], None), result["consoleErrors"]
    assert len(errors) == len(failed) == 2
    assert len(result["consoleErrors"]) == len(result["failedRequests"])


def check_qoe(result: dict[str, Any], sessions: set[str]) -> None:
    """Every QoE POST went to a session of the run with a RecordQoeEventsRequest body; the first
    batch of each playback carries STARTUP and FIRST_FRAME (time to first frame)."""
    posts = result["qoe"]
    assert posts, "the player sent no QoE batch"
    seen_kinds: set[str] = set()
    for post in posts:
        session = post["path"].removeprefix("/v1/").removesuffix("/qoe:record")
        assert session in sessions, (session, sessions)
        body = post["body"]
        assert set(body) == {"batchId", "events"}, body
        assert body["batchId"].startswith("b-") and len(body["batchId"]) <= 64
        assert 0 < len(body["events"]) <= 500
        for event in body["events"]:
            assert QOE_FIELDS <= set(event) <= QOE_FIELDS | {"rendition"}, event
            assert event["kind"] in QOE_KINDS, event
            for field in ("offsetMs", "valueMs", "bitrateBps", "droppedFrames"):
                assert isinstance(event[field], str) and int(event[field]) >= 0, event
            if "rendition" in event:
                assert event["rendition"].endswith("p"), event
            seen_kinds.add(event["kind"])
        if QOE_DEPLOYED:
            assert post["status"] == 200, post
        else:
            assert post["status"] == 404, post
    # The first playback's batches together (the 10 s timer may split them).
    first = [e for p in posts if p["path"] == posts[0]["path"] for e in p["body"]["events"]]
    kinds = [e["kind"] for e in first]
    assert "QOE_EVENT_KIND_STARTUP" in kinds and "QOE_EVENT_KIND_FIRST_FRAME" in kinds, kinds
    ttff = next(e for e in first if e["kind"] == "QOE_EVENT_KIND_FIRST_FRAME")
    assert int(ttff["valueMs"]) > 0
    assert ttff["rendition"] in {"720p", "360p"}, ttff
    assert int(ttff["bitrateBps"]) > 0
    if not QOE_DEPLOYED:
        # Switched off after the 404: one batch per browser context, nothing more.
        assert len(posts) <= len({p["context"] for p in posts}), posts


def test_sign_up_and_add_a_profile(
    mesh: LocalMesh,
    browser_ready: None,  # noqa: F811
) -> None:
    email = f"web-new-{uuid.uuid4().hex[:8]}@example.com"
    result = drive("signup", app_url(mesh), email, PASSWORD, "Kids room")
    by = steps(result)
    signed = by["signed up"]
    assert "plans/basic" in signed["plans"]
    assert len(signed["before"]) == 1
    assert signed["state"]["signedIn"] and signed["who"] == "Kids room"
    assert signed["state"]["profile"] != signed["before"][0]
    after = by["profiles"]["after"]
    assert [a["name"] for a in after if "Kids room" in a["label"]] == [signed["state"]["profile"]]
    assert len(after) == 2
    assert result["pageErrors"] == [] and result["consoleErrors"] == []
    assert result["failedRequests"] == []


def test_operations_page_for_the_admin(
    mesh: LocalMesh,
    title: Ingested,
    browser_ready: None,  # noqa: F811
) -> None:
    admin = next(u for u in DEMO_USERS if u.admin)
    # A running experiment (through the REST API as the admin) for the page's read-out.
    bearer = {"authorization": f"Bearer {mesh.admin_token}"}
    created = httpx.post(
        f"{mesh.settings.gateway_url}/v1/experiments",
        params={"experimentId": "ops-page-order"},
        json={
            "displayName": "Ops page order",
            "layer": "ops-page-test",
            "variants": [
                {"id": "control", "sharePercent": 50},
                {
                    "id": "trending-first",
                    "sharePercent": 50,
                    "parameters": {"row_order": "TRENDING_NOW"},
                },
            ],
            "layerSharePercent": 100,
            "trafficPercent": 100,
            "primaryMetric": "METRIC_PLAYS_PER_PROFILE_DAY",
        },
        headers=bearer,
        timeout=10,
    )
    assert created.status_code == 200, created.text
    started = httpx.post(
        f"{mesh.settings.gateway_url}/v1/experiments/ops-page-order:updateState",
        json={"state": "EXPERIMENT_STATE_RUNNING"},
        headers=bearer,
        timeout=10,
    )
    assert started.status_code == 200, started.text
    result = drive("ops", app_url(mesh), admin.email, mesh.demo_passwords[admin.email], title.title)
    by = steps(result)
    overview = by["overview"]
    assert overview["navVisible"]
    report = by["report"]["report"]
    assert result["pageErrors"] == []
    if QOE_DEPLOYED:
        first = overview["first"]
        assert first["unavailable"] is None and first["plays"] is not None, first
        assert overview["refreshed"] != first["updated"], overview
        assert report["heading"] == f"QoE · {title.title.removeprefix('titles/')}"
        assert report["unavailable"] is None
        assert result["consoleErrors"] == []
    else:
        assert "not running" in overview["first"]["unavailable"]
        assert "not running" in report["unavailable"]
        assert [f["status"] for f in result["failedRequests"]] == [404, 404]
    # The experiment's read-out: control first, no exposures yet, no SRM alarm.
    (panel,) = [e for e in overview["first"]["experiments"] if e["id"] == "ops-page-order"]
    assert panel["srmAlert"] is None
    assert [row[:3] for row in panel["variants"]] == [
        ["control (control)", "0", "50%"],
        ["trending-first", "0", "50%"],
    ]


def raw_get(mesh: LocalMesh, target: str) -> tuple[int, dict[str, str], bytes]:
    """GET over a plain socket through the front door, the path exactly as written."""
    with socket.create_connection((mesh.settings.host, mesh.settings.gateway_port), 10) as conn:
        conn.sendall(f"GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    return int(lines[0].split()[1]), fields, body


def test_the_front_port_serves_the_app_and_nothing_else(mesh: LocalMesh) -> None:
    status, headers, _ = raw_get(mesh, "/")
    assert (status, headers["location"]) == (302, "/app/")
    status, headers, body = raw_get(mesh, "/app/")
    assert status == 200 and b'<script type="module" src="app.js">' in body
    assert headers["content-type"] == "text/html; charset=utf-8"
    status, headers, _ = raw_get(mesh, "/node_modules/shaka-player/dist/shaka-player.compiled.js")
    assert (status, headers["content-type"]) == (200, "text/javascript; charset=utf-8")
    assert headers["cache-control"] == "public, max-age=3600"
    for target in (
        "/app/../gateway/web.py",
        "/app/%2e%2e/%2e%2e/README.md",
        "/app/..%2f..%2fREADME.md",
        "/node_modules/playwright-core/package.json",
        "/node_modules/shaka-player/package.json",
        "/app/e2e.mjs",
        "/etc/passwd",
        "//etc/passwd",
    ):
        status, _, body = raw_get(mesh, target)
        assert status in (400, 404), (target, status, body[:200])
    # The API keeps its routes ahead of the catch-all.
    status, headers, body = raw_get(mesh, "/v1/plans")
    assert status == 200 and b"plans/basic" in body
