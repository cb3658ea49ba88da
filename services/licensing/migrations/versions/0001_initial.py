"""Licensing tables: content keys (envelope-encrypted), licence audits, per-session licence
counts, and the outbox.

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
    op.create_table(
        "content_keys",
        sa.Column("key_id", sa.Text, primary_key=True),
        sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
        sa.Column("media_asset", sa.Text, nullable=False),
        sa.Column("track_type", sa.SmallInteger, nullable=False),
        sa.Column("key_systems", ARRAY(sa.SmallInteger), nullable=False),
        sa.Column("master_key_id", sa.Text, nullable=False),
        sa.Column("wrapped_data_key", sa.LargeBinary, nullable=False),
        sa.Column("sealed_key", sa.LargeBinary, nullable=False),
        _tz("create_time"),
        _tz("rewrap_time", True),
        sa.UniqueConstraint("media_asset", "track_type", name="content_keys_media_track"),
    )
    op.create_table(
        "license_audits",
        sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("id", sa.Text, nullable=False, unique=True),
        sa.Column("decision", sa.SmallInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("key_system", sa.SmallInteger, nullable=False),
        sa.Column("session", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("profile", sa.Text, nullable=False),
        sa.Column("region_code", sa.Text, nullable=False),
        sa.Column("requested_key_ids", ARRAY(sa.Text), nullable=False),
        sa.Column("granted_key_ids", ARRAY(sa.Text), nullable=False),
        _tz("create_time"),
    )
    op.create_table(
        "session_licenses",
        sa.Column("session", sa.Text, primary_key=True),
        sa.Column("granted", sa.Integer, nullable=False),
        _tz("update_time"),
    )
    op.create_index("license_audits_session_seq", "license_audits", ["session", "seq"])
    op.create_index("license_audits_decision_seq", "license_audits", ["decision", "seq"])
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
    for name in ("outbox", "session_licenses", "license_audits", "content_keys"):
        op.drop_table(name)
