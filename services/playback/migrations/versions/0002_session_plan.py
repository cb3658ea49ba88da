"""Sessions remember the plan they were started under (GetSession reports it to licensing).

0001 creates `sessions` from the current table definition, which has the column already on a
fresh database; hence IF NOT EXISTS.

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
