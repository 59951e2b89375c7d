"""The nightly profile-tightening report: DuckDB → one ``Report`` → HTML, Markdown, JSON.

``build_report(con, config, until=None)`` runs the ``jobs/sql/report_*.sql`` jobs over the
store's ``records`` / ``denials`` / ``complain_events`` / ``loss`` and returns a ``Report``
(plain dataclasses, raw log-derived strings). Only trustworthy records (``suspect`` null)
feed its sections; forged-looking ones are counted per host in the coverage section
(``HostCoverage.forged``) and nowhere else. The renderers escape at the last moment,
once, for their target:

- ``render_html(report)`` → ``{relative path: text}``: ``index.html`` plus one page per
  profile under ``profiles/``. Self-contained (inline CSS and SVG charts, no scripts,
  fonts or links outside the directory). Jinja2 autoescape is on and every ``{{ }}``
  string also goes through ``parsers.sanitize.visible`` (the environment's ``finalize``),
  so control, bidi and zero-width characters from a log show as escapes.
- ``render_markdown(report)`` → ``report.md``; every ``{{ }}`` string goes through
  ``sanitize.for_markdown``.
- ``render_json(report)`` → ``report.json``; every string through ``sanitize.for_json``.

``write_report(files, out_dir)`` renders nothing itself: it writes already-rendered files
into a private temporary directory inside ``out_dir`` and moves them into place, so a
failure (a full disk) leaves no half-written report.

The window ends at ``until`` (default: the newest record in the store, because a store
replayed from old logs has no records "now") and spans ``config.since`` before it.

Errors::

    ReportError            bad settings, or nothing to report on
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import os
import re
import shlex
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, TypeVar

import duckdb
import jinja2
import orjson
from markupsafe import Markup

from jobs import risky, sqlfiles
from jobs import window as timewindow
from jobs.summary import UNKNOWN_HOST
from parsers import sanitize

FORMATS: Final = ("html", "md", "json")
log = logging.getLogger(__name__)
T = TypeVar("T")


class ReportError(ValueError):
    """The report cannot be built: bad settings, or an empty store."""


@dataclass(frozen=True)
class ReportConfig:
    """Settings of the nightly report."""

    since: str = "24h"
    """Window length before its end, e.g. 24h, 7d, 90m (units s, m, h, d, w)."""
    quiet_days: int = 7
    """Days without a new ALLOWED signature before a complain-mode profile is ready to enforce."""
    growth_ratio: float = 1.5
    """Denials grew when the window has more than this times the previous window's count."""
    growth_min: int = 5
    """... and at least this many denials (small numbers are noise)."""
    top: int = 25
    """Rows in the top-N tables and charts."""
    max_profile_pages: int = 100
    """Per-profile pages written, busiest profiles first (ready-to-enforce ones always)."""
    max_rows: int = 200
    """Cap on the rows of a list on a profile's page and in the JSON (its signatures, the
    accesses enforce mode would deny); the rest is one saved query away."""
    index_rows: int = 50
    """Rows of each list on the index (new signatures, risky accesses, grown profiles)."""
    silent_after: str = "24h"
    """A host with no record and no loss report this long before the window end is silent
    (blind), whatever the window's length: a 7-day report and a 24-hour one agree."""


# --- the report model ----------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    """One distinct access: what a rule would have to name."""

    decision: str
    """denied | allowed (complain mode)."""
    subject: str
    """AppArmor profile (or SELinux scontext)."""
    klass: str
    """Mediation class: file, net, cap, ptrace, ..."""
    operation: str
    object: str
    mask: str
    events: int
    hosts: int
    host_sample: tuple[str, ...]
    first_seen: datetime
    last_seen: datetime
    is_new: bool
    risk: str = ""
    """Why this access is sensitive (jobs.risky), or empty."""
    severity: str = ""
    """critical | warning | empty."""


@dataclass(frozen=True)
class ComplainProfile:
    """A profile that logged complain-mode (ALLOWED) records."""

    subject: str
    ready: bool
    """No new ALLOWED signature in the last ``quiet_days``."""
    last_new_signature: datetime
    last_allowed: datetime
    days_quiet: float
    events: int
    missing: tuple[Signature, ...]
    """Its ALLOWED signatures: what enforce mode would deny (the rules still missing), at
    most ``max_rows`` of them."""
    missing_total: int = 0
    """How many ALLOWED signatures it has in all."""
    slug: str = ""
    rules: Snippet | None = None
    """For a ready profile: suggested local/ rules from its whole history (jobs.suggest)."""


