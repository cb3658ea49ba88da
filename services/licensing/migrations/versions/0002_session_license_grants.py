"""Distinct key sets granted per session, so a retried licence request is not counted twice.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Spelled out here (not imported from schema.py) so later edits of the table cannot change
    # what this migration did.
    op.create_table(
        "session_license_grants",
        sa.Column("session", sa.Text, primary_key=True),
        sa.Column("key_set", sa.Text, primary_key=True),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("session_license_grants")
