"""Wiring of ``armorwatch run``: files read once → parser → in-process transport → DuckDB.

The collector daemon (``armorwatch collect``) follows files forever and checkpoints;
``run`` reads each input from its start to its end once. Re-running is harmless: the
store removes duplicates by ``parsers.schema.KEY_COLUMNS``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TextIO

import duckdb
import pyarrow as pa

from armorwatch.alerting import load_rules, plan
from armorwatch.pipeline import InProcessConfig, InProcessTransport
from ingest.auditd_file import AuditdFileConfig, AuditdFileSource
from ingest.base import Source
from ingest.collector import Collector, CollectorStats
from ingest.hostid import host_info
from ingest.journal_json import JournalJsonFileConfig, JournalJsonFileSource
from ingest.kernlog import KernLogConfig, KernLogSource
from jobs import report
from jobs import window as timewindow
from jobs.summary import Table, summarize
from parsers.result import HostInfo
from parsers.sanitize import for_terminal
from sinks.deadletter import DeadLetterConfig, DeadLetterSink
from sinks.duckdb import DuckDBConfig, DuckDBSink, DuckDBStats, open_reader


class InputError(OSError):
    """An input file cannot be read."""


@dataclass(frozen=True)
class FileInput:
    """One log file read once (TOML: ``[[run.inputs]]``)."""

    path: Path
    """The file: audit.log, kern.log/syslog/messages, dmesg output or journalctl -o json."""
    kind: str = "auto"
    """audit | syslog | journal-json | auto (decided from the file name)."""


_KIND_BY_NAME = (
    ("journal", "journal-json"),
    ("json", "journal-json"),
    ("kern", "syslog"),
    ("syslog", "syslog"),
    ("messages", "syslog"),
    ("dmesg", "syslog"),
)


def kind_of(item: FileInput) -> str:
    """audit | syslog | journal-json: explicit setting wins, else the file name decides."""
    if item.kind != "auto":
        return item.kind
    name = item.path.name.lower()
    return next((kind for needle, kind in _KIND_BY_NAME if needle in name), "audit")


def source_for(item: FileInput, name: str) -> Source:
    """The ingest source that reads ``item`` from its beginning, once."""
    kind = kind_of(item)
    if kind == "audit":
        return AuditdFileSource(AuditdFileConfig(path=item.path), name=name)
    if kind == "syslog":
        return KernLogSource(KernLogConfig(path=item.path), name=name)
    if kind == "journal-json":
        return JournalJsonFileSource(JournalJsonFileConfig(path=item.path), name=name)
    raise InputError(f"{item.path}: unknown input kind {kind!r} (audit, syslog, journal-json)")


def sample_inputs() -> tuple[FileInput, ...]:
    """The bundled sample logs (package data), in a stable order."""
    root = resources.files("armorwatch").joinpath("samples")
    # local-audit.log has no node=: its records get the host `run` runs on (or --host).
    names = ("audit.log", "kern.log", "journal.json", "local-audit.log")
    return tuple(FileInput(path=Path(str(root.joinpath(n)))) for n in names)


@dataclass(frozen=True)
class RunOutcome:
    """What one ``run_files`` call read and what the store made of it."""

    collected: CollectorStats
    """The collector's counters: bytes, records acknowledged, rejects, loss by kind."""
    stored: DuckDBStats
    """The store's counters: records newly inserted and duplicates skipped."""
    host: str
    """The host name given to records whose framing names none."""


def default_host(host: str | None = None) -> str:
    """``host`` if given, else this machine's host name (``ingest.hostid``)."""
    name = host or host_info().host
    if not name:
        raise InputError("this machine has no host name: give one with --host NAME")
    return name


async def run_files(
    inputs: tuple[FileInput, ...],
    db: Path,
    dead_letter: Path,
    transport: InProcessConfig | None = None,
    host: str | None = None,
) -> RunOutcome:
    """Read every input once through the collector into the DuckDB file ``db``.

    No checkpoint is kept (each run reads the files whole; the store's key removes what
    an earlier run stored). Each record keeps the host its framing names (``node=``, the
    syslog host, ``_HOSTNAME``); one that names none (an audit.log written with auditd's
    ``name_format = NONE``) gets ``host`` (default: this machine's name), never NULL.
    Only the name is stamped: machine-id and boot_id of this machine would be wrong for
    a file copied from elsewhere or written before the last boot.
    """
    name = default_host(host)
    for item in inputs:
        if not item.path.is_file() or not os.access(item.path, os.R_OK):
            raise InputError(f"cannot read {item.path}")
    sources = [source_for(item, f"input{i}") for i, item in enumerate(inputs)]
    # No reader runs beside a one-shot run, so no snapshot file for readers is needed.
    store = DuckDBSink(DuckDBConfig(path=db, snapshot_interval_s=0))
    await store.open()
    rejected = DeadLetterSink(DeadLetterConfig(path=dead_letter))

    async def keep(rejects: pa.RecordBatch) -> None:
        await rejected.write(rejects)
        await store.send_rejects(rejects)

    async with rejected, InProcessTransport(store, transport) as channel:  # closes the store
        collector = Collector(
            sources, channel, None, HostInfo(host=name), dead_letter=keep, dedup=False
        )
        await collector.run(follow=False)
    return RunOutcome(collected=collector.stats, stored=store.stats, host=name)


def print_outcome(
    inputs: tuple[FileInput, ...], outcome: RunOutcome, dead_letter: Path, out: TextIO
) -> None:
    """What was read, what the store holds new and already had, and what was unusable."""
    stats, stored = outcome.collected, outcome.stored
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
        built = report.build_report(con, report.ReportConfig(since="7d"))
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
