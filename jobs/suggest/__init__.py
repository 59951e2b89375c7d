"""Fleet-wide AppArmor rule suggestions (and audit2allow-style SELinux rules) from the store.

API (for the CLI and the report)::

    result = suggest(con, since=None, profile=None, until=None, host=None)
    result = suggest(con, profiles=["a", "b"])  # several profiles, in one pass
    result.profiles        # list[ProfileSuggestion], most evidence first
    result.selinux         # list[SELinuxSuggestion]
    result.to_dict()       # JSON-able
    render_apparmor(ps)    # the text of /etc/apparmor.d/local/<file> for one profile
    render_markdown(result)

Modules, one job each: ``model`` (the immutable result types), ``evidence`` (evidence
summed over event groups), ``builder`` (steps 2–5 and 7: the builder keeps its own
working state and makes the result objects), ``selinux`` (audit2allow-style rules),
``validation`` (step 6), ``batch`` (its parser runs: many files per run, the results of
``jobs.validate``'s bisection) and ``render`` (text of the results). This module reads
the store and runs the steps.

``con`` is a DuckDB connection holding the store's ``denials``, ``complain_events`` and
``profile_status`` views (jobs never import sinks). ``since`` is an aware datetime or
None (everything stored), ``until`` (inclusive) likewise; ``host`` keeps one host's
records; ``profile`` keeps one profile (exact full name, or a child ``a//b``) and builds
only it and the profiles stacked with it; ``profiles`` does that for several at once.

Pipeline (semantics of aa-logprof 5.0.2, design/rule-suggestion.md §4–6):

1. ``sql/suggest_events.sql`` groups DENIED and complain-mode ALLOWED records by every
   rule-relevant field, with evidence (events, hosts, host:boot:pid processes, comms,
   first/last seen, the newest raw line, sample record keys). Only records nothing marks
   as forged-looking (``suspect IS NULL``) count; a userspace record of a kernel class,
   a value with a NUL byte or one longer than a kernel record is skipped here too.
   Names are used as their exact bytes (``apparmor_rules.exact_name``), so a name with
   bytes FF FE gives ``\\xff\\xfe`` and replays against those bytes.
2. Each group's label is split (``jobs.apparmor_rules.split_label``): hats/children go
   to the child profile ``a//b``, namespaces are kept apart, a stack ``a//&b`` gives the
   rule to each component, active only where it was denied (the other components'
   installed policy allows it), else commented out in each; complain-mode ``a//null-x``
   children count for ``a``, or for ``x`` when x has its own profile (loaded/installed).
   The installed policy (``jobs.installed``: every block, found by name or attachment)
   drops what a block already allows or denies, and rules of a hat/child the installed
   profile lacks are commented out with a note saying which block to create.
3. ``apparmor_rules.build`` makes the raw rule; file rules are generalised
   (``jobs.generalize.narrow``) and merged on (pattern, owner) with permissions unioned;
   a broader directory glob is offered only with ≥3 distinct paths.
4. Abstractions from the installed policy (``jobs.abstractions``) that cover ≥2 of a
   profile's rules are suggested as ``include <abstractions/…>`` in place of them when
   they grant little beyond the evidence (≤ ``builder.INCLUDE_MAX_BEYOND`` unneeded
   rules, no risky path); otherwise they are only offered in a comment.
5. Rules that would allow sensitive objects (``jobs.risky.rule_risk``: the shared list,
   rule-only paths/capabilities, writes under system directories, severity.db rank 10)
   are marked "review: risky" and written commented out.
6. Every rule, then every profile's whole snippet, is compiled with
   ``apparmor_parser -Q -K`` (``jobs.validate``; ``batch.BatchChecker`` finds the
   failing ones in a few runs instead of bisecting). A rule the installed parser rejects
   is written as a comment saying the parser does not support it (its older, broader
   form, e.g. a network rule without access list, is only named: no active rule is
   ever broader than the evidence); nothing invalid is emitted.
7. Replay: each emitted rule lists the stored event groups and record counts it covers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import duckdb

from armorwatch.jobs import risky, sqlfiles
from armorwatch.jobs.abstractions import Policy
from armorwatch.jobs.suggest.builder import Builder
from armorwatch.jobs.suggest.model import (
    STATUS_COMPILED,
    STATUS_DOWNGRADED,
    STATUS_REJECTED,
    STATUS_UNCHECKED,
    STATUS_UNSUPPORTED,
    Evidence,
    Include,
    ProfileSuggestion,
    SELinuxSuggestion,
    Suggestion,
    SuggestResult,
)
from armorwatch.jobs.suggest.render import (
    SELINUX_MODULE,
    comment,
    evidence_line,
    render_additions,
    render_apparmor,
    render_markdown,
    render_selinux,
)
from armorwatch.jobs.suggest.selinux import selinux_suggestions
from armorwatch.jobs.suggest.validation import validate as validate_profiles
from armorwatch.jobs.validate import ApparmorParser

__all__ = [
    "SELINUX_MODULE",
    "STATUS_COMPILED",
    "STATUS_DOWNGRADED",
    "STATUS_REJECTED",
    "STATUS_UNCHECKED",
    "STATUS_UNSUPPORTED",
    "Evidence",
    "Include",
    "ProfileSuggestion",
    "SELinuxSuggestion",
    "SuggestResult",
    "Suggestion",
    "comment",
    "evidence_line",
    "render_additions",
    "render_apparmor",
    "render_markdown",
    "render_selinux",
    "suggest",
]

_BATCH: Final = 2048
"""Rows converted to dicts at a time."""

Progress = Callable[[Sequence[str], int, str], Iterable[str]]
"""``progress(items, total, desc)``: the items, wrapped in a progress bar or not."""
STEPS: Final = (
    "grouping the stored events",
    "building rules",
    "compiling with apparmor_parser",
    "SELinux rules",
)
"""What ``progress`` counts: the store's grouping and the building are most of the time."""


