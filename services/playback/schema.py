"""Playback's tables (schema `playback`). Only this service reads or writes them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from services.runtime.outbox import outbox_table

__all__ = ["metadata", "outbox", "resume_points", "sessions"]

metadata = sa.MetaData()

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("user_id", sa.Text, nullable=False),  # "users/ada"
    sa.Column("profile", sa.Text, nullable=False),  # "users/ada/profiles/main"
    sa.Column("title", sa.Text, nullable=False),  # "titles/x"
    sa.Column("media", sa.Text, nullable=False),  # "media/x"
    sa.Column("device_type", sa.SmallInteger, nullable=False),
    sa.Column("device_id", sa.Text, nullable=False),
    sa.Column("region", sa.Text, nullable=False),
    sa.Column("protocol", sa.SmallInteger, nullable=False),
    sa.Column("max_height", sa.Integer, nullable=False),
    sa.Column("video_tracks", ARRAY(sa.Text), nullable=False),  # rendition ids allowed
    sa.Column("encrypted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("duration_s", sa.Float, nullable=False),
    sa.Column("start_position_s", sa.Float, nullable=False),
    sa.Column("position_s", sa.Float, nullable=False),
    sa.Column("watch_time_s", sa.Float, nullable=False, server_default="0"),
    sa.Column("playing", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("state", sa.SmallInteger, nullable=False),  # SessionState
    sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("heartbeat_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expire_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("token_expires", sa.BigInteger, nullable=False),  # unix seconds
    sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
    # The plan the session was started under, "plans/standard" (0002; last on every database).
    sa.Column("plan", sa.Text, nullable=False, server_default=""),
)

resume_points = sa.Table(
    "resume_points",
    metadata,
    sa.Column("profile", sa.Text, primary_key=True),
    sa.Column("title", sa.Text, primary_key=True),
    sa.Column("position_s", sa.Float, nullable=False),
    sa.Column("duration_s", sa.Float, nullable=False),
    sa.Column("completed", sa.Boolean, nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
)

outbox = outbox_table(metadata)

# Active sessions per user (stream limits) and by expiry (the sweeper); continue watching: a
# profile's unfinished titles, most recent first (migration 0001 creates them).
sa.Index(
    "sessions_user_active",
    sessions.c.user_id,
    sessions.c.expire_time,
    postgresql_where=sa.text("state = 1"),
)
sa.Index("sessions_active_expiry", sessions.c.expire_time, postgresql_where=sa.text("state = 1"))
sa.Index(
    "resume_points_recent",
    resume_points.c.profile,
    resume_points.c.update_time.desc(),
    resume_points.c.title,
    postgresql_where=sa.text("NOT completed"),
)
