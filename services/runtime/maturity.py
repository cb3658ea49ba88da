"""Profile maturity limits (accounts' `MaturityLimit`, carried in the `x-vod-maturity` claim of
profile-scoped tokens) against the catalog's maturity ratings: one table for every service that
decides what a profile may see (playback refuses to start, the home feed leaves tiles out)."""

from __future__ import annotations

from vod.accounts.v1 import accounts_pb2 as apb
from vod.catalog.v1 import catalog_pb2 as cpb

__all__ = ["RATING_TIER", "maturity_allows", "parse_maturity"]

RATING_TIER: dict[int, int] = {
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
"""The catalog's ratings by the lowest limit allowed to see them; anything else (R, TV-MA,
NC-17, not rated) needs ALL."""


def maturity_allows(limit: int, rating: int) -> bool:
    """Whether a profile with MaturityLimit `limit` may see a title rated `rating`. Unrated and
    adult titles need ALL; an unset limit means ALL."""
    effective = limit or apb.MATURITY_LIMIT_ALL
    return RATING_TIER.get(rating, apb.MATURITY_LIMIT_ALL) <= effective


def parse_maturity(name: str) -> int:
    """A MaturityLimit from its enum name (the `x-vod-maturity` header); empty = ALL; anything
    unrecognised is the most restrictive limit (fail closed)."""
    if not name:
        return apb.MATURITY_LIMIT_ALL
    try:
        return int(apb.MaturityLimit.Value(name)) or apb.MATURITY_LIMIT_ALL
    except ValueError:
        return apb.MATURITY_LIMIT_LITTLE_KIDS
