"""GetHome with A/B tests, against the real services: the gateway's home server, the real
experiments server (its own PostgreSQL database and NATS), the catalog, playback,
recommendations and search of `gw_mesh`.

- a profile forced (through `vod experiments force`) into variant B sees B's row order and
  its artwork kind;
- a simulated experiment: 400 profiles load their home page through the gateway; exactly one
  exposure record and one `vod.experiments.exposed` event per response that applied an
  assignment, one GetAssignments per profile (the cache serves the rest); plays published as
  the playback events the experiments consumers read, with a true +100% for variant B, give a
  read-out (`vod experiments report`) whose interval covers the true difference;
- experiments unconfigured, absent or killed: the home still answers, in the default order.

The A/A false-positive rate is checked in tests/experiments/test_analysis.py (400 runs).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import nats
import numpy as np
import pytest
import sqlalchemy as sa
from vod.common.v1 import event_pb2
from vod.events.v1 import playback_events_pb2 as pev
from vod.experiments.v1 import experiments_pb2 as epb
from vod.experiments.v1 import experiments_pb2_grpc
from vod.gateway.v1 import gateway_pb2 as gpb
from vod.gateway.v1 import gateway_pb2_grpc

from gateway.home.config import ExperimentsSettings as HomeExperimentsSettings
from gateway.home.experiments import DEFAULT_ROW_ORDER, Treatment, parse_row_order
from gateway.home.server import running as gateway_running
from gateway.home.servicer import RESPONSE_ID_HEADER
from mesh.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from services.experiments import cli
from services.experiments.config import ExperimentsSettings
from services.experiments.server import ExperimentsRuntime, started
from services.runtime.config import RuntimeSettings
from services.runtime.db import create_service_engine
from services.runtime.events import EventBus
from tests.gateway.conftest import (
    FakeClock,
    Gateway,
    GatewayMesh,
    artwork_of,
    gateway_settings,
    home_request,
    identity,
)

CW = gpb.ROW_KIND_CONTINUE_WATCHING
TOP = gpb.ROW_KIND_TOP_PICKS
TRENDING = gpb.ROW_KIND_TRENDING_NOW
NEW = gpb.ROW_KIND_NEW_RELEASES
B_ORDER = (TRENDING, NEW, TOP)
B_PARAM = "TRENDING_NOW,NEW_RELEASES,TOP_PICKS"
EXPERIMENT = "experiments/home-order"
ARTWORK_EXPERIMENT = "experiments/poster-art"
EXPOSED = "vod.experiments.exposed"
PROFILES = 400
TRUE_LIFT = 1.0  # large enough that 400 profiles find it (99% interval) every time
MEAN_INTENSITY = 2.0  # gamma(2, 1): E[plays after exposure] of a control profile
TRUE_DELTA = MEAN_INTENSITY * TRUE_LIFT


@dataclass
class Experiments:
    runtime: ExperimentsRuntime
    stub: experiments_pb2_grpc.ExperimentsServiceStub
    bus: EventBus
    nats_url: str
    database: str

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.runtime.handle.port}"


def _experiments_settings(database: str, nats_url: str) -> ExperimentsSettings:
    return ExperimentsSettings(
        runtime=RuntimeSettings(
            service="experiments",
            grpc_address="127.0.0.1:0",
            metrics_address=f"127.0.0.1:{free_port()}",
            database_url=database,
            nats_url=nats_url,
            drain_grace_s=0.2,
        ),
        refresh_s=0.2,
    )


async def _create_experiments(stub: experiments_pb2_grpc.ExperimentsServiceStub) -> None:
    """home-order (home-rows, 100% of the layer): control and b, b reorders the rows;
    poster-art (artwork, GB only, so the US simulation never sees it): control and poster."""
    rows = epb.Experiment(
        display_name="home row order",
        layer="home-rows",
        primary_metric=epb.METRIC_PLAYS_PER_PROFILE_DAY,
        guardrail_metrics=[epb.METRIC_TTFF_MS],
    )
    rows.variants.add(id="control", share_percent=50)
    rows.variants.add(id="b", share_percent=50, parameters={"row_order": B_PARAM})
    art = epb.Experiment(
        display_name="poster artwork",
        layer="artwork",
        primary_metric=epb.METRIC_PLAYS_PER_PROFILE_DAY,
        targeting=epb.Targeting(region_codes=["GB"]),
    )
    art.variants.add(id="control", share_percent=50)
    art.variants.add(id="poster", share_percent=50, parameters={"artwork": "poster"})
    # A fixed salt (and fixed profile names in the simulation) make the split reproducible: a
    # 99% interval misses the truth in 1% of splits by design, so a random split would make
    # the simulation flaky; the coverage over many splits is checked in test_analysis.
    rows.salt = "gw-sim-rows"
    for experiment_id, experiment in (("home-order", rows), ("poster-art", art)):
        await stub.CreateExperiment(
            epb.CreateExperimentRequest(experiment_id=experiment_id, experiment=experiment)
        )
        await stub.UpdateExperimentState(
            epb.UpdateExperimentStateRequest(
                name=f"experiments/{experiment_id}", state=epb.EXPERIMENT_STATE_RUNNING
            )
        )


@pytest.fixture(scope="module")
async def experiments(
    postgres: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Experiments]:
    """Its own database and NATS, so the exposure events counted here are this module's."""
    database = postgres.create_database(f"gw_experiments_{uuid.uuid4().hex[:8]}")
    root = tmp_path_factory.mktemp("gw-experiments")
    with EmbeddedNats(root / "js", free_port(), monitor_port=free_port()) as nats_server:
        async with (
            started(_experiments_settings(database, nats_server.url), serve_metrics=False) as rt,
            grpc.aio.insecure_channel(f"127.0.0.1:{rt.handle.port}") as channel,
        ):
            stub = experiments_pb2_grpc.ExperimentsServiceStub(channel)
            await _create_experiments(stub)
            bus = await EventBus.connect(nats_server.url, name="gw-experiments-test")
            try:
                yield Experiments(rt, stub, bus, nats_server.url, database)
            finally:
                await bus.close()


