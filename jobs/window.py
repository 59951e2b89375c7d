"""Time windows shared by the report, rule suggestion and saved queries.

A window is given as a duration (``24h``, ``7d``, ``90m``; units s, m, h, d, w) or an
ISO-8601 time, and by default ends at the newest record in the store (``anchor
"latest"``), so a store filled from old logs still has a meaningful "last 24h";
``anchor "now"`` ends it at the current time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

import duckdb

from armorwatch.jobs import sqlfiles
from armorwatch.jobs.errors import JobsError

_DURATION: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
ANCHORS: Final = ("latest", "now")


class WindowError(JobsError, ValueError):
    """Not a duration, not a time, or an unknown anchor."""


def parse_duration(text: str) -> timedelta:
    """``24h`` → 24 hours; WindowError on anything but a positive number and a unit."""
    m = _DURATION.match(text)
    if not m or float(m.group(1)) <= 0:
        raise WindowError(f"bad duration {text!r}: use a positive number and s, m, h, d or w")
    return timedelta(seconds=float(m.group(1)) * _UNIT_S[m.group(2)])


def newest_record(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """The newest record's time (or a loss record just after it); None for an empty store."""
    rows = sqlfiles.load("window_newest").execute(con).fetchall()
    newest = rows[0][0] if rows else None
    return newest.replace(tzinfo=UTC) if newest is not None else None


def window_end(con: duckdb.DuckDBPyConnection, anchor: str = "latest") -> datetime:
    """Where a window ends: the newest record (``latest``; now when empty) or ``now``."""
    if anchor not in ANCHORS:
        raise WindowError(f"anchor {anchor!r}: use latest or now")
    now = datetime.now(UTC)
    return now if anchor == "now" else (newest_record(con) or now)


def since(value: str, end: datetime) -> datetime:
    """The start of a window: a duration back from ``end``, or an ISO time (UTC if naive)."""
    try:
        return end - parse_duration(value)
    except WindowError:
        pass
    try:
        t = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise WindowError(f"{value!r} is neither a duration (24h, 7d) nor an ISO time") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def human(seconds: float) -> str:
    """A duration as people read it: ``5 h 32 min``, ``3 d 4 h``, ``45 s`` (two units at most)."""
    s = max(0, int(seconds))
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if s >= size or (unit == "s" and not parts):
            parts.append(f"{s // size} {unit}")
            s %= size
        if len(parts) == 2 or (parts and not s):
            break
    return " ".join(parts)
