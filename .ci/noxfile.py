"""Test sessions on the other supported Pythons (`make test` runs `compat-3.13`).

3.11 runs the whole suite in `.venv` (Makefile). The `compat` sessions run, on a newer
interpreter, the tests of the code whose behaviour depends on the interpreter: the C
scanner build (parsers), asyncio and subprocess handling (CLI, sinks), DuckDB/Arrow jobs.
The slow process-killing tests (Kafka broker, reliability, ingest crash/soak, fuzz) and
the rest of each folder stay on 3.11 only (COMPAT_TESTS says why), so `make test` fits
its budget on 2 cores. `full` runs everything.

    nox -f .ci/noxfile.py -s compat-3.13      # what make test runs
    nox -f .ci/noxfile.py -s full-3.12        # the whole suite on 3.12

The interpreter must be on PATH; pyenv's shims hide versions that are not global, so:
PATH=$(pyenv prefix 3.12)/bin:$PATH nox ... (the Makefile does this for 3.13).
"""

from __future__ import annotations

from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "deploy" / "requirements-test.lock"
PYTHONS = ["3.11", "3.12", "3.13"]

# Interpreter-dependent code paths, one test file or folder per kind of dependence; the
# rest of the suite exercises the same code on 3.11. The whole suite on both interpreters
# did not fit in 10 minutes on 2 cores (22 min: the DuckLake store costs every test that
# writes one), so 3.13 runs: the C scanner build and both engines (the
# C-API code: engines agreeing, golden files, the journald C reader, the key tables),
# asyncio tailing/journald/collector (tests/ingest, quick files), DuckDB +
# Arrow through the store (sinks), the jobs' SQL/Arrow/subprocess code (suggest with
# apparmor_parser, report) and the CLI end to end (run, query, layout). The alert rules'
# engine is plain Python over the store's SQL: `run` evaluates the default rules on 3.13
# (test_run), and its own file (30 s of CPU) stays on 3.11.
COMPAT_TESTS = [
    "tests/parsers/test_engines.py",
    "tests/parsers/test_golden.py",
    "tests/parsers/test_journald_c.py",
    "tests/parsers/test_key_tables.py",
    "tests/parsers/test_stream.py",
    "tests/parsers/test_parse_command.py",
    "tests/ingest/test_tail.py",
    "tests/ingest/test_journald.py",
    "tests/ingest/test_collector.py",
    "tests/sinks/test_duckdb.py",
    "tests/sinks/test_store.py",
    "tests/sinks/test_webhook.py",
    "tests/jobs/test_suggest.py",
    "tests/jobs/test_report.py",
    "tests/armorwatch/test_run.py",
    "tests/armorwatch/test_query.py",
    "tests/armorwatch/test_layout.py",
    "tests/armorwatch/test_cli_startup.py",
]
COMPAT_DESELECT = "not slow"
COMPAT_SKIP: list[str] = []
# The package's source folders (armorwatch/'s subpackages are symlinks to the others).
SOURCES = ["armorwatch", "parsers", "ingest", "sinks", "jobs"]
# Prints True when the C scanner imports (fails otherwise).
SCANNER = "import armorwatch.parsers._fastscan; print(True)"

nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True


def _install(session: nox.Session) -> None:
    """The locked dependencies, then the package editable (builds the C scanner in place).

    Skipped while the venv is newer than the lock, pyproject and the C source and the
    scanner imports: `make test` reuses the venv, and a reinstall recompiles the scanner.
    """
    stamp = Path(str(session.virtualenv.location)) / ".armorwatch-installed"
    inputs = [LOCK, ROOT / "pyproject.toml", *(ROOT / "parsers").glob("_fastscan*.[ch]")]
    fresh = stamp.exists() and all(p.stat().st_mtime <= stamp.stat().st_mtime for p in inputs)
    if fresh:
        out = session.run("python", "-c", SCANNER, silent=True, success_codes=[0, 1])
        if isinstance(out, str) and out.strip() == "True":
            return
    session.install("-q", "-r", str(LOCK))
    session.install("-q", "--no-deps", "-e", str(ROOT))
    # Without the scanner the tests would pass on the pure-Python path and prove nothing.
    session.run("python", "-c", SCANNER, silent=True)
    stamp.touch()


def _bytecode(session: nox.Session) -> None:
    """Our modules' bytecode for this interpreter (see the Makefile's ``bytecode``)."""
    session.run("python", "-m", "compileall", "-q", "-j0", *SOURCES, silent=True)


@nox.session(python=PYTHONS)
def compat(session: nox.Session) -> None:
    """The interpreter-dependent tests (parsers with the C scanner, sinks, jobs, CLI)."""
    session.chdir(ROOT)
    _install(session)
    _bytecode(session)
    session.run(
        "pytest", "-q", "-m", COMPAT_DESELECT, *COMPAT_SKIP, *COMPAT_TESTS, *session.posargs
    )


@nox.session(python=PYTHONS)
def full(session: nox.Session) -> None:
    """The whole suite on one interpreter."""
    session.chdir(ROOT)
    _install(session)
    _bytecode(session)
    session.run("pytest", "-q", *session.posargs)
