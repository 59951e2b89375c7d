"""What ``armorwatch run`` prints: the run's outcome, the store's summary, the report.

The run itself is assembled in ``armorwatch.assembly.oneshot``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import duckdb

from armorwatch import logging as awlog
from armorwatch.alerting import load_rules, plan
from armorwatch.assembly.oneshot import RunOutcome
from armorwatch.jobs import report
from armorwatch.jobs import window as timewindow
from armorwatch.jobs.summary import Table, summarize
from armorwatch.parsers.sanitize import for_terminal
from armorwatch.sinks.duckdb import open_reader


def print_outcome(outcome: RunOutcome, dead_letter: Path, out: TextIO) -> None:
    """What was read, what the store holds new and already had, and what was unusable."""
    stats, stored, inputs = outcome.collected, outcome.stored, outcome.inputs
    names = ", ".join(str(i.path.name) for i in inputs)
    losses = ", ".join(f"{k} {v}" for k, v in sorted(stats.by_kind.items())) or "none"
    out.write(
        f"read {len(inputs)} file(s) ({names}): {stats.bytes} bytes\n"
        # The store's own counters: what it inserted and what its key found already there.
        f"{stored.rows_received} MAC records read: {stored.rows_inserted} stored new, "
        f"{stored.duplicates} already in the store\n"
        + (
            f"records that name no host (audit.log without node=) were given host "
            f"{for_terminal(outcome.host)!r}\n"
            if stored.rows_received
            else ""
        )
        + f"rejected lines: {stats.rejects}"
        + (f" (kept with their raw bytes in {dead_letter})" if stats.rejects else "")
        + f"\nloss reported by the logs: {losses}\n"
    )


def _cell(value: object) -> str:
    return "-" if value is None else for_terminal(str(value))


def print_table(table: Table, out: TextIO, limit: int = 15) -> None:
    """An aligned text table of the first ``limit`` rows; log strings made safe to print."""
    rows = [tuple(_cell(v) for v in row) for row in table.rows[:limit]]
    widths = [
        min(60, max([len(c)] + [len(r[i]) for r in rows])) for i, c in enumerate(table.columns)
    ]
    for line in (table.columns, *rows):
        cells = (c if len(c) <= w else c[: w - 1] + "…" for c, w in zip(line, widths, strict=True))
        out.write("  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + "\n")
    if len(table.rows) > limit:
        out.write(f"  … {len(table.rows) - limit} more rows\n")


def print_summary(con: duckdb.DuckDBPyConnection, out: TextIO) -> None:
    """Records by profile and class, then the top denials."""
    found = summarize(con)
    out.write("\nRecords by profile and class:\n")
    print_table(found.by_profile, out)
    out.write("\nTop denials:\n")
    print_table(found.top_denials, out)


def finish(db: Path, report_dir: Path, out: TextIO, with_report: bool = True) -> None:
    """Print the summary, then write the report (with suggested rules) and say where.

    A store without MAC records (the inputs held none) has nothing to summarise or
    report: that is said, not raised.
    """
    con, _ = open_reader(db)
    try:
        if timewindow.newest_record(con) is None:
            out.write(f"the store {db} holds no AppArmor/SELinux records: no summary or report\n")
            return
        print_summary(con, out)
        notes = plan(con, load_rules(), until=None)
        out.write(f"\nAlerts the default rules raise ({len(notes)}; `armorwatch alerts test`):\n")
        for n in notes:
            out.write(f"  {for_terminal(n.summary)}\n")
        if not with_report:
            return
        built = report.build_report(con, report.ReportConfig(since="7d"), progress=awlog.progress)
    finally:
        con.close()
    written = report.write_report(report.render(built), report_dir)
    s = built.summary
    rules = sum(snippet.rules for snippet in built.suggestions.snippets)
    out.write(
        f"\nSuggested rules: {rules} for {len(built.suggestions.snippets)} profile(s); "
        f"risky accesses: {s.risky}; new denial signatures: {s.new_signatures}; "
        f"profiles ready for enforce: {s.ready_to_enforce}\n"
    )
    main = next((p for p in written if p.suffix == ".html" and p.parent == report_dir), None)
    out.write(f"Report: {main or report_dir}  (Markdown and JSON beside it)\n")
    out.write(f"Store:  {db}  (try: armorwatch query top-denials --db {db})\n")
