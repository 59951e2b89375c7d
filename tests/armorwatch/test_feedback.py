"""What the CLI tells a person: one line per config mistake, progress bars only on a terminal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from armorwatch.cli import main
from tests.harness.terminal import stderr_on_terminal
from tests.jobs.test_report import LOSS_ROWS, build_store, scenario

CLI = Path(sys.executable).parent / "armorwatch"


class TestConfigTypes:
    @pytest.mark.parametrize(
        ("command", "toml", "expected"),
        [
            ("run", "[run]\ndb = 5\n", "run.db must be a path (a string), got an integer (5)"),
            ("report", "[report]\ntop = true\n", "report.top must be an integer, got a boolean"),
            ("report", "[report]\nsince = 24\n", "report.since must be a string, got an integer"),
        ],
    )
    def test_wrong_type_is_one_line(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        command: str,
        toml: str,
        expected: str,
    ) -> None:
        """A wrongly typed value is one line naming the key and the type it must have."""
        cfg = tmp_path / "c.toml"
        cfg.write_text(toml)
        code = main([command, "--config", str(cfg), "--db", str(tmp_path / "none.duckdb")])
        err = capsys.readouterr().err
        assert 2 == code
        assert 1 == len(err.strip().splitlines()), err
        assert expected in err


class TestProgress:
    def test_report_shows_a_bar_on_a_terminal_only(self, tmp_path: Path) -> None:
        """`report` draws a bar when stderr is a terminal, and none when it is a pipe."""
        db = tmp_path / "store.duckdb"
        build_store(scenario(), LOSS_ROWS, db).close()
        argv = [str(CLI), "report", "--db", str(db), "-o", str(tmp_path / "o")]
        piped = subprocess.run(argv, capture_output=True, text=True, check=True)
        assert "\r" not in piped.stderr and "report:" not in piped.stderr
        rc, seen = stderr_on_terminal(argv)
        assert 0 == rc
        assert b"report:" in seen and b"\r" in seen

    def test_run_shows_a_bar_per_file_on_a_terminal_only(self, tmp_path: Path) -> None:
        """`run` draws a bar per input file (by bytes) on a terminal, none into a pipe."""
        log = tmp_path / "audit.log"
        log.write_bytes((ROOT / "armorwatch" / "samples" / "audit.log").read_bytes())
        argv = [str(CLI), "run", "--no-report", "--db", str(tmp_path / "a.duckdb"), str(log)]
        piped = subprocess.run(argv, capture_output=True, text=True, check=True)
        assert "\r" not in piped.stderr and "run audit.log" not in piped.stderr
        rc, seen = stderr_on_terminal(argv)
        assert 0 == rc
        assert b"run audit.log:" in seen and b"\r" in seen and b"56.7k" in seen


ROOT = Path(__file__).resolve().parents[2]
