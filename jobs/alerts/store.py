"""One-shot evaluation over a DuckDB store (the ``armorwatch alerts test`` path)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa

from armorwatch.jobs import sqlfiles
from armorwatch.jobs.alerts.evaluators import Context, run_rules
from armorwatch.jobs.alerts.messages import Alert
from armorwatch.jobs.alerts.rules import AlertRules
from armorwatch.jobs.alerts.state import AlertState
from armorwatch.parsers import schema as S


def newest(
    con: duckdb.DuckDBPyConnection, now: float | None = None, trusted: bool = True
) -> datetime | None:
    """The default end of the windows: the newest record, or a loss row up to 1 h later.

    Records lead because a loss row's time is when a collector noticed the loss (another
    clock, or a year guessed from a syslog line); a loss reported shortly after the last
    record still counts. With ``now`` (unix seconds), times more than five minutes ahead
    of it are ignored, so one host with a clock far in the future cannot push every
    window past the rest of the fleet. With ``trusted`` (the default) forged-looking
    records (``suspect`` not null) are ignored too: their time is whatever the forger
    wrote, and a late one would make every other host look silent.
    """
    limit = datetime.fromtimestamp(now + 300.0, UTC) if now is not None else None
    [(latest,)] = con.execute(
        "WITH r AS (SELECT max(ts) AS m FROM records WHERE ($limit IS NULL OR ts <= $limit) "
        "AND (NOT $trusted OR suspect IS NULL)), "
        "l AS (SELECT max(ts) AS m FROM loss, r WHERE ($limit IS NULL OR ts <= $limit) "
        "AND (r.m IS NULL OR ts <= r.m + INTERVAL 1 HOUR)) "
        "SELECT epoch_ms(coalesce(greatest(r.m, l.m), r.m, l.m)) FROM r, l",
        {"limit": limit, "trusted": trusted},
    ).fetchall()
    if latest is None:
        return None
    return datetime.fromtimestamp(latest / 1000, UTC)


def ensure_loss(con: duckdb.DuckDBPyConnection) -> None:
    """Create an empty ``loss`` table when the store has none (tests, old stores)."""
    [(found,)] = con.execute(
        "SELECT (SELECT count(*) FROM duckdb_tables() WHERE table_name = 'loss') + "
        "(SELECT count(*) FROM duckdb_views() WHERE view_name = 'loss')"
    ).fetchall()
    if found:
        return
    con.register("_aw_empty_loss", pa.Table.from_batches([S.empty_batch(S.LOSS_SCHEMA)]))
    con.execute("CREATE TEMP TABLE loss AS SELECT * FROM _aw_empty_loss")
    con.unregister("_aw_empty_loss")


def only_hosts(con: duckdb.DuckDBPyConnection, hosts: Sequence[str]) -> None:
    """Make ``con`` see only ``hosts``' rows: TEMP views named ``records`` and ``loss``
    over the store's tables, filtered. The store's views (``denials``,
    ``complain_events``, ``profile_status``, ...) name ``records`` unqualified, and DuckDB
    looks names up in the temp catalog first, so they and every alert job follow.
    The host names are an Arrow table, bound, never pasted into SQL."""
    [(db,)] = con.execute("SELECT current_database()").fetchall()
    catalog = '"' + str(db).replace('"', '""') + '"'  # an identifier: cannot be bound
    con.register("_aw_only_hosts", pa.table({"host": pa.array(list(hosts), pa.string())}))
    stored = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main'"
    ).fetchall()
    for table in ("records", "loss"):
        if (table,) not in stored:
            continue  # an old store without loss: ensure_loss gives an empty one
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT * FROM {catalog}.main.{table} "
            "WHERE host::VARCHAR IN (SELECT host FROM _aw_only_hosts)"
        )


def evaluate(
    con: duckdb.DuckDBPyConnection,
    rules: AlertRules,
    until: datetime | None = None,
    state: AlertState | None = None,
) -> list[Alert]:
    """Every alert the enabled rules raise over the store, windows ending at ``until``.

    ``until`` defaults to the newest trustworthy record in the store (so old data
    evaluates as if live, and dead-man compares hosts with the rest of the fleet); the
    forged rule's window ends at the newest record of any kind. With a ``state``,
    first-seen signatures already known to it are skipped and new ones remembered.
    """
    ensure_loss(con)
    sqlfiles.load("alert_store_views").execute(con)
    forged_until = until
    if until is None:
        now = time.time()
        any_newest = newest(con, now, trusted=False)
        until = newest(con, now) or any_newest
        if until is None or any_newest is None:
            return []
        until += timedelta(milliseconds=1)  # windows are [since, until)
        forged_until = max(until, any_newest + timedelta(milliseconds=1))
    ctx = Context(con, until, state, stream=False, forged_until=forged_until)
    return run_rules(rules, ctx)