@dataclass(frozen=True)
class Growth:
    """Denials of one profile, this window against the previous one."""

    subject: str
    current: int
    previous: int
    hosts: int
    slug: str = ""

    @property
    def delta(self) -> int:
        """Denials more than before."""
        return self.current - self.previous


@dataclass(frozen=True)
class HostCoverage:
    """What one host sent (trustworthy records; forged-looking ones only counted)."""

    host: str
    """Host name, or UNKNOWN_HOST for records stored without one (older stores)."""
    records: int
    denials: int
    allowed: int
    sources: tuple[str, ...]
    first_seen: datetime | None
    """First trustworthy record ever; None when the host sent only forged-looking ones."""
    last_seen: datetime | None
    forged: int = 0
    """Forged-looking records (``suspect`` not null) in the window: no section uses them."""
    forged_reasons: tuple[str, ...] = ()
    """Why they look forged (parsers.schema SUSPECT_*)."""
    blind: bool = False
    """Silent: heard from before, but no record nor loss report for ``silent_after`` before
    the window end (forged-looking records are no sign of life)."""
    silent_for: timedelta | None = None
    """Time from its last record or loss report to the window end, when blind."""


@dataclass(frozen=True)
class Loss:
    """Counted loss of one (host, source, kind) in the window."""

    host: str
    source: str
    kind: str
    lost: int
    occurrences: int
    last_seen: datetime
    detail: str


@dataclass(frozen=True)
class Snippet:
    """Suggested rules for one profile: the text of its /etc/apparmor.d/local/ file."""

    subject: str
    """The profile (or "SELinux" for audit2allow-style rules)."""
    local_file: str
    """File name under /etc/apparmor.d/local/ (empty for SELinux)."""
    lines: tuple[str, ...]
    """The snippet, one line each (comments included), exactly as jobs.suggest renders it."""
    rules: int
    """Rules suggested."""
    risky: int
    """Of which would allow a sensitive access (written commented out)."""


@dataclass(frozen=True)
class Suggestions:
    """The suggested-rules section (from ``jobs.suggest`` when it is installed)."""

    available: bool
    note: str
    snippets: tuple[Snippet, ...] = ()


@dataclass(frozen=True)
class Bar:
    """One rectangle of an SVG chart (coordinates in the chart's own units)."""

    x: float
    y: float
    w: float
    h: float
    color: str
    title: str


@dataclass(frozen=True)
class Tick:
    """An axis label."""

    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclass(frozen=True)
class Chart:
    """Geometry of one inline SVG chart; the template draws it."""

    width: int
    height: int
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    legend: tuple[tuple[str, str], ...] = ()
    """(color, label) pairs."""
    grid: tuple[float, ...] = ()
    """y of horizontal grid lines."""
    empty: bool = False


@dataclass(frozen=True)
class ProfilePage:
    """Everything about one profile in the window."""

    subject: str
    slug: str
    mode: str
    """complain | enforce | mixed, from the decisions seen."""
    denials: int
    allowed: int
    hosts: tuple[str, ...]
    """Up to twenty of the hosts, by name."""
    host_count: int
    """Hosts with its events in the window."""
    signatures: tuple[Signature, ...]
    timeline: Chart
    complain: ComplainProfile | None
    growth: Growth | None
    rules: Snippet | None
    """Suggested local/ rules for this profile, when any."""
    signature_count: int = 0
    """Its signatures in the window (``signatures`` holds at most ``max_rows``)."""


@dataclass(frozen=True)
class Summary:
    """Headline numbers of the window."""

    records: int
    denials: int
    allowed: int
    subjects: int
    hosts: int
    new_signatures: int
    risky: int
    ready_to_enforce: int
    blind_hosts: int
    lost: int
    forged: int = 0
    """Forged-looking records in the window (counted per host in ``Report.hosts``)."""


@dataclass(frozen=True)
class More:
    """A list cut for size: "Showing 50 of 7001. The rest: armorwatch query ..."."""

    shown: int
    total: int
    command: str
    """The ``armorwatch query`` command that lists every row."""


@dataclass(frozen=True)
class Report:
    """The whole report, before rendering."""

    generated_at: datetime
    window_start: datetime
    window_end: datetime
    window: str
    config: ReportConfig
    summary: Summary
    ready: tuple[ComplainProfile, ...]
    learning: tuple[ComplainProfile, ...]
    """Complain-mode profiles still producing new signatures."""
    grew: tuple[Growth, ...]
    new_signatures: tuple[Signature, ...]
    risky: tuple[Signature, ...]
    suggestions: Suggestions
    hosts: tuple[HostCoverage, ...]
    loss: tuple[Loss, ...]
    top_objects: tuple[Signature, ...]
    timeline: Chart
    objects_chart: Chart
    hosts_chart: Chart
    profiles: tuple[ProfilePage, ...]
    more: Mapping[str, More] = field(default_factory=dict)
    """Lists that were cut, by key (``new_signatures``, ``risky``, ``grew``, ``profiles``,
    ``signatures PROFILE``): how many are shown, how many there are, and the command
    that lists them all."""


