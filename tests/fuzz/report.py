"""The per-route summary both fuzzers print (calls and answers per route, time spent) and the
failures they found, keyed by route."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def report(
    what: str,
    outcomes: Mapping[str, Any],
    elapsed_s: float,
    answers: Callable[[Any], Mapping[Any, int]],
) -> dict[str, list[str]]:
    """Print one line per route and the failures; return the failures by route."""
    for key, outcome in sorted(outcomes.items()):
        counts = answers(outcome)
        shown = " ".join(f"{c}x{n}" for c, n in sorted(counts.items()))
        print(f"{key}: calls={sum(counts.values())} {shown} ({outcome.seconds:.1f} s)")
    print(f"{what}: {len(outcomes)} routes in {elapsed_s:.1f} s")
    failures = {key: o.failures for key, o in outcomes.items() if o.failures}
    for key, found in failures.items():
        print(f"FAILED {key}:\n" + "\n".join(found))
    return failures
