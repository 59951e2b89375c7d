"""A short coverage-guided atheris campaign over the parser (long ones: run the script)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris", reason="atheris not installed (optional extra 'fuzz')")

SCRIPT = Path(__file__).with_name("atheris_parser.py")
ROOT = Path(__file__).resolve().parents[2]


class TestAtheris:
    def test_short_campaign_finds_no_crash(self, tmp_path: Path) -> None:
        """2,000 libFuzzer executions from the sample seeds end without a crash or hang."""
        corpus = tmp_path / "corpus"
        seeds = subprocess.run(
            [sys.executable, str(SCRIPT), "--write-seeds", str(corpus)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        assert int(seeds.stdout) > 0
        proc = subprocess.run(
            [
                sys.executable,
                str(SCRIPT),
                "-runs=2000",
                "-max_len=4096",
                "-seed=1",
                f"-artifact_prefix={tmp_path}/",
                str(corpus),
            ],
            capture_output=True,
            text=True,
            timeout=240,
            cwd=ROOT,
        )
        assert 0 == proc.returncode, proc.stderr[-4000:]
        assert [] == sorted(p.name for p in tmp_path.glob("crash-*"))
