"""The transcoding service's tables (schema `transcoding`). Resources are stored as their
serialized protos plus the columns queries need."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from services.runtime.outbox import outbox_table

__all__ = ["jobs", "media_assets", "metadata", "outbox", "upload_chunks", "uploads"]

metadata = sa.MetaData()

uploads = sa.Table(
    "uploads",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("state", sa.SmallInteger, nullable=False),
    sa.Column("committed_offset", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("doc", sa.LargeBinary, nullable=False),  # vod.transcoding.v1.Upload
    sa.Column("append_state", JSONB, nullable=False, server_default="{}"),
    sa.Column("probe", JSONB),
    sa.Column("source_key", sa.Text, nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
)

upload_chunks = sa.Table(
    "upload_chunks",
    metadata,
    sa.Column(
        "upload_id", sa.Text, sa.ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("offset", sa.BigInteger, primary_key=True),
    sa.Column("length", sa.Integer, nullable=False),
    sa.Column("sha256", sa.Text, nullable=False),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("upload_id", sa.Text, sa.ForeignKey("uploads.id"), nullable=False, index=True),
    sa.Column("title", sa.Text, nullable=False, index=True),
    sa.Column("state", sa.SmallInteger, nullable=False),
    sa.Column("doc", sa.LargeBinary, nullable=False),  # vod.transcoding.v1.Job
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Index("jobs_created", "create_time", "id"),
)

media_assets = sa.Table(
    "media_assets",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("title", sa.Text, nullable=False, index=True),
    sa.Column("job_id", sa.Text, nullable=False),
    sa.Column("doc", sa.LargeBinary, nullable=False),  # vod.transcoding.v1.MediaAsset
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
)

outbox = outbox_table(metadata)
