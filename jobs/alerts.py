"""Alert rules over the denial stream, with Alertmanager-style grouping and suppression.

Rules are data (``jobs/alert_rules.toml`` holds the defaults; ``armorwatch.alerting``
loads a file into ``AlertRules``). Eight kinds, each backed by one ``jobs/sql/alert_*.sql``
job over the store's names (``denials``, ``complain_events``, ``loss``, ``records``, and
the TEMP views ``alert_profile_status`` / ``alert_forged`` of ``alert_store_views.sql``):

==============  ===============================================================
threshold       ≥ ``min_count`` denials per ``by`` keys (host/profile/class) in ``window_s``
spike           window rate ≥ ``factor`` × the rate of the preceding ``baseline_s``
first_seen      a denial signature (profile × class × normalised object) new fleet-wide
sensitive       a denial or complain-mode access that ``jobs.risky.match`` flags
profile_change  a profile unloaded, or switched from enforcing to complain mode
loss            counted loss: kernel ``lost``, collector blind, rotated away unread, …
deadman         a host that sent records before and has been silent for ``silence_s``
forged          records that claim the kernel but look written from userspace, per host
==============  ===============================================================

Only trustworthy records (``suspect IS NULL``, see ``parsers.schema.SUSPECT``) drive the
first seven kinds, the windows' end and the heartbeats: a ``logger -t kernel`` line or a
USER_AVC with ``class="file"`` must not raise "profile unloaded" or "sensitive access",
nor make a silent host look alive. Such records raise the ``forged`` alert instead.

Two ways to evaluate:

- ``evaluate(con, rules, until)`` over a DuckDB connection holding the store (the
  ``armorwatch alerts test`` path): windows end at ``until`` (default: the newest record).
- ``AlertEngine.observe(records, loss)`` over each newly stored Arrow batch (the
  processor's path): recent rows are kept in an in-memory DuckDB window and the same
  SQL jobs run over it; ``AlertEngine.tick()`` checks dead-man timers on wall-clock time.

Either way the alerts go through ``Grouper``: alerts sharing the values of the
``group_by`` keys (default host and profile) form one group and one notification.
A group is notified at once when first seen, again when a new alert joins it after
``group_interval_s``, and otherwise only every ``repeat_interval_s`` while it keeps
firing; everything else is counted as suppressed. So a ptrace loop denied 5,000 times
yields one notification. Group state, known signatures, host heartbeats and profile
modes live in a small SQLite file (``AlertState``) so suppression survives restarts.

Alert strings are raw log text; renderers escape them for their target with
``parsers.sanitize`` (the webhook sink for JSON/Slack, the CLI for the terminal).

Errors::

    AlertError (ValueError)   an invalid rule (unknown kind, bad key, bad number)
    jobs.sqlfiles.SqlJobError a job file is missing or malformed
"""

from __future__ import annotations

import hashlib
import json
import math
import shlex
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Final

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from jobs import risky, sqlfiles
from jobs import window as timewindow
from jobs.summary import UNKNOWN_HOST
from parsers import sanitize
from parsers import schema as S

KINDS: Final = (
    "threshold",
    "spike",
    "first_seen",
    "sensitive",
    "profile_change",
    "loss",
    "deadman",
    "forged",
)
# Keys an alert may carry and rules may group or roll up by.
LABEL_KEYS: Final = (S.HOST, S.PROFILE, S.CLASS, "object", "kind", S.SOURCE, "change")
ROLLUP_KEYS: Final = (S.HOST, S.PROFILE, S.CLASS)
SEVERITIES: Final = ("critical", "warning", "info")
MESSAGE_SCHEMA: Final = "armorwatch.alert/1"
DEFAULT_RULES: Final = "alert_rules.toml"

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
)
# The longest example record (characters) a forged alert carries.
FORGED_EXAMPLE_CHARS: Final = 512


class AlertError(ValueError):
    """An alert rule is invalid; the message names the rule and the key."""