@asynccontextmanager
async def home_gateway(
    mesh: GatewayMesh, address: str, nats_url: str = ""
) -> AsyncIterator[Gateway]:
    """The production gateway `running()` with experiments at `address` ("" for none),
    following experiment changes on `nats_url` when given. Its clock is frozen: cached
    assignments never expire by TTL, only by events."""
    clock = FakeClock()
    # Generous deadlines: these tests check which variant a response applies, and every
    # service runs on this one event loop, so a stall of the loop past a production-like
    # deadline would serve the default order (a failed assignment) and say nothing about it.
    settings = gateway_settings(
        mesh,
        row_deadline_s=3.0,
        catalog_deadline_s=3.0,
        budget_s=8.0,
        experiments=HomeExperimentsSettings(
            address=address, deadline_s=3.0, exposure_deadline_s=5.0
        ),
    )
    settings = replace(settings, runtime=replace(settings.runtime, nats_url=nats_url))
    async with (
        gateway_running(settings, serve_metrics=False, clock=clock) as run,
        grpc.aio.insecure_channel(f"127.0.0.1:{run.port}") as channel,
    ):
        yield Gateway(run, gateway_pb2_grpc.GatewayServiceStub(channel), clock, settings)


@pytest.fixture
async def gateway(gw_mesh: GatewayMesh, experiments: Experiments) -> AsyncIterator[Gateway]:
    async with home_gateway(gw_mesh, experiments.address, experiments.nats_url) as gateway:
        yield gateway


