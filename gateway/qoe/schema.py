"""QoE tables (schema `qoe`). Only this service reads or writes them.

`batches`: every batch the RPC accepted, the idempotency key of `RecordQoeEvents`.
`applied`: every batch the aggregator folded in, so a redelivered event is not counted twice.
`sessions`: per session, what later batches need (play/error counted, rendition, bitrate).
`minute_counters` / `minute_ttff`: the aggregates, per minute and title/region/edge/rendition;
TTFF as counts per fixed histogram bucket (`aggregation.TTFF_BOUNDS_MS`), never the samples.
"""

from __future__ import annotations

import sqlalchemy as sa

from services.runtime.outbox import outbox_table

__all__ = [
    "COUNTER_COLUMNS",
    "applied",
    "batches",
    "metadata",
    "minute_counters",
    "minute_ttff",
    "outbox",
    "sessions",
]

metadata = sa.MetaData()

COUNTER_COLUMNS = (
    "plays",
    "errors",
    "played_ms",
    "rebuffer_ms",
    "stalls",
    "downswitches",
    "upswitches",
    "dropped_frames",
    "bitrate_sum",
    "bitrate_samples",
)


def _key() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("minute", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("title", sa.Text, primary_key=True),
        sa.Column("region", sa.Text, primary_key=True),
        sa.Column("edge", sa.Text, primary_key=True),
        sa.Column("rendition", sa.Text, primary_key=True),
    ]


batches = sa.Table(
    "batches",
    metadata,
    sa.Column("session", sa.Text, primary_key=True),
    sa.Column("batch_id", sa.Text, primary_key=True),
    sa.Column("profile", sa.Text, nullable=False),
    sa.Column("events", sa.Integer, nullable=False),
    sa.Column("record_time", sa.DateTime(timezone=True), nullable=False),
)

applied = sa.Table(
    "applied",
    metadata,
    sa.Column("session", sa.Text, primary_key=True),
    sa.Column("batch_id", sa.Text, primary_key=True),
    sa.Column("apply_time", sa.DateTime(timezone=True), nullable=False),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("session", sa.Text, primary_key=True),
    sa.Column("played", sa.Boolean, nullable=False),
    sa.Column("errored", sa.Boolean, nullable=False),
    sa.Column("rendition", sa.Text, nullable=False),
    sa.Column("bitrate_bps", sa.BigInteger, nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
)

minute_counters = sa.Table(
    "minute_counters",
    metadata,
    *_key(),
    *(sa.Column(name, sa.BigInteger, nullable=False) for name in COUNTER_COLUMNS),
)

minute_ttff = sa.Table(
    "minute_ttff",
    metadata,
    *_key(),
    sa.Column("bucket", sa.SmallInteger, primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
)

outbox = outbox_table(metadata)

# A title's minutes for its report (migration 0001 creates it).
sa.Index("minute_counters_title", minute_counters.c.title, minute_counters.c.minute)
