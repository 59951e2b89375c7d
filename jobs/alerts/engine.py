"""Continuous evaluation: the rules over each newly stored batch, dead-man on ticks.

Recent rows are kept in an in-memory DuckDB window whose tables carry the names and
shapes of the store's (filled through the views of ``jobs/sql/alert_window_views.sql``),
so the same evaluators and SQL jobs run over it as over the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from armorwatch.jobs import sqlfiles
from armorwatch.jobs.alerts import evidence
from armorwatch.jobs.alerts.evaluators import Context, deadman_alert, run_job, run_rules, signature
from armorwatch.jobs.alerts.grouping import Grouper
from armorwatch.jobs.alerts.messages import Alert, Notification
from armorwatch.jobs.alerts.rules import AlertRules
from armorwatch.jobs.alerts.state import AlertState
from armorwatch.parsers import schema as S

# Columns the continuous path keeps in its window (what the alert_*.sql jobs read; raw
# only in the alert_forged table).
WINDOW_COLUMNS: Final = (
    S.TS,
    S.HOST,
    S.SOURCE,
    S.RECORD_TYPE,
    S.ORIGIN,
    S.SUSPECT,
    S.LSM,
    S.APPARMOR,
    S.SERESULT,
    S.OPERATION,
    S.CLASS,
    S.TCLASS,
    S.MEDIATION_CLASS,
    S.PROFILE,
    S.SCONTEXT,
    S.TCONTEXT,
    S.NAME,
    S.NAME2,
    S.PATH,
    S.ADDR,
    S.PEER_ADDR,
    S.PEER,
    S.SIGNAL,
    S.BUS,
    S.INTERFACE,
    S.MEMBER,
    S.FAMILY,
    S.SOCK_TYPE,
    S.PROTOCOL,
    S.CAPNAME,
    S.COMM,
    S.RAW,
    # who did it and what the AppArmor rule allowing it needs (jobs.alerts.evidence;
    # mostly null, so cheap in the window)
    S.PID,
    S.EXE,
    S.REQUESTED_MASK,
    S.DENIED_MASK,
    S.FSUID,
    S.OUID,
    S.INFO,
    S.FLAGS,
    S.FSTYPE,
    S.SRCNAME,
    S.PEER_LABEL,
    S.LADDR,
    S.LPORT,
    S.FADDR,
    S.FPORT,
)
# The window's tables, each filled from the view _in_<name> of alert_window_views.sql.
_WINDOW_TABLES: Final = ("denials", "complain_events", "alert_profile_status", "alert_forged")


@dataclass
class AlertEngineStats:
    """Counters of the continuous path."""

    batches: int = 0
    """Record/loss batches observed."""
    rows: int = 0
    """Rows added to the window."""
    evaluations: int = 0
    """Rule evaluations over the window."""
    trimmed: int = 0
    """Window rows dropped early because a table exceeded max_rows."""
    alerts: int = 0
    """Alerts raised (before grouping)."""
    notifications: int = 0
    """Notifications planned (after grouping)."""
    suppressed: int = 0
    """Group firings suppressed."""


def _plain(batch: pa.RecordBatch, columns: Sequence[str]) -> pa.Table:
    """``columns`` of ``batch`` with dictionary columns decoded (stable window types)."""
    arrays = []
    for name in columns:
        col = batch.column(name)
        if pa.types.is_dictionary(col.type):
            col = col.dictionary_decode()
        arrays.append(col)
    return pa.Table.from_arrays(arrays, names=list(columns))


class AlertEngine:
    """Evaluates the rules on each newly stored batch; dead-man timers on ``tick``.

    Not thread-safe; the processor calls it from its event loop (or a worker thread,
    one call at a time).
    """

    def __init__(
        self,
        rules: AlertRules,
        state: AlertState,
        max_future_s: float | None = None,
        max_rows: int = 500_000,
    ) -> None:
        """``max_future_s``: with a real wall clock as ``now``, ignore event times further
        ahead than this when advancing the window (None: event time alone decides).
        ``max_rows``: bound of each window table (oldest rows trimmed first, counted)."""
        self._max_future_s = max_future_s
        self._max_rows = max_rows
        self.rules = rules
        self.state = state
        self.grouper = Grouper(rules, state)
        self.stats = AlertEngineStats()
        self._con = duckdb.connect(":memory:")
        self._con.register("_aw_in", _plain(S.empty_batch(S.MAC_SCHEMA), WINDOW_COLUMNS))
        self._con.execute(sqlfiles.load("alert_window_views").text)
        for table in _WINDOW_TABLES:
            # Fixed names (never input): empty tables shaped like their feeding view.
            self._con.execute(f"CREATE TABLE {table} AS SELECT * FROM _in_{table}")
        self._con.unregister("_aw_in")
        self._con.register("_aw_l", pa.Table.from_batches([S.empty_batch(S.LOSS_SCHEMA)]))
        self._con.execute("CREATE TABLE loss AS SELECT * FROM _aw_l")
        self._con.unregister("_aw_l")
        spans = [r.window_s + (r.baseline_s if r.kind == "spike" else 0) for r in rules.rule]
        self._retain = timedelta(seconds=max(spans, default=300.0))
        self._until: datetime | None = None
        # End of the forged rule's window: forged rows advance only this one, so a
        # forger's timestamp cannot drag the other rules' windows past the real rows.
        self._forged_until: datetime | None = None
        self.dirty = False
        """Rows were added since the last evaluation."""

    def close(self) -> None:
        """Release the window connection."""
        self._con.close()

    def observe(
        self, records: pa.RecordBatch | None, loss: pa.RecordBatch | None, now: float
    ) -> list[tuple[str, Notification]]:
        """Add a stored batch to the window, evaluate, and return the notifications due."""
        self.add(records, loss, now)
        return self.evaluate(now)

    def seed_signatures(self, con: duckdb.DuckDBPyConnection) -> int:
        """Remember every signature stored in ``con`` as known; return how many were new."""
        new = 0
        for row in run_job(con, "alert_known_signatures", {}):
            new += self.state.learn_signature(signature(row), row["first_ms"])
        return new

    def evaluate(self, now: float) -> list[tuple[str, Notification]]:
        """Evaluate the window if rows arrived since the last evaluation; plan notifications."""
        if not self.dirty:
            return []
        ran = [r.name for r in self.rules.enabled if r.kind != "deadman"]
        return self._plan(self.current_alerts(), now, ran)

    def add(self, records: pa.RecordBatch | None, loss: pa.RecordBatch | None, now: float) -> bool:
        """Add a stored batch to the window (and heartbeats); True when it had timed rows."""
        self.stats.batches += 1
        hosts: set[str] = set()
        newest_ms: list[int] = []
        forged_ms: list[int] = []
        for batch, columns in ((records, WINDOW_COLUMNS), (loss, tuple(S.LOSS_SCHEMA.names))):
            if batch is None or batch.num_rows == 0:
                continue
            data = _plain(batch, columns)
            self._con.register("_aw_in", data)
            if batch is records:
                for table in _WINDOW_TABLES:
                    self._con.execute(f"INSERT INTO {table} SELECT * FROM _in_{table}")
            else:
                self._con.execute("INSERT INTO loss BY NAME SELECT * FROM _aw_in")
            self._con.unregister("_aw_in")
            ts = data.column(S.TS).cast(pa.int64())
            if self._max_future_s is not None:
                # A host whose clock runs ahead must not drag the windows past everyone
                # else's rows (which would blind the rules): it cannot move the end of
                # the window beyond wall-clock now + max_future_s.
                limit = int((now + self._max_future_s) * 1000)
                ts = pc.if_else(pc.less_equal(ts, limit), ts, pa.scalar(None, pa.int64()))
            hosts_col = data.column(S.HOST)
            if batch is records:
                # Forged-looking rows are no sign of life, and they move only the forged
                # rule's window: a forger's timestamp must not drag the others past real rows.
                any_latest = pc.max(ts).as_py()
                if any_latest is not None:
                    forged_ms.append(int(any_latest))
                trusted = pc.is_null(data.column(S.SUSPECT))
                ts, hosts_col = pc.filter(ts, trusted), pc.filter(hosts_col, trusted)
            latest = pc.max(ts).as_py()
            if latest is not None:
                newest_ms.append(int(latest))
                forged_ms.append(int(latest))
            hosts.update(h for h in pc.unique(hosts_col).to_pylist() if h)
            self.stats.rows += data.num_rows
        if hosts:
            self.state.heartbeat(hosts, now)
        if not forged_ms:
            return False
        self.dirty = True
        one = timedelta(milliseconds=1)
        forged = datetime.fromtimestamp(max(forged_ms) / 1000, UTC) + one
        if self._forged_until is None or forged > self._forged_until:
            self._forged_until = forged
        if newest_ms:
            newest = datetime.fromtimestamp(max(newest_ms) / 1000, UTC) + one
            if self._until is None or newest > self._until:
                self._until = newest
        cut = (self._until or self._forged_until) - self._retain
        # Rows without a time can never be inside a window.
        for table in (*_WINDOW_TABLES, "loss"):
            self._con.execute(f"DELETE FROM {table} WHERE ts < $cut OR ts IS NULL", {"cut": cut})
            self._bound(table)
        return True

    def _bound(self, table: str) -> None:
        """Keep at most ``max_rows`` newest rows in a window table; count what is trimmed.

        A flood (50k denials/s) would otherwise hold hours of rows in memory for the
        spike baseline; trimming only shortens the history the rules see.
        """
        [(n,)] = self._con.execute(f"SELECT count(*) FROM {table}").fetchall()
        if n <= self._max_rows:
            return
        self._con.execute(
            f"DELETE FROM {table} WHERE ts < (SELECT ts FROM {table} "
            "ORDER BY ts DESC LIMIT 1 OFFSET $keep)",
            {"keep": self._max_rows - 1},
        )
        [(left,)] = self._con.execute(f"SELECT count(*) FROM {table}").fetchall()
        self.stats.trimmed += n - left

    def current_alerts(self) -> list[Alert]:
        """Every non-deadman alert over the window now (learns signatures and modes)."""
        self.dirty = False
        if self._forged_until is None:
            return []
        self.stats.evaluations += 1
        # Only forged rows so far: the other rules see an empty window ending there.
        until = self._until or self._forged_until
        ctx = Context(self._con, until, self.state, stream=True, forged_until=self._forged_until)
        alerts = run_rules(self.rules, ctx)
        self.state.learn_enforcing(
            (str(h), str(p))
            for h, p in self._con.execute(
                "SELECT DISTINCT host, profile FROM denials WHERE profile IS NOT NULL "
                "AND host IS NOT NULL AND apparmor = 'DENIED' AND suspect IS NULL"
            ).fetchall()
        )
        return alerts

    def tick(self, now: float) -> list[tuple[str, Notification]]:
        """Dead-man check on wall-clock time; returns the notifications due."""
        alerts = []
        for rule in self.rules.enabled:
            if rule.kind != "deadman":
                continue
            for host, last in self.state.silent_hosts(now - rule.silence_s, now - rule.lookback_s):
                alerts.append(deadman_alert(rule, host, int(last * 1000), int(now * 1000)))
        ran = [r.name for r in self.rules.enabled if r.kind == "deadman"]
        return self._plan(alerts, now, ran)

    def _plan(
        self, alerts: list[Alert], now: float, ran: Sequence[str] = ()
    ) -> list[tuple[str, Notification]]:
        self.stats.alerts += len(alerts)
        before = self.grouper.suppressed
        planned = self.grouper.plan(alerts, now, ran)
        self.stats.suppressed += self.grouper.suppressed - before
        self.stats.notifications += len(planned)
        if not planned:
            return planned
        # only what is notified gets its record looked up (pid, comm, exe, the rule)
        notes = evidence.attach(self._con, [n for _, n in planned], evidence.STREAM_LOOKUPS)
        return [(key, n) for (key, _), n in zip(planned, notes, strict=True)]
