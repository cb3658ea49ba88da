"""Experiments' tables (schema `experiments`). Only this service reads or writes them.

`exposure_log` holds one row per (response, experiment): the completeness check counts it.
`exposures` is its per-profile summary (first exposure, variant) the analysis starts from.
`plays` is what the analysis measures, kept from playback and QoE events.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from services.runtime.outbox import outbox_table

__all__ = [
    "experiments",
    "exposure_log",
    "exposures",
    "forced_variants",
    "metadata",
    "outbox",
    "plays",
]

metadata = sa.MetaData()

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
    sa.Column("display_name", sa.Text, nullable=False),
    sa.Column("layer", sa.Text, nullable=False),
    sa.Column("variants", JSONB, nullable=False),  # [{"id", "share_percent", "parameters"}]
    sa.Column("layer_share_percent", sa.Integer, nullable=False),
    sa.Column("traffic_percent", sa.Integer, nullable=False),
    sa.Column("region_codes", ARRAY(sa.Text), nullable=False),
    sa.Column("plans", ARRAY(sa.Text), nullable=False),
    sa.Column("profile_age", sa.SmallInteger, nullable=False),
    sa.Column("start_time", sa.DateTime(timezone=True)),
    sa.Column("end_time", sa.DateTime(timezone=True)),
    sa.Column("primary_metric", sa.SmallInteger, nullable=False),
    sa.Column("guardrail_metrics", ARRAY(sa.SmallInteger), nullable=False),
    sa.Column("state", sa.SmallInteger, nullable=False),
    sa.Column("salt", sa.Text, nullable=False),
    sa.Column("first_bucket", sa.Integer, nullable=False),
    sa.Column("bucket_count", sa.Integer, nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
)

forced_variants = sa.Table(
    "forced_variants",
    metadata,
    sa.Column("experiment", sa.Text, primary_key=True),
    sa.Column("profile", sa.Text, primary_key=True),
    sa.Column("variant", sa.Text, nullable=False),
)

exposure_log = sa.Table(
    "exposure_log",
    metadata,
    sa.Column("response_id", sa.Text, primary_key=True),
    sa.Column("experiment", sa.Text, primary_key=True),
    sa.Column("profile", sa.Text, nullable=False),
    sa.Column("variant", sa.Text, nullable=False),
    sa.Column("surface", sa.Text, nullable=False),
    sa.Column("forced", sa.Boolean, nullable=False),
    sa.Column("time", sa.DateTime(timezone=True), nullable=False),
)

exposures = sa.Table(
    "exposures",
    metadata,
    sa.Column("experiment", sa.Text, primary_key=True),
    sa.Column("profile", sa.Text, primary_key=True),
    sa.Column("variant", sa.Text, nullable=False),
    sa.Column("forced", sa.Boolean, nullable=False),
    sa.Column("first_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
)

plays = sa.Table(
    "plays",
    metadata,
    sa.Column("session", sa.Text, primary_key=True),
    sa.Column("profile", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("start_time", sa.DateTime(timezone=True)),
    sa.Column("start_position_s", sa.Float, nullable=False, server_default="0"),
    sa.Column("watched_seconds", sa.Float, nullable=False, server_default="0"),
    sa.Column("ttff_ms", sa.Float),
    sa.Column("errored", sa.Boolean, nullable=False, server_default=sa.false()),
)

outbox = outbox_table(metadata)

# Indexes for the read-out's queries (migration 0001 creates them).
sa.Index("plays_profile_start", plays.c.profile, plays.c.start_time)
sa.Index("exposure_log_experiment", exposure_log.c.experiment)
