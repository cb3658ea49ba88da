"""The web app (web/app/) end to end in a real browser against the whole local mesh: Debian's
headless Chromium driven by playwright-core (web/app/e2e.mjs) signs in through the form with the
keyboard, searches a misspelled title (suggestions as you type, then results with the corrected
query) and opens it, plays it with Shaka past 3 s and goes back (StopPlayback); a second browser
context signed in as the same user finds it in continue watching and resumes where the first one
stopped. On the basic plan (one stream) a second context pressing Play gets the stream-limit
dialog listing the first one's session, and "Stop playback there" lets it play; the first is told
at its next heartbeat. No page errors; the only console errors are the browser's own lines for
the HTTP errors the scenario provokes (the 429 and the stopped session's heartbeat).

Needs `scripts/web-deps` (Debian chromium at /usr/bin/chromium and web/node_modules)."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from mesh.launcher import ROOT, LocalMesh
from tests.e2e.media import Ingested, ingest_through_gateway
from tests.e2e.test_browser_playback import browser_ready, web_url  # noqa: F401 (fixtures)
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


def app_url(web: str, mesh: LocalMesh) -> str:
    return f"{web}/app/index.html?{urlencode({'api': mesh.settings.gateway_url})}"


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
    web_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    email = f"web-{uuid.uuid4().hex[:8]}@example.com"
    sign_up(mesh, email, "standard")
    query = misspelled(title.display_name)
    assert query != title.display_name
    shot = tmp_path / "home.png"
    result = drive("resume", app_url(web_url, mesh), email, PASSWORD, query, title.title, str(shot))
    by = steps(result)

    assert by["A signed in"]["rows"], "the home page shows rows"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    searched = by["A searched"]
    assert title.display_name in searched["suggestions"], searched
    assert title.title in searched["results"], searched
    assert searched["corrected"] and "lantern" in searched["corrected"].lower(), searched

    played = by["A played"]
    assert played["focusedOnTitlePage"] == "play"
    assert played["played"]["currentTime"] > 3.0
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

    assert result["pageErrors"] == []
    main = [e for e in result["consoleErrors"] if e["phase"] == "main"]
    assert main == [], result["consoleErrors"]
    assert [f for f in result["failedRequests"] if f["phase"] == "main"] == []
    # The refused call itself is the browser's own "Failed to load resource" line (401).
    refusals = [f for f in result["failedRequests"] if f["phase"] == "refresh"]
    assert [f["status"] for f in refusals] == [401], refusals
    assert all(e["text"].startswith("Failed to load resource") for e in result["consoleErrors"]), (
        result["consoleErrors"]
    )


def test_stream_limit_dialog_stops_the_other_screen(
    mesh: LocalMesh,
    title: Ingested,
    web_url: str,  # noqa: F811
) -> None:
    email = f"web-limit-{uuid.uuid4().hex[:8]}@example.com"
    sign_up(mesh, email, "basic")
    result = drive("limit", app_url(web_url, mesh), email, PASSWORD, title.title)
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

    for failed in result["failedRequests"]:
        assert known(failed["context"], failed["url"], failed["status"]), result["failedRequests"]
    for error in result["consoleErrors"]:
        assert error["text"].startswith("Failed to load resource"), result["consoleErrors"]
        assert known(error["context"], error["url"], None), result["consoleErrors"]
    assert len(result["consoleErrors"]) == len(result["failedRequests"]) == 2
