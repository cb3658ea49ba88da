"""The gateway's own metrics, on the service's registry (beside the per-RPC metrics of the
runtime interceptor): breaker state per dependency, dependency calls by result, home rows by
outcome, experiment assignments by source and exposure calls by result."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge

from gateway.home.breaker import BreakerState

__all__ = ["HomeMetrics"]


@dataclass
class HomeMetrics:
    breaker_state: Gauge
    dependency_calls: Counter
    rows: Counter
    assignments: Counter
    exposures: Counter
    invalidations: Counter
    title_cache_lookups: Counter
    title_cache_invalidations: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> HomeMetrics:
        return cls(
            breaker_state=Gauge(
                "gateway_breaker_state",
                "Circuit breaker state per dependency: 0 closed, 1 half-open, 2 open.",
                ["dependency"],
                registry=registry,
            ),
            dependency_calls=Counter(
                "gateway_dependency_calls_total",
                "Calls to dependencies by result: ok, error (the dependency answered with an "
                "error), unavailable, deadline_exceeded, rejected (circuit open, not sent).",
                ["dependency", "method", "result"],
                registry=registry,
            ),
            rows=Counter(
                "gateway_home_rows_total",
                "Home rows by outcome (served, degraded, omitted) and reason of omission.",
                ["row", "outcome", "reason"],
                registry=registry,
            ),
            assignments=Counter(
                "gateway_experiment_assignments_total",
                "Experiment assignments of home requests by source: cache (or a call in flight "
                "for the same profile), fetched (one GetAssignments), failed (none: default "
                "home).",
                ["source"],
                registry=registry,
            ),
            exposures=Counter(
                "gateway_experiment_exposures_total",
                "RecordExposures calls after home responses by result: recorded, failed, "
                "rejected (circuit open, not sent).",
                ["result"],
                registry=registry,
            ),
            invalidations=Counter(
                "gateway_experiment_cache_invalidations_total",
                "Assignment cache drops on vod.experiments.changed events, by scope: profile "
                "(a QA override) or all (created, started, stopped, ramped; reconnected).",
                ["scope"],
                registry=registry,
            ),
            title_cache_lookups=Counter(
                "gateway_title_cache_lookups_total",
                "Titles the home looked up in its title cache, by result: hit, miss (asked of "
                "the catalog).",
                ["result"],
                registry=registry,
            ),
            title_cache_invalidations=Counter(
                "gateway_title_cache_invalidations_total",
                "Title cache drops by reason: updated, removed (catalog events), reconnect or "
                "undecodable (everything dropped).",
                ["reason"],
                registry=registry,
            ),
        )

    def on_breaker_change(self, dependency: str, state: BreakerState) -> None:
        self.breaker_state.labels(dependency).set(int(state))
