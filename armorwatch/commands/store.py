"""``armorwatch store``: upkeep of the store (``store migrate``: an old single-file store
into the lake; ``store upkeep``: retention and compaction)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from armorwatch.commands import COMMANDS, options
from armorwatch.parsers import sanitize
from armorwatch.sinks.duckdb import StoreNotFoundError, copy_legacy, upkeep
from armorwatch.sinks.errors import SinkError


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
    u = sub.add_parser(
        "upkeep",
        help="retention and compaction: delete old rows, merge small files, expire snapshots",
        description=(
            "Delete rows older than --retention-days (records and loss by ts, rejects by "
            "ingested_at), with --dedup-window-s first the later copies of a rid "
            "committed that recently (several writers), move inlined rows into Parquet "
            "files, merge adjacent small files, expire snapshots older than "
            "--snapshot-days (how far --at can travel back) and remove the files no "
            "snapshot needs (and those no commit named, once an hour old). Run it "
            "from cron or a timer (`armorwatch process` runs it itself, "
            "[process.upkeep]). On an embedded store it refuses to run while a "
            "writer has the store open: that writer's [process.upkeep] does it."
        ),
    )
    options.add_store(u)
    u.add_argument("--retention-days", type=float, metavar="DAYS",
                   help="delete rows older than this (default: keep every row)")
    u.add_argument("--snapshot-days", type=float, default=7.0, metavar="DAYS",
                   help="keep snapshots (time travel) this long (default: 7)")
    u.add_argument("--dedup-window-s", type=float, metavar="SECONDS",
                   help="first delete the later copies of a rid among the rows committed "
                   "in the last SECONDS (several writers; default: no dedup pass)")
    u.set_defaults(func=_upkeep)


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


def _upkeep(args: argparse.Namespace) -> int:
    try:
        done = upkeep(
            args.db,
            retention_days=args.retention_days,
            snapshot_days=args.snapshot_days,
            dedup_window_s=args.dedup_window_s,
        )
    except StoreNotFoundError as e:
        print(f"armorwatch store upkeep: {e}", file=sys.stderr)
        return 2
    except SinkError as e:
        print(f"armorwatch store upkeep: {sanitize.for_terminal(str(e))}", file=sys.stderr)
        return 1
    for table, n in done.duplicates.items():
        print(f"{table}: {n} duplicate rows deleted")
    for table, n in done.deleted.items():
        print(f"{table}: {n} rows deleted")
    print(f"data files: {done.files_before} -> {done.files_after}")
    return 0
