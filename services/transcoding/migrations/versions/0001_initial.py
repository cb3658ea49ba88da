"""Transcoding tables: uploads and their chunks, jobs, media assets, and the event outbox.

Revision ID: 0001
Revises:
"""

from alembic import op

from services.runtime.outbox import create_outbox_table
from services.transcoding.schema import jobs, media_assets, upload_chunks, uploads

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    for table in (uploads, upload_chunks, jobs, media_assets):
        table.create(bind)
    create_outbox_table()


def downgrade() -> None:
    for name in ("outbox", "media_assets", "jobs", "upload_chunks", "uploads"):
        op.drop_table(name)
