"""Issue 19: 50 MB of random bytes through the real CLI completes and reports the junk."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARMORWATCH = Path(sys.executable).with_name("armorwatch")
SIZE = 50_000_000


@pytest.fixture(scope="module")
def junk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """50 MB of random bytes, as `head -c 50M /dev/urandom` writes them."""
    path = tmp_path_factory.mktemp("junk") / "junk.bin"
    path.write_bytes(random.Random(19).randbytes(SIZE))
    return path


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ARMORWATCH), *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.mark.timeout(300)
def test_parse_counts_random_bytes(junk: Path, tmp_path: Path) -> None:
    """`armorwatch parse` reads 50 MB of random bytes: no record, no dead letter, loss reported."""
    rejects = tmp_path / "rejects.jsonl"
    res = _cli(
        "parse",
        "-o",
        str(tmp_path / "out.jsonl"),
        "--rejects",
        str(rejects),
        str(junk),
        cwd=tmp_path,
    )
    assert 0 == res.returncode, res.stderr
    m = re.search(r"(\d+) records, (\d+) rejected lines, (\d+) loss reports", res.stderr)
    assert m is not None, res.stderr
    records, rejected, loss = map(int, m.groups())
    assert (0, 0) == (records, rejected)
    assert 1 <= loss <= SIZE // (1 << 20) + 8  # one report per MiB, never per line
    assert 0 == rejects.stat().st_size


@pytest.mark.timeout(300)
def test_run_counts_random_bytes(junk: Path, tmp_path: Path) -> None:
    """`armorwatch run` (collector, NUL holes, store) on 50 MB of random bytes reports its junk."""
    res = _cli(
        "run",
        "--db",
        str(tmp_path / "a.duckdb"),
        "--report-dir",
        str(tmp_path / "r"),
        str(junk),
        cwd=tmp_path,
    )
    assert "Traceback" not in res.stderr, res.stderr
    m = re.search(r"loss reported by the logs: .*parse_reject (\d+)", res.stdout)
    assert m is not None, res.stdout + res.stderr
    assert int(m.group(1)) > SIZE // 1000  # lines of binary data, counted
    dead = tmp_path / "armorwatch-deadletter.jsonl"
    assert not dead.exists() or dead.stat().st_size < 1 << 20
