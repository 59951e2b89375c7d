"""jobs.report's one scan: report_events agrees with the store's views, report_scope keeps
the window's end and host."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import duckdb
import pytest

from armorwatch.jobs.report import queries
from armorwatch.parsers import schema as S
from tests.jobs.test_report import END, LOSS_ROWS, aa, build_store, scenario

# report_events as it was written over the views (denials, complain_events), for comparison
VIEWS_SHAPE = """
WITH ev AS (
    SELECT 'denied' AS decision, * FROM denials WHERE suspect IS NULL
    UNION ALL BY NAME
    SELECT 'allowed' AS decision, * FROM complain_events WHERE suspect IS NULL
)
SELECT decision, ts, host::VARCHAR AS host, source::VARCHAR AS source, lsm::VARCHAR AS lsm,
    coalesce(subject::VARCHAR, '(none)') AS subject,
    coalesce(object_class::VARCHAR, '') AS class,
    coalesce(operation::VARCHAR, '') AS operation,
    coalesce(object_pattern, '') AS object,
    coalesce(denied_mask::VARCHAR, requested_mask::VARCHAR, array_to_string(perms, ' '), '')
        AS mask,
    name, capname::VARCHAR AS capname
FROM ev
"""


def _every_class() -> list[dict[str, Any]]:
    """The scenario plus a record of each object kind the macros tell apart, a KILL and a
    forged-looking denial."""
    t = END - timedelta(hours=3)
    more: list[dict[str, Any]] = [
        {**aa(t, "web-03", "sig", None, operation="signal", class_="signal"),
         S.SIGNAL: "kill", S.PEER: "unconfined"},
        {**aa(t, "web-03", "tracer", None, operation="ptrace", class_="ptrace"),
         S.PEER: "/usr/bin/target"},
        {**aa(t, "web-03", "bus", None, operation="dbus_method_call", class_="dbus"),
         S.BUS: "system", S.NAME: "org.freedesktop.DBus", S.PATH: "/org/freedesktop/DBus",
         S.INTERFACE: "org.freedesktop.DBus", S.MEMBER: "Hello"},
        {**aa(t, "web-03", "sock", None, operation="connect", class_="unix"),
         S.ADDR: "@/tmp/.X11-unix/X0"},
        {**aa(t, "web-03", "net", None, operation="create", class_="net"),
         S.FAMILY: "inet", S.SOCK_TYPE: "stream", S.PROTOCOL: "6"},
        {**aa(t, "web-03", "mover", "/proc/1234/fd/7", operation="rename_src"),
         S.NAME2: "/srv/12/new"},
        aa(t, "web-03", "killed", "/etc/shadow", S.AA_KILL),
        {**aa(t, "web-03", "forged", "/etc/passwd"), S.SUSPECT: S.SUSPECT_FROM_USERSPACE},
        {**aa(t, "web-03", "noclass", "/usr/lib/x.so", operation="file_mmap"), S.CLASS: None},
    ]  # fmt: skip
    rows = scenario() + more
    return [{**r, S.SERIAL: i + 1} for i, r in enumerate(rows)]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only store with every object kind, written through the real sink."""
    con = build_store(_every_class(), LOSS_ROWS, tmp_path_factory.mktemp("scope") / "s.duckdb")
    yield con
    con.close()


def test_report_events_equals_the_store_views(store: duckdb.DuckDBPyConnection) -> None:
    """The narrow scan yields exactly the rows the denials / complain_events views give."""
    queries.open_window(store, timedelta(days=7), None)
    views = store.execute(f"SELECT count(*) FROM ({VIEWS_SHAPE})").fetchone()
    assert views is not None and views[0] > 20
    for a, b in ((VIEWS_SHAPE, "SELECT * FROM report_events"),
                 ("SELECT * FROM report_events", VIEWS_SHAPE)):  # fmt: skip
        extra = store.execute(f"({a}) EXCEPT ALL ({b})").fetchall()
        assert extra == []
    ours = store.execute("SELECT count(*) FROM report_events").fetchone()
    assert ours == views


def test_report_scope_keeps_the_window_end_and_host(store: duckdb.DuckDBPyConnection) -> None:
    """report_scope holds the events of the window and the one before it, report_history
    the older ones per signature and host; both up to the window's end, of its host."""
    until = END - timedelta(hours=2)
    w = queries.open_window(store, timedelta(hours=24), until, host="web-01")
    assert w.until == until
    prev_since = until - timedelta(hours=48)
    for table in ("report_scope", "report_history"):
        rows = store.execute(f"SELECT DISTINCT host FROM {table}").fetchall()
        assert rows == [("web-01",)]
    counts = store.execute(
        "SELECT count(*) FILTER (WHERE ts > ?), count(*) FILTER (WHERE ts <= ?)"
        " FROM report_events WHERE host = 'web-01' AND ts <= ?",
        [prev_since, prev_since, until],
    ).fetchone()
    scope = store.execute(
        "SELECT count(*), min(ts) > ?, max(ts) <= ? FROM report_scope", [prev_since, until]
    ).fetchone()
    history = store.execute(
        "SELECT sum(events), max(last_seen) <= ? FROM report_history", [prev_since]
    ).fetchone()
    assert counts is not None and counts[1] > 0  # the scenario has older events
    assert (counts[0], True, True) == scope
    assert (counts[1], True) == history
    # the next window replaces them
    queries.open_window(store, timedelta(hours=24), None)
    hosts = store.execute("SELECT count(DISTINCT host) FROM report_scope").fetchone()
    assert hosts is not None and hosts[0] > 1
