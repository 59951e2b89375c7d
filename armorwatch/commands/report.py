"""``armorwatch report``: write the nightly profile-tightening report (HTML, Markdown, JSON).

The window is ``--since`` long and ends at the newest record in the store by default
(``--anchor latest``): a store filled from old logs (the bundled samples are from Nov
2025) still gets a meaningful "last 24h". ``--anchor now`` ends it at the current time,
``--until`` at a given timestamp. The store is opened read-only (also while a writer
writes). Files are written all-or-nothing under ``-o DIR``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from armorwatch import logging as awlog
from armorwatch.commands import COMMANDS, options
from armorwatch.config import ConfigError
from armorwatch.jobs import report as R
from armorwatch.jobs import window as timewindow
from armorwatch.parsers import sanitize
from armorwatch.sinks.store import StoreNotFoundError, open_reader

log = logging.getLogger(__name__)

DEFAULT_OUT = Path("armorwatch-report")

READER_SETTINGS: dict[str, Any] = {"threads": 1, "allocator_background_threads": True}
"""The report's DuckDB connection: one thread (each thread's share of a parallel grouping
is memory of its own) and the allocator's background thread returning freed memory to
the system between queries. Fleet report (bench/bench_report.py, 3 rounds interleaved,
load 1.8-3.5): peak RSS 312-345 MB -> 287-292 MB, CPU the same within the noise."""


def register(subparsers: Any) -> None:
    """Add the ``report`` subcommand."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help=COMMANDS["report"],
        description=(
            "Write the nightly report: profiles ready to move from complain to enforce, "
            "profiles whose denials grew, new denial signatures, risky accesses, suggested "
            "local/ rules, loss and coverage, and a page per profile. The window ends at the "
            "newest record in the store unless --anchor now or --until is given."
        ),
    )
    options.add_store(p)
    p.add_argument(
        "--since", default=None, help="window length before its end: 24h, 7d, 90m (default 24h)"
    )
    p.add_argument(
        "--anchor",
        choices=("latest", "now"),
        default="latest",
        help="end the window at the newest record (latest, default) or at the current time",
    )
    p.add_argument(
        "--until", default=None, help="end the window at this ISO timestamp (overrides --anchor)"
    )
    p.add_argument(
        "--host",
        default=None,
        help="only this host's records (the window still ends at the fleet's newest record)",
    )
    p.add_argument(
        "-o", "--out", type=Path, default=DEFAULT_OUT, help=f"output directory ({DEFAULT_OUT})"
    )
    p.add_argument(
        "--format",
        default=",".join(R.FORMATS),
        help="comma-separated formats: html, md, json (default all three)",
    )
    p.add_argument(
        "--quiet-days",
        type=int,
        default=None,
        help="days without a new ALLOWED signature before a complain profile is ready (7)",
    )
    p.add_argument(
        "--config", type=Path, default=None, help="TOML file with a [report] table (ReportConfig)"
    )
    awlog.add_arguments(p)
    p.set_defaults(func=run)


def _until(args: argparse.Namespace) -> datetime | None:
    if args.until:
        try:
            when = datetime.fromisoformat(args.until.replace("Z", "+00:00"))
        except ValueError as e:
            raise R.ReportError(f"--until {args.until!r} is not an ISO timestamp") from e
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    return datetime.now(UTC) if args.anchor == "now" else None


def _config(args: argparse.Namespace) -> R.ReportConfig:
    # The one loader: the whole file is checked, as for every command (unknown tables too).
    # Imported only for --config: it knows every command's settings (their modules pull in
    # aiokafka, asyncio and more, ~17 MB of the report's RSS); without a file, the defaults.
    if args.config is None:
        config = R.ReportConfig()
    else:
        from armorwatch.assembly import settings

        config = settings.load(args.config).report
    if args.since is not None:
        config = replace(config, since=args.since)
    if args.quiet_days is not None:
        config = replace(config, quiet_days=args.quiet_days)
    R.parse_duration(config.since)  # a usage error before the store is opened
    return config


def _formats(text: str) -> list[str]:
    formats = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in R.FORMATS]
    if unknown or not formats:
        raise R.ReportError(f"--format {text!r}: choose from {', '.join(R.FORMATS)}")
    return formats


def run(args: argparse.Namespace) -> int:
    """Build, render and write the report; print where the files are."""
    awlog.from_args(args)
    try:
        config = _config(args)
        formats = _formats(args.format)
        until = _until(args)
    except (R.ReportError, ConfigError, OSError) as e:
        print(f"armorwatch report: {sanitize.for_terminal(str(e))}", file=sys.stderr)
        return 2
    try:
        con, opened = open_reader(args.db, settings=READER_SETTINGS)
    except (StoreNotFoundError, duckdb.Error) as e:  # missing, locked, or no DuckDB file
        print(f"armorwatch report: {sanitize.for_terminal(str(e))}", file=sys.stderr)
        return 2
    try:
        # A window anchored at the newest record has no end in an empty store: say so
        # (exit 0), it is not an error. --until / --anchor now still report on it.
        if until is None and timewindow.newest_record(con) is None:
            print(f"no AppArmor/SELinux records in {opened}: no report written")
            return 0
        report = R.build_report(
            con, config, until=until, progress=awlog.progress, host=args.host
        )
        files = R.render(report, formats)
    except R.ReportError as e:
        print(f"armorwatch report: {sanitize.for_terminal(str(e))}", file=sys.stderr)
        return 1
    finally:
        con.close()
    try:
        written = R.write_report(files, args.out)
    except OSError as e:
        print(f"armorwatch report: cannot write {args.out}: {e}", file=sys.stderr)
        return 2
    s = report.summary
    print(
        f"report of {opened} for {report.window_start:%Y-%m-%d %H:%M} – "
        f"{report.window_end:%Y-%m-%d %H:%M} UTC: {s.denials} denials, "
        f"{s.new_signatures} new signatures, {s.risky} risky, "
        f"{s.ready_to_enforce} ready to enforce, {s.blind_hosts} silent hosts"
    )
    pages = [p for p in written if p.parent.name == "profiles"]
    for path in written:
        if path not in pages:
            print(f"  {path}")
    if pages:
        print(f"  {args.out / 'profiles'}/ ({len(pages)} profile pages)")
    return 0
