"""Licensing's tables (schema `licensing`). Only this service reads or writes them.

`content_keys` holds no plaintext: `sealed_key` is the content key and IV under the record's
data key, `wrapped_data_key` that data key under master key `master_key_id` (see `envelope`).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from services.runtime.outbox import outbox_table

__all__ = [
    "content_keys",
    "license_audits",
    "metadata",
    "outbox",
    "session_license_grants",
    "session_licenses",
]

metadata = sa.MetaData()

content_keys = sa.Table(
    "content_keys",
    metadata,
    sa.Column("key_id", sa.Text, primary_key=True),  # 32 lower-case hex digits
    sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
    sa.Column("media_asset", sa.Text, nullable=False),  # "media/x"
    sa.Column("track_type", sa.SmallInteger, nullable=False),  # TrackType
    sa.Column("key_systems", ARRAY(sa.SmallInteger), nullable=False),  # KeySystem; empty = all
    sa.Column("master_key_id", sa.Text, nullable=False),
    sa.Column("wrapped_data_key", sa.LargeBinary, nullable=False),
    sa.Column("sealed_key", sa.LargeBinary, nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("rewrap_time", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("media_asset", "track_type", name="content_keys_media_track"),
)

license_audits = sa.Table(
    "license_audits",
    metadata,
    sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("id", sa.Text, nullable=False, unique=True),
    sa.Column("decision", sa.SmallInteger, nullable=False),  # LicenseDecision
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("key_system", sa.SmallInteger, nullable=False),  # KeySystem
    sa.Column("session", sa.Text, nullable=False),  # "sessions/x" or ""
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("profile", sa.Text, nullable=False),
    sa.Column("region_code", sa.Text, nullable=False),
    sa.Column("requested_key_ids", ARRAY(sa.Text), nullable=False),
    sa.Column("granted_key_ids", ARRAY(sa.Text), nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
)

session_licenses = sa.Table(
    "session_licenses",
    metadata,
    sa.Column("session", sa.Text, primary_key=True),
    sa.Column("granted", sa.Integer, nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
)

# The distinct key sets a session was granted: a repeat of the same request (a client or Envoy
# retry whose first answer was lost) is delivered again without counting a second licence.
session_license_grants = sa.Table(
    "session_license_grants",
    metadata,
    sa.Column("session", sa.Text, primary_key=True),
    sa.Column("key_set", sa.Text, primary_key=True),  # sorted granted key ids, comma-joined
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
)

outbox = outbox_table(metadata)

# Indexes for the audit trail's queries (migration 0001 creates them).
sa.Index("license_audits_session_seq", license_audits.c.session, license_audits.c.seq)
sa.Index("license_audits_decision_seq", license_audits.c.decision, license_audits.c.seq)
