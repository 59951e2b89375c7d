"""Assembling a ``Report`` from the store, one named step after another.

``build_report`` opens the window (``queries.open_window``), runs the window-wide jobs
once (``queries.fetch``), then derives each section: complain-mode profiles and which are
ready to enforce, growth, coverage, loss, suggested rules, the per-profile pages and the
headline numbers. Only trustworthy records (``suspect`` null) feed its sections;
forged-looking ones are counted per host in the coverage section (``HostCoverage.forged``)
and nowhere else.
"""

from __future__ import annotations

import shlex
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar

import duckdb

from armorwatch.jobs.report import charts, queries
from armorwatch.jobs.report.config import ReportConfig, parse_duration
from armorwatch.jobs.report.model import (
    ComplainProfile,
    Growth,
    HostCoverage,
    Loss,
    More,
    PodMismatch,
    ProfilePage,
    Report,
    Signature,
    Snippet,
    Suggestions,
    Summary,
    slug,
    utc,
)
from armorwatch.jobs.report.queries import Row, Window, WindowRows
from armorwatch.jobs.report.suggestions import rules_to_enforce, suggested_rules

T = TypeVar("T")
Progress = Callable[[Sequence[str], int, str], Iterable[str]]

BUILD_STEPS: Final = (
    "queries",
    "rules before enforcing",
    "rules for the window",
    "profile pages",
)


def _iso(t: datetime) -> str:
    return f"{utc(t):%Y-%m-%dT%H:%M:%SZ}"


def query_command(name: str, since: datetime, until: datetime, **params: str | int) -> str:
    """The ``armorwatch query`` command line that lists a cut list in full (shell-quoted)."""
    args = {"since": _iso(since), "until": _iso(until), **params}
    return f"armorwatch query {name} " + " ".join(
        f"--param {shlex.quote(f'{k}={v}')}" for k, v in args.items()
    )


@dataclass
class _Cuts:
    """The lists cut for size (``Report.more``), in the order they were cut."""

    window: Window
    more: dict[str, More] = field(default_factory=dict)

    def cap(
        self, key: str, items: Sequence[T], limit: int, query: str, **params: str | int
    ) -> tuple[T, ...]:
        """The first ``limit`` items; past that, a note with the query that lists them all."""
        if len(items) > limit:
            cmd = query_command(
                query, self.window.since, self.window.until, **params, limit=len(items)
            )
            self.more[key] = More(limit, len(items), cmd)
        return tuple(items[:limit])


def _as_is(items: Sequence[str], total: int, desc: str) -> Iterable[str]:
    return items


@dataclass(frozen=True)
class _Context:
    """What every step reads: the store, the settings, the window and its jobs' rows."""

    con: duckdb.DuckDBPyConnection
    config: ReportConfig
    window: Window
    bucket_s: int
    """Width of a timeline bar, in seconds."""
    rows: WindowRows
    cuts: _Cuts


@dataclass(frozen=True)
class _Sections:
    """The sections built from the rows, before the pages and the index."""

    complain: Mapping[str, ComplainProfile]
    ready: Sequence[ComplainProfile]
    learning: Sequence[ComplainProfile]
    growth: Mapping[str, Growth]
    hosts: tuple[HostCoverage, ...]
    loss: tuple[Loss, ...]
    suggestions: Suggestions
    enforced: tuple[ComplainProfile, ...] = ()
    pod_mismatches: tuple[PodMismatch, ...] = ()


