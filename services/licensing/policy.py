"""Licence policies per plan, and which track classes a resolution cap allows.

A basic plan's licence never carries the HD or UHD key: keys are per track class (SD up to 720
lines, HD 721-1080, UHD above), and a class is delivered only when the plan's (and the
session's) height cap reaches into it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from vod.licensing.v1 import licensing_pb2 as pb

__all__ = [
    "DEFAULT_PLAN",
    "POLICIES",
    "LicensePolicy",
    "allowed",
    "min_height_of",
    "policy_for",
]


@dataclass(frozen=True)
class LicensePolicy:
    """How a plan's licences may be used."""

    plan: str
    license_duration_s: int
    """How long a delivered licence may be used (capped at the session's expiry)."""
    renewable: bool
    """Whether the player may ask again for the same keys during the session (renewal)."""
    persistent: bool
    """Whether persistent (offline) licences may be issued."""
    max_height: int
    """Highest video height whose keys the plan's licences may carry."""
    max_licenses_per_session: int = 32
    """Licences and HLS keys one session may obtain, renewals included."""


_HOURS = 3600

POLICIES: Mapping[str, LicensePolicy] = {
    "plans/basic": LicensePolicy("plans/basic", 4 * _HOURS, True, False, 720),
    "plans/standard": LicensePolicy("plans/standard", 4 * _HOURS, True, False, 1080),
    "plans/premium": LicensePolicy("plans/premium", 4 * _HOURS, True, False, 2160),
}
DEFAULT_PLAN = "plans/basic"


def policy_for(plan: str, *, max_licenses_per_session: int | None = None) -> LicensePolicy:
    """The policy of `plan` ("plans/standard"); unknown plans get basic's."""
    policy = POLICIES.get(plan) or POLICIES[DEFAULT_PLAN]
    if max_licenses_per_session is not None:
        policy = replace(policy, max_licenses_per_session=max_licenses_per_session)
    return policy


_MIN_HEIGHT = {
    pb.TRACK_TYPE_VIDEO_HD: 721,
    pb.TRACK_TYPE_VIDEO_UHD: 1081,
}


def min_height_of(track_type: int) -> int:
    """The lowest height cap that allows keys of `track_type`: 0 for SD, audio, generic video
    and ALL (every plan plays those), 721 for HD, 1081 for UHD."""
    return _MIN_HEIGHT.get(track_type, 0)


def allowed(track_type: int, max_height: int) -> bool:
    """Whether a licence capped at `max_height` lines may carry a key of `track_type`."""
    return max_height >= min_height_of(track_type)
