"""Options several commands share, declared once so their names, defaults and help agree."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_DB = Path("armorwatch.duckdb")
"""The store the readers open without --db: what `run` writes by default."""

DEFAULT_POLICY = Path("/etc/apparmor.d")


def add_store(p: argparse.ArgumentParser) -> None:
    """``--db PATH``: the store a reading command opens (read-only)."""
    p.add_argument("--db", type=Path, default=DEFAULT_DB,
                   help="the armorwatch store: a path (its SQLite catalog; the Parquet files "
                   "are in PATH.files/) or postgresql://USER@HOST/DB?data_path=DIR "
                   f"(default: {DEFAULT_DB})")


def add_policy(p: argparse.ArgumentParser) -> None:
    """``--no-validate`` and ``--policy-dir``: how proposed AppArmor rules are checked."""
    p.add_argument("--no-validate", action="store_true",
                   help="do not compile the proposed rules with apparmor_parser "
                   "(they are then marked unchecked)")
    p.add_argument("--policy-dir", type=Path, default=DEFAULT_POLICY,
                   help="installed AppArmor policy: profiles, tunables and abstractions "
                   f"(default: {DEFAULT_POLICY})")
