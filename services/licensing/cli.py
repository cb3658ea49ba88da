"""`vod licensing rotate-master-key`: put a new master key in front of the configured ones and
re-wrap every content key's data key under it (the content keys themselves, and so every
packaged segment, stay unchanged). With `--retire`, master keys no record uses any more are
then dropped from the keys file.

The keys file is `--keys-file`, else `$VOD_LICENSING_MASTER_KEYS_FILE`, else
`$VOD_HOME/secrets/licensing_master_keys` (`./var/...` without VOD_HOME): the file the launcher
generates on the first `vod up` (0600) and passes on as `VOD_LICENSING_MASTER_KEYS`. Restart
licensing afterwards so it wraps new keys under the new master key (a running instance that
does not know the new key cannot open re-wrapped records until then). Key material is never
printed: only key ids and counts. The main `vod` command calls `register(subparsers)`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from services.licensing.envelope import (
    MasterKeyRing,
    format_master_keys,
    new_master_key,
    parse_master_keys,
    rewrap,
    write_private,
)
from services.licensing.repository import PostgresLicensingRepository
from services.licensing.server import MIGRATIONS
from services.runtime.db import create_service_engine, migrate

__all__ = ["RotationResult", "default_keys_file", "register", "rewrap_database", "rotate"]


def default_keys_file() -> Path:
    explicit = os.environ.get("VOD_LICENSING_MASTER_KEYS_FILE", "").strip()
    if explicit:
        return Path(explicit)
    home = os.environ.get("VOD_HOME", "").strip() or "var"
    return Path(home) / "secrets" / "licensing_master_keys"


@dataclass(frozen=True)
class RotationResult:
    new_key_id: str
    rewrapped: int
    in_use: dict[str, int]
    """Master key id -> records it wraps, after the rotation."""
    configured: tuple[str, ...]
    """Master key ids left in the keys file."""


async def rewrap_database(
    database_url: str, schema: str, ring: MasterKeyRing
) -> tuple[int, dict[str, int]]:
    """Re-wrap every record of the licensing schema at `database_url` under `ring.current`;
    returns (records changed, master key id -> records)."""
    await asyncio.to_thread(migrate, database_url, schema, MIGRATIONS)
    engine = create_service_engine(database_url, schema, pool_size=1)
    try:
        repository = PostgresLicensingRepository(engine)
        changed = await repository.rewrap_all(
            lambda key_id, sealed: rewrap(ring, key_id, sealed), ring.current.id
        )
        return changed, await repository.master_key_ids()
    finally:
        await engine.dispose()


async def rotate(
    keys_file: Path, database_url: str, *, schema: str = "licensing", retire: bool = False
) -> RotationResult:
    ring = parse_master_keys(keys_file.read_text().strip())
    fresh = new_master_key()
    rotated = MasterKeyRing((fresh, *ring.keys))
    # The new key is saved before any record depends on it.
    write_private(keys_file, format_master_keys(rotated))
    changed, in_use = await rewrap_database(database_url, schema, rotated)
    kept = rotated
    if retire:
        kept = MasterKeyRing(tuple(k for k in rotated.keys if k is fresh or in_use.get(k.id)))
        write_private(keys_file, format_master_keys(kept))
    return RotationResult(fresh.id, changed, in_use, tuple(k.id for k in kept.keys))


async def run_rotate(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    database_url = args.database_url or os.environ.get("VOD_DATABASE_URL", "").strip()
    if not database_url:
        print("error: no database: pass --database-url or set VOD_DATABASE_URL", file=sys.stderr)
        return 2
    keys_file = Path(args.keys_file) if args.keys_file else default_keys_file()
    if not keys_file.is_file():
        print(f"error: {keys_file} does not exist (run `vod up` once)", file=sys.stderr)
        return 2
    try:
        result = await rotate(keys_file, database_url, schema=args.schema, retire=args.retire)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"new master key: {result.new_key_id}", file=out)
    print(f"records re-wrapped: {result.rewrapped}", file=out)
    print(f"master keys configured: {', '.join(result.configured)}", file=out)
    print("restart licensing to use the new master key", file=out)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    licensing = subparsers.add_parser("licensing", help="content keys and licences")
    sub = licensing.add_subparsers(dest="licensing_command", required=True)
    rotate_cmd = sub.add_parser(
        "rotate-master-key",
        help="add a new master key and re-wrap every content key's data key under it",
    )
    rotate_cmd.add_argument("--keys-file", default="", help=f"default: {default_keys_file()}")
    rotate_cmd.add_argument("--database-url", default="", help="default: $VOD_DATABASE_URL")
    rotate_cmd.add_argument("--schema", default="licensing")
    rotate_cmd.add_argument(
        "--retire",
        action="store_true",
        help="drop master keys no record uses any more from the keys file",
    )
    rotate_cmd.set_defaults(func=lambda args: asyncio.run(run_rotate(args)))
