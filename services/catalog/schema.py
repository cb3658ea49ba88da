"""The catalog's tables (schema `catalog`). Only this service reads or writes them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from services.runtime.outbox import outbox_table

__all__ = ["availability", "credits", "metadata", "outbox", "people", "titles"]

metadata = sa.MetaData()

titles = sa.Table(
    "titles",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("type", sa.SmallInteger, nullable=False),
    sa.Column("display_name", sa.Text, nullable=False),
    sa.Column("sort_name", sa.Text, nullable=False),
    sa.Column("parent_id", sa.Text, sa.ForeignKey("titles.id", ondelete="CASCADE"), index=True),
    sa.Column("number", sa.Integer, nullable=False, server_default="0"),
    sa.Column("synopsis", sa.Text, nullable=False, server_default=""),
    sa.Column("release_year", sa.Integer, nullable=False, server_default="0"),
    sa.Column("duration_seconds", sa.Integer, nullable=False, server_default="0"),
    sa.Column("maturity_rating", sa.SmallInteger, nullable=False, server_default="0"),
    sa.Column("genres", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("genre_keys", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("countries", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("artwork", JSONB, nullable=False, server_default="[]"),
    sa.Column("external_id", sa.Text, unique=True),
    sa.Column("media", JSONB, nullable=False, server_default="{}"),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
)

people = sa.Table(
    "people",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("name_key", sa.Text, nullable=False, unique=True),
)

credits = sa.Table(
    "credits",
    metadata,
    sa.Column(
        "title_id", sa.Text, sa.ForeignKey("titles.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("person_id", sa.BigInteger, sa.ForeignKey("people.id"), nullable=False, index=True),
    sa.Column("role", sa.SmallInteger, nullable=False),
    sa.Column("character", sa.Text, nullable=False, server_default=""),
)

availability = sa.Table(
    "availability",
    metadata,
    sa.Column(
        "title_id", sa.Text, sa.ForeignKey("titles.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("region_code", sa.String(2), nullable=False),
    sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("end_time", sa.DateTime(timezone=True)),
    sa.Index("availability_region", "region_code", "title_id"),
)

outbox = outbox_table(metadata)

# Indexes for the list orders and filters (migration 0001 creates them).
sa.Index("titles_sort", titles.c.sort_name, titles.c.id)
sa.Index("titles_year", titles.c.release_year, titles.c.id)
sa.Index("titles_created", titles.c.create_time, titles.c.id)
sa.Index("titles_genre_keys", titles.c.genre_keys, postgresql_using="gin")
