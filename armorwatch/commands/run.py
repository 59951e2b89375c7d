"""``armorwatch run``: the whole pipeline in one process, on files read once.

With no arguments and no config it processes the bundled sample logs (the embedded
default): parse → in-process transport → DuckDB, then prints a summary, writes the
rule suggestions and the report, and says where everything is. The assembly is
``armorwatch.assembly.oneshot.run_once``; the output is ``armorwatch.runner``'s.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from pathlib import Path

from armorwatch import logging as awlog
from armorwatch import runner
from armorwatch.assembly import oneshot, settings
from armorwatch.assembly.settings import FileInput, RunConfig
from armorwatch.commands import COMMANDS
from armorwatch.config import ConfigError
from armorwatch.ingest.collector import CollectorError
from armorwatch.ingest.errors import IngestError
from armorwatch.parsers.sanitize import for_terminal
from armorwatch.sinks.errors import SinkError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``run``."""
    p = sub.add_parser(
        "run",
        help=COMMANDS["run"],
        description=(
            "Read log files once (audit.log, kern.log/syslog, journalctl -o json), parse them, "
            "store the records in DuckDB, then print what was found: records by profile and "
            "class, top denials, suggested rules and the report's path. With no FILE and no "
            "--config, the bundled sample logs are used and no server is needed."
        ),
    )
    p.add_argument("files", nargs="*", type=Path, metavar="FILE", help="log files to read")
    p.add_argument("--config", type=Path, help="TOML file with a [run] table")
    p.add_argument("--db", type=Path, help="DuckDB file (default ./armorwatch.duckdb)")
    p.add_argument("--report-dir", type=Path, help="report directory (default ./armorwatch-report)")
    p.add_argument("--no-report", action="store_true", help="skip suggestions and the report")
    p.add_argument(
        "--host",
        help="host name for records that name none (audit.log without node=); "
        "default: this machine's",
    )
    # run prints its own summary; the collector's INFO lines are for daemons' logs.
    awlog.add_arguments(p, default_level="WARNING")
    p.set_defaults(func=main)


def load_config(args: argparse.Namespace) -> RunConfig:
    """The [run] table of --config (the whole file checked), overridden by flags."""
    config = settings.load(args.config).run
    if args.files:
        config = replace(config, inputs=tuple(FileInput(path=f) for f in args.files))
    if args.db is not None:
        config = replace(config, store=replace(config.store, path=args.db))
    if args.report_dir is not None:
        config = replace(config, report_dir=args.report_dir)
    if args.host:
        config = replace(config, host=args.host)
    return config


def main(args: argparse.Namespace) -> int:
    """Run, print the summary; 0 also when the inputs hold no MAC records (said so),
    2 for a bad config or an unreadable input."""
    try:
        config = load_config(args)
    except (ConfigError, OSError) as e:
        print(f"armorwatch run: {e}", file=sys.stderr)
        return 2
    try:
        outcome = asyncio.run(oneshot.run_once(config))
    except oneshot.InputError as e:
        print(f"armorwatch run: {e}", file=sys.stderr)
        return 2
    except (CollectorError, IngestError, SinkError) as e:
        # The store refused (a newer schema, a held lock) or a source failed: say which.
        print(f"armorwatch run: {for_terminal(str(e))}", file=sys.stderr)
        return 1
    runner.print_outcome(outcome, config.dead_letter, sys.stdout)
    if outcome.stored.rows_received == 0:
        names = ", ".join(str(i.path) for i in outcome.inputs)
        print(f"no AppArmor/SELinux records in {for_terminal(names)}")
    db = config.store.path
    runner.finish(db, config.report_dir, sys.stdout, with_report=not args.no_report)
    return 0
