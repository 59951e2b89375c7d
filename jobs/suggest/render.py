"""Text of the suggestions: ``local/`` snippets, additions to an existing file, the
SELinux module and the Markdown summary. Log-derived text is sanitised here."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Final

from armorwatch.jobs import apparmor_rules as R
from armorwatch.jobs import risky
from armorwatch.jobs.abstractions import Abstraction, Policy
from armorwatch.jobs.suggest.model import (
    STATUS_REJECTED,
    STATUS_UNSUPPORTED,
    Evidence,
    ProfileSuggestion,
    SELinuxSuggestion,
    Suggestion,
    SuggestResult,
)
from armorwatch.parsers import sanitize


def comment(text: str) -> str:
    """A comment line of log-derived text."""
    # Log-derived text in a comment: no line breaks, nothing that could end the comment.
    return "# " + sanitize.for_terminal(text)


def evidence_line(e: Evidence) -> str:
    """One line summing up a rule's evidence."""
    hosts = ", ".join(e.hosts[:5]) + (f", … ({len(e.hosts)})" if len(e.hosts) > 5 else "")
    dec = ", ".join(f"{k} {v}" for k, v in sorted(e.decisions.items()))
    return (
        f"{e.events} event(s) on {len(e.hosts)} host(s) ({hosts}), {e.processes} process(es) "
        f"[{', '.join(e.comms[:5])}], {e.first_seen} – {e.last_seen}; {dec}"
    )


def _rule_key(line: str) -> str:
    """A policy line compared by its words: no trailing comment, single spaces."""
    s = line.strip()
    if s.startswith("#include"):
        s = s[1:]
    elif s.startswith("#"):
        return ""
    if " #" in s and '"' not in s:
        s = s[: s.index(" #")]
    return " ".join(s.split())


def _already_in(s: Suggestion, present: set[str], have: Abstraction) -> bool:
    """Whether an existing text (its line keys, its parsed allow rules) allows ``s``."""
    if _rule_key(s.rule) in present:
        return True
    if s.kind == R.FILE:
        return have.covers_file(sorted(s.paths), s.perms, s.owner)
    if s.kind == R.CAPABILITY:
        return s.rule.removeprefix("capability ").rstrip(",") in have.caps
    return False


def render_additions(
    ps: ProfileSuggestion, existing: str, policy: Policy | None = None
) -> tuple[str, int]:
    """(text to append to an existing local file, rules in it): the active lines of
    ``render_apparmor`` that ``existing`` does not already allow (same line, or a file or
    capability rule it covers), each with its evidence comment; ("", 0) when none is
    missing. The existing text itself is never changed."""
    present = {_rule_key(ln) for ln in existing.splitlines()}
    have = (policy or Policy(Path("/nonexistent"))).rules_of_text(existing)
    out: list[str] = []
    for inc in ps.includes:
        if (inc.active and inc.status != STATUS_REJECTED
                and _rule_key(inc.include) not in present):
            out.append(comment(f"covers {len(inc.replaces)} suggested rule(s)"))
            out.append(inc.include)
    for s in ps.rules:
        if s.emitted and not _already_in(s, present, have):
            out.append(comment(evidence_line(s.evidence)))
            out.append(s.rule)
    n = len(out) // 2
    if not n:
        return "", 0
    head = comment(f"added by armorwatch suggest --merge: {n} rule(s) for profile {ps.profile}")
    return "\n".join(["", head, *out]) + "\n", n