# --- helpers ------------------------------------------------------------------------

def parse_duration(text: str) -> timedelta:
    """``24h`` → 24 hours (``jobs.window``); ReportError on anything else."""
    try:
        return timewindow.parse_duration(text)
    except timewindow.WindowError as e:
        raise ReportError(str(e)) from None


def slug(subject: str) -> str:
    """A file-name-safe, collision-free page name for a profile (any bytes in, [a-z0-9._-] out)."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", subject).strip("._")[:60] or "profile"
    digest = hashlib.sha256(subject.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{readable}-{digest}"


def _rows(
    con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    cur = sqlfiles.load(name).execute(con, params)
    if cur.description is None:
        return []
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _host(value: str | None) -> str:
    """A host name to show: stores written by older versions hold records without one."""
    return UNKNOWN_HOST if value is None else value


def _hosts(values: Iterable[str | None] | None) -> tuple[str, ...]:
    return tuple(_host(h) for h in values or ())


def _signature(row: Mapping[str, Any], decision: str | None = None) -> Signature:
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
        host_sample=_hosts(row.get("host_sample")),
        first_seen=_utc(row["first_seen"]),
        last_seen=_utc(row["last_seen"]),
        is_new=bool(row.get("is_new", False)),
        risk=risk.reason if risk else "",
        severity=risk.severity if risk else "",
    )


def _iso(t: datetime) -> str:
    return f"{_utc(t):%Y-%m-%dT%H:%M:%SZ}"


def query_command(name: str, since: datetime, until: datetime, **params: str | int) -> str:
    """The ``armorwatch query`` command line that lists a cut list in full (shell-quoted)."""
    args = {"since": _iso(since), "until": _iso(until), **params}
    return f"armorwatch query {name} " + " ".join(
        f"--param {shlex.quote(f'{k}={v}')}" for k, v in args.items()
    )


def _bucket_seconds(window: timedelta) -> int:
    """The smallest readable bucket that keeps a chart at 48 bars or fewer."""
    for step in (300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400):
        if window.total_seconds() / step <= 48:
            return step
    return 30 * 86400


def _object_label(s: Signature) -> str:
    """What a denied-object bar is: the object first (a long profile must not hide it)."""
    what = s.object or f"{s.klass} {s.operation}".strip() or "(no object)"
    return f"{sanitize.truncate(what, 46)}  ({sanitize.truncate(s.subject, 22)})"


# --- charts -------------------------------------------------------------------------

PALETTE: Final = ("#3b6fd1", "#e07b39", "#3aa57a", "#c9485b", "#8a63c7", "#c2a21b", "#7f8c8d")
DENIED_COLOR: Final = "#c9485b"
ALLOWED_COLOR: Final = "#e0a339"


def _nice_max(value: int) -> int:
    if value <= 5:
        return 5
    magnitude = 10 ** (len(str(value)) - 1)
    for step in (1, 2, 2.5, 5, 10):
        top = int(step * magnitude)
        if top >= value:
            return top
    return value


def stacked_chart(
    buckets: Sequence[datetime],
    series: Sequence[tuple[str, str, Sequence[int]]],
    bucket_s: int,
    width: int = 1100,
    height: int = 240,
) -> Chart:
    """Stacked bars over time: ``series`` is (label, color, counts per bucket)."""
    left, right, top, bottom = 48, 8, 8, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(s[2][i] for s in series) for i in range(len(buckets))]
    peak = _nice_max(max(totals, default=0))
    n = max(len(buckets), 1)
    slot = plot_w / n
    bars: list[Bar] = []
    for i, start in enumerate(buckets):
        y: float = top + plot_h
        for label, color, counts in series:
            c = counts[i]
            if not c:
                continue
            h = plot_h * c / peak
            y -= h
            title = f"{label}: {c} at {start:%Y-%m-%d %H:%M} UTC"
            bars.append(Bar(left + i * slot + 1, y, max(slot - 2, 1), h, color, title))
    ticks = [
        Tick(left - 6, top + plot_h * (1 - f) + 4, f"{peak * f:g}", "end") for f in (0, 0.5, 1)
    ]
    every = max(1, round(n / 8))
    for i, label in _time_labels(buckets, bucket_s, every):
        x = left + i * slot + slot / 2
        # a label near the right edge ends there instead of being cut off
        ticks.append(Tick(x, height - 10, label, "end" if x > width - 50 else "middle"))
    grid = tuple(top + plot_h * (1 - f) for f in (0, 0.5, 1))
    legend = tuple((color, label) for label, color, counts in series if any(counts))
    return Chart(width, height, tuple(bars), tuple(ticks), legend, grid, empty=not any(totals))


def _time_labels(buckets: Sequence[datetime], bucket_s: int, every: int) -> list[tuple[int, str]]:
    """Axis labels of every ``every``-th bucket; each names its date when the day changes
    (or days are the unit), so a week of 6-hour buckets never reads "06:00" eight times."""
    out: list[tuple[int, str]] = []
    day = None
    for i, b in enumerate(buckets):
        if i % every:
            continue
        if bucket_s >= 86400:
            out.append((i, f"{b:%b %d}"))
        elif b.date() != day:
            out.append((i, f"{b:%b %d %H:%M}"))
        else:
            out.append((i, f"{b:%H:%M}"))
        day = b.date()
    return out


def hbar_chart(
    items: Sequence[tuple[str, int, str]], width: int = 1100, label_w: int = 460, row_h: int = 22
) -> Chart:
    """Horizontal bars: ``items`` is (label, value, color), biggest first."""
    height = max(row_h * len(items) + 8, 30)
    peak = max((v for _, v, _ in items), default=0) or 1
    plot_w = width - label_w - 70
    bars: list[Bar] = []
    ticks: list[Tick] = []
    for i, (label, value, color) in enumerate(items):
        y = 4 + i * row_h
        w = max(plot_w * value / peak, 1)
        bars.append(Bar(label_w, y + 3, w, row_h - 6, color, f"{label}: {value}"))
        ticks.append(Tick(label_w - 8, y + row_h / 2 + 4, sanitize.truncate(label, 72), "end"))
        ticks.append(Tick(label_w + w + 6, y + row_h / 2 + 4, str(value), "start"))
    return Chart(width, height, tuple(bars), tuple(ticks), empty=not items)


def _timeline_chart(
    rows: Iterable[Mapping[str, Any]],
    since: datetime,
    until: datetime,
    bucket_s: int,
    top: int,
    by: str = "subject",
) -> Chart:
    """Denials per profile over time (top profiles, the rest as 'other')."""
    first = int(since.timestamp()) // bucket_s * bucket_s
    last = int(until.timestamp()) // bucket_s * bucket_s
    starts = [datetime.fromtimestamp(t, UTC) for t in range(first, last + 1, bucket_s)]
    index = {int(b.timestamp()): i for i, b in enumerate(starts)}
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * len(starts))
    for r in rows:
        i = index.get(int(_utc(r["bucket"]).timestamp()))
        if i is not None:
            counts[r[by]][i] += int(r["events"])
    if by == "decision":
        series = [
            (label, color, counts[key])
            for key, label, color in (
                ("denied", "denied", DENIED_COLOR),
                ("allowed", "allowed (complain)", ALLOWED_COLOR),
            )
        ]
        return stacked_chart(starts, series, bucket_s)
    ranked = sorted(counts, key=lambda k: (-sum(counts[k]), k))
    shown = ranked[: min(top, len(PALETTE) - 1)]
    series = [(s, PALETTE[i], counts[s]) for i, s in enumerate(shown)]
    rest = ranked[len(shown) :]
    if rest:
        other = [sum(counts[s][i] for s in rest) for i in range(len(starts))]
        series.append((f"other ({len(rest)} profiles)", PALETTE[-1], other))
    return stacked_chart(starts, series, bucket_s)


# --- suggestions --------------------------------------------------------------------

SUGGEST_MODULE: Final = "jobs.suggest"
MAX_READY_RULES: Final = 20
"""Ready profiles that get whole-history rule suggestions (each is one suggest run)."""


def _suggest_module() -> Any | None:
    try:
        spec = importlib.util.find_spec(SUGGEST_MODULE)
    except ModuleNotFoundError:
        spec = None
    return importlib.import_module(SUGGEST_MODULE) if spec is not None else None


def _snippets(module: Any, result: Any) -> list[Snippet]:
    parser = getattr(result, "parser", None)
    return [
        Snippet(
            subject=ps.profile,
            local_file=ps.local_file,
            lines=tuple(module.render_apparmor(ps, parser).splitlines()),
            rules=len(ps.rules),
            risky=sum(1 for s in ps.rules if getattr(s, "risky", None)),
        )
        for ps in result.profiles
    ]


def suggested_rules(con: duckdb.DuckDBPyConnection, since: datetime) -> Suggestions:
    """Suggested local/ rules for the window, from ``jobs.suggest.suggest(con, since=...)``.

    The suggestion engine is a separate component: when it is not installed the section
    says so instead of inventing rules, and when it fails the report is still written
    with the error in this section (one section must not cost the whole report).
    """
    module = _suggest_module()
    if module is None:
        return Suggestions(False, "Rule suggestion is not part of this installation.")
    try:
        result = module.suggest(con, since=since)
        parser = getattr(result, "parser", None)
        snippets = _snippets(module, result)
        selinux = [s.rule for s in getattr(result, "selinux", ())]
    except Exception as e:  # the rest of the report is still worth writing
        log.warning("Rule suggestion failed; the report says so in its section.", exc_info=True)
        return Suggestions(
            False, f"Rule suggestion failed ({type(e).__name__}: {e}); the rest is complete."
        )
    if selinux:
        snippets.append(Snippet("SELinux (audit2allow-style)", "", tuple(selinux), len(selinux), 0))
    how = (
        f"each checked with {parser}"
        if parser
        else "NOT checked: apparmor_parser is not installed where the report ran"
    )
    note = (
        f"Suggested from the window's denials and complain-mode records, {how}; a profile "
        "ready to enforce gets the rules of its whole complain-mode history."
    )
    return Suggestions(True, note, tuple(snippets))


def rules_to_enforce(con: duckdb.DuckDBPyConnection, profile: str) -> Snippet | None:
    """The local/ rules a complain profile needs before enforcing: its whole history.

    None when jobs.suggest is missing, fails, or has nothing for the profile.
    """
    module = _suggest_module()
    if module is None:
        return None
    try:
        found = _snippets(module, module.suggest(con, since=None, profile=profile))
    except Exception:
        log.warning("Rule suggestion for %s failed.", profile, exc_info=True)
        return None
    return next((s for s in found if s.subject == profile), None)


# --- building -----------------------------------------------------------------------


BUILD_STEPS: Final = (
    "queries",
    "rules before enforcing",
    "rules for the window",
    "profile pages",
)


def build_report(
    con: duckdb.DuckDBPyConnection,
    config: ReportConfig | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
    progress: Callable[[Sequence[str], int, str], Iterable[str]] | None = None,
) -> Report:
    """Query the store and assemble the report for the window ending at ``until``.

    ``until`` defaults to the newest record; ``now`` (the generation time shown) to the
    clock. ``progress`` wraps the per-profile loop (a TTY progress bar from the CLI).
    """
    config = config or ReportConfig()
    window = parse_duration(config.since)
    wrap = progress or (lambda it, total, desc: it)
    # One bar over the steps (the rule suggestion is most of the time on a big store).
    steps = iter(wrap(BUILD_STEPS, len(BUILD_STEPS), "report"))
    next(steps, None)
    sqlfiles.load("report_events").execute(con)
    if until is None:
        until = timewindow.newest_record(con)
        if until is None:
            raise ReportError("the store holds no records: nothing to report")
    until = _utc(until)
    since = until - window
    p = {"since": since, "until": until}
    bucket_s = _bucket_seconds(window)
    more: dict[str, More] = {}

    def cap(
        key: str, items: Sequence[T], limit: int, query: str, **params: str | int
    ) -> tuple[T, ...]:
        if len(items) > limit:
            cmd = query_command(query, since, until, **params, limit=len(items))
            more[key] = More(limit, len(items), cmd)
        return tuple(items[:limit])

    summary_row = _rows(con, "report_summary", p)[0]
    signatures = [_signature(r) for r in _rows(con, "report_signatures", p)]
    timeline_rows = _rows(con, "report_timeline", {**p, "bucket_s": bucket_s})
    growth_rows = _rows(con, "report_growth", {**p, "prev_since": since - window})
    complain_rows = _rows(con, "report_complain", {"until": until})
    host_rows = _rows(con, "report_hosts", p)
    loss_rows = _rows(con, "report_loss", p)
    profile_hosts = {r["subject"]: r for r in _rows(con, "report_profile_hosts", p)}

    # complain mode → ready to enforce
    by_profile: dict[str, list[Signature]] = defaultdict(list)
    for r in complain_rows:
        by_profile[r["subject"]].append(_signature({**r, "is_new": False}, "allowed"))
    quiet_since = until - timedelta(days=config.quiet_days)
    complain: dict[str, ComplainProfile] = {}
    for subject, sigs in by_profile.items():
        last_new = max(s.first_seen for s in sigs)
        complain[subject] = ComplainProfile(
            subject=subject,
            ready=last_new <= quiet_since,
            last_new_signature=last_new,
            last_allowed=max(s.last_seen for s in sigs),
            days_quiet=round((until - last_new).total_seconds() / 86400, 1),
            events=sum(s.events for s in sigs),
            missing=tuple(sigs[: config.max_rows]),
            missing_total=len(sigs),
            slug=slug(subject),
        )
    ready = sorted(
        (c for c in complain.values() if c.ready), key=lambda c: (-c.days_quiet, c.subject)
    )
    # The rules a ready profile needs come from all its history, not just this window.
    next(steps, None)
    ready = [
        replace(c, rules=rules_to_enforce(con, c.subject)) if i < MAX_READY_RULES else c
        for i, c in enumerate(ready)
    ]
    complain.update({c.subject: c for c in ready})
    learning = sorted(
        (c for c in complain.values() if not c.ready), key=lambda c: (c.days_quiet, c.subject)
    )

    growth = {
        r["subject"]: Growth(
            r["subject"], int(r["current"]), int(r["previous"]), int(r["hosts"]), slug(r["subject"])
        )
        for r in growth_rows
    }
    grew = [
        g
        for g in growth.values()
        if g.current >= config.growth_min and g.current > g.previous * config.growth_ratio
    ]
    grew.sort(key=lambda g: (-g.delta, g.subject))

    new_sigs = [s for s in signatures if s.is_new and s.decision == "denied"]
    risky_sigs = sorted(
        (s for s in signatures if s.risk),
        key=lambda s: (s.severity != "critical", -s.events, s.subject, s.object),
    )
    denied = [s for s in signatures if s.decision == "denied"]
    silent_since = until - parse_duration(config.silent_after)

    def silence(r: Mapping[str, Any]) -> timedelta | None:
        heard = r["last_heard"]
        if r["last_seen"] is None or heard is None or _utc(heard) > silent_since:
            return None
        return until - _utc(heard)

    hosts = tuple(
        HostCoverage(
            host=_host(r["host"]),
            records=int(r["records"]),
            denials=int(r["denials"]),
            allowed=int(r["allowed"]),
            sources=tuple(r["sources"] or ()),
            first_seen=_utc(r["first_seen"]) if r["first_seen"] is not None else None,
            last_seen=_utc(r["last_seen"]) if r["last_seen"] is not None else None,
            forged=int(r["forged"]),
            forged_reasons=tuple(r["forged_reasons"] or ()),
            blind=silence(r) is not None,
            silent_for=silence(r),
        )
        for r in host_rows
    )
    loss = tuple(
        Loss(
            host=_host(r["host"]),
            source=r["source"] or "",
            kind=r["kind"] or "",
            lost=int(r["lost"] or 0),
            occurrences=int(r["occurrences"]),
            last_seen=_utc(r["last_seen"]),
            detail=r["detail"] or "",
        )
        for r in loss_rows
    )
    next(steps, None)
    suggestions = suggested_rules(con, since)
    # One source for "what to add before enforcing": a ready profile's whole-history rules
    # replace its window-only snippet everywhere (index, its page, Markdown, JSON), so no
    # page shows a shorter snippet that would break the service once enforced.
    whole = {c.subject: c.rules for c in ready if c.rules is not None}
    if whole:
        kept = [sn for sn in suggestions.snippets if sn.subject not in whole]
        suggestions = replace(suggestions, snippets=(*whole.values(), *kept))
    snippet_of = {s.subject: s for s in suggestions.snippets}

    # per-profile pages, busiest first
    sigs_by_subject: dict[str, list[Signature]] = defaultdict(list)
    for s in signatures:
        sigs_by_subject[s.subject].append(s)
    busiest = sorted(sigs_by_subject, key=lambda k: (-sum(s.events for s in sigs_by_subject[k]), k))
    tl_by_subject: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in timeline_rows:
        tl_by_subject[r["subject"]].append(r)
    # a ready profile's page holds what to add before enforcing: always written
    chosen = busiest[: config.max_profile_pages]
    chosen += [c.subject for c in ready if c.subject in sigs_by_subject and c.subject not in chosen]
    if len(busiest) > len(chosen):
        more["profiles"] = More(
            len(chosen), len(busiest), query_command("signatures", since, until, limit=1000)
        )
    next(steps, None)
    pages = []
    for subject in wrap(chosen, len(chosen), "profiles"):
        sigs = sigs_by_subject[subject]
        den = sum(s.events for s in sigs if s.decision == "denied")
        alw = sum(s.events for s in sigs if s.decision == "allowed")
        pages.append(
            ProfilePage(
                subject=subject,
                slug=slug(subject),
                mode="complain" if den == 0 else "enforce" if alw == 0 else "mixed",
                denials=den,
                allowed=alw,
                hosts=_hosts(profile_hosts[subject]["host_sample"]),
                host_count=int(profile_hosts[subject]["hosts"]),
                signatures=cap(
                    f"signatures {subject}", sigs, config.max_rows, "signatures", profile=subject
                ),
                timeline=_timeline_chart(
                    tl_by_subject[subject], since, until, bucket_s, config.top, by="decision"
                ),
                complain=complain.get(subject),
                growth=growth.get(subject),
                rules=snippet_of.get(subject),
                signature_count=len(sigs),
            )
        )

    next(steps, None)  # exhausts the bar: it closes
    top_objects = sorted(denied, key=lambda s: (-s.events, s.subject, s.object))[: config.top]
    summary = Summary(
        records=int(summary_row["records"]),
        denials=int(summary_row["denials"]),
        allowed=int(summary_row["allowed"]),
        subjects=int(summary_row["subjects"]),
        hosts=int(summary_row["hosts"]),
        new_signatures=len(new_sigs),
        risky=len(risky_sigs),
        ready_to_enforce=len(ready),
        blind_hosts=sum(1 for h in hosts if h.blind),
        lost=sum(x.lost for x in loss),
        forged=int(summary_row["forged"]),
    )
    denied_timeline = [r for r in timeline_rows if r["decision"] == "denied"]
    reporting = [h for h in hosts if h.records][: config.top]
    return Report(
        generated_at=_utc(now or datetime.now(UTC)),
        window_start=since,
        window_end=until,
        window=config.since,
        config=config,
        summary=summary,
        ready=tuple(ready),
        learning=tuple(learning),
        grew=tuple(grew[: config.index_rows]),
        new_signatures=cap("new_signatures", new_sigs, config.index_rows, "new-denials"),
        risky=cap("risky", risky_sigs, config.index_rows, "signatures"),
        suggestions=suggestions,
        hosts=hosts,
        loss=loss,
        top_objects=tuple(top_objects),
        timeline=_timeline_chart(denied_timeline, since, until, bucket_s, config.top),
        objects_chart=hbar_chart(
            [(_object_label(s), s.events, DENIED_COLOR) for s in top_objects[:15]]
        ),
        hosts_chart=hbar_chart([(h.host, h.records, PALETTE[0]) for h in reporting], label_w=240),
        profiles=tuple(pages),
        more=more,
    )


# --- rendering ----------------------------------------------------------------------


def literal(text: str) -> str:
    """Suggested rule text as it will be pasted: non-printables escaped, backslashes kept.

    Rules come from jobs.suggest already in AppArmor syntax (its own quoting and escapes),
    so doubling their backslashes as ``visible`` does would show a different rule.
    """
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else sanitize.visible(ch) for ch in text)


def _finalize_html(value: Any) -> Any:
    # Every {{ }} string is log-derived or harmless: make it visible, then autoescape.
    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    return sanitize.visible(value)


def _finalize_md(value: Any) -> Any:
    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    return sanitize.for_markdown(value)


def _when(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> Markup:
    # Our own digits and punctuation: marked safe so Markdown does not escape the colon.
    return Markup("" if value is None else f"{_utc(value):{fmt}} UTC")


def _env(finalize: Callable[[Any], Any], autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("jobs", "templates"),
        autoescape=autoescape,
        finalize=finalize,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["when"] = _when
    env.filters["short"] = lambda s, n=80: sanitize.truncate(s, n)
    env.filters["duration"] = lambda d: "" if d is None else timewindow.human(d.total_seconds())
    return env


def html_environment() -> jinja2.Environment:
    """The Jinja2 environment for the HTML report: autoescape on, strings made visible."""
    env = _env(_finalize_html, autoescape=True)
    env.filters["literal"] = lambda s: Markup.escape(literal(s))
    return env


def markdown_environment() -> jinja2.Environment:
    """The Jinja2 environment for Markdown: every string through sanitize.for_markdown."""
    env = _env(_finalize_md, autoescape=False)
    # Indented code blocks are literal in Markdown: only non-printables need escaping.
    env.filters["literal"] = lambda s: Markup(literal(s))
    return env


INLINE_LINES: Final = 300
"""Snippets up to this many lines are shown inline; longer ones only as their rules/ file."""


def rule_files(report: Report) -> dict[str, str]:
    """``{subject: relative path}`` of each suggested snippet's text file under ``rules/``."""
    return {sn.subject: f"rules/{slug(sn.subject)}.txt" for sn in report.suggestions.snippets}