def build_report(
    con: duckdb.DuckDBPyConnection,
    config: ReportConfig | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
    host: str | None = None,
) -> Report:
    """Query the store and assemble the report for the window ending at ``until``.

    ``until`` defaults to the newest record; ``now`` (the generation time shown) to the
    clock. ``progress`` wraps the per-profile loop (a TTY progress bar from the CLI).
    ``host`` keeps that host's records only (every section, the rules too).
    """
    config = config or ReportConfig()
    length = parse_duration(config.since)
    wrap = progress or _as_is
    # One bar over the steps (the rule suggestion is most of the time on a big store).
    steps = iter(wrap(BUILD_STEPS, len(BUILD_STEPS), "report"))
    next(steps, None)
    window = queries.open_window(con, length, until, host)
    bucket_s = charts.bucket_seconds(length)
    rows = queries.fetch(con, window, bucket_s)
    ctx = _Context(con, config, window, bucket_s, rows, _Cuts(window))
    complain = _complain_profiles(rows.complain, window.until, config)
    # The real mode where a host was read in the window; an enforcing profile is not ready.
    complain, enforced = _with_modes(complain, queries.profile_modes(con, window))
    by_subject: dict[str, list[Signature]] = defaultdict(list)
    for s in rows.signatures:
        by_subject[s.subject].append(s)
    # The pages' profiles and their hosts first: the last job on the window's TEMP tables,
    # which are then dropped, so the rule suggestion below reuses their memory (the peak).
    chosen = _chosen_pages(by_subject, _ready(complain), config, ctx.cuts)
    page_hosts = queries.profile_hosts(con, window, chosen)
    queries.close_window(con)
    pod_mismatches = _pod_mismatches(queries.pod_mismatches(con, window))
    next(steps, None)
    # The rules a ready profile needs come from all its history, not just this window.
    ready = _with_rules_to_enforce(con, _ready(complain), window)
    complain.update({c.subject: c for c in ready})
    hosts = _coverage(rows.hosts, window.until, parse_duration(config.silent_after))
    next(steps, None)
    sections = _Sections(
        complain=complain,
        ready=ready,
        learning=_learning(complain),
        growth=_growth(rows.growth),
        hosts=hosts,
        loss=_loss(rows.loss),
        suggestions=_whole_history_first(
            suggested_rules(con, window.since, until=window.until, host=host), ready
        ),
        enforced=enforced,
        pod_mismatches=pod_mismatches,
    )
    next(steps, None)
    pages = _pages(ctx, sections, chosen, by_subject, page_hosts, wrap)
    next(steps, None)  # exhausts the bar: it closes
    return _assemble(ctx, sections, pages, now)


def _complain_profiles(
    complain_rows: Iterable[Row], until: datetime, config: ReportConfig
) -> dict[str, ComplainProfile]:
    """Each complain-mode profile: its ALLOWED signatures, and whether it is quiet enough."""
    by_profile: dict[str, list[Signature]] = defaultdict(list)
    for r in complain_rows:
        by_profile[r["subject"]].append(queries.signature({**r, "is_new": False}, "allowed"))
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
    return complain


def _with_modes(
    complain: Mapping[str, ComplainProfile], modes: Mapping[str, Sequence[Row]]
) -> tuple[dict[str, ComplainProfile], tuple[ComplainProfile, ...]]:
    """``complain`` with each profile's mode as read from the hosts (``modes``: rows of
    report_profile_modes) where a reading exists, and apart, the profiles no host read has
    in complain mode any more (enforce, kill, ...): those are never ready to enforce."""
    kept: dict[str, ComplainProfile] = {}
    enforced: list[ComplainProfile] = []
    for subject, c in complain.items():
        readings = modes.get(subject)
        if not readings:
            kept[subject] = c  # no reading: the guess from its ALLOWED records stays
            continue
        hosts_by_mode: dict[str, list[str]] = defaultdict(list)
        for r in readings:
            hosts_by_mode[r["mode"]].append(queries.host_name(r["host"]))
        latest = max(utc(r["read_at"]) for r in readings)
        if len(hosts_by_mode) == 1:
            mode = next(iter(hosts_by_mode))
        else:
            mode = "; ".join(
                f"{m} on {', '.join(h[:3])}{f' and {len(h) - 3} more' if len(h) > 3 else ''}"
                for m, h in sorted(hosts_by_mode.items())
            )
        where = (
            f"read from {readings[0]['host']} at {_iso(latest)}"
            if len(readings) == 1
            else f"read from {len(readings)} hosts, the latest at {_iso(latest)}"
        )
        read = replace(c, mode=mode, mode_note=f"mode: {mode} ({where})", mode_read_at=latest)
        if "complain" in hosts_by_mode:
            kept[subject] = read
        else:
            enforced.append(replace(read, ready=False))
    return kept, tuple(sorted(enforced, key=lambda c: c.subject))


def _pod_mismatches(rows: Iterable[Row]) -> tuple[PodMismatch, ...]:
    """Pods denied by another profile than they asked for ("asked for X, denied by Y")."""
    return tuple(
        PodMismatch(
            pod_namespace=r["pod_namespace"] or "",
            pod_name=r["pod_name"] or "",
            container_name=r["container_name"] or "",
            asked=r["asked"],
            denied_by=r["denied_by"],
            denials=int(r["denials"]),
        )
        for r in rows
    )


def _ready(complain: Mapping[str, ComplainProfile]) -> list[ComplainProfile]:
    """The profiles ready to enforce, quiet the longest first."""
    return sorted(
        (c for c in complain.values() if c.ready), key=lambda c: (-c.days_quiet, c.subject)
    )


