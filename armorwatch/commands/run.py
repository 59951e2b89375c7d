"""``armorwatch run``: the whole pipeline in one process, on files read once.

With no arguments and no config it processes the bundled sample logs (the embedded
default): parse → in-process transport → DuckDB, then prints a summary, writes the
rule suggestions and the report, and says where everything is.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass, field
from pathlib import Path

from armorwatch import logging as awlog
from armorwatch import runner
from armorwatch.commands import COMMANDS
from armorwatch.config import ConfigError, from_mapping, load_toml
from armorwatch.pipeline import InProcessConfig
from ingest.collector import CollectorError
from ingest.errors import IngestError
from parsers.sanitize import for_terminal
from sinks.errors import SinkError


@dataclass(frozen=True)
class RunConfig:
    """What ``armorwatch run`` reads and where it writes (TOML table ``[run]``)."""

    inputs: tuple[runner.FileInput, ...] = ()
    """Log files to read once; empty means the bundled sample logs."""
    db: Path = Path("armorwatch.duckdb")
    """The DuckDB file records are stored in (re-running is idempotent)."""
    report_dir: Path = Path("armorwatch-report")
    """Where the report (HTML, Markdown, JSON) and suggested rules are written."""
    dead_letter: Path = Path("armorwatch-deadletter.jsonl")
    """Where lines the parser rejected are kept, raw bytes included."""
    transport: InProcessConfig = field(default_factory=InProcessConfig)
    """In-process transport settings."""
    host: str | None = None
    """Host name for records whose framing names none (audit.log without node=);
    None = this machine's host name."""


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
    awlog.add_arguments(p)
    p.set_defaults(func=main)


def load_config(args: argparse.Namespace) -> RunConfig:
    """The [run] table of --config (if any), overridden by flags."""
    config = RunConfig()
    if args.config is not None:
        data = load_toml(args.config)
        unknown = sorted(set(data) - {"run"})
        if unknown:
            raise ConfigError(f"unknown table(s) {', '.join(unknown)} in {args.config}")
        config = from_mapping(RunConfig, data.get("run", {}), "run.")
    overrides: dict[str, object] = {}
    if args.files:
        overrides["inputs"] = tuple(runner.FileInput(path=f) for f in args.files)
    if args.db is not None:
        overrides["db"] = args.db
    if args.report_dir is not None:
        overrides["report_dir"] = args.report_dir
    if args.host:
        overrides["host"] = args.host
    return RunConfig(**{**config.__dict__, **overrides})


def main(args: argparse.Namespace) -> int:
    """Run, print the summary; 0 also when the inputs hold no MAC records (said so),
    2 for a bad config or an unreadable input."""
    try:
        config = load_config(args)
    except (ConfigError, OSError) as e:
        print(f"armorwatch run: {e}", file=sys.stderr)
        return 2
    inputs = config.inputs or runner.sample_inputs()
    try:
        outcome = asyncio.run(
            runner.run_files(inputs, config.db, config.dead_letter, config.transport, config.host)
        )
    except runner.InputError as e:
        print(f"armorwatch run: {e}", file=sys.stderr)
        return 2
    except (CollectorError, IngestError, SinkError) as e:
        # The store refused (a newer schema, a held lock) or a source failed: say which.
        print(f"armorwatch run: {for_terminal(str(e))}", file=sys.stderr)
        return 1
    runner.print_outcome(inputs, outcome, config.dead_letter, sys.stdout)
    if outcome.stored.rows_received == 0:
        names = ", ".join(str(i.path) for i in inputs)
        print(f"no AppArmor/SELinux records in {for_terminal(names)}")
    runner.finish(config.db, config.report_dir, sys.stdout, with_report=not args.no_report)
    return 0
