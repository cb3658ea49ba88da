"""Assignment: deterministic, sticky, split by the configured shares, exclusive within a layer,
a holdout nobody experiments on, ramps that only add profiles, targeting and QA overrides."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from services.experiments.assignment import (
    BUCKETS,
    Allocation,
    Arm,
    Candidate,
    allocate,
    assign,
    bucket,
)

NOW = datetime(2026, 11, 28, tzinfo=UTC)
PROFILES = [f"users/u{i}/profiles/main" for i in range(20_000)]
ARMS = (Arm("control", 50), Arm("trending-first", 50, {"row_order": "TRENDING_NOW"}))


def experiment(name: str, first: int, count: int, **kw: object) -> Candidate:
    values: dict[str, object] = {
        "name": f"experiments/{name}",
        "layer": "home-rows",
        "salt": f"salt-{name}",
        "first_bucket": first,
        "bucket_count": count,
        "traffic_percent": 100,
        "arms": ARMS,
    }
    values.update(kw)
    return Candidate(**values)  # type: ignore[arg-type]


def variants(candidates: list[Candidate], **kw: object) -> dict[str, str]:
    out = {}
    for p in PROFILES:
        choices = assign(
            p, candidates, region="US", plan="plans/basic", created=None, now=NOW, **kw
        )  # type: ignore[arg-type]
        if choices:
            assert len(choices) == 1
            out[p] = f"{choices[0].experiment}:{choices[0].arm.id}"
    return out


def test_assignment_is_deterministic_and_follows_the_shares() -> None:
    whole = experiment("a", 500, BUCKETS - 500)
    first = variants([whole])
    assert first == variants([whole])  # same profile, same variant, every call (every device)
    counts = Counter(v.split(":")[1] for v in first.values())
    eligible = sum(1 for p in PROFILES if bucket("layer", "home-rows", p) >= 500)
    assert sum(counts.values()) == eligible
    # 50/50 within 4 standard deviations of a binomial over ~19k profiles (sd ~ 69).
    assert abs(counts["control"] - counts["trending-first"]) < 4 * 2 * 69


def test_experiments_on_one_layer_never_share_a_profile_and_the_holdout_sees_none() -> None:
    a, b = experiment("a", 500, 4000), experiment("b", 4500, 5500)
    both = variants([a, b])
    holdout = {p for p in PROFILES if bucket("layer", "home-rows", p) < 500}
    assert holdout and not holdout & both.keys()
    assert len(both) == len(PROFILES) - len(holdout)
    in_a = {p for p, v in both.items() if v.startswith("experiments/a:")}
    assert 0.38 < len(in_a) / len(PROFILES) < 0.42  # 4000 of 10000 buckets


def test_ramping_up_only_adds_profiles() -> None:
    ten = variants([experiment("a", 500, 9500, traffic_percent=10)])
    fifty = variants([experiment("a", 500, 9500, traffic_percent=50)])
    assert set(ten) < set(fifty)
    assert all(fifty[p] == v for p, v in ten.items())
    assert 0.08 < len(ten) / len(PROFILES) < 0.11


def test_targeting_by_region_plan_age_and_window() -> None:
    target = experiment(
        "t",
        0,
        BUCKETS,
        region_codes=frozenset({"GB"}),
        plans=frozenset({"plans/premium"}),
        profile_age="new",
        start_time=NOW - timedelta(days=1),
        end_time=NOW + timedelta(days=1),
    )
    p = PROFILES[0]

    def chosen(region: str, plan: str, created: datetime | None, now: datetime = NOW) -> bool:
        return bool(assign(p, [target], region=region, plan=plan, created=created, now=now))

    recent = NOW - timedelta(days=2)
    assert chosen("GB", "plans/premium", recent)
    assert not chosen("US", "plans/premium", recent)
    assert not chosen("GB", "plans/basic", recent)
    assert not chosen("GB", "plans/premium", NOW - timedelta(days=30))
    assert not chosen("GB", "plans/premium", None)  # unknown age counts as existing
    assert not chosen("GB", "plans/premium", recent, NOW + timedelta(days=2))


def test_a_forced_variant_wins_and_is_marked() -> None:
    a = experiment("a", 500, 9500)
    holdout_profile = next(p for p in PROFILES if bucket("layer", "home-rows", p) < 500)
    forced = {("experiments/a", holdout_profile): "trending-first"}
    [choice] = assign(
        holdout_profile, [a], region="US", plan="", created=None, now=NOW, forced=forced
    )
    assert (choice.arm.id, choice.forced) == ("trending-first", True)


def test_allocation_finds_free_buckets_after_the_holdout() -> None:
    assert allocate([], 40, holdout_buckets=500) == Allocation(500, 4000)
    assert allocate([(500, 4000)], 50, holdout_buckets=500) == Allocation(4500, 5000)
    assert allocate([(500, 4000), (4500, 5000)], 10, holdout_buckets=500) is None
    assert allocate([(4500, 5000)], 40, holdout_buckets=500) == Allocation(500, 4000)
    assert allocate([], 100, holdout_buckets=500) == Allocation(500, 9500)