def _learning(complain: Mapping[str, ComplainProfile]) -> list[ComplainProfile]:
    """The complain-mode profiles still producing new signatures, the newest first."""
    return sorted(
        (c for c in complain.values() if not c.ready), key=lambda c: (c.days_quiet, c.subject)
    )


def _with_rules_to_enforce(
    con: duckdb.DuckDBPyConnection, ready: list[ComplainProfile], w: Window
) -> list[ComplainProfile]:
    """``ready`` with each one's whole-history rules (``rules_to_enforce``), when any."""
    rules = rules_to_enforce(con, [c.subject for c in ready], until=w.until, host=w.host)
    return [replace(c, rules=rules[c.subject]) if c.subject in rules else c for c in ready]


def _growth(growth_rows: Iterable[Row]) -> dict[str, Growth]:
    """Denials per profile, this window against the one before."""
    return {
        r["subject"]: Growth(
            r["subject"], int(r["current"]), int(r["previous"]), int(r["hosts"]), slug(r["subject"])
        )
        for r in growth_rows
    }


def _grew(growth: Mapping[str, Growth], config: ReportConfig) -> list[Growth]:
    """The profiles whose denials grew past ``growth_ratio`` and ``growth_min``, most first."""
    grew = [
        g
        for g in growth.values()
        if g.current >= config.growth_min and g.current > g.previous * config.growth_ratio
    ]
    grew.sort(key=lambda g: (-g.delta, g.subject))
    return grew


def _coverage(
    host_rows: Iterable[Row], until: datetime, silent_after: timedelta
) -> tuple[HostCoverage, ...]:
    """What each host sent; silent (blind) when not heard from for ``silent_after``."""
    silent_since = until - silent_after

    def silence(r: Mapping[str, Any]) -> timedelta | None:
        heard = r["last_heard"]
        if r["last_seen"] is None or heard is None or utc(heard) > silent_since:
            return None
        return until - utc(heard)

    return tuple(
        HostCoverage(
            host=queries.host_name(r["host"]),
            records=int(r["records"]),
            denials=int(r["denials"]),
            allowed=int(r["allowed"]),
            sources=tuple(r["sources"] or ()),
            first_seen=utc(r["first_seen"]) if r["first_seen"] is not None else None,
            last_seen=utc(r["last_seen"]) if r["last_seen"] is not None else None,
            forged=int(r["forged"]),
            forged_reasons=tuple(r["forged_reasons"] or ()),
            blind=silence(r) is not None,
            silent_for=silence(r),
        )
        for r in host_rows
    )


def _loss(loss_rows: Iterable[Row]) -> tuple[Loss, ...]:
    """Counted loss per (host, source, kind)."""
    return tuple(
        Loss(
            host=queries.host_name(r["host"]),
            source=r["source"] or "",
            kind=r["kind"] or "",
            lost=int(r["lost"] or 0),
            occurrences=int(r["occurrences"]),
            last_seen=utc(r["last_seen"]),
            detail=r["detail"] or "",
        )
        for r in loss_rows
    )


def _whole_history_first(suggestions: Suggestions, ready: Sequence[ComplainProfile]) -> Suggestions:
    """One source for "what to add before enforcing".

    A ready profile's whole-history rules replace its window-only snippet everywhere
    (index, its page, Markdown, JSON), so no page shows a shorter snippet that would
    break the service once enforced.
    """
    whole: dict[str, Snippet] = {c.subject: c.rules for c in ready if c.rules is not None}
    if not whole:
        return suggestions
    kept = [sn for sn in suggestions.snippets if sn.subject not in whole]
    return replace(suggestions, snippets=(*whole.values(), *kept))


def _chosen_pages(
    by_subject: Mapping[str, Sequence[Signature]],
    ready: Sequence[ComplainProfile],
    config: ReportConfig,
    cuts: _Cuts,
) -> list[str]:
    """The profiles that get a page: the busiest, and every ready one with events."""
    busiest = sorted(by_subject, key=lambda k: (-sum(s.events for s in by_subject[k]), k))
    chosen = busiest[: config.max_profile_pages]
    # a ready profile's page holds what to add before enforcing: always written
    chosen += [c.subject for c in ready if c.subject in by_subject and c.subject not in chosen]
    if len(busiest) > len(chosen):
        w = cuts.window
        cuts.more["profiles"] = More(
            len(chosen), len(busiest), query_command("signatures", w.since, w.until, limit=1000)
        )
    return chosen


