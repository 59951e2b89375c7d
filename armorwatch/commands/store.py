"""``armorwatch store``: upkeep of the store (``store migrate``: an old single-file store
into the lake)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from armorwatch.commands import COMMANDS, options
from parsers import sanitize
from sinks.duckdb import StoreNotFoundError, copy_legacy
from sinks.errors import SinkError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``armorwatch store`` with its ``migrate`` subcommand."""
    p = subparsers.add_parser("store", help=COMMANDS["store"], description=COMMANDS["store"])
    sub = p.add_subparsers(dest="store_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda args: _usage(p))
    m = sub.add_parser(
        "migrate",
        help="copy a single-file DuckDB store of an older armorwatch into the lake",
        description=(
            "Copy every row of OLD (a DuckDB file an older armorwatch wrote, any schema "
            "version) into the lake --db names, in one transaction. Idempotent: rows the "
            "lake holds already (same rid) are skipped, so a second run stores nothing. "
            "No writer may run on the lake meanwhile."
        ),
    )
    m.add_argument("old", type=Path, metavar="OLD", help="the old DuckDB store file")
    options.add_store(m)
    m.set_defaults(func=_migrate)


def _usage(p: argparse.ArgumentParser) -> int:
    p.print_help(sys.stderr)
    return 2


def _migrate(args: argparse.Namespace) -> int:
    try:
        counts = copy_legacy(args.old, args.db)
    except StoreNotFoundError as e:
        print(f"armorwatch store migrate: {e}", file=sys.stderr)
        return 2
    except SinkError as e:
        print(f"armorwatch store migrate: {sanitize.for_terminal(str(e))}", file=sys.stderr)
        return 1
    for table, read in counts.read.items():
        print(
            f"{table}: {read} rows read, {counts.stored.get(table, 0)} stored "
            f"(schema v{counts.schema_version} -> the lake {args.db})"
        )
    return 0
