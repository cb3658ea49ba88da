"""Maturity limits (accounts' MaturityLimit, in the `x-vod-maturity` claim of profile-scoped
tokens) against catalog ratings. Search's Trending/NewReleases take no profile and
recommendations rank by stored preferences, so the gateway checks every tile itself.
The table itself is shared: `services.runtime.maturity`."""

from __future__ import annotations

from vod.accounts.v1 import accounts_pb2 as apb
from vod.catalog.v1 import catalog_pb2 as cpb

from services.runtime.identity import Caller
from services.runtime.maturity import maturity_allows

__all__ = ["allows", "allows_label", "limit_for", "rating_label"]


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
    return maturity_allows(limit, rating)


def allows_label(limit: int, label: str) -> bool:
    """`allows` for a rating known only by its label ("TV-14"); an unknown label needs ALL."""
    return allows(limit, _BY_LABEL.get(label, cpb.MATURITY_RATING_UNSPECIFIED))