def render_rule_files(report: Report) -> dict[str, str]:
    """Each snippet as the text to review and paste (the one source every page links to)."""
    paths = rule_files(report)
    return {
        paths[sn.subject]: "".join(literal(line) + "\n" for line in sn.lines)
        for sn in report.suggestions.snippets
    }


def render_html(report: Report) -> dict[str, str]:
    """``{relative path: html}``: the index and one page per profile."""
    env = html_environment()
    css = _css(env)
    pages = {p.subject: p.slug for p in report.profiles}
    ctx = {"css": css, "rule_files": rule_files(report), "inline_lines": INLINE_LINES}
    index = env.get_template("report.html.j2").render(r=report, pages=pages, **ctx)
    files = {"index.html": index}
    page = env.get_template("profile.html.j2")
    for p in report.profiles:
        files[f"profiles/{p.slug}.html"] = page.render(r=report, p=p, **ctx)
    return files


def _css(env: jinja2.Environment) -> Markup:
    assert env.loader is not None
    source, _, _ = env.loader.get_source(env, "report.css")
    return Markup(source)


def render_markdown(report: Report) -> str:
    """The report as one Markdown document (per-profile sections at the end)."""
    return (
        markdown_environment()
        .get_template("report.md.j2")
        .render(r=report, rule_files=rule_files(report), inline_lines=INLINE_LINES)
    )


