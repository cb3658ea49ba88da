"""Playback tables: sessions, resume points, and the event outbox.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from services.playback.schema import resume_points, sessions
from services.runtime.outbox import create_outbox_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    for table in (sessions, resume_points):
        table.create(bind)
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
    create_outbox_table()


def downgrade() -> None:
    for name in ("outbox", "resume_points", "sessions"):
        op.drop_table(name)
