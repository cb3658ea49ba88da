"""Catalog tables: titles, people, credits, availability windows, and the event outbox.

Revision ID: 0001
Revises:
"""

from alembic import op

from services.catalog.schema import availability, credits, people, titles
from services.runtime.outbox import create_outbox_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    for table in (titles, people, credits, availability):
        table.create(bind)
    op.create_index("titles_sort", "titles", ["sort_name", "id"])
    op.create_index("titles_year", "titles", ["release_year", "id"])
    op.create_index("titles_created", "titles", ["create_time", "id"])
    op.execute("CREATE INDEX titles_genre_keys ON titles USING gin (genre_keys)")
    create_outbox_table()


def downgrade() -> None:
    for name in ("outbox", "availability", "credits", "people", "titles"):
        op.drop_table(name)
