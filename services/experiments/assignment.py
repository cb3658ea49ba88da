"""Deterministic, sticky assignment of profiles to experiment variants.

Every decision is a salted SHA-256 of the profile name, so it needs no storage and is the same on
every device and every replica:

- A *layer* (a surface such as "home-rows") divides profiles into 10,000 buckets by
  hash(layer, profile). The first `holdout_buckets` are the layer's holdout (no experiment ever
  sees them); each experiment owns a disjoint slice [first_bucket, first_bucket + bucket_count),
  so two experiments on one layer never share a profile.
- Inside its slice, an experiment admits profiles whose hash(salt, "ramp", profile) % 100 is below
  its traffic percent (ramping up only adds profiles: nobody changes variant), and picks the
  variant by hash(salt, "variant", profile) against the cumulative shares.
- A QA override (forced variant) wins over the hash and is excluded from the analysis.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = [
    "BUCKETS",
    "NEW_PROFILE_AGE",
    "Allocation",
    "Arm",
    "Candidate",
    "Choice",
    "allocate",
    "assign",
    "bucket",
]

BUCKETS = 10_000
NEW_PROFILE_AGE = timedelta(days=7)


def bucket(*parts: str, modulo: int = BUCKETS) -> int:
    """A stable number in [0, modulo) from the parts (SHA-256, not Python's salted hash)."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") % modulo


@dataclass(frozen=True)
class Arm:
    id: str
    share_percent: int
    parameters: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Candidate:
    """A running experiment as assignment sees it."""

    name: str
    layer: str
    salt: str
    first_bucket: int
    bucket_count: int
    traffic_percent: int
    arms: Sequence[Arm]
    region_codes: frozenset[str] = frozenset()
    plans: frozenset[str] = frozenset()
    profile_age: str = "all"  # "all" | "new" | "existing"
    start_time: datetime | None = None
    end_time: datetime | None = None

    def eligible(self, region: str, plan: str, created: datetime | None, now: datetime) -> bool:
        if self.start_time is not None and now < self.start_time:
            return False
        if self.end_time is not None and now >= self.end_time:
            return False
        if self.region_codes and region not in self.region_codes:
            return False
        if self.plans and plan not in self.plans:
            return False
        if self.profile_age != "all":
            is_new = created is not None and now - created < NEW_PROFILE_AGE
            if (self.profile_age == "new") != is_new:
                return False
        return True


@dataclass(frozen=True)
class Choice:
    experiment: str
    layer: str
    arm: Arm
    forced: bool = False


def _arm_for(candidate: Candidate, profile: str) -> Arm:
    point = bucket(candidate.salt, "variant", profile, modulo=100 * 100)
    edge = 0
    for arm in candidate.arms:
        edge += arm.share_percent * 100
        if point < edge:
            return arm
    return candidate.arms[-1]


def assign(
    profile: str,
    candidates: Iterable[Candidate],
    *,
    region: str,
    plan: str,
    created: datetime | None,
    now: datetime,
    forced: Mapping[tuple[str, str], str] | None = None,
) -> list[Choice]:
    """The variants `profile` is in: at most one experiment per layer."""
    forced = forced or {}
    choices: list[Choice] = []
    for candidate in candidates:
        override = forced.get((candidate.name, profile))
        if override:
            arm = next((a for a in candidate.arms if a.id == override), None)
            if arm is not None:
                choices.append(Choice(candidate.name, candidate.layer, arm, forced=True))
                continue
        if not candidate.eligible(region, plan, created, now):
            continue
        slot = bucket("layer", candidate.layer, profile)
        if not candidate.first_bucket <= slot < candidate.first_bucket + candidate.bucket_count:
            continue
        traffic = candidate.traffic_percent or 100
        if bucket(candidate.salt, "ramp", profile, modulo=100) >= traffic:
            continue
        choices.append(Choice(candidate.name, candidate.layer, _arm_for(candidate, profile)))
    # Forced choices can collide with a hashed one on the same layer: the forced one wins.
    by_layer: dict[str, Choice] = {}
    for choice in choices:
        if choice.layer not in by_layer or choice.forced:
            by_layer[choice.layer] = choice
    return list(by_layer.values())


@dataclass(frozen=True)
class Allocation:
    first_bucket: int
    bucket_count: int


def allocate(
    taken: Iterable[tuple[int, int]], share_percent: int, *, holdout_buckets: int
) -> Allocation | None:
    """The first free run of buckets for `share_percent` of the layer, after the holdout and the
    slices `taken` (first, count) by live experiments; None when it does not fit."""
    need = share_percent * BUCKETS // 100
    need = min(need, BUCKETS - holdout_buckets)
    if need <= 0:
        return None
    cursor = holdout_buckets
    for first, count in sorted(taken):
        if first - cursor >= need:
            return Allocation(cursor, need)
        cursor = max(cursor, first + count)
    if BUCKETS - cursor >= need:
        return Allocation(cursor, need)
    return None
