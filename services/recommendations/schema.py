"""Tables of the `recommendations` schema (SQLAlchemy Core)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from services.runtime.outbox import outbox_table

__all__ = ["interactions", "items", "metadata", "models", "outbox", "profiles"]

metadata = sa.MetaData()

# The durable interaction log: one row per event, idempotent on the event id.
interactions = sa.Table(
    "interactions",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("profile", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("kind", sa.SmallInteger, nullable=False),
    sa.Column("weight", sa.Float, nullable=False),
    sa.Column("watched_fraction", sa.Float, nullable=False, server_default="0"),
    sa.Column("region_code", sa.Text, nullable=False, server_default=""),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("throttled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("occur_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column(
        "recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
)

# Catalog titles as last seen in vod.catalog.* events (the serialized vod.catalog.v1.Title).
items = sa.Table(
    "items",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("title", sa.LargeBinary, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

profiles = sa.Table(
    "profiles",
    metadata,
    sa.Column("profile", sa.Text, primary_key=True),
    sa.Column("genres", pg.ARRAY(sa.Text), nullable=False),
    sa.Column("max_maturity_rating", sa.SmallInteger, nullable=False, server_default="0"),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# Trained models, newest wins; the artifact is the npz of `model.ModelArtifact.to_bytes`.
models = sa.Table(
    "models",
    metadata,
    sa.Column("version", sa.Text, primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("artifact", sa.LargeBinary, nullable=False),
    sa.Column("stats", pg.JSONB, nullable=False),
    sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
)

# A profile's recent history and the training window (migration 0001 creates them).
sa.Index("interactions_profile_time", interactions.c.profile, interactions.c.occur_time)
sa.Index("interactions_time", interactions.c.occur_time)

outbox = outbox_table(metadata)