def to_jsonable(value: Any) -> Any:
    """Plain JSON data with every string through ``sanitize.for_json``."""
    if is_dataclass(value) and not isinstance(value, type):
        out = {f.name: to_jsonable(getattr(value, f.name)) for f in fields(value)}
        if "klass" in out:
            out["class"] = out.pop("klass")
        if isinstance(value, Chart):
            return None  # geometry is for the HTML only
        return out
    if isinstance(value, Mapping):
        return {sanitize.for_json(str(k)): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return _utc(value).isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, str | bytes):
        return sanitize.for_json(value)
    return value


def render_json(report: Report) -> bytes:
    """The report as JSON (charts left out; the data behind them is in the lists)."""
    data = to_jsonable(report)
    data = {k: v for k, v in data.items() if v is not None}
    # A profile's complain state and rules are under "ready"/"learning" and "suggestions"
    # (by subject): written once, so the JSON stays small and cannot disagree with itself.
    drop = {"rules", "complain"}
    data["profiles"] = [
        {k: v for k, v in p.items() if v is not None and k not in drop} for p in data["profiles"]
    ]
    for c in (*data["ready"], *data["learning"]):
        c["rules"] = None if c["rules"] is None else c["rules"]["subject"]
    # a long snippet is its rules/ file (written with every format), never a cut-off list
    paths = rule_files(report)
    for sn in data["suggestions"]["snippets"]:
        sn["file"] = paths.get(sn["subject"])
        if len(sn["lines"]) > INLINE_LINES:
            sn["lines"] = None
    data["config"] = asdict(report.config)
    return orjson.dumps(data, option=orjson.OPT_INDENT_2)


def render(report: Report, formats: Iterable[str] = FORMATS) -> dict[str, str | bytes]:
    """All requested formats, as ``{relative path: content}``."""
    out: dict[str, str | bytes] = {}
    formats = list(formats)
    if formats:
        out.update(render_rule_files(report))
    for fmt in formats:
        if fmt == "html":
            out.update(render_html(report))
        elif fmt == "md":
            out["report.md"] = render_markdown(report)
        elif fmt == "json":
            out["report.json"] = render_json(report)
        else:
            raise ReportError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    return out


def write_report(files: Mapping[str, str | bytes], out_dir: Path) -> list[Path]:
    """Write rendered files under ``out_dir`` all-or-nothing per run; return their paths.

    Files go to a private temporary directory inside ``out_dir`` first (same file system),
    then each is renamed into place; on any error the temporary directory is removed and
    the previous report stays as it was.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".report-", dir=out_dir))
    written: list[Path] = []
    try:
        for rel, content in files.items():
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            data = content.encode("utf-8") if isinstance(content, str) else content
            with open(target, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        for rel in files:
            final = out_dir / rel
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / rel, final)
            written.append(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written
