"""Tombstones of removed titles, kept beside the index (SQLite in the data directory), so a
redelivered or late older event can never bring a removed title back."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

__all__ = ["Ledger"]


class Ledger:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS tombstones (id TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
        self._lock = threading.Lock()

    def tombstones(self, ids: Iterable[str]) -> dict[str, int]:
        wanted = list(dict.fromkeys(ids))
        out: dict[str, int] = {}
        with self._lock:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT id, version FROM tombstones WHERE id IN ({marks})", chunk
                ).fetchall()
                out.update({row[0]: int(row[1]) for row in rows})
        return out

    def record(self, removed: dict[str, int], revived: Iterable[str]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO tombstones (id, version) VALUES (?, ?) "
                "ON CONFLICT(id) DO UPDATE SET version = max(version, excluded.version)",
                list(removed.items()),
            )
            self._db.executemany("DELETE FROM tombstones WHERE id = ?", [(i,) for i in revived])
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()