@pytest.fixture(autouse=True)
def _no_stored_sign_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The CLI talks straight to the experiments service, as inside the mesh: no token."""
    monkeypatch.setenv("VOD_CREDENTIALS", str(tmp_path / "no-credentials.json"))


async def home(
    gateway: Gateway, profile: str, region: str = "US"
) -> tuple[gpb.GetHomeResponse, str]:
    """The reply and its response id (trailing metadata)."""
    call = gateway.stub.GetHome(home_request(profile), metadata=identity(profile, region=region))
    reply = await call
    trailing = dict(await call.trailing_metadata() or ())
    return reply, str(trailing[RESPONSE_ID_HEADER])


def kinds(reply: gpb.GetHomeResponse) -> list[int]:
    return [r.kind for r in reply.rows]


def in_order(order: tuple[int, ...], reply: gpb.GetHomeResponse) -> list[int]:
    """`order` (then the default order) restricted to the rows the reply has."""
    present = set(kinds(reply))
    return [k for k in dict.fromkeys([*order, *DEFAULT_ROW_ORDER]) if k in present]


async def until(check: Callable[[], Awaitable[object]], timeout_s: float = 60.0) -> object:
    deadline = time.monotonic() + timeout_s
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout_s} s (last: {value!r})")
        await asyncio.sleep(0.05)


def cli_args(target: str, **kw: object) -> argparse.Namespace:
    return argparse.Namespace(target=target, **kw)


async def exposures_settled(gateway: Gateway, recorded: int) -> bool:
    run = gateway.run.experiments
    assert run is not None
    done = gateway.metric("gateway_experiment_exposures_total", result="recorded")
    return run.pending == 0 and done == recorded


async def exposure_log(database: str, experiment: str) -> list[tuple[str, str, str, bool]]:
    """(response_id, profile, variant, forced) of every exposure record of `experiment`."""
    engine = create_service_engine(database, "experiments", pool_size=1)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.text(
                    "SELECT response_id, profile, variant, forced FROM exposure_log "
                    "WHERE experiment = :e ORDER BY response_id"
                ),
                {"e": experiment.removeprefix("experiments/")},
            )
            return [(r[0], r[1], r[2], bool(r[3])) for r in rows]
    finally:
        await engine.dispose()


# -- what a variant's parameters do ------------------------------------------------------------


def test_row_order_parameters_are_read_leniently() -> None:
    cw, byw = CW, gpb.ROW_KIND_BECAUSE_YOU_WATCHED
    assert parse_row_order(B_PARAM) == (TRENDING, NEW, TOP, cw, byw)
    assert parse_row_order("row_kind_new_releases, trending-now,BOGUS,,NEW_RELEASES") == (
        NEW,
        TRENDING,
        cw,
        TOP,
        byw,
    )
    assert parse_row_order("", top_row="TRENDING_NOW") == (TRENDING, cw, TOP, byw, NEW)
    assert parse_row_order("ROW_KIND_UNSPECIFIED") == DEFAULT_ROW_ORDER
    rows = epb.Assignment(
        experiment=EXPERIMENT, layer="home-rows", variant="b", parameters={"row_order": B_PARAM}
    )
    elsewhere = epb.Assignment(
        experiment="experiments/player", layer="player", parameters={"row_order": "NEW_RELEASES"}
    )
    treatment = Treatment.of([rows, elsewhere], ("home-rows", "artwork"))
    assert treatment.applied == (rows,)  # other layers belong to other surfaces
    assert treatment.row_order == (TRENDING, NEW, TOP, cw, byw)
    assert not treatment.artwork_experiment
    control = Treatment.of(
        [epb.Assignment(experiment=EXPERIMENT, layer="home-rows", variant="control")],
        ("home-rows",),
    )
    assert control.row_order == DEFAULT_ROW_ORDER and len(control.applied) == 1


# -- a forced profile sees variant B -----------------------------------------------------------


async def test_a_profile_forced_into_b_sees_the_b_row_order_and_its_artwork(
    gateway: Gateway, gw_mesh: GatewayMesh, experiments: Experiments
) -> None:
    viewer = gw_mesh.viewer
    out, err = io.StringIO(), io.StringIO()
    code = await cli.run_force(
        cli_args(experiments.address, profile=viewer, variant="b", experiment="", clear=False),
        out,
        err,
    )
    assert (code, err.getvalue()) == (0, "")
    assert out.getvalue() == (f"{viewer} -> {EXPERIMENT} variant b (forced; row_order={B_PARAM})\n")
    code = await cli.run_force(
        cli_args(
            experiments.address,
            profile=viewer,
            variant="poster",
            experiment="poster-art",
            clear=False,
        ),
        out,
        err,
    )
    assert code == 0

    # poster-art targets GB only: the override puts the (US) viewer in it all the same.
    reply, response_id = await home(gateway, viewer)
    assert {TOP, TRENDING, NEW} <= set(kinds(reply))
    assert kinds(reply) == in_order(B_ORDER, reply)
    assert kinds(reply)[:3] == [TRENDING, NEW, TOP]
    assert kinds(reply) != in_order(DEFAULT_ROW_ORDER, reply)
    # The poster variant: every tile shows its title's poster instead of the thumbnail.
    items = [i for r in reply.rows for i in r.items]
    assert items and all(
        i.artwork_uri == artwork_of(i.title.removeprefix("titles/"))[1] for i in items
    )

    await until(lambda: exposures_settled(gateway, 1))
    log = await exposure_log(experiments.database, EXPERIMENT)
    assert [(p, v, f) for r, p, v, f in log if r == response_id] == [(viewer, "b", True)]
    art = await exposure_log(experiments.database, ARTWORK_EXPERIMENT)
    assert [(p, v, f) for r, p, v, f in art if r == response_id] == [(viewer, "poster", True)]

    # The override removed: the viewer is back to its hashed variant (or the holdout).
    code = await cli.run_force(
        cli_args(
            experiments.address, profile=viewer, variant="", experiment="home-order", clear=True
        ),
        out,
        err,
    )
    assert code == 0
    assert out.getvalue().endswith(f"{viewer}: override removed in {EXPERIMENT}\n")


async def test_experiment_changes_reach_the_cached_home_at_once(
    gateway: Gateway, experiments: Experiments
) -> None:
    """The gateway's clock is frozen, so its cached assignments never expire: only the
    `vod.experiments.changed` events can make a change show."""
    profile = "users/gxchange/profiles/main"
    found = await experiments.stub.GetAssignments(
        epb.GetAssignmentsRequest(profile=profile, region_code="US", plan="plans/standard")
    )
    hashed = {a.layer: a.variant for a in found.assignments}.get("home-rows", "")
    order_of = {"b": B_ORDER, "control": DEFAULT_ROW_ORDER, "": DEFAULT_ROW_ORDER}
    other = "control" if hashed == "b" else "b"

    reply, _ = await home(gateway, profile)
    assert kinds(reply) == in_order(order_of[hashed], reply)
    fetched = gateway.metric(
        "gateway_dependency_calls_total",
        dependency="experiments",
        method="GetAssignments",
        result="ok",
    )
    reply, _ = await home(gateway, profile)  # from the cache
    assert kinds(reply) == in_order(order_of[hashed], reply)
    assert gateway.metric("gateway_experiment_cache_invalidations_total", scope="profile") == 0

    async def shows(variant: str) -> bool:
        reply, _ = await home(gateway, profile)
        return kinds(reply) == in_order(order_of[variant], reply)

    # A QA override drops this profile's cached assignments.
    await experiments.stub.ForceVariant(
        epb.ForceVariantRequest(name=EXPERIMENT, profile=profile, variant=other)
    )
    assert await until(lambda: shows(other), timeout_s=30)
    assert gateway.metric("gateway_experiment_cache_invalidations_total", scope="profile") == 1
    await experiments.stub.ForceVariant(
        epb.ForceVariantRequest(name=EXPERIMENT, profile=profile, variant="")
    )
    assert await until(lambda: shows(hashed), timeout_s=30)
    assert gateway.metric("gateway_experiment_cache_invalidations_total", scope="profile") == 2
    # Each change cost one GetAssignments more, no more.
    assert (
        gateway.metric(
            "gateway_dependency_calls_total",
            dependency="experiments",
            method="GetAssignments",
            result="ok",
        )
        == fetched + 2
    )

    # A new experiment (any change but an override) drops every cached profile.
    all_before = gateway.metric("gateway_experiment_cache_invalidations_total", scope="all")
    probe = epb.Experiment(
        display_name="probe", layer="probe", primary_metric=epb.METRIC_PLAYS_PER_PROFILE_DAY
    )
    probe.variants.add(id="control", share_percent=50)
    probe.variants.add(id="b", share_percent=50)
    await experiments.stub.CreateExperiment(
        epb.CreateExperimentRequest(experiment_id="cache-probe", experiment=probe)
    )

    async def dropped_all() -> bool:
        now = gateway.metric("gateway_experiment_cache_invalidations_total", scope="all")
        return now == all_before + 1

    assert await until(dropped_all, timeout_s=30)
    assert len(gateway.run.experiments._cache) == 0  # type: ignore[union-attr]


async def test_force_without_a_matching_experiment_says_which_to_name(
    experiments: Experiments,
) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = await cli.run_force(
        cli_args(
            experiments.address,
            profile="users/qa/profiles/main",
            variant="control",
            experiment="",
            clear=False,
        ),
        out,
        err,
    )
    assert code == 2
    assert err.getvalue() == (
        "error: 2 running experiments have variant 'control' (experiments/poster-art, "
        "experiments/home-order); say which with --experiment NAME\n"
    )
    code = await cli.run_force(
        cli_args(
            experiments.address,
            profile="users/qa/profiles/main",
            variant="zzz",
            experiment="home-order",
            clear=False,
        ),
        out,
        err := io.StringIO(),
    )
    assert code == 2
    assert err.getvalue().startswith("error: INVALID_ARGUMENT: ")


# -- the simulation ----------------------------------------------------------------------------


async def _play(bus: EventBus, profile: str, at: datetime) -> None:
    meta = event_pb2.EventMeta(event_id=str(uuid.uuid4()), producer="playback")
    meta.occur_time.FromDatetime(at)
    await bus.publish(
        pev.PlaybackStarted(
            meta=meta, session=f"sessions/{uuid.uuid4().hex}", profile=profile, title="titles/x"
        )
    )


async def test_a_simulated_experiment_through_the_home_page(
    gateway: Gateway, experiments: Experiments
) -> None:
    rng = np.random.default_rng(20261129)
    profiles = [f"users/gxsim{i}/profiles/main" for i in range(PROFILES)]
    arm_of: dict[str, str] = {}
    for profile in profiles:
        found = await experiments.stub.GetAssignments(
            epb.GetAssignmentsRequest(profile=profile, region_code="US", plan="plans/standard")
        )
        by_layer = {a.layer: a.variant for a in found.assignments}
        assert "artwork" not in by_layer  # GB only
        if "home-rows" in by_layer:
            arm_of[profile] = by_layer["home-rows"]
    assert 0 < len(arm_of) < PROFILES  # the 5% holdout
    visits = {p: int(rng.integers(1, 3)) for p in profiles}  # 1-2 home pages each

    served: dict[str, list[str]] = {}  # profile -> response ids
    queue = [p for p in profiles for _ in range(visits[p])]

    async def visit(profile: str) -> None:
        reply, response_id = await home(gateway, profile)
        expected = B_ORDER if arm_of.get(profile) == "b" else DEFAULT_ROW_ORDER
        assert kinds(reply) == in_order(expected, reply)
        served.setdefault(profile, []).append(response_id)

    for start in range(0, len(queue), 8):
        await asyncio.gather(*(visit(p) for p in queue[start : start + 8]))
    responses = len(queue)
    exposed = sum(len(served[p]) for p in arm_of)
    assert sum(len(ids) for ids in served.values()) == responses
    assert len({i for ids in served.values() for i in ids}) == responses  # unique ids

    # One GetAssignments per profile, the cache answers the second visit.
    assert gateway.metric(
        "gateway_dependency_calls_total",
        dependency="experiments",
        method="GetAssignments",
        result="ok",
    ) == len(profiles)
    assert gateway.metric("gateway_experiment_assignments_total", source="cache") == (
        responses - len(profiles)
    )
    assert gateway.metric("gateway_experiment_assignments_total", source="failed") == 0

    # Exactly one exposure record per response that applied an assignment, none for the holdout.
    await until(lambda: exposures_settled(gateway, exposed))
    log = await exposure_log(experiments.database, EXPERIMENT)
    simulated = sorted((r, p, v) for r, p, v, _ in log if p in served)
    assert simulated == sorted(
        (response_id, p, arm_of[p]) for p in arm_of for response_id in served[p]
    )
    assert gateway.metric("gateway_experiment_exposures_total", result="failed") == 0

    # ... and exactly one exposure event per record on NATS (the module's own stream).
    totals = await experiments.runtime.repository.totals()
    nc = await nats.connect(experiments.nats_url)
    try:

        async def events() -> int:
            info = await nc.jetstream().stream_info("VOD_EXPERIMENTS", subjects_filter=EXPOSED)
            n = (info.state.subjects or {}).get(EXPOSED, 0)
            return n if n == totals["exposure_records"] else 0

        assert await until(events) == totals["exposure_records"]
    finally:
        await nc.close()

    # Viewers: plays in the two weeks before exposure and after it; b truly plays twice as much.
    plays_before = totals["plays"]
    after = datetime.now(UTC)  # every first exposure is earlier
    expected_plays = 0
    for profile in profiles:
        intensity = rng.gamma(2.0, MEAN_INTENSITY / 2.0)
        for _ in range(rng.poisson(intensity)):
            await _play(experiments.bus, profile, after - timedelta(days=rng.uniform(1, 13)))
            expected_plays += 1
        lift = 1 + TRUE_LIFT if arm_of.get(profile) == "b" else 1.0
        for _ in range(rng.poisson(intensity * lift)):
            await _play(experiments.bus, profile, after)
            expected_plays += 1

    async def plays_in() -> bool:
        now = await experiments.runtime.repository.totals()
        return now["plays"] == plays_before + expected_plays

    await until(plays_in, timeout_s=120)

    report = await experiments.stub.GetExperimentReport(
        epb.GetExperimentReportRequest(name=EXPERIMENT, confidence_percent=99)
    )
    control, b = report.variants
    assert (control.variant, b.variant) == ("control", "b")
    # Other tests' profiles exposed without an override count too (forced ones never do).
    others = [(p, v) for _, p, v, forced in log if p not in served and not forced]
    from_sim = {
        v: sum(1 for p in arm_of if arm_of[p] == v) + len({p for p, w in others if w == v})
        for v in ("control", "b")
    }
    assert (control.exposed_profiles, b.exposed_profiles) == (from_sim["control"], from_sim["b"])
    assert control.exposures + b.exposures == exposed + len(others)
    assert not report.sample_ratio_mismatch
    assert b.primary.delta > 0 and b.primary.relative_delta > 0
    assert 0 < b.primary.delta_ci_low <= TRUE_DELTA <= b.primary.delta_ci_high
    assert b.primary.cuped

    # `vod experiments report` prints the same numbers.
    out = io.StringIO()
    assert (
        await cli.run_report(cli_args(experiments.address, name="home-order", confidence=99), out)
        == 0
    )
    text = out.getvalue()
    lines = text.splitlines()
    b_line = next(line for line in lines if line.strip("│┃ ").startswith("b "))
    for value in (
        str(b.exposed_profiles),
        str(b.exposures),
        f"{b.primary.mean:.4f}",
        f"{b.primary.delta:+.4f}",
        f"[{b.primary.delta_ci_low:+.4f}, {b.primary.delta_ci_high:+.4f}]",
        f"{b.primary.relative_delta:+.1%}",
        f"{b.primary.p_value:.3g}",
        f"yes (-{b.primary.variance_reduction:.0%} var)",
    ):
        assert value in b_line, (value, b_line)
    control_line = next(line for line in lines if "control (control)" in line)
    assert f"{control.primary.mean:.4f}" in control_line
    assert f"{control.exposed_profiles}" in control_line
    assert f"SRM p-value {report.srm_p_value:.3g}: ok" in lines
    assert "99% CI" in text
    # The guardrail table: nobody reported a time to first frame.
    assert [line.split("│")[1:4] for line in lines if "ttff-ms" in line] == [
        [" control ", " ttff-ms ", " no data "],
        [" b       ", " ttff-ms ", " no data "],
    ]
    assert "guardrails: none significantly worse" in lines
    assert f"summary: {report.summary}" in lines
    assert lines[0] == (f"{EXPERIMENT}  RUNNING  layer home-rows  traffic 100%  confidence 99%")


async def test_list_shows_both_experiments(experiments: Experiments) -> None:
    out = io.StringIO()
    assert await cli.run_list(cli_args(experiments.address, layer=""), out) == 0
    rows = [line for line in out.getvalue().splitlines() if "RUNNING" in line]
    assert len(rows) == 2
    assert "home-order" in rows[1] and "control 50%, b 50%" in rows[1]
    assert "poster-art" in rows[0] and "plays-per-profile-day" in rows[0]


async def test_the_cli_creates_starts_ramps_and_stops_an_experiment(
    experiments: Experiments,
) -> None:
    target = experiments.address
    out, err = io.StringIO(), io.StringIO()
    create = cli_args(
        target,
        name="cli-check",
        layer="cli-layer",
        variant=["control=34", "wide=33", "tall=33"],
        param=["wide.row_order=NEW_RELEASES", "tall.artwork=poster"],
        metric="hours-per-profile-day",
        guardrail=["play-error-rate"],
        display_name="",
        layer_share=40,
        traffic=20,
        region=["us"],
        plan=[],
        profiles="new",
    )
    assert await cli.run_create(create, out, err) == 0, err.getvalue()
    assert out.getvalue() == (
        "created experiments/cli-check  DRAFT  layer cli-layer (40%, traffic 20%)  "
        "[control 34%, wide 33%, tall 33%]  hours-per-profile-day\n"
        "buckets [500, 4500) of 10000; start it with `vod experiments start cli-check`\n"
    )
    stored = await experiments.stub.GetExperiment(
        epb.GetExperimentRequest(name="experiments/cli-check")
    )
    assert dict(stored.experiment.variants[1].parameters) == {"row_order": "NEW_RELEASES"}
    assert dict(stored.experiment.variants[2].parameters) == {"artwork": "poster"}
    assert list(stored.experiment.targeting.region_codes) == ["US"]
    assert stored.experiment.targeting.profile_age == epb.PROFILE_AGE_NEW
    assert list(stored.experiment.guardrail_metrics) == [epb.METRIC_PLAY_ERROR_RATE]

    steps = [
        (
            cli.run_start,
            {},
            "started experiments/cli-check  RUNNING  layer cli-layer (40%, traffic 20%)",
        ),
        (
            cli.run_ramp,
            {"percent": 50},
            "ramped experiments/cli-check  RUNNING  layer cli-layer (40%, traffic 50%)",
        ),
    ]
    for run, extra, expected in steps:
        out = io.StringIO()
        assert await run(cli_args(target, name="cli-check", **extra), out, err) == 0
        assert out.getvalue().startswith(expected)
    err = io.StringIO()
    assert (
        await cli.run_ramp(cli_args(target, name="cli-check", percent=10), io.StringIO(), err) == 2
    )
    assert err.getvalue().startswith("error: FAILED_PRECONDITION: a ramp only goes up (now 50%)")
    out = io.StringIO()
    assert await cli.run_stop(cli_args(target, name="cli-check"), out, err) == 0
    assert out.getvalue().startswith("stopped experiments/cli-check  STOPPED")
    err = io.StringIO()
    bad = argparse.Namespace(**{**vars(create), "name": "cli-bad", "variant": ["control=50", "b"]})
    assert await cli.run_create(bad, io.StringIO(), err) == 2
    assert err.getvalue() == "error: --variant 'b': expected ID=SHARE, e.g. control=50\n"
    err = io.StringIO()
    uneven = argparse.Namespace(
        **{**vars(create), "name": "cli-bad", "variant": ["control=50", "b=40"], "param": []},
    )
    assert await cli.run_create(uneven, io.StringIO(), err) == 2
    assert err.getvalue().startswith("error: INVALID_ARGUMENT: ")


# -- experiments unconfigured, absent, killed ---------------------------------------------------


async def test_without_experiments_the_home_keeps_its_default_order(
    gw_mesh: GatewayMesh, experiments: Experiments
) -> None:
    await experiments.stub.ForceVariant(
        epb.ForceVariantRequest(name=EXPERIMENT, profile=gw_mesh.viewer, variant="b")
    )
    async with home_gateway(gw_mesh, "") as unconfigured:
        assert unconfigured.run.experiments is None
        reply, _ = await home(unconfigured, gw_mesh.viewer)
        assert kinds(reply) == in_order(DEFAULT_ROW_ORDER, reply)
    async with home_gateway(gw_mesh, f"127.0.0.1:{free_port()}") as absent:
        reply, _ = await home(absent, gw_mesh.viewer)
        assert kinds(reply) == in_order(DEFAULT_ROW_ORDER, reply)
        assert {TOP, TRENDING, NEW} <= set(kinds(reply))
        assert absent.metric("gateway_experiment_assignments_total", source="failed") == 1
        assert absent.metric("gateway_experiment_exposures_total", result="recorded") == 0


async def test_a_killed_experiments_service_leaves_the_home_in_its_default_order(
    gw_mesh: GatewayMesh, postgres: EmbeddedPostgres
) -> None:
    database = postgres.create_database(f"gw_exp_killed_{uuid.uuid4().hex[:8]}")
    viewer = gw_mesh.viewer
    async with started(_experiments_settings(database, ""), serve_metrics=False) as doomed:
        address = f"127.0.0.1:{doomed.handle.port}"
        async with grpc.aio.insecure_channel(address) as channel:
            stub = experiments_pb2_grpc.ExperimentsServiceStub(channel)
            await _create_experiments(stub)
            await stub.ForceVariant(
                epb.ForceVariantRequest(name=EXPERIMENT, profile=viewer, variant="b")
            )
        async with home_gateway(gw_mesh, address) as gateway:
            reply, _ = await home(gateway, viewer)
            assert kinds(reply) == in_order(B_ORDER, reply)
            await until(lambda: exposures_settled(gateway, 1))
            await doomed.handle.server.stop(0)  # killed: connections refused from now on
            # Within the TTL the cached assignment still applies; its exposure fails, counted.
            reply, _ = await home(gateway, viewer)
            assert kinds(reply) == in_order(B_ORDER, reply)

            async def failed() -> bool:
                metric = gateway.metric("gateway_experiment_exposures_total", result="failed")
                return metric == 1

            await until(failed)
            # After the TTL: no assignments, the default order, and the page still served.
            gateway.clock.advance(31)
            for _ in range(3):  # the breaker opens after 2 failures; the page never fails
                reply, _ = await home(gateway, viewer)
                assert kinds(reply) == in_order(DEFAULT_ROW_ORDER, reply)
                assert {TOP, TRENDING, NEW} <= set(kinds(reply))
            assert gateway.metric("gateway_experiment_assignments_total", source="failed") == 3
            assert (
                gateway.metric(
                    "gateway_dependency_calls_total",
                    dependency="experiments",
                    method="GetAssignments",
                    result="rejected",
                )
                == 2
            )