def _pages(
    ctx: _Context,
    sections: _Sections,
    chosen: Sequence[str],
    by_subject: Mapping[str, Sequence[Signature]],
    hosts: Mapping[str, Row],
    wrap: Progress,
) -> list[ProfilePage]:
    """One page per chosen profile, in order (``hosts``: ``queries.profile_hosts``)."""
    w, config = ctx.window, ctx.config
    timeline: dict[str, list[Row]] = defaultdict(list)
    for r in ctx.rows.timeline:
        timeline[r["subject"]].append(r)
    snippet_of = {s.subject: s for s in sections.suggestions.snippets}
    pages = []
    for subject in wrap(chosen, len(chosen), "profiles"):
        sigs = by_subject[subject]
        den = sum(s.events for s in sigs if s.decision == "denied")
        alw = sum(s.events for s in sigs if s.decision == "allowed")
        pages.append(
            ProfilePage(
                subject=subject,
                slug=slug(subject),
                mode="complain" if den == 0 else "enforce" if alw == 0 else "mixed",
                denials=den,
                allowed=alw,
                hosts=queries.host_names(hosts[subject]["host_sample"]),
                host_count=int(hosts[subject]["hosts"]),
                signatures=ctx.cuts.cap(
                    f"signatures {subject}", sigs, config.max_rows, "signatures", profile=subject
                ),
                timeline=charts.timeline_chart(
                    timeline[subject], w.since, w.until, ctx.bucket_s, config.top, by="decision"
                ),
                complain=sections.complain.get(subject),
                growth=sections.growth.get(subject),
                rules=snippet_of.get(subject),
                signature_count=len(sigs),
            )
        )
    return pages


def _assemble(
    ctx: _Context, sections: _Sections, pages: Sequence[ProfilePage], now: datetime | None
) -> Report:
    """The index's lists, charts and headline numbers around the sections built before."""
    w, config, cuts, sec = ctx.window, ctx.config, ctx.cuts, sections
    signatures = ctx.rows.signatures
    new_sigs = [s for s in signatures if s.is_new and s.decision == "denied"]
    risky_sigs = sorted(
        (s for s in signatures if s.risk),
        key=lambda s: (s.severity != "critical", -s.events, s.subject, s.object),
    )
    denied = [s for s in signatures if s.decision == "denied"]
    top_objects = sorted(denied, key=lambda s: (-s.events, s.subject, s.object))[: config.top]
    summary = _summary(ctx.rows.summary, sec, new=len(new_sigs), risky=len(risky_sigs))
    denied_timeline = [r for r in ctx.rows.timeline if r["decision"] == "denied"]
    reporting = [h for h in sec.hosts if h.records][: config.top]
    # cut after the pages' own lists: Report.more keeps the order lists were cut in
    new_signatures = cuts.cap("new_signatures", new_sigs, config.index_rows, "new-denials")
    risky = cuts.cap("risky", risky_sigs, config.index_rows, "signatures")
    return Report(
        generated_at=utc(now or datetime.now(UTC)),
        window_start=w.since,
        window_end=w.until,
        window=config.since,
        config=config,
        summary=summary,
        ready=tuple(sec.ready),
        learning=tuple(sec.learning),
        grew=tuple(_grew(sec.growth, config)[: config.index_rows]),
        new_signatures=new_signatures,
        risky=risky,
        suggestions=sec.suggestions,
        hosts=sec.hosts,
        loss=sec.loss,
        top_objects=tuple(top_objects),
        timeline=charts.timeline_chart(denied_timeline, w.since, w.until, ctx.bucket_s, config.top),
        objects_chart=charts.hbar_chart(
            [(charts.object_label(t), t.events, charts.DENIED_COLOR) for t in top_objects[:15]]
        ),
        hosts_chart=charts.hbar_chart(
            [(h.host, h.records, charts.PALETTE[0]) for h in reporting], label_w=240
        ),
        profiles=tuple(pages),
        enforced=sec.enforced,
        pod_mismatches=cuts.cap(
            "pod_mismatches", sec.pod_mismatches, config.index_rows, "pod-profile-mismatch"
        ),
        more=cuts.more,
    )


def _summary(row: Row, sections: _Sections, *, new: int, risky: int) -> Summary:
    """The headline numbers: the window's counts (report_summary) and the sections' sizes."""
    return Summary(
        records=int(row["records"]),
        denials=int(row["denials"]),
        allowed=int(row["allowed"]),
        subjects=int(row["subjects"]),
        hosts=int(row["hosts"]),
        new_signatures=new,
        risky=risky,
        ready_to_enforce=len(sections.ready),
        blind_hosts=sum(1 for h in sections.hosts if h.blind),
        lost=sum(x.lost for x in sections.loss),
        forged=int(row["forged"]),
    )
