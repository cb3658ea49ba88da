"""Catalog tables: titles, people, credits, availability windows, and the event outbox.

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
        "titles",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("type", sa.SmallInteger, nullable=False),
        sa.Column("display_name", sa.Text, nullable=False),
        sa.Column("sort_name", sa.Text, nullable=False),
        sa.Column("parent_id", sa.Text, sa.ForeignKey("titles.id", ondelete="CASCADE")),
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
        _tz("create_time"),
        _tz("update_time"),
    )
    op.create_index("ix_titles_parent_id", "titles", ["parent_id"])
    op.create_table(
        "people",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("name_key", sa.Text, nullable=False, unique=True),
    )
    op.create_table(
        "credits",
        sa.Column(
            "title_id", sa.Text, sa.ForeignKey("titles.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("person_id", sa.BigInteger, sa.ForeignKey("people.id"), nullable=False),
        sa.Column("role", sa.SmallInteger, nullable=False),
        sa.Column("character", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_credits_person_id", "credits", ["person_id"])
    op.create_table(
        "availability",
        sa.Column(
            "title_id", sa.Text, sa.ForeignKey("titles.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("region_code", sa.String(2), nullable=False),
        _tz("start_time"),
        _tz("end_time", True),
    )
    op.create_index("availability_region", "availability", ["region_code", "title_id"])
    op.create_index("titles_sort", "titles", ["sort_name", "id"])
    op.create_index("titles_year", "titles", ["release_year", "id"])
    op.create_index("titles_created", "titles", ["create_time", "id"])
    op.execute("CREATE INDEX titles_genre_keys ON titles USING gin (genre_keys)")
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
    for name in ("outbox", "availability", "credits", "people", "titles"):
        op.drop_table(name)
