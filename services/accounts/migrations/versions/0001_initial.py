"""Accounts tables: plans (seeded), users, profiles, devices, refresh tokens, signing keys and
login failures.

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

_TABLES = (
    "plans",
    "users",
    "profiles",
    "devices",
    "refresh_tokens",
    "signing_keys",
    "login_failures",
)


def _tz(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    # Tables spelled out here, not imported from schema.py, so a later edit of a table cannot
    # change what this migration did.
    plans = op.create_table(
        "plans",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("display_name", sa.Text, nullable=False),
        sa.Column("max_streams", sa.Integer, nullable=False),
        sa.Column("max_resolution", sa.Integer, nullable=False),
        sa.Column("monthly_price_minor", sa.BigInteger, nullable=False),
        sa.Column("currency_code", sa.String(3), nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("email_key", sa.Text, nullable=False, unique=True),
        sa.Column("display_name", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("plan_id", sa.Text, sa.ForeignKey("plans.id"), nullable=False),
        sa.Column("home_region", sa.String(2), nullable=False),
        sa.Column("roles", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        _tz("create_time"),
        _tz("update_time"),
    )
    op.create_table(
        "profiles",
        sa.Column(
            "user_id", sa.Text, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("display_name", sa.Text, nullable=False),
        sa.Column("maturity_limit", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("language", sa.Text, nullable=False, server_default=""),
        sa.Column("preferred_genres", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("avatar_uri", sa.Text, nullable=False, server_default=""),
        sa.Column("autoplay_next_episode", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        _tz("create_time"),
        _tz("update_time"),
        sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False),
    )
    op.create_table(
        "devices",
        sa.Column(
            "user_id", sa.Text, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("device_id", sa.Text, nullable=False),
        sa.Column("type", sa.SmallInteger, nullable=False),
        sa.Column("display_name", sa.Text, nullable=False, server_default=""),
        _tz("create_time"),
        _tz("last_seen_time"),
        sa.UniqueConstraint("user_id", "device_id", name="devices_user_device_id"),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.LargeBinary, primary_key=True),
        sa.Column("family_id", sa.Text, nullable=False),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("profile_id", sa.Text, nullable=False, server_default=""),
        sa.Column("device_id", sa.Text, nullable=False, server_default=""),
        sa.Column("scope", sa.Text, nullable=False, server_default=""),
        _tz("create_time"),
        _tz("expire_time"),
        _tz("used_time", True),
        _tz("revoke_time", True),
    )
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"])
    op.create_index("ix_refresh_tokens_user_id", "refresh_tokens", ["user_id"])
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.Text, primary_key=True),
        sa.Column("private_pem", sa.Text, nullable=False),
        _tz("create_time"),
        _tz("activate_time"),
        _tz("retire_time", True),
    )
    op.create_table(
        "login_failures",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("email_key", sa.Text, nullable=False),
        _tz("failure_time"),
    )
    op.create_index("login_failures_email", "login_failures", ["email_key", "failure_time"])
    op.create_index("profiles_user_seq", "profiles", ["user_id", "seq"])
    op.create_index("devices_user_seen", "devices", ["user_id", "last_seen_time"])
    op.create_index("refresh_tokens_device", "refresh_tokens", ["user_id", "device_id"])
    op.bulk_insert(
        plans,
        [
            {
                "id": "basic",
                "display_name": "Basic",
                "max_streams": 1,
                "max_resolution": 720,
                "monthly_price_minor": 799,
                "currency_code": "USD",
            },
            {
                "id": "standard",
                "display_name": "Standard",
                "max_streams": 2,
                "max_resolution": 1080,
                "monthly_price_minor": 1549,
                "currency_code": "USD",
            },
            {
                "id": "premium",
                "display_name": "Premium",
                "max_streams": 4,
                "max_resolution": 2160,
                "monthly_price_minor": 2299,
                "currency_code": "USD",
            },
        ],
    )


def downgrade() -> None:
    for table in reversed(_TABLES):
        op.drop_table(table)
