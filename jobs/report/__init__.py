"""The nightly profile-tightening report: DuckDB → one ``Report`` → HTML, Markdown, JSON.

``build_report(con, config, until=None)`` runs the ``jobs/sql/report_*.sql`` jobs over the
store's ``records`` / ``denials`` / ``complain_events`` / ``loss`` and returns a ``Report``
(plain dataclasses, raw log-derived strings). Only trustworthy records (``suspect`` null)
feed its sections; forged-looking ones are counted per host in the coverage section
(``HostCoverage.forged``) and nowhere else. ``render(report, formats)`` escapes at the
last moment, once, for each target (HTML, Markdown, JSON: ``jobs.report.rendering``).

``write_report(files, out_dir)`` renders nothing itself: it writes already-rendered files
into a private temporary directory inside ``out_dir`` and moves them into place, so a
failure (a full disk) leaves no half-written report.

The window ends at ``until`` (default: the newest record in the store, because a store
replayed from old logs has no records "now") and spans ``config.since`` before it.

Modules, one job each: ``config`` (settings, the error), ``model`` (the dataclasses of
a ``Report``), ``queries`` (the SQL jobs and their rows), ``suggestions`` (rules from
``jobs.suggest``), ``charts`` (SVG chart geometry), ``build`` (the steps that assemble a
``Report``), ``rendering`` (HTML, Markdown, JSON) and ``write`` (all-or-nothing files).

Errors::

    ReportError            bad settings, or nothing to report on (a jobs.errors.JobsError)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Only the settings load eagerly: the config loader (armorwatch.assembly.settings) needs
# ReportConfig for every command, and the rest pulls in jobs.suggest and jinja2.
from armorwatch.jobs.report.config import ReportConfig, ReportError, parse_duration

if TYPE_CHECKING:
    from armorwatch.jobs.report.build import BUILD_STEPS, build_report, query_command
    from armorwatch.jobs.report.model import Report
    from armorwatch.jobs.report.rendering import (
        FORMATS,
        html_environment,
        markdown_environment,
        render,
        render_html,
        render_json,
        render_markdown,
    )
    from armorwatch.jobs.report.suggestions import (
        MAX_READY_RULES,
        rules_to_enforce,
        suggested_rules,
    )
    from armorwatch.jobs.report.write import write_report

_LAZY = {
    **dict.fromkeys(("BUILD_STEPS", "build_report", "query_command"), "build"),
    "Report": "model",
    **dict.fromkeys(
        ("FORMATS", "html_environment", "markdown_environment", "render", "render_html",
         "render_json", "render_markdown"),
        "rendering",
    ),
    **dict.fromkeys(("MAX_READY_RULES", "rules_to_enforce", "suggested_rules"), "suggestions"),
    "write_report": "write",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    """The report's heavier parts, imported on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"armorwatch.jobs.report.{module}"), name)


__all__ = [
    "BUILD_STEPS",
    "FORMATS",
    "MAX_READY_RULES",
    "Report",
    "ReportConfig",
    "ReportError",
    "build_report",
    "html_environment",
    "markdown_environment",
    "parse_duration",
    "query_command",
    "render",
    "render_html",
    "render_json",
    "render_markdown",
    "rules_to_enforce",
    "suggested_rules",
    "write_report",
]
