"""Recommendations tables: interaction log, catalog items, profile preferences, models, outbox.

Revision ID: 0001
Revises:
"""

from alembic import op

from services.recommendations.schema import interactions, items, models, profiles
from services.runtime.outbox import create_outbox_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    for table in (interactions, items, profiles, models):
        table.create(bind)
    op.create_index("interactions_profile_time", "interactions", ["profile", "occur_time"])
    op.create_index("interactions_time", "interactions", ["occur_time"])
    create_outbox_table()


def downgrade() -> None:
    for name in ("outbox", "models", "profiles", "items", "interactions"):
        op.drop_table(name)