def _as_is(items: Sequence[str], total: int, desc: str) -> Iterable[str]:
    return items


def _naive_utc(t: dt.datetime | None) -> dt.datetime | None:
    if t is None or t.tzinfo is None:
        return t
    return t.astimezone(dt.UTC).replace(tzinfo=None)


def _rows(con: duckdb.DuckDBPyConnection, job: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    return list(_stream(con, job, params))


def _stream(
    con: duckdb.DuckDBPyConnection, job: str, params: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """The job's rows, fetched a batch at a time: a fleet's event groups are never all
    Python dicts at once (the builder keeps only what it needs of each). ``con`` runs
    nothing else until the rows are consumed."""
    cur = sqlfiles.load(job).execute(con, params)
    cols = [d[0] for d in cur.description]
    while batch := cur.fetchmany(_BATCH):
        for row in batch:
            yield dict(zip(cols, row, strict=True))


def suggest(
    con: duckdb.DuckDBPyConnection,
    since: dt.datetime | None = None,
    profile: str | None = None,
    *,
    profiles: Sequence[str] | None = None,
    until: dt.datetime | None = None,
    host: str | None = None,
    validate: bool = True,
    parser: ApparmorParser | None = None,
    policy_root: Path | None = None,
    progress: Progress | None = None,
) -> SuggestResult:
    """Suggestions from the store behind ``con`` (see the module docstring); only the
    records up to ``until`` (inclusive) and of ``host`` when given. ``progress`` wraps
    the steps (``STEPS``: a bar on a terminal, from the CLI).

    ``profiles`` (not with ``profile``) keeps several profiles in one pass (the report's
    ready profiles): the store is grouped once for the labels all of them need, and the
    result holds exactly the ``ProfileSuggestion`` objects the calls with ``profile=p``
    would give for each ``p``, each once, in the usual order. A profile's rules come only
    from the rows of its own labels and of the profiles stacked with it, which its own
    call reads too, in the same order; the other profiles' rows never reach it."""
    if profile is not None and profiles is not None:
        raise ValueError("suggest: give profile or profiles, not both")
    wanted = None if profiles is None else list(dict.fromkeys(profiles))
    if profile is not None:
        wanted = [profile]
    steps = iter((progress or _as_is)(STEPS, len(STEPS), "suggest"))
    next(steps, None)
    params = {"since": _naive_utc(since), "until": _naive_utc(until), "host": host}
    policy = Policy.load(policy_root or Path("/etc/apparmor.d"))
    loaded = frozenset(r["profile"] for r in _rows(con, "suggest_loaded_profiles", {}))
    builder = Builder(loaded, policy, risky.SeverityDB.load())
    labels: list[str] | None = None
    if wanted is not None:
        logged = [r["profile"] for r in _rows(con, "suggest_labels", params)]
        needed = {label for p in wanted for label in builder.concerning(p, logged)}
        labels = [label for label in logged if label in needed]
    if labels != []:  # [] when nothing of these profiles is stored
        for g in _stream(con, "suggest_events", {**params, "labels": labels}):
            builder.add(g)
        for r in _rows(con, "suggest_suspect", {**params, "labels": labels}):
            builder.add_suspect(r)
    next(steps, None)
    built = builder.finish()
    if wanted is not None:
        names = set(wanted)
        built = [ps for ps in built if {ps.profile, "//".join(ps.path)} & names]
    next(steps, None)
    version = None
    if validate:
        parser = parser or ApparmorParser.find()
        if parser is not None:
            version = parser.version()
            built = validate_profiles(built, parser)
    next(steps, None)
    selinux = ([] if wanted is not None
               else selinux_suggestions(_rows(con, "suggest_selinux", params)))
    next(steps, None)  # exhausts the bar: it closes
    return SuggestResult(
        profiles=built,
        selinux=selinux,
        since=since.isoformat() if since else None,
        parser=version,
    )
