"""The short summary `armorwatch run` prints: records by profile and class, top denials.

Each is an SQL job (``jobs/sql/summary_*.sql``) over the store's ``records`` and
``denials``; this module binds their parameters and returns plain rows. Forged-looking
records (``suspect`` not null) are left out of both and counted by host and reason in
``forged`` (``forged_records`` alone when that is all a caller needs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import duckdb

from armorwatch.jobs import sqlfiles

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# How a record without a host name (stores written before hosts were always filled) is shown.
UNKNOWN_HOST: Final = "(unknown host)"


@dataclass(frozen=True)
class Table:
    """Column names and rows of one job's result."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True)
class Summary:
    """What a run found."""

    by_profile: Table
    """summary_by_profile: records per (lsm, subject, class, decision)."""
    top_denials: Table
    """summary_top_denials: the most frequent denied accesses."""
    forged: Table = Table(("host", "reason", "records", "last_seen"), ())
    """summary_forged: forged-looking records per (host, reason), left out of the above."""


def _table(cur: duckdb.DuckDBPyConnection) -> Table:
    columns = tuple(d[0] for d in cur.description or ())
    return Table(columns=columns, rows=tuple(cur.fetchall()))


def summarize(con: duckdb.DuckDBPyConnection, since: datetime = EPOCH, top: int = 10) -> Summary:
    """Run both summary jobs for records at or after ``since``."""
    by_profile = sqlfiles.load("summary_by_profile").execute(con, {"since": since})
    by_profile_t = _table(by_profile)
    denials = sqlfiles.load("summary_top_denials").execute(con, {"since": since, "top": top})
    top_denials = _table(denials)
    return Summary(by_profile_t, top_denials, forged_records(con, since))


def forged_records(con: duckdb.DuckDBPyConnection, since: datetime = EPOCH) -> Table:
    """Forged-looking records at or after ``since``: (host, reason, records, last_seen) rows.

    Empty when there are none; a null host is shown as ``UNKNOWN_HOST``.
    """
    found = _table(sqlfiles.load("summary_forged").execute(con, {"since": since}))
    rows = tuple((UNKNOWN_HOST if r[0] is None else r[0], *r[1:]) for r in found.rows)
    return Table(found.columns, rows)