@dataclass(frozen=True)
class AlertRule:
    """One alert rule (a ``[[rule]]`` table of the rules file)."""

    name: str
    """Unique name, shown in every alert of the rule."""
    kind: str
    """threshold | spike | first_seen | sensitive | profile_change | loss | deadman | forged."""
    severity: str = "warning"
    """critical | warning | info."""
    window_s: float = 300.0
    """Length of the evaluation window, seconds."""
    min_count: int = 1
    """Fewest events (denials, accesses, lost records) in the window that fire."""
    by: tuple[str, ...] = ()
    """threshold/spike: keys to count by, among host, profile, class (empty: all three)."""
    baseline_s: float = 21_600.0
    """spike: length of the baseline before the window, seconds."""
    factor: float = 10.0
    """spike: how many times the baseline rate the window rate must reach."""
    loss_kinds: tuple[str, ...] = ()
    """loss: LOSS_* kinds that fire (empty: every kind)."""
    silence_s: float = 600.0
    """deadman: a host silent this long fires."""
    lookback_s: float = 7 * 86_400.0
    """deadman: hosts silent for longer than this are forgotten (decommissioned)."""
    kernel_only: bool = False
    """Ignore userspace-origin records (USER_AVC text any CAP_AUDIT_WRITE process can forge)."""
    group_by: tuple[str, ...] | None = None
    """Override of the file-wide group_by for this rule's alerts."""
    enabled: bool = True
    """False keeps the rule in the file without evaluating it."""

    def __post_init__(self) -> None:
        where = f"rule {self.name!r}"
        if self.kind not in KINDS:
            raise AlertError(f"{where}: kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.severity not in SEVERITIES:
            raise AlertError(f"{where}: severity must be one of {', '.join(SEVERITIES)}")
        for key in self.by:
            if key not in ROLLUP_KEYS:
                raise AlertError(f"{where}: by {key!r} is not one of {', '.join(ROLLUP_KEYS)}")
        for key in self.group_by or ():
            if key not in LABEL_KEYS:
                raise AlertError(f"{where}: group_by {key!r} is not one of {LABEL_KEYS}")
        for name in ("window_s", "baseline_s", "silence_s", "lookback_s", "factor"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise AlertError(f"{where}: {name} must be a positive number")
        if self.min_count < 1:
            raise AlertError(f"{where}: min_count must be >= 1")


@dataclass(frozen=True)
class AlertRules:
    """A rules file: grouping settings and the rules."""

    rule: tuple[AlertRule, ...] = ()
    """The rules, in evaluation order."""
    group_by: tuple[str, ...] = (S.HOST, S.PROFILE)
    """Alerts with equal values of these labels form one group and one notification."""
    group_interval_s: float = 300.0
    """Least time between notifications of a group when new alerts join it."""
    repeat_interval_s: float = 14_400.0
    """Least time between notifications of a group whose alerts keep firing unchanged."""

    def __post_init__(self) -> None:
        names = [r.name for r in self.rule]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise AlertError(f"duplicate rule name(s): {', '.join(dup)}")
        for key in self.group_by:
            if key not in LABEL_KEYS:
                raise AlertError(f"group_by {key!r} is not one of {LABEL_KEYS}")
        if self.group_interval_s < 0 or self.repeat_interval_s <= 0:
            raise AlertError("group_interval_s must be >= 0 and repeat_interval_s > 0")

    @property
    def enabled(self) -> tuple[AlertRule, ...]:
        """The rules to evaluate."""
        return tuple(r for r in self.rule if r.enabled)


def default_rules_text() -> str:
    """The TOML text of the bundled default rules."""
    return resources.files("jobs").joinpath(DEFAULT_RULES).read_text("utf-8")


@dataclass(frozen=True)
class Alert:
    """One firing rule for one set of labels. Strings are raw log text (escape to show)."""

    rule: str
    """Name of the rule that fired."""
    kind: str
    """The rule's kind."""
    severity: str
    """critical | warning | info."""
    labels: Mapping[str, str]
    """Identifying labels (host, profile, class, object, kind, source, change)."""
    count: int
    """Events behind the alert (denials, accesses, lost records; 0 for deadman)."""
    first_ms: int | None
    """First event, epoch milliseconds (event time)."""
    last_ms: int | None
    """Last event, epoch milliseconds (event time)."""
    summary: str
    """One line for humans, raw."""
    detail: Mapping[str, Any] = field(default_factory=dict)
    """Extra facts (reason, example object, baseline, ...), raw."""

    @property
    def fingerprint(self) -> str:
        """Stable identity of (rule, labels): equal across evaluations and restarts."""
        text = json.dumps([self.rule, sorted(self.labels.items())], ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]

    @property
    def investigate(self) -> str:
        """The ``armorwatch query`` command that shows the records behind this alert (the
        raw lines with pid, comm and exe): what on-call runs first. Shell-quoted."""
        lab = self.labels
        since = _iso(self.first_ms - 1 if self.first_ms is not None else None)
        until = _iso(self.last_ms)
        window = {"since": since, "until": until}
        if self.kind == "deadman":
            name, params = "silent-hosts", {}
        elif self.kind == "loss":
            name, params = "loss", {"since": since}
        elif self.kind == "profile_change":
            name, params = "profile-changes", {"since": since, "host": lab.get(S.HOST)}
        else:
            name = "raw-lines"
            params = {
                **window,
                "host": lab.get(S.HOST),
                "profile": lab.get(S.PROFILE),
                "object": lab.get("object"),
                "forged": "yes" if self.kind == "forged" else None,
            }
        args = [f"--param {shlex.quote(f'{k}={v}')}" for k, v in params.items() if v]
        return " ".join(["armorwatch query", name, *args])

    def as_dict(self) -> dict[str, Any]:
        """The alert in the stable message schema (plain JSON types)."""
        return {
            "rule": self.rule,
            "kind": self.kind,
            "severity": self.severity,
            "labels": dict(self.labels),
            "count": self.count,
            "first_seen": _iso(self.first_ms),
            "last_seen": _iso(self.last_ms),
            "summary": self.summary,
            "detail": dict(self.detail),
            "fingerprint": self.fingerprint,
            "investigate": self.investigate,
        }


@dataclass(frozen=True)
class Notification:
    """One group's alerts, to be delivered as one message."""

    id: str
    """Message id (``webhook-id``): the group key's hash and its notification number."""
    group: Mapping[str, str]
    """The group_by labels and their values."""
    alerts: tuple[Alert, ...]
    """The group's alerts firing now."""
    suppressed: int
    """Firings of this group suppressed since its previous notification."""
    created: float
    """Wall-clock unix time the notification was made."""
    status: str = "firing"
    """firing | resolved (the group's alerts stopped firing; ``alerts`` is empty)."""
    resolved: tuple[str, ...] = ()
    """For a resolved notification: the rules that had fired in the group."""

    @property
    def severity(self) -> str:
        """The most severe alert's severity (info for a resolved notification)."""
        return min((a.severity for a in self.alerts), key=SEVERITIES.index, default="info")

    @property
    def summary(self) -> str:
        """One line for humans (raw text; escape for the target)."""
        where = " ".join(v for v in self.group.values() if v) or "fleet"
        if self.status == "resolved":
            return f"[resolved] {where}: {', '.join(self.resolved)} no longer firing"
        head = self.alerts[0].summary
        more = f" (+{len(self.alerts) - 1} more)" if len(self.alerts) > 1 else ""
        return f"[{self.severity}] {where}: {head}{more}"

    def as_message(self) -> dict[str, Any]:
        """The stable JSON-able message the webhook sink renders and signs."""
        return {
            "schema": MESSAGE_SCHEMA,
            "id": self.id,
            "status": self.status,
            "severity": self.severity,
            "created": datetime.fromtimestamp(self.created, UTC).isoformat(),
            "group": dict(self.group),
            "summary": self.summary,
            "suppressed": self.suppressed,
            "alerts": [a.as_dict() for a in self.alerts],
        }


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _span(seconds: float) -> str:
    s = int(seconds)
    if s % 86400 == 0:
        return f"{s // 86400}d"
    if s % 3600 == 0:
        return f"{s // 3600}h"
    if s % 60 == 0:
        return f"{s // 60}m"
    return f"{s}s"


def _rows(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    cols = [d[0] for d in cur.description or ()]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def _run(
    con: duckdb.DuckDBPyConnection, job: str, params: Mapping[str, Any]
) -> list[dict[str, Any]]:
    return _rows(sqlfiles.load(job).execute(con, params))


def _str(v: Any) -> str:
    return "" if v is None else str(v)


# --- rule evaluation -------------------------------------------------------------------


@dataclass
class _Context:
    """What one evaluation pass knows."""

    con: duckdb.DuckDBPyConnection
    until: datetime
    """End of the windows: trustworthy records only decide it."""
    state: AlertState | None
    stream: bool
    forged_until: datetime | None = None
    """End of the forged rule's window (forged records may be newer than ``until``)."""


def _threshold(rule: AlertRule, ctx: _Context) -> list[Alert]:
    since = ctx.until - timedelta(seconds=rule.window_s)
    baseline_since = since - timedelta(seconds=rule.baseline_s if rule.kind == "spike" else 0)
    rows = _run(
        ctx.con,
        "alert_denial_counts",
        {"baseline_since": baseline_since, "since": since, "until": ctx.until},
    )
    keys = rule.by or ROLLUP_KEYS
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for row in rows:
        if rule.kernel_only and row[S.ORIGIN] == S.ORIGIN_USERSPACE:
            continue
        key = tuple(_str(row[k]) for k in keys)
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
            times = f"{ratio:.1f}x" if ratio is not None else "new"
            summary = (
                f"denial spike ({who}): {g['current']} in {_span(rule.window_s)}, "
                f"{times} the {_span(rule.baseline_s)} baseline"
            )
            detail = {"baseline": g["baseline"], "ratio": ratio, "example": g["example"]}
        out.append(
            Alert(
                rule.name,
                rule.kind,
                rule.severity,
                labels,
                g["current"],
                g["first"],
                g["last"],
                summary,
                detail,
            )
        )
    return out


def _first_seen(rule: AlertRule, ctx: _Context) -> list[Alert]:
    since = ctx.until - timedelta(seconds=rule.window_s)
    rows = _run(ctx.con, "alert_new_signatures", {"since": since, "until": ctx.until})
    out = []
    for row in rows:
        if rule.kernel_only and row["userspace_only"]:
            continue
        sig = (
            _str(row["lsm"]),
            _str(row[S.PROFILE]),
            _str(row[S.CLASS]),
            _str(row["object_pattern"]),
        )
        if ctx.state is not None and not ctx.state.learn_signature(sig, row["first_ms"]):
            continue  # seen before this process's window (the state remembers it)
        labels = {
            S.HOST: _str(row["first_host"]),
            S.PROFILE: sig[1],
            S.CLASS: sig[2],
            "object": sig[3],
        }
        summary = f"new denial: {sig[1]} {sig[2]} {sig[3]}"
        detail = {"example": row["example"], "hosts": row["hosts"], "lsm": sig[0]}
        out.append(
            Alert(
                rule.name,
                rule.kind,
                rule.severity,
                labels,
                int(row["denials"]),
                row["first_ms"],
                row["last_ms"],
                summary,
                detail,
            )
        )
    return out


def _sensitive(rule: AlertRule, ctx: _Context) -> list[Alert]:
    since = ctx.until - timedelta(seconds=rule.window_s)
    rows = _run(ctx.con, "alert_sensitive", {"since": since, "until": ctx.until})
    merged: dict[tuple[str, ...], dict[str, Any]] = {}
    for row in rows:
        if rule.kernel_only and row[S.ORIGIN] == S.ORIGIN_USERSPACE:
            continue
        risk = risky.match(row[S.CLASS], row[S.NAME], row[S.CAPNAME])
        if risk is None:
            continue
        key = (
            _str(row[S.HOST]),
            _str(row[S.PROFILE]),
            _str(row[S.CLASS]),
            _str(row["object"]),
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
        m["origins"].add(_str(row[S.ORIGIN]))
    out = []
    for (host, profile, class_, obj, decision), m in merged.items():
        if m["hits"] < rule.min_count:
            continue
        risk = m["risk"]
        severity = rule.severity if risk.severity != "warning" else _milder(rule.severity)
        verb = "denied" if decision == "denied" else "ALLOWED (complain mode)"
        summary = (
            f"sensitive {class_} access {verb}: {obj} by {profile} ({risk.reason}), {m['hits']}x"
        )
        labels = {S.HOST: host, S.PROFILE: profile, S.CLASS: class_, "object": obj}
        detail = {
            "reason": risk.reason,
            "matched": risk.what,
            "decision": decision,
            "comm": m["comm"],
            "origin": sorted(m["origins"]),
        }
        out.append(
            Alert(
                rule.name,
                rule.kind,
                severity,
                labels,
                m["hits"],
                m["first"],
                m["last"],
                summary,
                detail,
            )
        )
    return out


def _milder(severity: str) -> str:
    return SEVERITIES[min(SEVERITIES.index(severity) + 1, len(SEVERITIES) - 1)]


def _profile_change(rule: AlertRule, ctx: _Context) -> list[Alert]:
    since = ctx.until - timedelta(seconds=rule.window_s)
    rows = _run(ctx.con, "alert_profile_changes", {"since": since, "until": ctx.until})
    seen = {(_str(r[S.HOST]), _str(r[S.PROFILE]), r["change"]) for r in rows}
    if ctx.state is not None and ctx.stream:
        # The window is short: a complain switch is also "ALLOWED now, DENIED remembered".
        rows += ctx.state.complain_switches(ctx.con, since, ctx.until, seen)
    out = []
    for row in rows:
        host, profile, change = _str(row[S.HOST]), _str(row[S.PROFILE]), row["change"]
        if change == "unloaded":
            summary = f"profile {profile} unloaded"
        else:
            summary = f"profile {profile} switched to complain mode ({row['events']} ALLOWED)"
        labels = {S.HOST: host, S.PROFILE: profile, "change": change}
        out.append(
            Alert(
                rule.name,
                rule.kind,
                rule.severity,
                labels,
                int(row["events"]),
                row["first_ms"],
                row["last_ms"],
                summary,
                {"comm": row["comm"]},
            )
        )
    return out


def _loss(rule: AlertRule, ctx: _Context) -> list[Alert]:
    since = ctx.until - timedelta(seconds=rule.window_s)
    rows = _run(ctx.con, "alert_loss", {"since": since, "until": ctx.until})
    out = []
    for row in rows:
        kind = _str(row[S.KIND])
        if rule.loss_kinds and kind not in rule.loss_kinds:
            continue
        lost = int(row["lost"] or 0)
        if lost < rule.min_count:
            continue
        labels = {S.HOST: _str(row[S.HOST]), "kind": kind, S.SOURCE: _str(row[S.SOURCE])}
        summary = f"{lost} records lost ({kind}) from {labels[S.SOURCE] or 'a source'}"
        out.append(
            Alert(
                rule.name,
                rule.kind,
                rule.severity,
                labels,
                lost,
                row["first_ms"],
                row["last_ms"],
                summary,
                {"detail": row["detail"], "reports": row["reports"]},
            )
        )
    return out


def _example(raw: Any) -> str:
    """A stored record's bytes as text (raw: the renderers escape it), cut for an alert."""
    if raw is None:
        return ""
    text = bytes(raw).decode("utf-8", "backslashreplace")
    return sanitize.truncate(text, FORGED_EXAMPLE_CHARS)


def _forged(rule: AlertRule, ctx: _Context) -> list[Alert]:
    """One alert per host holding records that claim the kernel but look forged."""
    until = ctx.forged_until or ctx.until
    since = until - timedelta(seconds=rule.window_s)
    rows = _run(ctx.con, "alert_forged", {"since": since, "until": until})
    hosts: dict[str, dict[str, Any]] = {}
    for row in rows:
        h = hosts.setdefault(
            _str(row[S.HOST]),
            {"count": 0, "first": None, "last": None, "reasons": {}, "example": None,
             "sources": set(), "origins": set()},
        )  # fmt: skip
        n = int(row["records"])
        h["count"] += n
        h["reasons"][_str(row["reason"])] = n
        h["first"] = row["first_ms"] if h["first"] is None else min(h["first"], row["first_ms"])
        if h["last"] is None or row["last_ms"] >= h["last"]:
            h["last"], h["example"] = row["last_ms"], row["example"]
        h["sources"].update(_str(s) for s in row["sources"] or ())
        h["origins"].update(_str(o) for o in row["origins"] or ())
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
            Alert(
                rule.name,
                rule.kind,
                rule.severity,
                {S.HOST: host, "kind": rule.kind},
                h["count"],
                h["first"],
                h["last"],
                summary,
                detail,
            )
        )
    return out


def _deadman_db(rule: AlertRule, ctx: _Context) -> list[Alert]:
    rows = _run(
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
    for r in rows:
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
        out.append(_deadman_alert(rule, _str(r[S.HOST]), r["last_ms"], until_ms, tuple(notes)))
    return out


def _deadman_alert(
    rule: AlertRule, host: str, last_ms: int, now_ms: int, notes: tuple[str, ...] = ()
) -> Alert:
    silent = max(0, (now_ms - last_ms) // 1000)
    summary = f"host silent for {timewindow.human(silent)} (no records, no loss reports)"
    if notes:
        summary += "; " + "; ".join(notes)
    return Alert(
        rule.name,
        rule.kind,
        "info" if notes else rule.severity,
        {S.HOST: host},
        0,
        last_ms,
        last_ms,
        summary,
        {"silent_s": silent, "doubts": list(notes)} if notes else {"silent_s": silent},
    )


_EVALUATORS: Final = {
    "threshold": _threshold,
    "spike": _threshold,
    "first_seen": _first_seen,
    "sensitive": _sensitive,
    "profile_change": _profile_change,
    "loss": _loss,
    "forged": _forged,
}


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
    ctx = _Context(con, until, state, stream=False, forged_until=forged_until)
    out: list[Alert] = []
    for rule in rules.enabled:
        if rule.kind == "deadman":
            out += _deadman_db(rule, ctx)
        else:
            out += _EVALUATORS[rule.kind](rule, ctx)
    return out


# --- persistent state ------------------------------------------------------------------

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

    def complain_switches(
        self,
        con: duckdb.DuckDBPyConnection,
        since: datetime,
        until: datetime,
        already: set[tuple[str, str, str]],
    ) -> list[dict[str, Any]]:
        """Profiles with ALLOWED records in the window that this state knew as enforcing."""
        rows = _rows(
            con.execute(
                "SELECT host, profile, count(*) AS events, epoch_ms(min(ts)) AS first_ms, "
                "epoch_ms(max(ts)) AS last_ms, arg_max(comm, ts) AS comm "
                "FROM complain_events WHERE ts >= $since AND ts < $until "
                "AND profile IS NOT NULL AND suspect IS NULL GROUP BY ALL",
                {"since": since, "until": until},
            )
        )
        out = []
        for row in rows:
            key = (_str(row[S.HOST]), _str(row[S.PROFILE]))
            if (*key, "complain") in already:
                continue
            hit = self._db.execute(
                "SELECT 1 FROM enforcing WHERE host = ? AND profile = ?", key
            ).fetchone()
            if hit:
                out.append({**row, "change": "complain"})
        return out


# --- grouping --------------------------------------------------------------------------


class Grouper:
    """Alertmanager-style grouping: group_by keys, group interval, repeat interval."""

    def __init__(self, rules: AlertRules, state: AlertState) -> None:
        self._rules = rules
        self._by_rule = {r.name: r.group_by for r in rules.rule}
        self._state = state
        self.suppressed = 0
        """Group firings suppressed (a counter for the metrics endpoint)."""

    def _group_of(self, alert: Alert) -> tuple[str, dict[str, str]]:
        keys = self._by_rule.get(alert.rule) or self._rules.group_by
        group = {k: alert.labels.get(k, "") for k in keys}
        key = json.dumps(sorted(group.items()), ensure_ascii=False)
        return key, group

    def plan(
        self, alerts: Iterable[Alert], now: float, evaluated: Iterable[str] | None = None
    ) -> list[tuple[str, Notification]]:
        """The notifications due now (not yet recorded; call ``commit`` after hand-off).

        ``evaluated``: the rules this evaluation ran. A group notified as firing whose rules
        were all evaluated and none fires now gets a "resolved" notification (as
        Alertmanager sends); None (one-shot runs) resolves nothing.
        """
        groups: dict[str, tuple[dict[str, str], dict[str, Alert]]] = {}
        for alert in alerts:
            key, group = self._group_of(alert)
            groups.setdefault(key, (group, {}))[1].setdefault(alert.fingerprint, alert)
        out = []
        for key, (group, members) in sorted(groups.items()):
            prev = self._state.group(key)
            fps = set(members)
            if prev is None:
                seq, suppressed = 1, 0
            else:
                last_seq, last, notified, suppressed = prev
                age = now - last
                new = bool(fps - notified)
                due = (new and age >= self._rules.group_interval_s) or (
                    age >= self._rules.repeat_interval_s
                )
                if not due:
                    self._state.suppress(key)
                    self.suppressed += 1
                    continue
                seq = last_seq + 1
            gid = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:20]
            ordered = sorted(
                members.values(), key=lambda a: (SEVERITIES.index(a.severity), a.rule, a.summary)
            )
            out.append(
                (key, Notification(f"aw_{gid}_{seq}", group, tuple(ordered), suppressed, now))
            )
        ran = set(evaluated) if evaluated is not None else set()
        for key, seq, rules in self._state.firing_groups() if ran else ():
            if key in groups or not set(rules) <= ran:
                continue
            gid = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:20]
            group = dict(json.loads(key))
            note = Notification(f"aw_{gid}_{seq + 1}", group, (), 0, now, "resolved", tuple(rules))
            out.append((key, note))
        return out

    def commit(self, key: str, notification: Notification) -> None:
        """Record a notification as handed off (after the outbox accepted it)."""
        seq = int(notification.id.rsplit("_", 1)[1])
        self._state.notified(
            key,
            seq,
            notification.created,
            (a.fingerprint for a in notification.alerts),
            (a.rule for a in notification.alerts),
        )


# --- continuous evaluation over new batches --------------------------------------------


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


# The window's tables, each filled from the view _in_<name> of alert_window_views.sql.
_WINDOW_TABLES: Final = ("denials", "complain_events", "alert_profile_status", "alert_forged")


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
        for row in _run(con, "alert_known_signatures", {}):
            sig = (
                _str(row["lsm"]),
                _str(row[S.PROFILE]),
                _str(row[S.CLASS]),
                _str(row["object_pattern"]),
            )
            new += self.state.learn_signature(sig, row["first_ms"])
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
        ctx = _Context(self._con, until, self.state, stream=True, forged_until=self._forged_until)
        alerts: list[Alert] = []
        for rule in self.rules.enabled:
            if rule.kind != "deadman":
                alerts += _EVALUATORS[rule.kind](rule, ctx)
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
                alerts.append(_deadman_alert(rule, host, int(last * 1000), int(now * 1000)))
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
        return planned
