"""Fleet-wide AppArmor rule suggestions (and audit2allow-style SELinux rules) from the store.

API (for the CLI and the report)::

    result = suggest(con, since=None, profile=None)   # -> SuggestResult
    result.profiles        # list[ProfileSuggestion], most evidence first
    result.selinux         # list[SELinuxSuggestion]
    result.to_dict()       # JSON-able
    render_apparmor(ps)    # the text of /etc/apparmor.d/local/<file> for one profile
    render_markdown(result)

Modules, one job each: ``model`` (the immutable result types), ``evidence`` (evidence
summed over event groups), ``builder`` (steps 2–5 and 7: the builder keeps its own
working state and makes the result objects), ``selinux`` (audit2allow-style rules),
``validation`` (step 6) and ``render`` (text of the results). This module reads the
store and runs the steps.

``con`` is a DuckDB connection holding the store's ``denials``, ``complain_events`` and
``profile_status`` views (jobs never import sinks). ``since`` is an aware datetime or
None (everything stored); ``profile`` keeps one profile (exact full name, or a child
``a//b``) and builds only it and the profiles stacked with it.

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
   ``apparmor_parser -Q -K`` (``jobs.validate``). A rule the installed parser rejects
   is written as a comment saying the parser does not support it (its older, broader
   form, e.g. a network rule without access list, is only named: no active rule is
   ever broader than the evidence); nothing invalid is emitted.
7. Replay: each emitted rule lists the stored event groups and record counts it covers.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb

from jobs import risky, sqlfiles
from jobs.abstractions import Policy
from jobs.suggest.builder import Builder
from jobs.suggest.model import (
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
from jobs.suggest.render import (
    SELINUX_MODULE,
    comment,
    evidence_line,
    render_additions,
    render_apparmor,
    render_markdown,
    render_selinux,
)
from jobs.suggest.selinux import selinux_suggestions
from jobs.suggest.validation import validate as validate_profiles
from jobs.validate import ApparmorParser

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


def _naive_utc(t: dt.datetime | None) -> dt.datetime | None:
    if t is None or t.tzinfo is None:
        return t
    return t.astimezone(dt.UTC).replace(tzinfo=None)


def _rows(con: duckdb.DuckDBPyConnection, job: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    cur = sqlfiles.load(job).execute(con, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def suggest(
    con: duckdb.DuckDBPyConnection,
    since: dt.datetime | None = None,
    profile: str | None = None,
    *,
    validate: bool = True,
    parser: ApparmorParser | None = None,
    policy_root: Path | None = None,
) -> SuggestResult:
    """Suggestions from the store behind ``con`` (see the module docstring)."""
    params = {"since": _naive_utc(since)}
    policy = Policy.load(policy_root or Path("/etc/apparmor.d"))
    loaded = frozenset(r["profile"] for r in _rows(con, "suggest_loaded_profiles", {}))
    builder = Builder(loaded, policy, risky.SeverityDB.load())
    labels: list[str] | None = None
    if profile is not None:
        logged = [r["profile"] for r in _rows(con, "suggest_labels", params)]
        labels = builder.concerning(profile, logged)
    if labels == []:
        groups, suspects = [], []  # nothing of this profile is stored
    else:
        groups = _rows(con, "suggest_events", {**params, "labels": labels})
        suspects = _rows(con, "suggest_suspect", {**params, "labels": labels})
    for g in groups:
        builder.add(g)
    for r in suspects:
        builder.add_suspect(r)
    profiles = builder.finish(profile)
    version = None
    if validate:
        parser = parser or ApparmorParser.find()
        if parser is not None:
            version = parser.version()
            profiles = validate_profiles(profiles, parser)
    selinux = ([] if profile is not None
               else selinux_suggestions(_rows(con, "suggest_selinux", params)))
    return SuggestResult(
        profiles=profiles,
        selinux=selinux,
        since=since.isoformat() if since else None,
        parser=version,
    )
