"""Maturity limits (accounts' MaturityLimit, in the `x-vod-maturity` claim of profile-scoped
tokens) against catalog ratings. Search's Trending/NewReleases take no profile and
recommendations rank by stored preferences, so the gateway checks every tile itself.
Playback has the same table (`services.playback.domain`); it belongs in `services/runtime` once
a third service needs it."""

from __future__ import annotations

from vod.accounts.v1 import accounts_pb2 as apb
from vod.catalog.v1 import catalog_pb2 as cpb

from services.runtime.identity import Caller

__all__ = ["allows", "allows_label", "limit_for", "rating_label"]

# The catalog's ratings by the lowest limit allowed to see them; anything else needs ALL.
_RATING_TIER: dict[int, int] = {
    cpb.MATURITY_RATING_TV_Y: apb.MATURITY_LIMIT_LITTLE_KIDS,
    cpb.MATURITY_RATING_TV_Y7: apb.MATURITY_LIMIT_LITTLE_KIDS,
    cpb.MATURITY_RATING_TV_Y7_FV: apb.MATURITY_LIMIT_LITTLE_KIDS,
    cpb.MATURITY_RATING_G: apb.MATURITY_LIMIT_LITTLE_KIDS,
    cpb.MATURITY_RATING_TV_G: apb.MATURITY_LIMIT_LITTLE_KIDS,
    cpb.MATURITY_RATING_PG: apb.MATURITY_LIMIT_OLDER_KIDS,
    cpb.MATURITY_RATING_TV_PG: apb.MATURITY_LIMIT_OLDER_KIDS,
    cpb.MATURITY_RATING_PG_13: apb.MATURITY_LIMIT_TEENS,
    cpb.MATURITY_RATING_TV_14: apb.MATURITY_LIMIT_TEENS,
}


def rating_label(rating: int) -> str:
    """MATURITY_RATING_PG_13 -> "PG-13", NOT_RATED -> "NR", unset -> "" (search's labels)."""
    if rating == cpb.MATURITY_RATING_UNSPECIFIED:
        return ""
    if rating == cpb.MATURITY_RATING_NOT_RATED:
        return "NR"
    return cpb.MaturityRating.Name(rating).removeprefix("MATURITY_RATING_").replace("_", "-")


_BY_LABEL: dict[str, int] = {
    rating_label(value): value for value in cpb.MaturityRating.values() if value
}


def limit_for(caller: Caller, profile: str) -> int:
    """The MaturityLimit to apply to `profile`'s home. A token scoped to that profile carries
    it (no claim = ALL); any other caller (a user-scoped token, an admin) gets the most
    restrictive limit, failing closed, since only accounts knows the profile's setting."""
    if caller.profile != profile:
        return apb.MATURITY_LIMIT_LITTLE_KIDS
    if not caller.maturity:
        return apb.MATURITY_LIMIT_ALL
    try:
        return int(apb.MaturityLimit.Value(caller.maturity)) or apb.MATURITY_LIMIT_ALL
    except ValueError:
        return apb.MATURITY_LIMIT_LITTLE_KIDS


def allows(limit: int, rating: int) -> bool:
    """Whether a profile with MaturityLimit `limit` may see a title rated `rating` (unrated and
    adult titles need ALL)."""
    return _RATING_TIER.get(rating, apb.MATURITY_LIMIT_ALL) <= (limit or apb.MATURITY_LIMIT_ALL)


def allows_label(limit: int, label: str) -> bool:
    """`allows` for a rating known only by its label ("TV-14"); an unknown label needs ALL."""
    return allows(limit, _BY_LABEL.get(label, cpb.MATURITY_RATING_UNSPECIFIED))
