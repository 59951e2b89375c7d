"""The short summary `armorwatch run` prints: records by profile and class, top denials.

Both are SQL jobs (``jobs/sql/summary_*.sql``) over the store's ``records`` and
``denials``; this module binds their parameters and returns plain rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from jobs import sqlfiles

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


def _table(cur: duckdb.DuckDBPyConnection) -> Table:
    columns = tuple(d[0] for d in cur.description or ())
    return Table(columns=columns, rows=tuple(cur.fetchall()))


def summarize(con: duckdb.DuckDBPyConnection, since: datetime = EPOCH, top: int = 10) -> Summary:
    """Run both summary jobs for records at or after ``since``."""
    by_profile = sqlfiles.load("summary_by_profile").execute(con, {"since": since})
    by_profile_t = _table(by_profile)
    denials = sqlfiles.load("summary_top_denials").execute(con, {"since": since, "top": top})
    return Summary(by_profile=by_profile_t, top_denials=_table(denials))
