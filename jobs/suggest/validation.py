"""Step 6 of ``jobs.suggest``: compile the suggestions with the installed parser.

Every rule and include, then every profile's whole snippet, is compiled with
``apparmor_parser -Q -K`` (``jobs.validate``, or any ``Checker``). A rule the parser
rejects is kept as a comment saying so (its older, broader ``fallback`` is only named:
no active rule is ever broader than the evidence). The suggestions are immutable:
``validate`` returns updated copies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Protocol

from armorwatch.jobs import apparmor_rules as R
from armorwatch.jobs.suggest.batch import BatchChecker
from armorwatch.jobs.suggest.model import (
    STATUS_COMPILED,
    STATUS_REJECTED,
    STATUS_UNSUPPORTED,
    ProfileSuggestion,
    Suggestion,
)
from armorwatch.jobs.validate import ApparmorParser


class Checker(Protocol):
    """What validation needs of ``jobs.validate.ApparmorParser``."""

    def check(self, bodies: list[str]) -> list[str | None]:
        """For each profile body, None if it compiles, else the parser's error."""
        ...


def validate(profiles: list[ProfileSuggestion], parser: Checker) -> list[ProfileSuggestion]:
    """Compile every rule, then each whole snippet; downgrade or comment out failures."""
    if isinstance(parser, ApparmorParser):
        parser = BatchChecker(parser)  # same results, a few parser runs per batch
    rules = [s for ps in profiles for s in ps.rules]
    incs = [inc for ps in profiles for inc in ps.includes]
    texts = sorted({s.rule for s in rules} | {i.include for i in incs})
    errors = dict(zip(texts, parser.check([f"  {t}" for t in texts]), strict=True))
    fallbacks = sorted({s.fallback for s in rules if s.fallback and errors.get(s.rule)})
    fb_err = dict(
        zip(fallbacks, parser.check([f"  {t}" for t in fallbacks]), strict=True)
    )
    rejected = {i.include for i in incs if errors[i.include]}

    def checked(s: Suggestion) -> Suggestion:
        # A rule covered by a rejected include is written for itself again.
        s = replace(s, covered_by=None) if s.covered_by in rejected else s
        err = errors[s.rule]
        if err is None:
            return replace(s, status=STATUS_COMPILED)
        if s.fallback and fb_err.get(s.fallback) is None:
            # Never an active rule broader than the evidence: the older form that would
            # compile is only named, the exact rule stays (commented out).
            note = (f"{s.fallback!r} would compile but allows more than was denied; "
                    "write it only if that is intended")
            return replace(s, status=STATUS_UNSUPPORTED, parser_error=err,
                           notes=[*s.notes, note])
        if s.kind in R.NEWER_CLASSES or s.fallback or ("->" in s.rule and "&" in s.rule):
            return replace(s, status=STATUS_UNSUPPORTED, parser_error=err)
        return replace(s, status=STATUS_REJECTED, parser_error=err)

    profiles = [
        replace(
            ps,
            rules=[checked(s) for s in ps.rules],
            includes=[
                replace(i, status=STATUS_REJECTED if errors[i.include] else STATUS_COMPILED,
                        parser_error=errors[i.include])
                for i in ps.includes
            ],
        )
        for ps in profiles
    ]
    # The whole snippet of each profile, as it will be written, inside a profile.
    bodies = [_snippet_body(ps) for ps in profiles]
    return [
        replace(ps, snippet_status=STATUS_COMPILED) if err is None
        else _conflicts(ps, err, parser)
        for ps, err in zip(profiles, parser.check(bodies), strict=True)
    ]


def _conflicts(ps: ProfileSuggestion, err: str, parser: Checker) -> ProfileSuggestion:
    """Rules that compile alone but conflict together (e.g. ix vs px): keep the longest
    prefix of the emitted rules that compiles, reject the others."""
    kept: list[Suggestion] = []
    rules = []
    for s in ps.rules:
        if s.emitted:
            if parser.check([_snippet_body(ps, only=[*kept, s])])[0] is None:
                kept.append(s)
            else:
                s = replace(s, status=STATUS_REJECTED,
                            parser_error="conflicts with another suggested rule of this profile")
        rules.append(s)
    ps = replace(ps, rules=rules, snippet_error=err)
    status = STATUS_COMPILED if parser.check([_snippet_body(ps)])[0] is None else STATUS_REJECTED
    return replace(ps, snippet_status=status)


def _emitted_lines(ps: ProfileSuggestion, only: Iterable[Suggestion] | None = None) -> list[str]:
    lines = [i.include for i in ps.includes if i.active and i.status != STATUS_REJECTED]
    rules = list(only) if only is not None else [r for r in ps.rules if r.emitted]
    return lines + [r.rule for r in rules]


def _snippet_body(ps: ProfileSuggestion, only: Iterable[Suggestion] | None = None) -> str:
    """The active lines of ``ps`` (or its includes and ``only``) as a profile body."""
    body = "\n".join("  " + ln for ln in _emitted_lines(ps, only))
    # Children compile as a child profile block, the way they sit in the real profile.
    for name in reversed(ps.path[1:]):
        body = f"  profile {R.quoted(R.aare(name))} {{\n{body}\n  }}"
    return body
