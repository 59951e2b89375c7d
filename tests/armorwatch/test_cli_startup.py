"""The command line imports only what the command being run needs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from armorwatch.commands import COMMANDS

PROBE = """
import contextlib, io, sys
from armorwatch.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main({argv!r})
heavy = sorted(m for m in ("duckdb", "aiokafka", "jinja2", "httpx", "armorwatch.jobs.suggest",
                           "pyarrow.parquet") if m in sys.modules)
print(",".join(heavy))
"""


def heavy_modules(argv: list[str]) -> str:
    """Heavy modules loaded by `armorwatch ARGV` in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["parse", "--help"]])
def test_light_commands_load_no_heavy_module(argv: list[str]) -> None:
    """--version, --help and parse load neither DuckDB, aiokafka, Jinja, httpx nor the jobs."""
    assert "" == heavy_modules(argv)


def test_help_lists_every_command() -> None:
    """`armorwatch --help` still names every command with its help line."""
    out = subprocess.run(
        [sys.executable, "-c", "from armorwatch.cli import main; main(['--help'])"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    for name, text in COMMANDS.items():
        assert name in out.stdout and text[:30] in out.stdout.replace("\n", " ")


def test_each_command_help_works() -> None:
    """Every command's own --help is built from its module (exit 0)."""
    for name in COMMANDS:
        done = subprocess.run(
            [sys.executable, "-c", f"from armorwatch.cli import main; main([{name!r}, '--help'])"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert 0 == done.returncode, (name, done.stderr)
        assert f"armorwatch {name}" in done.stdout
