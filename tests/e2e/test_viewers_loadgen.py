"""The viewing-session load generator (benchmarks/viewers_bench.py) against the package's mesh:
20 viewers on 5 premium accounts for 15 s, and exact invariants on what they did; then 24
viewers as the population of an A/B test of the home's row order."""

from __future__ import annotations

import asyncio
import math

import httpx
import psycopg
import pytest

from benchmarks.viewers_bench import PER_ACCOUNT, create_accounts, run_viewers, sign_in
from benchmarks.viewers_experiment import (
    ViewerModel,
    check_simulation,
    read_report,
    start_experiment,
    stop_experiment,
)
from mesh.edge_stats import edge_stats
from mesh.launcher import LocalMesh
from tests.e2e.media import Ingested
from tests.e2e.test_viewer_path import ingested  # noqa: F401 (the module's READY title)

VIEWERS = 20
DURATION_S = 15.0
HEARTBEAT_S = 3.0
RAMP_S = 2.0


def test_viewers_sign_in_play_heartbeat_and_stop(
    mesh: LocalMesh,
    ingested: Ingested,  # noqa: F811
    admin_headers: dict[str, str],
) -> None:
    s = mesh.settings
    accounts = asyncio.run(
        create_accounts(s.gateway_url, math.ceil(VIEWERS / PER_ACCOUNT), s.regions[0])
    )
    report = asyncio.run(
        run_viewers(
            s.gateway_url,
            accounts,
            ingested.title,
            viewers=VIEWERS,
            duration_s=DURATION_S,
            heartbeat_s=HEARTBEAT_S,
            ramp_s=RAMP_S,
            title_duration_s=ingested.duration_s,
        )
    )

    assert dict(report.errors) == {}
    assert report.elapsed_s < DURATION_S + 15
    # every viewer started a session, all were held at once, and every one was stopped
    assert len(report.sessions) == VIEWERS
    assert len({x.name for x in report.sessions}) == VIEWERS
    assert report.max_active == VIEWERS
    assert report.held_at_plateau == VIEWERS
    assert report.active == 0
    assert all(x.stopped for x in report.sessions)
    users = [a.user for a in accounts]
    with psycopg.connect(mesh.database_url, autocommit=True) as conn:
        active, total = conn.execute(
            "SELECT count(*) FILTER (WHERE state = 1), count(*) FROM playback.sessions "
            "WHERE user_id = ANY(%s)",
            (users,),
        ).fetchone()  # type: ignore[misc]
    assert (active, total) == (0, VIEWERS)

    # one login per account, one of each other step per viewer
    counts = {step: len(v) for step, v in report.samples.items()}
    assert counts["login"] == len(accounts)
    for step in ("token", "home", "search", "start", "manifest", "stop"):
        assert counts[step] == VIEWERS, step
    # heartbeats: one every 3 s from its start while the session lasts (duration - ramp after
    # the viewer's planned start, i.e. 13 s of 15), all sent and answered
    for x in report.sessions:
        planned = report.began + RAMP_S * x.viewer / VIEWERS
        assert abs(x.leave_at - (planned + DURATION_S - RAMP_S)) < 1e-6
        expected = math.floor((x.leave_at - x.started_at) / HEARTBEAT_S)
        assert expected >= math.floor((DURATION_S - RAMP_S - 5) / HEARTBEAT_S)
        assert abs(x.beats - expected) <= 1, (x.name, x.beats, expected)
        assert x.stop_at >= x.leave_at
    assert counts["heartbeat"] == sum(x.beats for x in report.sessions)
    # segments: bytes read to the last one equal what the edge announced, none short
    assert report.segment_bytes > 0
    assert report.segment_bytes == report.segment_content_length
    assert counts["segment"] >= 2 * VIEWERS
    # QoE batches either all went through or the route is not deployed (counted, not errors)
    assert counts["qoe"] == 0 or report.unavailable["qoe"] == 0

    # The operations overview shows each edge as its own access log tells it (counted by
    # mesh.edge_stats here, independently) and answering its health URL.
    overview = httpx.get(
        f"{s.gateway_url}/v1/operations:overview", headers=admin_headers, timeout=10
    )
    assert overview.status_code == 200, overview.text
    edges = {e["regionCode"]: e for e in overview.json()["edges"]}
    assert set(edges) == set(s.regions)
    for spec in mesh.edge_specs():
        logged = edge_stats(spec.access_log_path)
        edge = edges[spec.region]
        assert edge["edge"] == f"edge-{spec.region.lower()}" and edge["reachable"] is True
        assert int(edge.get("requests", 0)) == logged.requests
        assert edge.get("hitRatio", 0.0) == pytest.approx(logged.hit_ratio)
    assert int(edges[s.regions[0]]["requests"]) >= counts["segment"]


EXPERIMENT_VIEWERS = 24


def test_an_ab_test_driven_by_the_viewers(
    mesh: LocalMesh,
    ingested: Ingested,  # noqa: F811
    admin_headers: dict[str, str],
) -> None:
    """The load generator as the experiment's population: one account and profile per viewer,
    each reacting to the top row of the home it was served. Checked exactly: one exposure record
    per home response of an assigned profile (none in the holdout), the top row each viewer saw
    is the one its logged variant prescribes, every play started reached experiments, and the
    read-out counts the same profiles. (Finding the effect needs hundreds of profiles: that is
    `scripts/bench viewers --experiment`, whose read-out the README quotes.)"""
    s = mesh.settings
    model = ViewerModel(base=0.5, lift=0.6)
    name = asyncio.run(start_experiment(s.gateway_url, admin_headers, salt="e2e-loadgen"))
    try:
        accounts = asyncio.run(create_accounts(s.gateway_url, EXPERIMENT_VIEWERS, s.regions[0]))
        asyncio.run(sign_in(s.gateway_url, accounts, 4))  # argon2 verifies outside the run
        report = asyncio.run(
            run_viewers(
                s.gateway_url,
                accounts,
                ingested.title,
                viewers=EXPERIMENT_VIEWERS,
                duration_s=12.0,
                heartbeat_s=3.0,
                ramp_s=2.0,
                title_duration_s=ingested.duration_s,
                per_account=1,
                segments=False,
                model=model,
            )
        )
        assert dict(report.errors) == {}
        assert sorted(h.viewer for h in report.homes) == list(range(EXPERIMENT_VIEWERS))
        played = sorted(h.viewer for h in report.homes if h.played)
        assert sorted(x.viewer for x in report.sessions) == played
        assert all(x.stopped for x in report.sessions)
        # the viewers' decisions are the model's, per viewer, from what they were shown
        assert all(h.played == model.plays(h.viewer, h.top_row) for h in report.homes)

        check = check_simulation(mesh.database_url, name, report.homes)
        assert check.assigned > 0
        assert check.records_per_assigned == {1: check.assigned}
        assert check.wrong_top_row == []
        assert check.plays_recorded == check.plays_started == len(played)
        assert check.ok

        readout = asyncio.run(read_report(s.gateway_url, admin_headers, name))
        exposed = {v["variant"]: int(v.get("exposedProfiles", 0)) for v in readout["variants"]}
        assert sum(exposed.values()) == check.assigned
    finally:
        asyncio.run(stop_experiment(s.gateway_url, admin_headers, name))
