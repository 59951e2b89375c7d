"""The report's suggested local/ rules, from ``jobs.suggest``.

Two uses: the window's rules (``suggested_rules``) and, for profiles ready to enforce,
the rules of their whole complain-mode history (``rules_to_enforce``). apparmor_parser
being absent is ``jobs.suggest``'s business (it leaves the rules unchecked and says so);
any failure of the engine costs only this section, never the whole report.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import duckdb

from armorwatch.jobs.report.model import Snippet, Suggestions
from armorwatch.jobs.suggest import SuggestResult, render_apparmor, suggest

log = logging.getLogger(__name__)

MAX_READY_RULES: Final = 20
"""Ready profiles that get whole-history rule suggestions."""


def _snippets(result: SuggestResult) -> list[Snippet]:
    return [
        Snippet(
            subject=ps.profile,
            local_file=ps.local_file,
            lines=tuple(render_apparmor(ps, result.parser).splitlines()),
            rules=len(ps.rules),
            risky=sum(1 for s in ps.rules if s.risky),
        )
        for ps in result.profiles
    ]


def _scope(until: datetime | None, host: str | None) -> dict[str, Any]:
    """``suggest``'s window end and host, when given (its callers may take neither)."""
    return {k: v for k, v in (("until", until), ("host", host)) if v is not None}


def suggested_rules(
    con: duckdb.DuckDBPyConnection,
    since: datetime,
    until: datetime | None = None,
    host: str | None = None,
) -> Suggestions:
    """Suggested local/ rules for the window, from ``jobs.suggest.suggest(con, since=...)``
    (records up to ``until`` and of ``host`` when given).

    When the engine fails the report is still written with the error in this section
    (one section must not cost the whole report), and no rule is invented.
    """
    try:
        result = suggest(con, since=since, **_scope(until, host))
        snippets = _snippets(result)
        selinux = [s.rule for s in result.selinux]
    except Exception as e:  # the rest of the report is still worth writing
        log.warning("Rule suggestion failed; the report says so in its section.", exc_info=True)
        return Suggestions(
            False, f"Rule suggestion failed ({type(e).__name__}: {e}); the rest is complete."
        )
    if selinux:
        snippets.append(Snippet("SELinux (audit2allow-style)", "", tuple(selinux), len(selinux), 0))
    how = (
        f"each checked with {result.parser}"
        if result.parser
        else "NOT checked: apparmor_parser is not installed where the report ran"
    )
    note = (
        f"Suggested from the window's denials and complain-mode records, {how}; a profile "
        "ready to enforce gets the rules of its whole complain-mode history."
    )
    return Suggestions(True, note, tuple(snippets))


def rules_to_enforce(
    con: duckdb.DuckDBPyConnection,
    profiles: Sequence[str],
    until: datetime | None = None,
    host: str | None = None,
) -> dict[str, Snippet]:
    """The local/ rules each complain profile needs before enforcing: its whole history
    (up to ``until``, of ``host``, when given).

    ``{profile: snippet}`` for the first ``MAX_READY_RULES`` of ``profiles``; a profile
    is left out when the engine fails for it or has nothing for it.
    """
    wanted = list(profiles[:MAX_READY_RULES])
    try:
        # One pass for all of them (one grouping of the store, one builder, one parser
        # run set); each result equals its own suggest(profile=...) call.
        together = _snippets(suggest(con, since=None, profiles=wanted, **_scope(until, host)))
    except Exception:
        log.warning(
            "Rule suggestion for the ready profiles failed; trying each alone.", exc_info=True
        )
    else:
        return _first_snippets({p: together for p in wanted})
    # Each alone: a profile the engine fails on costs only its own rules.
    found: dict[str, list[Snippet]] = {}
    for profile in wanted:
        try:
            found[profile] = _snippets(
                suggest(con, since=None, profile=profile, **_scope(until, host))
            )
        except Exception:
            log.warning("Rule suggestion for %s failed.", profile, exc_info=True)
    return _first_snippets(found)


def _first_snippets(found: dict[str, list[Snippet]]) -> dict[str, Snippet]:
    """Each profile's own snippet among those found for it, when there is one."""
    out: dict[str, Snippet] = {}
    for profile, snippets in found.items():
        snippet = next((s for s in snippets if s.subject == profile), None)
        if snippet is not None:
            out[profile] = snippet
    return out
