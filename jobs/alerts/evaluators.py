"""One evaluator per rule kind: a ``jobs/sql/alert_*.sql`` job's rows → ``Alert``s.

Each evaluator reads the names both evaluation paths provide (the store's views, or the
continuous window's tables of the same names and shapes), so one code path serves both;
``Context.stream`` says which one runs where the two must differ.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import duckdb

from armorwatch.jobs import risky, sqlfiles
from armorwatch.jobs import window as timewindow
from armorwatch.jobs.alerts.messages import Alert
from armorwatch.jobs.alerts.rules import ROLLUP_KEYS, SEVERITIES, AlertRule, AlertRules
from armorwatch.jobs.alerts.state import AlertState
from armorwatch.jobs.summary import UNKNOWN_HOST
from armorwatch.parsers import sanitize
from armorwatch.parsers import schema as S

# The longest example record (characters) a forged alert carries.
FORGED_EXAMPLE_CHARS: Final = 512


@dataclass
class Context:
    """What one evaluation pass knows."""

    con: duckdb.DuckDBPyConnection
    until: datetime
    """End of the windows: trustworthy records only decide it."""
    state: AlertState | None
    stream: bool
    """The continuous path (the in-memory window), not a one-shot run over the store."""
    forged_until: datetime | None = None
    """End of the forged rule's window (forged records may be newer than ``until``)."""


