"""Prometheus series of viewer QoE, the names mesh/observability/rules/recording.yml reads:
`vod_qoe_ttff_seconds` (histogram), `vod_qoe_plays_total`, `vod_qoe_errors_total`,
`vod_qoe_played_seconds_total`, `vod_qoe_rebuffer_seconds_total`, `vod_qoe_downswitches_total`,
each by title, region, edge and rendition. Updated by the aggregator after a batch committed,
so a redelivered batch is not counted twice here either."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

from gateway.qoe.aggregation import BatchDelta

__all__ = ["QoeMetrics"]

_LABELS = ["title", "region", "edge", "rendition"]
_TTFF_BUCKETS = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 8.0, 12.0, 20.0, 30.0, 60.0)


@dataclass
class QoeMetrics:
    ttff: Histogram
    plays: Counter
    errors: Counter
    played: Counter
    rebuffer: Counter
    downswitches: Counter
    batches: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> QoeMetrics:
        def counter(name: str, doc: str) -> Counter:
            return Counter(name, doc, _LABELS, registry=registry)

        return cls(
            ttff=Histogram(
                "vod_qoe_ttff_seconds",
                "Time to first frame of plays.",
                _LABELS,
                buckets=_TTFF_BUCKETS,
                registry=registry,
            ),
            plays=counter("vod_qoe_plays_total", "Sessions that showed a first frame or erred."),
            errors=counter("vod_qoe_errors_total", "Sessions with a playback error."),
            played=counter("vod_qoe_played_seconds_total", "Seconds played."),
            rebuffer=counter("vod_qoe_rebuffer_seconds_total", "Seconds stalled (rebuffering)."),
            downswitches=counter("vod_qoe_downswitches_total", "Downward bitrate switches."),
            batches=Counter(
                "vod_qoe_batches_total",
                "QoE batches by outcome (recorded, duplicate, applied, redelivered).",
                ["outcome"],
                registry=registry,
            ),
        )

    def observe(self, delta: BatchDelta) -> None:
        for key, c in delta.counters.items():
            labels = (key.title, key.region, key.edge, key.rendition)
            if c.plays:
                self.plays.labels(*labels).inc(c.plays)
            if c.errors:
                self.errors.labels(*labels).inc(c.errors)
            if c.played_ms:
                self.played.labels(*labels).inc(c.played_ms / 1000)
            if c.rebuffer_ms:
                self.rebuffer.labels(*labels).inc(c.rebuffer_ms / 1000)
            if c.downswitches:
                self.downswitches.labels(*labels).inc(c.downswitches)
        for key, value_ms in delta.ttff_ms:
            self.ttff.labels(key.title, key.region, key.edge, key.rendition).observe(
                value_ms / 1000
            )
