"""Experiments tables: experiments, QA overrides, the exposure log and its per-profile summary,
plays (from playback and QoE events) and the outbox.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _tz(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    # Tables spelled out here, not imported from schema.py (nor the outbox from the runtime), so
    # a later edit of a table cannot change what this migration did.
    op.create_table(
        "experiments",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
        sa.Column("display_name", sa.Text, nullable=False),
        sa.Column("layer", sa.Text, nullable=False),
        sa.Column("variants", JSONB, nullable=False),
        sa.Column("layer_share_percent", sa.Integer, nullable=False),
        sa.Column("traffic_percent", sa.Integer, nullable=False),
        sa.Column("region_codes", ARRAY(sa.Text), nullable=False),
        sa.Column("plans", ARRAY(sa.Text), nullable=False),
        sa.Column("profile_age", sa.SmallInteger, nullable=False),
        _tz("start_time", True),
        _tz("end_time", True),
        sa.Column("primary_metric", sa.SmallInteger, nullable=False),
        sa.Column("guardrail_metrics", ARRAY(sa.SmallInteger), nullable=False),
        sa.Column("state", sa.SmallInteger, nullable=False),
        sa.Column("salt", sa.Text, nullable=False),
        sa.Column("first_bucket", sa.Integer, nullable=False),
        sa.Column("bucket_count", sa.Integer, nullable=False),
        _tz("create_time"),
        _tz("update_time"),
    )
    op.create_table(
        "forced_variants",
        sa.Column("experiment", sa.Text, primary_key=True),
        sa.Column("profile", sa.Text, primary_key=True),
        sa.Column("variant", sa.Text, nullable=False),
    )
    op.create_table(
        "exposure_log",
        sa.Column("response_id", sa.Text, primary_key=True),
        sa.Column("experiment", sa.Text, primary_key=True),
        sa.Column("profile", sa.Text, nullable=False),
        sa.Column("variant", sa.Text, nullable=False),
        sa.Column("surface", sa.Text, nullable=False),
        sa.Column("forced", sa.Boolean, nullable=False),
        _tz("time"),
    )
    op.create_table(
        "exposures",
        sa.Column("experiment", sa.Text, primary_key=True),
        sa.Column("profile", sa.Text, primary_key=True),
        sa.Column("variant", sa.Text, nullable=False),
        sa.Column("forced", sa.Boolean, nullable=False),
        _tz("first_time"),
        _tz("last_time"),
        sa.Column("count", sa.Integer, nullable=False),
    )
    op.create_table(
        "plays",
        sa.Column("session", sa.Text, primary_key=True),
        sa.Column("profile", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        _tz("start_time", True),
        sa.Column("start_position_s", sa.Float, nullable=False, server_default="0"),
        sa.Column("watched_seconds", sa.Float, nullable=False, server_default="0"),
        sa.Column("ttff_ms", sa.Float),
        sa.Column("errored", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("plays_profile_start", "plays", ["profile", "start_time"])
    op.create_index("exposure_log_experiment", "exposure_log", ["experiment"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "outbox_pending", "outbox", ["seq"], postgresql_where=sa.text("published_at IS NULL")
    )


def downgrade() -> None:
    for table in ("outbox", "plays", "exposures", "exposure_log", "forced_variants", "experiments"):
        op.drop_table(table)
