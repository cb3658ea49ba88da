"""Playback tables: sessions, resume points, and the event outbox.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _tz(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    # Tables spelled out here, not imported from schema.py (nor the outbox from the runtime), so
    # a later edit of a table cannot change what this migration did.
    # `sessions.plan` is 0002's.
    op.create_table(
        "sessions",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("profile", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("media", sa.Text, nullable=False),
        sa.Column("device_type", sa.SmallInteger, nullable=False),
        sa.Column("device_id", sa.Text, nullable=False),
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("protocol", sa.SmallInteger, nullable=False),
        sa.Column("max_height", sa.Integer, nullable=False),
        sa.Column("video_tracks", ARRAY(sa.Text), nullable=False),
        sa.Column("encrypted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("start_position_s", sa.Float, nullable=False),
        sa.Column("position_s", sa.Float, nullable=False),
        sa.Column("watch_time_s", sa.Float, nullable=False, server_default="0"),
        sa.Column("playing", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("state", sa.SmallInteger, nullable=False),
        _tz("start_time"),
        _tz("heartbeat_time"),
        _tz("expire_time"),
        sa.Column("token_expires", sa.BigInteger, nullable=False),
        _tz("end_time", True),
    )
    op.create_table(
        "resume_points",
        sa.Column("profile", sa.Text, primary_key=True),
        sa.Column("title", sa.Text, primary_key=True),
        sa.Column("position_s", sa.Float, nullable=False),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("completed", sa.Boolean, nullable=False),
        _tz("update_time"),
    )
    # Live sessions of a user (the stream-limit count) and the sweeper's scan of expired leases.
    op.create_index(
        "sessions_user_active",
        "sessions",
        ["user_id", "expire_time"],
        postgresql_where=sa.text("state = 1"),
    )
    op.create_index(
        "sessions_active_expiry", "sessions", ["expire_time"], postgresql_where=sa.text("state = 1")
    )
    # Continue watching: a profile's unfinished titles, most recent first.
    op.create_index(
        "resume_points_recent",
        "resume_points",
        ["profile", sa.text("update_time DESC"), "title"],
        postgresql_where=sa.text("NOT completed"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        _tz("created_at"),
        _tz("published_at", True),
    )
    op.create_index(
        "outbox_pending", "outbox", ["seq"], postgresql_where=sa.text("published_at IS NULL")
    )


def downgrade() -> None:
    for name in ("outbox", "resume_points", "sessions"):
        op.drop_table(name)
