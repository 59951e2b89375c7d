"""The ``armorwatch`` command line."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import NoReturn

from armorwatch import __version__
from armorwatch import logging as awlog
from armorwatch.commands import COMMANDS, INTERNAL_ERROR
from armorwatch.parsers import sanitize


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The top-level parser.

    Given ``argv``, only the command it names is imported and registered in full; the
    others are listed with their help line, so `armorwatch --version` or `armorwatch
    parse` never pays for DuckDB, aiokafka or the jobs. Without ``argv`` every command
    is registered (tests and tools that inspect the whole CLI).
    """
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
    chosen = next((a for a in argv if not a.startswith("-")), None) if argv is not None else None
    for name, text in COMMANDS.items():
        if argv is None or name == chosen:
            importlib.import_module(f"armorwatch.commands.{name}").register(sub)
        else:
            sub.add_parser(name, help=text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse arguments, run the subcommand, return its exit code.

    Run as the ``armorwatch`` program (no ``argv``), a command that sets ``fast_exit``
    (``parse``) ends the process as soon as it is done: exit handlers run and the
    standard streams are flushed, but the interpreter is not torn down (freeing every
    module and buffer one by one: ~35M instructions even after an empty file)."""
    as_program = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    code, fast_exit = _run(argv)
    if as_program and fast_exit:
        _exit_now(code)
    return code


def _exit_now(code: int) -> NoReturn:
    """End the process now: atexit handlers (logging's flush, repeat summaries), then
    stdout/stderr flushed, then ``os._exit`` without the interpreter's teardown."""
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _run(argv: list[str]) -> tuple[int, bool]:
    """The command's exit code, and whether it asks for ``_exit_now``."""
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2, False
    if hasattr(args, "log_level"):
        awlog.from_args(args)  # every command logs as --log-level/--log-format say
    return _call(func, args), bool(getattr(args, "fast_exit", False))


def _call(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    try:
        return int(func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (| head). Point stdout at /dev/null so the interpreter's
        # final flush does not print a second BrokenPipeError.
        with contextlib.suppress(OSError, ValueError):  # stdout may have no descriptor
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # the last resort: a bug gets one line, not a traceback dump
        return internal_error(args, exc)


def internal_error(args: argparse.Namespace, exc: BaseException) -> int:
    """One line on stderr for an exception no command handled; the traceback only at
    ``--log-level DEBUG``. Returns ``INTERNAL_ERROR``."""
    detail = sanitize.for_terminal(sanitize.truncate(f"{type(exc).__name__}: {exc}", 500))
    debug = str(getattr(args, "log_level", "")).upper() == "DEBUG"
    hint = "" if debug else " (--log-level DEBUG shows the traceback)"
    print(f"armorwatch {args.command}: internal error: {detail}{hint}", file=sys.stderr)
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    return INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
