"""Sessions remember the plan they were started under (GetSession reports it to licensing).

IF NOT EXISTS because, until 0001 spelled its tables out, 0001 created `sessions` from the live
table definition, which already had this column: databases created then have it from 0001.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE sessions ADD COLUMN IF NOT EXISTS plan text NOT NULL DEFAULT ''")


def downgrade() -> None:
    op.execute("ALTER TABLE sessions DROP COLUMN IF EXISTS plan")
