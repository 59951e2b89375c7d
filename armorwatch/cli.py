"""The ``armorwatch`` command line."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

from armorwatch import __version__
from armorwatch.commands import COMMANDS


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="armorwatch",
        description=(
            "Stream AppArmor and SELinux audit records from audit.log, kern.log and "
            "journald into one Arrow schema, store them in DuckDB, suggest AppArmor "
            "rules, alert and report. With no config, `armorwatch run` processes the "
            "bundled sample logs in-process."
        ),
    )
    parser.add_argument("--version", action="version", version=f"armorwatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        qualified = f"armorwatch.commands.{name}"
        # A command exists when its module does; an import error inside one still raises.
        if importlib.util.find_spec(qualified) is None:
            continue
        importlib.import_module(qualified).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse arguments, run the subcommand, return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
