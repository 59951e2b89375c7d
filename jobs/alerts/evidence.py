"""What on-call needs to act on a denial alert, beside the command to investigate: the
latest record behind it (pid, comm, exe, the raw line) and the AppArmor rule that would
allow it. Looked up only for the alerts a notification carries (``attach``), not on
every evaluation, with one bounded query each (``jobs/sql/alert_evidence.sql``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import duckdb

from armorwatch.jobs import apparmor_rules
from armorwatch.jobs.alerts.evaluators import run_job
from armorwatch.jobs.alerts.messages import Alert, Notification
from armorwatch.parsers import sanitize
from armorwatch.parsers import schema as S

KINDS: Final = frozenset({"threshold", "spike", "first_seen", "sensitive"})
"""Alert kinds that stand for denied (or complain-mode) accesses with a record behind."""
RAW_MAX: Final = 2000
"""Characters of the raw line a message carries (the investigate command shows all)."""
MAX_LOOKUPS: Final = 200
"""Most alerts looked up per call: a first run over a big store can raise thousands."""
STREAM_LOOKUPS: Final = 50
"""The same for the processor's window, where a lookup delays delivery (~ms each)."""


def _when(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def lookup(con: duckdb.DuckDBPyConnection, alert: Alert) -> dict[str, Any] | None:
    """The evidence of one alert: ``{"example": {...}, "suggested_rule": str | None}``, or
    None when it has no record behind it (another kind, or nothing found)."""
    if alert.kind not in KINDS or alert.first_ms is None or alert.last_ms is None:
        return None
    lab = alert.labels
    found = run_job(
        con,
        "alert_evidence",
        {
            "since": _when(alert.first_ms),
            "until": _when(alert.last_ms),
            "host": lab.get(S.HOST) or None,
            "profile": lab.get(S.PROFILE) or None,
            "object": lab.get("object") or None,
        },
    )
    if not found:
        return None
    row = found[0]
    raw = row.get(S.RAW)
    example = {
        "ts": _iso(row.get(S.TS)),
        S.PID: row.get(S.PID),
        S.COMM: row.get(S.COMM),
        S.EXE: row.get(S.EXE),
        # raw text (escaped by each renderer with parsers.sanitize); None in the
        # continuous window, which keeps no raw bytes: the investigate command shows it
        S.RAW: sanitize.truncate(_text(raw), RAW_MAX) if raw is not None else None,
    }
    return {"example": example, "suggested_rule": _rule(row)}


def _iso(ts: Any) -> str | None:
    if isinstance(ts, datetime):
        ts = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
        return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return None


def _text(raw: Any) -> str:
    if isinstance(raw, bytes | bytearray | memoryview):
        return bytes(raw).decode("utf-8", "surrogateescape")
    return str(raw)


def _rule(row: Mapping[str, Any]) -> str | None:
    """The AppArmor rule aa-logprof would offer for this record (the narrowest one;
    ``armorwatch suggest`` generalises over every record), None for SELinux or a record
    no rule can allow."""
    if row.get(S.PROFILE) is None:
        return None
    try:
        built = apparmor_rules.build(row)
    except (KeyError, TypeError, ValueError):
        return None  # a record missing what the rule needs (the window keeps fewer columns)
    text = getattr(built, "text", None)
    return text if isinstance(text, str) and text else None


def attach(
    con: duckdb.DuckDBPyConnection, notes: Sequence[Notification], limit: int = MAX_LOOKUPS
) -> list[Notification]:
    """``notes`` with each denial alert's evidence in ``Alert.evidence`` (the first
    ``limit`` denial alerts; the others keep only their investigate command)."""
    budget = limit
    out = []
    for n in notes:
        alerts = []
        for a in n.alerts:
            found = None
            if budget > 0 and a.kind in KINDS:
                budget -= 1
                found = lookup(con, a)
            alerts.append(dataclasses.replace(a, evidence=found) if found else a)
        out.append(dataclasses.replace(n, alerts=tuple(alerts)))
    return out
