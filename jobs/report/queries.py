"""Data gathering: the ``jobs/sql/report_*.sql`` jobs over the store, bound to the window.

``open_window`` fixes the window and reads each of the store's records once
(``report_events.sql``) into the TEMP tables every job on events reads: the window and the
one before it event by event (``report_scope.sql``), the older history per signature and
host (``report_history.sql``); ``fetch`` runs each window-wide job once; ``profile_hosts``
runs for the profiles whose pages are written only, their list bound as a parameter;
``close_window`` drops the TEMP tables once they have all run. Rows
are dicts keyed by the jobs' column names; ``signature`` and ``host_name`` turn row values
into the model's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb

from armorwatch.jobs import risky, sqlfiles
from armorwatch.jobs import window as timewindow
from armorwatch.jobs.report.config import ReportError
from armorwatch.jobs.report.model import Signature, utc
from armorwatch.jobs.summary import UNKNOWN_HOST

Row = dict[str, Any]


@dataclass(frozen=True)
class Window:
    """The report's time window: ``since`` (exclusive) to ``until`` (inclusive), UTC."""

    since: datetime
    until: datetime
    length: timedelta
    host: str | None = None
    """Only this host's records (``--host``); None: the whole fleet."""

    @property
    def params(self) -> dict[str, datetime | str | None]:
        """The ``$since`` / ``$until`` / ``$host`` parameters of the window's jobs."""
        return {"since": self.since, "until": self.until, "host": self.host}


@dataclass(frozen=True)
class WindowRows:
    """What the window-wide jobs return, each run once."""

    summary: Row
    signatures: list[Signature]
    """Every signature seen in the window, busiest first."""
    timeline: list[Row]
    growth: list[Row]
    complain: list[Row]
    hosts: list[Row]
    loss: list[Row]


def _rows(
    con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, Any] | None = None
) -> list[Row]:
    cur = sqlfiles.load(name).execute(con, params)
    if cur.description is None:
        return []
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def open_window(
    con: duckdb.DuckDBPyConnection,
    length: timedelta,
    until: datetime | None,
    host: str | None = None,
) -> Window:
    """The window of ``length`` ending at ``until``, and the jobs' ``report_scope`` and
    ``report_history`` tables (the events up to ``until``, of ``host``).

    ``until`` defaults to the newest record of the fleet, even with ``host`` (a store
    replayed from old logs has no records "now"; a host silent at the end is shown
    silent); ReportError when the store holds none.
    """
    sqlfiles.load("report_events").execute(con)
    if until is None:
        until = timewindow.newest_record(con)
        if until is None:
            raise ReportError("the store holds no records: nothing to report")
    until = utc(until)
    prev_since = until - 2 * length  # growth compares the window with the one before
    sqlfiles.load("report_scope").execute(
        con, {"prev_since": prev_since, "until": until, "host": host}
    )
    sqlfiles.load("report_history").execute(con, {"prev_since": prev_since, "host": host})
    return Window(since=until - length, until=until, length=length, host=host)


def close_window(con: duckdb.DuckDBPyConnection) -> None:
    """Drop ``open_window``'s TEMP tables (``report_close.sql``): every job on them has run
    (``fetch``, ``profile_hosts``); the rule suggestion that follows reuses their memory."""
    sqlfiles.load("report_close").execute(con)


def fetch(con: duckdb.DuckDBPyConnection, w: Window, bucket_s: int) -> WindowRows:
    """Run every window-wide job once (timeline buckets ``bucket_s`` seconds wide)."""
    p = w.params
    # report_scope already holds only the events up to w.until, of w.host
    since = {"since": w.since}
    return WindowRows(
        summary=_rows(con, "report_summary", p)[0],
        signatures=[signature(r) for r in _rows(con, "report_signatures", since)],
        timeline=_rows(con, "report_timeline", {**since, "bucket_s": bucket_s}),
        growth=_rows(con, "report_growth", {**since, "prev_since": w.since - w.length}),
        complain=_rows(con, "report_complain"),
        hosts=_rows(con, "report_hosts", p),
        loss=_rows(con, "report_loss", p),
    )


def profile_hosts(
    con: duckdb.DuckDBPyConnection, w: Window, subjects: Sequence[str]
) -> dict[str, Row]:
    """``{subject: row}`` of hosts per profile in the window, for ``subjects`` only."""
    rows = _rows(con, "report_profile_hosts", {"since": w.since, "subjects": list(subjects)})
    return {r["subject"]: r for r in rows}


def profile_modes(con: duckdb.DuckDBPyConnection, w: Window) -> dict[str, list[Row]]:
    """``{subject: [row per host]}``: the modes read from the hosts in the window
    (report_profile_modes: host, mode, read_at)."""
    out: dict[str, list[Row]] = {}
    for r in _rows(con, "report_profile_modes", {"since": w.since, "host": w.host}):
        out.setdefault(r["subject"], []).append(r)
    return out


def pod_mismatches(con: duckdb.DuckDBPyConnection, w: Window) -> list[Row]:
    """Pods denied in the window by another profile than the one they asked for."""
    return _rows(con, "report_pod_mismatch", w.params)


def host_name(value: str | None) -> str:
    """A host name to show: stores written by older versions hold records without one."""
    return UNKNOWN_HOST if value is None else value


def host_names(values: Iterable[str | None] | None) -> tuple[str, ...]:
    """``host_name`` of each (none for a null list)."""
    return tuple(host_name(h) for h in values or ())


def signature(row: Mapping[str, Any], decision: str | None = None) -> Signature:
    """A signature row (report_signatures / report_complain) as the model's ``Signature``."""
    risk = risky.match(row["class"], row.get("name"), row.get("capname"))
    return Signature(
        decision=decision or row["decision"],
        subject=row["subject"],
        klass=row["class"],
        operation=row["operation"],
        object=row["object"],
        mask=row["mask"],
        events=int(row["events"]),
        hosts=int(row["hosts"]),
        host_sample=host_names(row.get("host_sample")),
        first_seen=utc(row["first_seen"]),
        last_seen=utc(row["last_seen"]),
        is_new=bool(row.get("is_new", False)),
        risk=risk.reason if risk else "",
        severity=risk.severity if risk else "",
    )
