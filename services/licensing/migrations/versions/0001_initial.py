"""Licensing tables: content keys (envelope-encrypted), licence audits, per-session licence
counts, and the outbox.

Revision ID: 0001
Revises:
"""

from alembic import op

from services.licensing.schema import content_keys, license_audits, session_licenses
from services.runtime.outbox import create_outbox_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    for table in (content_keys, license_audits, session_licenses):
        table.create(bind)
    op.create_index("license_audits_session_seq", "license_audits", ["session", "seq"])
    op.create_index("license_audits_decision_seq", "license_audits", ["decision", "seq"])
    create_outbox_table()


def downgrade() -> None:
    op.drop_table("outbox")
    for table in (session_licenses, license_audits, content_keys):
        table.drop(op.get_bind())
