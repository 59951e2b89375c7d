"""Rendering a ``Report``: HTML pages, one Markdown document, JSON, and the rules/ files.

Every log-derived string is escaped here, once, for its target:

- ``render_html(report)`` → ``{relative path: text}``: ``index.html`` plus one page per
  profile under ``profiles/``. Self-contained (inline CSS and SVG charts, no scripts,
  fonts or links outside the directory). Jinja2 autoescape is on and every ``{{ }}``
  string also goes through ``parsers.sanitize.visible`` (the environment's ``finalize``),
  so control, bidi and zero-width characters from a log show as escapes.
- ``render_markdown(report)`` → ``report.md``; every ``{{ }}`` string goes through
  ``sanitize.for_markdown``.
- ``render_json(report)`` → ``report.json``; every string through ``sanitize.for_json``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, fields, is_dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Final

import jinja2
import orjson
from markupsafe import Markup

from armorwatch.jobs import window as timewindow
from armorwatch.jobs.report.config import ReportError
from armorwatch.jobs.report.model import Chart, Report, slug, utc
from armorwatch.parsers import sanitize

FORMATS: Final = ("html", "md", "json")


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
    return Markup("" if value is None else f"{utc(value):{fmt}} UTC")


def _env(finalize: Callable[[Any], Any], autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("armorwatch.jobs", "templates"),
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


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def to_jsonable(value: Any) -> Any:
    """Plain JSON data with every string through ``sanitize.for_json``."""
    if isinstance(value, Chart):
        return None  # geometry is for the HTML only
    if is_dataclass(value) and not isinstance(value, type):
        # field names once per class: a fleet report has some 300 000 values
        out = {n: to_jsonable(getattr(value, n)) for n in _field_names(type(value))}
        if "klass" in out:
            out["class"] = out.pop("klass")
        return out
    if isinstance(value, Mapping):
        return {sanitize.for_json(str(k)): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return utc(value).isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, str | bytes):
        return sanitize.for_json(value)
    return value


def render_json(report: Report) -> bytes:
    """The report as JSON (charts left out; the data behind them is in the lists)."""
    # What the JSON leaves out is left out before sanitising: a fleet's snippets are
    # millions of characters (to_jsonable took most of render_json's time on them).
    snippets = report.suggestions.snippets
    long = [len(sn.lines) > INLINE_LINES for sn in snippets]
    slim = replace(
        report,
        suggestions=replace(report.suggestions, snippets=tuple(
            replace(sn, lines=()) if cut else sn for sn, cut in zip(snippets, long, strict=True)
        )),
        profiles=tuple(replace(p, rules=None, complain=None) for p in report.profiles),
        ready=tuple(replace(c, rules=None) for c in report.ready),
        learning=tuple(replace(c, rules=None) for c in report.learning),
    )
    data = to_jsonable(slim)
    data = {k: v for k, v in data.items() if v is not None}
    # A profile's complain state and rules are under "ready"/"learning" and "suggestions"
    # (by subject): written once, so the JSON stays small and cannot disagree with itself.
    drop = {"rules", "complain"}
    data["profiles"] = [
        {k: v for k, v in p.items() if v is not None and k not in drop} for p in data["profiles"]
    ]
    for c, full in zip((*data["ready"], *data["learning"]), (*report.ready, *report.learning),
                       strict=True):
        c["rules"] = None if full.rules is None else sanitize.for_json(full.rules.subject)
    # a long snippet is its rules/ file (written with every format), never a cut-off list
    paths = rule_files(report)
    for sn, cut in zip(data["suggestions"]["snippets"], long, strict=True):
        sn["file"] = paths.get(sn["subject"])
        if cut:
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
