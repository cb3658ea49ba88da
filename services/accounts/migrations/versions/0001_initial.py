"""Accounts tables: plans (seeded), users, profiles, devices, refresh tokens, signing keys and
login failures.

Revision ID: 0001
Revises:
"""

from alembic import op

from services.accounts.schema import (
    devices,
    login_failures,
    plans,
    profiles,
    refresh_tokens,
    signing_keys,
    users,
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TABLES = (plans, users, profiles, devices, refresh_tokens, signing_keys, login_failures)


def upgrade() -> None:
    bind = op.get_bind()
    for table in _TABLES:
        table.create(bind)
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
        op.drop_table(table.name)
