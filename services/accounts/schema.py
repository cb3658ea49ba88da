"""The accounts tables (schema `accounts`). Only this service reads or writes them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

__all__ = [
    "devices",
    "login_failures",
    "metadata",
    "plans",
    "profiles",
    "refresh_tokens",
    "signing_keys",
    "users",
]

metadata = sa.MetaData()

_TS = sa.DateTime(timezone=True)

plans = sa.Table(
    "plans",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("display_name", sa.Text, nullable=False),
    sa.Column("max_streams", sa.Integer, nullable=False),
    sa.Column("max_resolution", sa.Integer, nullable=False),
    sa.Column("monthly_price_minor", sa.BigInteger, nullable=False),
    sa.Column("currency_code", sa.String(3), nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("email_key", sa.Text, nullable=False, unique=True),  # lower-cased email
    sa.Column("display_name", sa.Text, nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("plan_id", sa.Text, sa.ForeignKey("plans.id"), nullable=False),
    sa.Column("home_region", sa.String(2), nullable=False),
    sa.Column("roles", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("create_time", _TS, nullable=False),
    sa.Column("update_time", _TS, nullable=False),
)

profiles = sa.Table(
    "profiles",
    metadata,
    sa.Column("user_id", sa.Text, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("display_name", sa.Text, nullable=False),
    sa.Column("maturity_limit", sa.SmallInteger, nullable=False, server_default="0"),
    sa.Column("language", sa.Text, nullable=False, server_default=""),
    sa.Column("preferred_genres", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("avatar_uri", sa.Text, nullable=False, server_default=""),
    sa.Column("autoplay_next_episode", sa.Boolean, nullable=False, server_default="false"),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("create_time", _TS, nullable=False),
    sa.Column("update_time", _TS, nullable=False),
    sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False),
)

devices = sa.Table(
    "devices",
    metadata,
    sa.Column("user_id", sa.Text, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("id", sa.Text, primary_key=True),  # the resource id (last part of the name)
    sa.Column("device_id", sa.Text, nullable=False),  # what the client sent
    sa.Column("type", sa.SmallInteger, nullable=False),
    sa.Column("display_name", sa.Text, nullable=False, server_default=""),
    sa.Column("create_time", _TS, nullable=False),
    sa.Column("last_seen_time", _TS, nullable=False),
    sa.UniqueConstraint("user_id", "device_id", name="devices_user_device_id"),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("token_hash", sa.LargeBinary, primary_key=True),  # sha256 of the opaque token
    sa.Column("family_id", sa.Text, nullable=False, index=True),
    sa.Column("user_id", sa.Text, nullable=False, index=True),
    sa.Column("profile_id", sa.Text, nullable=False, server_default=""),
    sa.Column("device_id", sa.Text, nullable=False, server_default=""),
    sa.Column("scope", sa.Text, nullable=False, server_default=""),
    sa.Column("create_time", _TS, nullable=False),
    sa.Column("expire_time", _TS, nullable=False),
    sa.Column("used_time", _TS),
    sa.Column("revoke_time", _TS),
)

signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("kid", sa.Text, primary_key=True),
    sa.Column("private_pem", sa.Text, nullable=False),
    sa.Column("create_time", _TS, nullable=False),
    sa.Column("activate_time", _TS, nullable=False),
    sa.Column("retire_time", _TS),
)

login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("email_key", sa.Text, nullable=False),
    sa.Column("failure_time", _TS, nullable=False),
    sa.Index("login_failures_email", "email_key", "failure_time"),
)

# Indexes for the queries that need them (migration 0001 creates them).
sa.Index("profiles_user_seq", profiles.c.user_id, profiles.c.seq)
sa.Index("devices_user_seen", devices.c.user_id, devices.c.last_seen_time)
sa.Index("refresh_tokens_device", refresh_tokens.c.user_id, refresh_tokens.c.device_id)
