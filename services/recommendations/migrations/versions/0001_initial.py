"""Recommendations tables: interaction log, catalog items, profile preferences, models, outbox.

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
        "interactions",
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("profile", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("kind", sa.SmallInteger, nullable=False),
        sa.Column("weight", sa.Float, nullable=False),
        sa.Column("watched_fraction", sa.Float, nullable=False, server_default="0"),
        sa.Column("region_code", sa.Text, nullable=False, server_default=""),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("throttled", sa.Boolean, nullable=False, server_default=sa.false()),
        _tz("occur_time"),
        sa.Column(
            "recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
    )
    op.create_table(
        "items",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("title", sa.LargeBinary, nullable=False),
        _tz("updated_at"),
    )
    op.create_table(
        "profiles",
        sa.Column("profile", sa.Text, primary_key=True),
        sa.Column("genres", ARRAY(sa.Text), nullable=False),
        sa.Column("max_maturity_rating", sa.SmallInteger, nullable=False, server_default="0"),
        _tz("updated_at"),
    )
    op.create_table(
        "models",
        sa.Column("version", sa.Text, primary_key=True),
        _tz("created_at"),
        sa.Column("artifact", sa.LargeBinary, nullable=False),
        sa.Column("stats", JSONB, nullable=False),
        sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
    )
    op.create_index("interactions_profile_time", "interactions", ["profile", "occur_time"])
    op.create_index("interactions_time", "interactions", ["occur_time"])
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
    for name in ("outbox", "models", "profiles", "items", "interactions"):
        op.drop_table(name)
