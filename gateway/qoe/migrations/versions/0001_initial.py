"""QoE tables: accepted batches, applied batches, per-session state, per-minute aggregates
(counters and TTFF histogram buckets) and the outbox.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_COUNTERS = (
    "plays",
    "errors",
    "played_ms",
    "rebuffer_ms",
    "stalls",
    "downswitches",
    "upswitches",
    "dropped_frames",
    "bitrate_sum",
    "bitrate_samples",
)


def _tz(name: str, primary_key: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, primary_key=primary_key)


def _key() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        _tz("minute", primary_key=True),
        sa.Column("title", sa.Text, primary_key=True),
        sa.Column("region", sa.Text, primary_key=True),
        sa.Column("edge", sa.Text, primary_key=True),
        sa.Column("rendition", sa.Text, primary_key=True),
    ]


def upgrade() -> None:
    # Spelled out here, not imported from schema.py, so a later edit of a table cannot change
    # what this migration did.
    op.create_table(
        "batches",
        sa.Column("session", sa.Text, primary_key=True),
        sa.Column("batch_id", sa.Text, primary_key=True),
        sa.Column("profile", sa.Text, nullable=False),
        sa.Column("events", sa.Integer, nullable=False),
        _tz("record_time"),
    )
    op.create_table(
        "applied",
        sa.Column("session", sa.Text, primary_key=True),
        sa.Column("batch_id", sa.Text, primary_key=True),
        _tz("apply_time"),
    )
    op.create_table(
        "sessions",
        sa.Column("session", sa.Text, primary_key=True),
        sa.Column("played", sa.Boolean, nullable=False),
        sa.Column("errored", sa.Boolean, nullable=False),
        sa.Column("rendition", sa.Text, nullable=False),
        sa.Column("bitrate_bps", sa.BigInteger, nullable=False),
        _tz("update_time"),
    )
    op.create_table(
        "minute_counters",
        *_key(),
        *(sa.Column(name, sa.BigInteger, nullable=False) for name in _COUNTERS),
    )
    op.create_table(
        "minute_ttff",
        *_key(),
        sa.Column("bucket", sa.SmallInteger, primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    op.create_index("minute_counters_title", "minute_counters", ["title", "minute"])
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
    op.drop_table("outbox")
    op.drop_table("minute_ttff")
    op.drop_table("minute_counters")
    op.drop_table("sessions")
    op.drop_table("applied")
    op.drop_table("batches")
