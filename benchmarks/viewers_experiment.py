"""An A/B test driven by the viewing-session load generator (`scripts/bench viewers --experiment`).

The simulation's ground truth is how the simulated viewers react to what the home page shows
them, not which variant they are in: a viewer starts a play with probability `base`, or
`base * (1 + lift)` when the home's top row is `boosted_row`. Run as an experiment on the
home-rows layer whose `trending-first` variant puts TRENDING_NOW on top, the true effect on plays
per profile is `base * lift` — and it only shows if the whole path works: the gateway applies the
assignment to the real home response, the viewer reacts to the response, playback publishes the
play, the experiments service attributes it to the exposure the gateway recorded.

Each viewer is its own account and profile (the unit of assignment) and loads the home page once.
After the run: every home response served to an assigned profile has exactly one exposure record
(none in the holdout), every viewer saw the top row its logged variant prescribes, every play
started reached the experiments service, and the read-out (GetExperimentReport through the
gateway's REST route, admin token) is printed with the true effect next to it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import aiohttp
import psycopg

__all__ = [
    "EXPERIMENT_ID",
    "HomeSeen",
    "SimulationCheck",
    "ViewerModel",
    "check_simulation",
    "print_readout",
    "read_report",
    "start_experiment",
    "stop_experiment",
]

EXPERIMENT_ID = "loadgen-rows"
TREATMENT = "trending-first"
TREATMENT_ORDER = "TRENDING_NOW,NEW_RELEASES,TOP_PICKS"


@dataclass(frozen=True)
class ViewerModel:
    """How a simulated viewer reacts to its home page (the simulation's ground truth)."""

    base: float = 0.4
    """Probability of starting a play from the home page."""
    lift: float = 0.5
    """Relative rise of that probability when the top row is `boosted_row`."""
    boosted_row: str = "ROW_KIND_TRENDING_NOW"
    seed: int = 20261129

    def __post_init__(self) -> None:
        if not 0 < self.base * (1 + self.lift) <= 1 or self.base <= 0:
            raise ValueError("base and base * (1 + lift) must be probabilities")

    def plays(self, viewer: int, top_row: str) -> bool:
        """Whether viewer `viewer` starts a play after seeing `top_row` on top (deterministic
        per viewer: its own generator, so the draws do not depend on timing)."""
        p = self.base * (1 + self.lift) if top_row == self.boosted_row else self.base
        return random.Random(self.seed * 1_000_003 + viewer).random() < p

    @property
    def true_delta(self) -> float:
        """Plays per profile, treatment minus control."""
        return self.base * self.lift


@dataclass
class HomeSeen:
    viewer: int
    profile: str
    top_row: str
    played: bool
    trending_shown: bool = True
    """Whether the response had a TRENDING_NOW row at all (an overloaded or failing search
    omits it: then even the treatment cannot put it on top)."""


@dataclass
class SimulationCheck:
    """What the run did against what the experiments service recorded."""

    homes: int = 0
    assigned: int = 0
    """Profiles with an exposure record (the rest were in the holdout)."""
    records_per_assigned: dict[int, int] = field(default_factory=dict)
    """Exposure records per assigned profile -> how many profiles (want {1: assigned})."""
    wrong_top_row: list[str] = field(default_factory=list)
    """Profiles whose top row does not match their logged variant."""
    degraded: int = 0
    """Treatment profiles whose home had no trending row to put on top (an omitted row)."""
    plays_started: int = 0
    plays_recorded: int = 0

    @property
    def ok(self) -> bool:
        return (
            self.records_per_assigned == ({1: self.assigned} if self.assigned else {})
            and not self.wrong_top_row
            and self.plays_recorded == self.plays_started
        )


def _headers(admin: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in admin.items()}


async def start_experiment(
    gateway_url: str, admin: Mapping[str, str], *, salt: str = "loadgen"
) -> str:
    """Create and start the row-order experiment through the REST API; returns its name."""
    body = {
        "displayName": "load generator: trending first",
        "layer": "home-rows",
        "salt": salt,
        "primaryMetric": "METRIC_PLAYS_PER_PROFILE_DAY",
        "guardrailMetrics": ["METRIC_TTFF_MS", "METRIC_PLAY_ERROR_RATE"],
        "variants": [
            {"id": "control", "sharePercent": 50},
            {
                "id": TREATMENT,
                "sharePercent": 50,
                "parameters": {"row_order": TREATMENT_ORDER},
            },
        ],
    }
    name = f"experiments/{EXPERIMENT_ID}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        url = f"{gateway_url}/v1/experiments?experimentId={EXPERIMENT_ID}"
        async with http.post(url, json=body, headers=_headers(admin)) as resp:
            if resp.status != 200:
                raise RuntimeError(f"CreateExperiment: {resp.status} {await resp.text()}")
        await _set_state(http, gateway_url, admin, name, "EXPERIMENT_STATE_RUNNING")
    return name


async def stop_experiment(gateway_url: str, admin: Mapping[str, str], name: str) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        await _set_state(http, gateway_url, admin, name, "EXPERIMENT_STATE_STOPPED")


async def _set_state(
    http: aiohttp.ClientSession, gateway_url: str, admin: Mapping[str, str], name: str, state: str
) -> None:
    url = f"{gateway_url}/v1/{name}:updateState"
    async with http.post(url, json={"state": state}, headers=_headers(admin)) as resp:
        if resp.status != 200:
            raise RuntimeError(f"UpdateExperimentState: {resp.status} {await resp.text()}")


async def read_report(
    gateway_url: str, admin: Mapping[str, str], name: str, confidence: int = 99
) -> dict:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        url = f"{gateway_url}/v1/{name}/report?confidencePercent={confidence}"
        async with http.get(url, headers=_headers(admin)) as resp:
            body = await resp.json(content_type=None)
            if resp.status != 200:
                raise RuntimeError(f"GetExperimentReport: {resp.status} {body}")
            return dict(body)


def check_simulation(
    database_url: str,
    name: str,
    homes: Sequence[HomeSeen],
    *,
    timeout_s: float = 60.0,
) -> SimulationCheck:
    """Compare what the viewers did with the experiments schema (waiting until every play
    started has been consumed, at most `timeout_s`)."""
    experiment_id = name.removeprefix("experiments/")
    profiles = [h.profile for h in homes]
    check = SimulationCheck(homes=len(homes), plays_started=sum(h.played for h in homes))
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(database_url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT count(*) FROM experiments.plays WHERE profile = ANY(%s)", (profiles,)
            ).fetchone()
            check.plays_recorded = int(row[0]) if row else 0
            if check.plays_recorded >= check.plays_started or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        rows = conn.execute(
            "SELECT profile, variant, count(*) FROM experiments.exposure_log "
            "WHERE experiment = %s AND profile = ANY(%s) GROUP BY profile, variant",
            (experiment_id, profiles),
        ).fetchall()
    variant_of = {profile: variant for profile, variant, _ in rows}
    per_profile: dict[str, int] = {}
    for profile, _, n in rows:
        per_profile[profile] = per_profile.get(profile, 0) + int(n)
    check.assigned = len(per_profile)
    for n in per_profile.values():
        check.records_per_assigned[n] = check.records_per_assigned.get(n, 0) + 1
    for h in homes:
        boosted = variant_of.get(h.profile) == TREATMENT
        if boosted and not h.trending_shown:
            check.degraded += 1
        elif boosted != (h.top_row == "ROW_KIND_TRENDING_NOW"):
            check.wrong_top_row.append(h.profile)
    return check


def print_readout(report: dict, model: ViewerModel, check: SimulationCheck) -> None:
    print(
        f"\nexperiment {EXPERIMENT_ID} (home-rows): control vs {TREATMENT}; viewer model: a play "
        f"with p={model.base:.2f}, x{1 + model.lift:.2f} when the top row is "
        f"{model.boosted_row.removeprefix('ROW_KIND_')} (true delta {model.true_delta:+.3f} "
        "plays per profile)"
    )
    print(
        f"home responses {check.homes}: {check.assigned} assigned profiles, exposure records per "
        f"assigned profile {check.records_per_assigned} (want {{1: {check.assigned}}}), "
        f"{check.homes - check.assigned} without an assignment (the 5% holdout, or assignments "
        f"not answered within the gateway's deadline: default order, no exposure); top row not "
        f"matching the logged variant: {len(check.wrong_top_row)} (and {check.degraded} "
        f"treatment homes without a trending row to put on top); plays started "
        f"{check.plays_started}, recorded by experiments {check.plays_recorded}"
    )
    confidence = report.get("confidencePercent", 99)
    print(f"{'variant':<16}{'profiles':>9}{'mean':>9}{'delta':>9}   {confidence}% CI{'':<12}p")
    for variant in report.get("variants", []):
        primary = variant.get("primary", {})
        line = (
            f"{variant['variant']:<16}{int(variant.get('exposedProfiles', 0)):>9}"
            f"{float(primary.get('mean', 0.0)):>9.3f}"
        )
        if "deltaCiLow" in primary:
            line += (
                f"{float(primary.get('delta', 0.0)):>+9.3f}   [{float(primary['deltaCiLow']):+.3f}, "
                f"{float(primary['deltaCiHigh']):+.3f}]  {float(primary.get('pValue', 1.0)):.2g}"
            )
        print(line)
    treatment = next((v for v in report.get("variants", []) if v["variant"] == TREATMENT), None)
    if treatment is not None and "deltaCiLow" in treatment.get("primary", {}):
        p = treatment["primary"]
        covered = float(p["deltaCiLow"]) <= model.true_delta <= float(p["deltaCiHigh"])
        print(
            f"the interval {'covers' if covered else 'MISSES'} the true delta "
            f"{model.true_delta:+.3f}; sample-ratio mismatch: "
            f"{'YES' if report.get('sampleRatioMismatch') else 'no'}; summary: "
            f"{report.get('summary', '')}"
        )
    print(f"simulation checks: {'OK' if check.ok else 'FAILED'}")
