"""What alerting remembers across evaluations and restarts, in one SQLite file."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

_STATE_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS groups (
    key TEXT PRIMARY KEY, seq INTEGER NOT NULL, last_notified REAL NOT NULL,
    fingerprints TEXT NOT NULL, suppressed INTEGER NOT NULL DEFAULT 0,
    rules TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS signatures (sig TEXT PRIMARY KEY, first_ms INTEGER);
CREATE TABLE IF NOT EXISTS hosts (host TEXT PRIMARY KEY, last_seen REAL NOT NULL);
CREATE TABLE IF NOT EXISTS enforcing (
    host TEXT NOT NULL, profile TEXT NOT NULL, PRIMARY KEY (host, profile)
);
"""


class AlertState:
    """Group suppression state, known signatures, heartbeats and enforcing profiles.

    A SQLite file (or ``:memory:`` for one-shot runs). Writes commit at once, so what
    was notified before a crash is not notified again after it.
    """

    def __init__(self, path: Path | str = ":memory:") -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        if str(path) != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_STATE_SCHEMA)
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(groups)")}
        if "rules" not in columns:  # a state file from before resolved notifications
            self._db.execute("ALTER TABLE groups ADD COLUMN rules TEXT NOT NULL DEFAULT '[]'")

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def group(self, key: str) -> tuple[int, float, set[str], int] | None:
        """(seq, last_notified, fingerprints notified, suppressed since) of a group."""
        row = self._db.execute(
            "SELECT seq, last_notified, fingerprints, suppressed FROM groups WHERE key = ?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        return int(row[0]), float(row[1]), set(json.loads(row[2])), int(row[3])

    def notified(
        self,
        key: str,
        seq: int,
        now: float,
        fingerprints: Iterable[str],
        rules: Iterable[str] = (),
    ) -> None:
        """Record that notification ``seq`` of a group was handed off; ``rules`` are the
        rules firing in it (none after a resolved notification)."""
        self._db.execute(
            "INSERT INTO groups (key, seq, last_notified, fingerprints, suppressed, rules) "
            "VALUES (?, ?, ?, ?, 0, ?) ON CONFLICT (key) DO UPDATE SET seq = excluded.seq, "
            "last_notified = excluded.last_notified, fingerprints = excluded.fingerprints, "
            "suppressed = 0, rules = excluded.rules",
            (key, seq, now, json.dumps(sorted(fingerprints)), json.dumps(sorted(set(rules)))),
        )

    def firing_groups(self) -> list[tuple[str, int, list[str]]]:
        """(key, seq, rules) of the groups whose last notification was a firing one."""
        rows = self._db.execute("SELECT key, seq, rules FROM groups WHERE rules <> '[]'")
        return [(str(k), int(q), list(json.loads(r))) for k, q, r in rows.fetchall()]

    def suppress(self, key: str) -> None:
        """Count one suppressed firing of a group."""
        self._db.execute("UPDATE groups SET suppressed = suppressed + 1 WHERE key = ?", (key,))

    def learn_signature(self, sig: Sequence[str], first_ms: int | None) -> bool:
        """Remember a signature; True when it was not known before."""
        cur = self._db.execute(
            "INSERT OR IGNORE INTO signatures (sig, first_ms) VALUES (?, ?)",
            (json.dumps(list(sig), ensure_ascii=False), first_ms),
        )
        return cur.rowcount == 1

    def heartbeat(self, hosts: Iterable[str], now: float) -> None:
        """Hosts that just sent something."""
        self._db.executemany(
            "INSERT INTO hosts (host, last_seen) VALUES (?, ?) "
            "ON CONFLICT (host) DO UPDATE SET last_seen = excluded.last_seen",
            [(h, now) for h in hosts],
        )

    def silent_hosts(self, silent_before: float, forget_before: float) -> list[tuple[str, float]]:
        """(host, last_seen) of hosts last seen in [forget_before, silent_before)."""
        rows = self._db.execute(
            "SELECT host, last_seen FROM hosts WHERE last_seen < ? AND last_seen >= ? "
            "ORDER BY host",
            (silent_before, forget_before),
        ).fetchall()
        return [(str(r[0]), float(r[1])) for r in rows]

    def learn_enforcing(self, pairs: Iterable[tuple[str, str]]) -> None:
        """(host, profile) pairs that denied: the profile was enforcing there."""
        self._db.executemany(
            "INSERT OR IGNORE INTO enforcing (host, profile) VALUES (?, ?)", list(pairs)
        )

    def was_enforcing(self, host: str, profile: str) -> bool:
        """True when ``profile`` denied on ``host`` in an earlier evaluation."""
        hit = self._db.execute(
            "SELECT 1 FROM enforcing WHERE host = ? AND profile = ?", (host, profile)
        ).fetchone()
        return hit is not None