def render_apparmor(ps: ProfileSuggestion, parser: str | None = None) -> str:
    """The text of ``/etc/apparmor.d/local/<file>`` for one profile (a comment per rule)."""
    out = [
        comment(f"armorwatch rule suggestions for profile {ps.profile}"),
        comment(f"target: /etc/apparmor.d/local/{ps.local_file}"),
        comment(
            f"validated with {parser}: snippet {ps.snippet_status}"
            if parser else "NOT validated: apparmor_parser was not available"
        ),
        "# Review before use. Risky rules and rules the parser rejects are commented out.",
    ]
    out += [comment(f"note: {n}") for n in ps.notes]
    if ps.snippet_error:
        out.append(comment(f"snippet error: {ps.snippet_error}"))
    for inc in ps.includes:
        out.append("")
        out.append(comment(f"{inc.include} covers {len(inc.replaces)} suggested rules:"))
        out += [comment(f"  {r}") for r in inc.replaces]
        if inc.status == STATUS_REJECTED:
            out.append(comment(f"rejected by the parser: {inc.parser_error}"))
            out.append("# " + inc.include)
        elif not inc.active:
            why = f"it also allows {inc.beyond} rule(s) no denial needed"
            if inc.grants_risky:
                why += f", and {inc.grants_risky}"
            out.append(comment(f"offered only: {why}; the rules stay below"))
            out.append("# " + inc.include)
        else:
            out.append(inc.include)
    for s in ps.rules:
        out.append("")
        out.append(comment(evidence_line(s.evidence)))
        out.append(comment(f"example: {s.evidence.example}"))
        if s.covers:
            out.append(comment(
                f"replay: allows {s.covers['events']} stored event(s) in "
                f"{s.covers['groups']} group(s)"
            ))
        if s.severity is not None:
            out.append(comment(f"severity {s.severity}/10 ({risky.SEVERITY_DB})"))
        if s.generalised:
            out.append(comment("generalised: " + "; ".join(s.generalised)))
        if len(s.raw) and s.raw != [s.rule]:
            shown = s.raw[:3] + ([f"… {len(s.raw) - 3} more"] if len(s.raw) > 3 else [])
            out.append(comment("narrowest: " + "  ".join(shown)))
        if s.broader:
            out.append(comment(f"broader ({s.broader_why}): {s.broader}"))
        if s.abstractions and not s.covered_by:
            out.append(comment("also allowed by: " + ", ".join(s.abstractions[:5])))
        out += [comment(f"note: {n}") for n in s.notes]
        if s.known:
            out.append(comment(f"{s.known}: {s.rule}"))
        elif s.covered_by:
            out.append(comment(f"covered by {s.covered_by}: {s.rule}"))
        elif s.risky:
            out.append(comment(
                f"review: risky ({s.risky['severity']}: {s.risky['reason']}); "
                "uncomment only after review"
            ))
            out.append("# " + s.rule)
        elif s.status == STATUS_UNSUPPORTED:
            out.append(comment(f"not supported by {parser or 'the installed parser'}: "
                                f"{s.parser_error}"))
            out.append("# " + s.rule)
        elif s.status == STATUS_REJECTED:
            out.append(comment(f"rejected by the parser: {s.parser_error}"))
            out.append("# " + s.rule)
        else:
            out.append(s.rule)
    for sk in ps.skipped:
        out.append(comment(f"skipped {sk['events']} event(s): {sk['reason']}"))
    return "\n".join(out) + "\n"


SELINUX_MODULE: Final = "armorwatch_local"
"""Name of the SELinux policy module ``render_selinux`` writes."""


def render_selinux(items: list[SELinuxSuggestion], module: str = SELINUX_MODULE,
                   note: str | None = None) -> str:
    """A loadable policy module (``checkmodule -M -m`` compiles it, as ``audit2allow -m``
    writes one): ``module``, the ``require`` block of every type and class/permission
    used, then the ``allow`` lines, enforcing denials first, permissive ones apart; before
    a rule, audit2why's answer (``setsebool -P NAME 1`` when a boolean would allow it);
    ``note``: why booleans were not looked up."""
    types = sorted({t for s in items for t in (s.source_type, s.target_type)})
    classes: dict[str, set[str]] = defaultdict(set)
    for s in items:
        classes[s.tclass].update(s.perms)
    out = [f"module {module} 1.0;", "", "require {"]
    out += [f"\ttype {t};" for t in types]
    out += [f"\tclass {c} {{ {' '.join(sorted(p))} }};" for c, p in sorted(classes.items())]
    out += ["}", ""]
    if note:
        out += [comment(note), ""]
    for permissive in (False, True):
        part = [s for s in items if s.permissive == permissive]
        if not part:
            continue
        out.append(
            "# SELinux: denials logged in PERMISSIVE mode (the access happened anyway)"
            if permissive else "# SELinux: enforced denials"
        )
        for s in part:
            out.append(comment(evidence_line(s.evidence)))
            if s.why is not None:
                out += [comment(f"audit2why: {b['command']}  (turns on: "
                                f"{'; '.join(b['rules'])})") for b in s.why["booleans"]]
                out.append(comment(f"audit2why: {s.why['detail']}"))
            out.append(s.rule)
        out.append("")
    return "\n".join(out)


def render_markdown(result: SuggestResult) -> str:
    """A Markdown summary: one table per profile."""
    md = sanitize.for_markdown
    out = ["# armorwatch rule suggestions", ""]
    out.append(f"Validated with: {md(result.parser) if result.parser else 'not validated'}")
    for ps in result.profiles:
        out += ["", f"## {md(ps.profile)} → local/{md(ps.local_file)}", ""]
        out += [f"- {md(n)}" for n in ps.notes]
        out += [f"- include: {md(i.include)} replaces {len(i.replaces)} rules"
                + ("" if i.active else
                   f" (offered only: allows {i.beyond} rule(s) no denial needed)")
                for i in ps.includes]
        out += ["", "| rule | status | events | hosts | processes | last seen | review |",
                "|---|---|---|---|---|---|---|"]
        for s in ps.rules:
            review = (f"risky: {s.risky['reason']}" if s.risky
                      else (s.known or s.covered_by or ""))
            out.append(
                f"| {md(s.rule)} | {s.status} | {s.evidence.events} | "
                f"{len(s.evidence.hosts)} | {s.evidence.processes} | "
                f"{md(s.evidence.last_seen or '')} | {md(review)} |"
            )
    if result.selinux:
        out += ["", "## SELinux", "", "| rule | permissive | events | hosts |", "|---|---|---|---|"]
        for se in result.selinux:
            out.append(f"| {md(se.rule)} | {se.permissive} | {se.evidence.events} | "
                       f"{len(se.evidence.hosts)} |")
    return "\n".join(out) + "\n"
