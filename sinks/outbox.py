"""A bounded, persistent outbox: messages wait here until a receiver accepted them.

``Outbox`` is a small SQLite file (WAL, ``synchronous=FULL``) in a state directory. A
message is committed to it before the sender is acknowledged, so a processor restart
loses nothing that was acknowledged; delivery resumes from the file. Three tables:

- ``pending``: messages to deliver, with their attempt count and the time of the next try;
- ``dead``: messages that exhausted their attempts (or can never be delivered), kept
  with the last error so an operator can inspect or replay them;
- ``sent``: ids delivered in the last ``remember`` seconds (default 7 days);
- ``meta``: small persistent flags (an endpoint disabled by HTTP 410).

Ids are unique: putting a message whose id is pending, dead or recently sent is a
no-op, so a re-evaluation after a restart does not send an alert twice.

Errors: ``sqlite3.Error`` propagates; callers map it to a sink error.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Final

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS pending (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    body BLOB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    created REAL NOT NULL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS pending_next ON pending (next_at, seq);
CREATE TABLE IF NOT EXISTS dead (
    id TEXT PRIMARY KEY,
    body BLOB NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT,
    died_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sent (id TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS sent_at ON sent (at);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class OutboxItem:
    """One pending message."""

    id: str
    """The message id (sent as ``webhook-id``), stable across retries and restarts."""
    body: bytes
    """The exact bytes to send (rendered once, so every retry signs the same body)."""
    attempts: int
    """Delivery attempts made so far."""
    next_at: float
    """Unix time of the next attempt."""


class Outbox:
    """SQLite-backed pending/dead-letter store for one endpoint."""

    def __init__(self, path: Path, remember: float = 7 * 86400.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._remember = remember
        # isolation_level=None: we open explicit transactions; every write commits at once.
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the file; idempotent."""
        self._db.close()

    def put(self, id: str, body: bytes, now: float) -> bool:
        """Store a message due now; False when the id is pending, dead or recently sent."""
        with self._tx():
            self._db.execute("DELETE FROM sent WHERE at < ?", (now - self._remember,))
            known = self._db.execute(
                "SELECT 1 FROM dead WHERE id = ? UNION ALL SELECT 1 FROM sent WHERE id = ?",
                (id, id),
            ).fetchone()
            if known:
                return False
            cur = self._db.execute(
                "INSERT OR IGNORE INTO pending (id, body, next_at, created) VALUES (?, ?, ?, ?)",
                (id, body, now, now),
            )
            return cur.rowcount == 1

    def pending(self) -> int:
        """Messages waiting for delivery."""
        return int(self._db.execute("SELECT count(*) FROM pending").fetchone()[0])

    def dead(self) -> int:
        """Messages in the dead-letter table."""
        return int(self._db.execute("SELECT count(*) FROM dead").fetchone()[0])

    def next_due(self) -> OutboxItem | None:
        """The pending message with the earliest next attempt (oldest first on ties)."""
        row = self._db.execute(
            "SELECT id, body, attempts, next_at FROM pending ORDER BY next_at, seq LIMIT 1"
        ).fetchone()
        return OutboxItem(row[0], bytes(row[1]), int(row[2]), float(row[3])) if row else None

    def delivered(self, id: str, now: float) -> None:
        """Forget a message the receiver accepted, remembering its id."""
        with self._tx():
            self._db.execute("DELETE FROM pending WHERE id = ?", (id,))
            self._db.execute("INSERT OR REPLACE INTO sent (id, at) VALUES (?, ?)", (id, now))

    def retry(self, id: str, attempts: int, next_at: float, error: str) -> None:
        """Record a failed attempt and when to try again."""
        with self._tx():
            self._db.execute(
                "UPDATE pending SET attempts = ?, next_at = ?, last_error = ? WHERE id = ?",
                (attempts, next_at, error, id),
            )

    def bury(self, id: str, attempts: int, error: str, now: float) -> None:
        """Move a pending message to the dead-letter table."""
        with self._tx():
            self._db.execute(
                "INSERT OR REPLACE INTO dead (id, body, attempts, last_error, died_at) "
                "SELECT id, body, ?, ?, ? FROM pending WHERE id = ?",
                (attempts, error, now, id),
            )
            self._db.execute("DELETE FROM pending WHERE id = ?", (id,))

    def bury_all(self, error: str, now: float) -> int:
        """Move every pending message to the dead-letter table; return how many."""
        with self._tx():
            n = self._db.execute(
                "INSERT OR REPLACE INTO dead (id, body, attempts, last_error, died_at) "
                "SELECT id, body, attempts, ?, ? FROM pending",
                (error, now),
            ).rowcount
            self._db.execute("DELETE FROM pending")
        return int(n)

    def dead_items(self) -> list[tuple[str, bytes, int, str | None]]:
        """(id, body, attempts, last error) of every dead-lettered message, oldest first."""
        rows = self._db.execute(
            "SELECT id, body, attempts, last_error FROM dead ORDER BY died_at, id"
        ).fetchall()
        return [(r[0], bytes(r[1]), int(r[2]), r[3]) for r in rows]

    def get_meta(self, key: str) -> str | None:
        """A persistent flag, or None."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Set a persistent flag."""
        with self._tx():
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def _tx(self) -> _Tx:
        return _Tx(self._db)


class _Tx:
    """BEGIN IMMEDIATE … COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