def rows(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The rows of an executed query as dicts keyed by column name."""
    cols = [d[0] for d in cur.description or ()]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def run_job(
    con: duckdb.DuckDBPyConnection, job: str, params: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The rows of the SQL job ``jobs/sql/<job>.sql`` run with ``params``."""
    return rows(sqlfiles.load(job).execute(con, params))


def text(v: Any) -> str:
    """A label value: NULL becomes the empty string."""
    return "" if v is None else str(v)


def signature(row: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """A denial signature (lsm, profile, class, object pattern) of a signature row."""
    return (
        text(row["lsm"]),
        text(row[S.PROFILE]),
        text(row[S.CLASS]),
        text(row["object_pattern"]),
    )


def _span(seconds: float) -> str:
    """A rule's window as people read it: ``10 min``, ``6 h`` (``jobs.window.human``)."""
    return timewindow.human(seconds)


def _threshold(rule: AlertRule, ctx: Context) -> list[Alert]:
    since = ctx.until - timedelta(seconds=rule.window_s)
    baseline_since = since - timedelta(seconds=rule.baseline_s if rule.kind == "spike" else 0)
    found = run_job(
        ctx.con,
        "alert_denial_counts",
        {"baseline_since": baseline_since, "since": since, "until": ctx.until},
    )
    keys = rule.by or ROLLUP_KEYS
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for row in found:
        if rule.kernel_only and row[S.ORIGIN] == S.ORIGIN_USERSPACE:
            continue
        key = tuple(text(row[k]) for k in keys)
        g = groups.setdefault(
            key,
            {"current": 0, "baseline": 0, "first": None, "last": None, "example": None},
        )
        g["current"] += row["current"]
        g["baseline"] += row["baseline"]
        if row["first_ms"] is not None:
            g["first"] = min(x for x in (g["first"], row["first_ms"]) if x is not None)
        if row["last_ms"] is not None and (g["last"] is None or row["last_ms"] > g["last"]):
            g["last"], g["example"] = row["last_ms"], row["example"]
    out = []
    for key, g in groups.items():
        labels = dict(zip(keys, key, strict=True))
        who = " ".join(v for v in key if v)
        if g["current"] < rule.min_count:
            continue
        if rule.kind == "threshold":
            summary = f"{g['current']} denials in {_span(rule.window_s)} ({who})"
            detail: dict[str, Any] = {"example": g["example"]}
        else:
            base_rate = g["baseline"] / rule.baseline_s
            rate = g["current"] / rule.window_s
            if base_rate > 0 and rate < rule.factor * base_rate:
                continue
            ratio = rate / base_rate if base_rate > 0 else None
            before = (
                f"{ratio:.1f}x the rate of the {_span(rule.baseline_s)} before"
                if ratio is not None
                else f"none in the {_span(rule.baseline_s)} before"
            )
            summary = f"denial spike ({who}): {g['current']} in {_span(rule.window_s)}, {before}"
            detail = {"baseline": g["baseline"], "ratio": ratio, "example": g["example"]}
        out.append(
            Alert.of(
                rule,
                labels,
                count=g["current"],
                first_ms=g["first"],
                last_ms=g["last"],
                summary=summary,
                detail=detail,
            )
        )
    return out


def _first_seen(rule: AlertRule, ctx: Context) -> list[Alert]:
    since = ctx.until - timedelta(seconds=rule.window_s)
    found = run_job(ctx.con, "alert_new_signatures", {"since": since, "until": ctx.until})
    out = []
    for row in found:
        if rule.kernel_only and row["userspace_only"]:
            continue
        sig = signature(row)
        if ctx.state is not None and not ctx.state.learn_signature(sig, row["first_ms"]):
            continue  # seen before this process's window (the state remembers it)
        labels = {
            S.HOST: text(row["first_host"]),
            S.PROFILE: sig[1],
            S.CLASS: sig[2],
            "object": sig[3],
        }
        out.append(
            Alert.of(
                rule,
                labels,
                count=int(row["denials"]),
                first_ms=row["first_ms"],
                last_ms=row["last_ms"],
                summary=f"new denial: {sig[1]} {sig[2]} {sig[3]}",
                detail={"example": row["example"], "hosts": row["hosts"], "lsm": sig[0]},
            )
        )
    return out


def _sensitive(rule: AlertRule, ctx: Context) -> list[Alert]:
    since = ctx.until - timedelta(seconds=rule.window_s)
    found = run_job(ctx.con, "alert_sensitive", {"since": since, "until": ctx.until})
    merged: dict[tuple[str, ...], dict[str, Any]] = {}
    for row in found:
        if rule.kernel_only and row[S.ORIGIN] == S.ORIGIN_USERSPACE:
            continue
        risk = risky.match(row[S.CLASS], row[S.NAME], row[S.CAPNAME])
        if risk is None:
            continue
        key = (
            text(row[S.HOST]),
            text(row[S.PROFILE]),
            text(row[S.CLASS]),
            text(row["object"]),
            row["decision"],
        )
        m = merged.setdefault(
            key,
            {
                "hits": 0,
                "first": None,
                "last": None,
                "risk": risk,
                "comm": row["comm"],
                "origins": set(),
            },
        )
        m["hits"] += row["hits"]
        m["first"] = row["first_ms"] if m["first"] is None else min(m["first"], row["first_ms"])
        m["last"] = row["last_ms"] if m["last"] is None else max(m["last"], row["last_ms"])
        m["origins"].add(text(row[S.ORIGIN]))
    out = []
    for (host, profile, class_, obj, decision), m in merged.items():
        if m["hits"] < rule.min_count:
            continue
        risk = m["risk"]
        verb = "denied" if decision == "denied" else "ALLOWED (complain mode)"
        summary = (
            f"sensitive {class_} access {verb}: {obj} by {profile} ({risk.reason}), {m['hits']}x"
        )
        detail = {
            "reason": risk.reason,
            "matched": risk.what,
            "decision": decision,
            "comm": m["comm"],
            "origin": sorted(m["origins"]),
        }
        out.append(
            Alert.of(
                rule,
                {S.HOST: host, S.PROFILE: profile, S.CLASS: class_, "object": obj},
                count=m["hits"],
                first_ms=m["first"],
                last_ms=m["last"],
                summary=summary,
                detail=detail,
                severity=rule.severity if risk.severity != "warning" else _milder(rule.severity),
            )
        )
    return out


def _milder(severity: str) -> str:
    return SEVERITIES[min(SEVERITIES.index(severity) + 1, len(SEVERITIES) - 1)]


def _profile_change(rule: AlertRule, ctx: Context) -> list[Alert]:
    since = ctx.until - timedelta(seconds=rule.window_s)
    found = run_job(ctx.con, "alert_profile_changes", {"since": since, "until": ctx.until})
    if ctx.state is not None and ctx.stream:
        # The window is short: a complain switch is also "ALLOWED now, DENIED remembered".
        found += _complain_switches(ctx.con, ctx.state, since, ctx.until, found)
    out = []
    for row in found:
        host, profile, change = text(row[S.HOST]), text(row[S.PROFILE]), row["change"]
        if change == "unloaded":
            summary = f"profile {profile} unloaded"
        else:
            summary = f"profile {profile} switched to complain mode ({row['events']} ALLOWED)"
        out.append(
            Alert.of(
                rule,
                {S.HOST: host, S.PROFILE: profile, "change": change},
                count=int(row["events"]),
                first_ms=row["first_ms"],
                last_ms=row["last_ms"],
                summary=summary,
                detail={"comm": row["comm"]},
            )
        )
    return out


def _complain_switches(
    con: duckdb.DuckDBPyConnection,
    state: AlertState,
    since: datetime,
    until: datetime,
    changes: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Profiles with ALLOWED records in the window that ``state`` knew as enforcing, and
    that ``changes`` (the window's own profile changes) do not already report."""
    already = {(text(r[S.HOST]), text(r[S.PROFILE]), r["change"]) for r in changes}
    allowed = rows(
        con.execute(
            "SELECT host, profile, count(*) AS events, epoch_ms(min(ts)) AS first_ms, "
            "epoch_ms(max(ts)) AS last_ms, arg_max(comm, ts) AS comm "
            "FROM complain_events WHERE ts >= $since AND ts < $until "
            "AND profile IS NOT NULL AND suspect IS NULL GROUP BY ALL",
            {"since": since, "until": until},
        )
    )
    out = []
    for row in allowed:
        host, profile = text(row[S.HOST]), text(row[S.PROFILE])
        if (host, profile, "complain") not in already and state.was_enforcing(host, profile):
            out.append({**row, "change": "complain"})
    return out


def _loss(rule: AlertRule, ctx: Context) -> list[Alert]:
    since = ctx.until - timedelta(seconds=rule.window_s)
    found = run_job(ctx.con, "alert_loss", {"since": since, "until": ctx.until})
    out = []
    for row in found:
        kind = text(row[S.KIND])
        if rule.loss_kinds and kind not in rule.loss_kinds:
            continue
        lost = int(row["lost"] or 0)
        if lost < rule.min_count:
            continue
        labels = {S.HOST: text(row[S.HOST]), "kind": kind, S.SOURCE: text(row[S.SOURCE])}
        out.append(
            Alert.of(
                rule,
                labels,
                count=lost,
                first_ms=row["first_ms"],
                last_ms=row["last_ms"],
                summary=f"{lost} records lost ({kind}) from {labels[S.SOURCE] or 'a source'}",
                detail={"detail": row["detail"], "reports": row["reports"]},
            )
        )
    return out


def _example(raw: Any) -> str:
    """A stored record's bytes as text (raw: the renderers escape it), cut for an alert."""
    if raw is None:
        return ""
    decoded = bytes(raw).decode("utf-8", "backslashreplace")
    return sanitize.truncate(decoded, FORGED_EXAMPLE_CHARS)


def _forged(rule: AlertRule, ctx: Context) -> list[Alert]:
    """One alert per host holding records that claim the kernel but look forged."""
    until = ctx.forged_until or ctx.until
    since = until - timedelta(seconds=rule.window_s)
    found = run_job(ctx.con, "alert_forged", {"since": since, "until": until})
    hosts: dict[str, dict[str, Any]] = {}
    for row in found:
        h = hosts.setdefault(
            text(row[S.HOST]),
            {"count": 0, "first": None, "last": None, "reasons": {}, "example": None,
             "sources": set(), "origins": set()},
        )  # fmt: skip
        n = int(row["records"])
        h["count"] += n
        h["reasons"][text(row["reason"])] = n
        h["first"] = row["first_ms"] if h["first"] is None else min(h["first"], row["first_ms"])
        if h["last"] is None or row["last_ms"] >= h["last"]:
            h["last"], h["example"] = row["last_ms"], row["example"]
        h["sources"].update(text(s) for s in row["sources"] or ())
        h["origins"].update(text(o) for o in row["origins"] or ())
    out = []
    for host, h in sorted(hosts.items()):
        if h["count"] < rule.min_count:
            continue
        reasons = dict(sorted(h["reasons"].items(), key=lambda kv: (-kv[1], kv[0])))
        why = "; ".join(f"{r} ({n})" for r, n in reasons.items())
        summary = (
            f"{h['count']} kernel records forged from userspace on host "
            f"{host or UNKNOWN_HOST}: {why}"
        )
        detail = {
            "reasons": reasons,
            "example": _example(h["example"]),
            "sources": sorted(h["sources"]),
            "origins": sorted(h["origins"]),
        }
        out.append(
            Alert.of(
                rule,
                {S.HOST: host, "kind": rule.kind},
                count=h["count"],
                first_ms=h["first"],
                last_ms=h["last"],
                summary=summary,
                detail=detail,
            )
        )
    return out


def _deadman(rule: AlertRule, ctx: Context) -> list[Alert]:
    if ctx.stream:
        return []  # the continuous path checks silence on wall-clock ticks instead
    found = run_job(
        ctx.con,
        "alert_silent_hosts",
        {
            "lookback_since": ctx.until - timedelta(seconds=rule.lookback_s),
            "silent_since": ctx.until - timedelta(seconds=rule.silence_s),
        },
    )
    until_ms = int(ctx.until.timestamp() * 1000)
    # Silence over a store is measured back from its newest record. Replayed or stale logs
    # (that record long before the wall clock) and a host whose whole history is shorter
    # than its silence (logs of different hours) say little about a host being down now:
    # still reported, as info, and the summary says why.
    age_s = time.time() - ctx.until.timestamp()
    out = []
    for r in found:
        silent_s = (until_ms - r["last_ms"]) / 1000
        notes = []
        span_s = (r["last_ms"] - r["first_ms"]) / 1000
        if span_s < silent_s:
            notes.append(
                f"its records span only {timewindow.human(span_s)}: too little history "
                "to call this an outage"
            )
        if age_s > max(rule.silence_s, silent_s):
            notes.append(
                f"measured before the store's newest record, which is "
                f"{timewindow.human(age_s)} old (replayed or stale logs), not until now"
            )
        out.append(deadman_alert(rule, text(r[S.HOST]), r["last_ms"], until_ms, tuple(notes)))
    return out


def deadman_alert(
    rule: AlertRule, host: str, last_ms: int, now_ms: int, notes: tuple[str, ...] = ()
) -> Alert:
    """The alert of ``host`` silent since ``last_ms``; ``notes`` (doubts) make it info."""
    silent = max(0, (now_ms - last_ms) // 1000)
    summary = f"host silent for {timewindow.human(silent)} (no records, no loss reports)"
    if notes:
        summary += "; " + "; ".join(notes)
    return Alert.of(
        rule,
        {S.HOST: host},
        count=0,
        first_ms=last_ms,
        last_ms=last_ms,
        summary=summary,
        detail={"silent_s": silent, "doubts": list(notes)} if notes else {"silent_s": silent},
        severity="info" if notes else None,
    )


_EVALUATORS: Final[Mapping[str, Callable[[AlertRule, Context], list[Alert]]]] = {
    "threshold": _threshold,
    "spike": _threshold,
    "first_seen": _first_seen,
    "sensitive": _sensitive,
    "profile_change": _profile_change,
    "loss": _loss,
    "deadman": _deadman,
    "forged": _forged,
}


def run_rules(rules: AlertRules, ctx: Context) -> list[Alert]:
    """Every alert the enabled rules raise in ``ctx``, in rule order."""
    return [alert for rule in rules.enabled for alert in _EVALUATORS[rule.kind](rule, ctx)]
