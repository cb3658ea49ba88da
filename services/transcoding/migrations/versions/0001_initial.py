"""Transcoding tables: uploads and their chunks, jobs, media assets, and the event outbox.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

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
        "uploads",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("state", sa.SmallInteger, nullable=False),
        sa.Column("committed_offset", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("doc", sa.LargeBinary, nullable=False),
        sa.Column("append_state", JSONB, nullable=False, server_default="{}"),
        sa.Column("probe", JSONB),
        sa.Column("source_key", sa.Text, nullable=False),
        _tz("create_time"),
        _tz("update_time"),
    )
    op.create_table(
        "upload_chunks",
        sa.Column(
            "upload_id", sa.Text, sa.ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("offset", sa.BigInteger, primary_key=True),
        sa.Column("length", sa.Integer, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("upload_id", sa.Text, sa.ForeignKey("uploads.id"), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("state", sa.SmallInteger, nullable=False),
        sa.Column("doc", sa.LargeBinary, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        _tz("create_time"),
    )
    op.create_index("ix_jobs_upload_id", "jobs", ["upload_id"])
    op.create_index("ix_jobs_title", "jobs", ["title"])
    op.create_index("jobs_created", "jobs", ["create_time", "id"])
    op.create_table(
        "media_assets",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("job_id", sa.Text, nullable=False),
        sa.Column("doc", sa.LargeBinary, nullable=False),
        _tz("create_time"),
    )
    op.create_index("ix_media_assets_title", "media_assets", ["title"])
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
    for name in ("outbox", "media_assets", "jobs", "upload_chunks", "uploads"):
        op.drop_table(name)
