"""The benchmark harness cannot rot: generator, C baseline and run.py on a small file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

import gen_auditlog  # noqa: E402

needs_libapparmor = pytest.mark.skipif(
    not Path("/usr/include/aalogparse/aalogparse.h").is_file() or shutil.which("gcc") is None,
    reason="libapparmor-dev or gcc not installed",
)


class TestGenerator:
    def test_same_seed_same_bytes(self, tmp_path: Path) -> None:
        """Two runs with one seed write byte-identical files, so numbers are comparable."""
        a = gen_auditlog.generate(tmp_path / "a.log", lines=3000, seed=7)
        b = gen_auditlog.generate(tmp_path / "b.log", lines=3000, seed=7)
        assert (tmp_path / "a.log").read_bytes() == (tmp_path / "b.log").read_bytes()
        assert a == b

    def test_exact_line_count_and_mix(self, tmp_path: Path) -> None:
        """The file has exactly the asked lines, ~30 % AppArmor and a little SELinux."""
        stats = gen_auditlog.generate(tmp_path / "a.log", lines=20_000, seed=1)
        data = (tmp_path / "a.log").read_bytes()
        assert 20_000 == data.count(b"\n") == stats.lines
        assert 0.27 < stats.apparmor / stats.lines < 0.33
        assert 0.002 < stats.selinux / stats.lines < 0.012
        assert stats.apparmor == data.count(b"apparmor=")

    def test_every_apparmor_class_present(self, tmp_path: Path) -> None:
        """All AppArmor classes the issue lists appear in a small file."""
        stats = gen_auditlog.generate(tmp_path / "a.log", lines=20_000, seed=1)
        expected = {
            "file",
            "exec",
            "cap",
            "net",
            "unix",
            "signal",
            "ptrace",
            "dbus",
            "mount",
            "change",
            "userns",
            "uring",
            "mqueue",
            "status",
        }
        assert expected == set(stats.by_class)

    def test_untrusted_encoding_matches_kernel_rule(self) -> None:
        """Hex only for a quote, a byte below 0x21 or above 0x7e; quoted otherwise."""
        assert '"/etc/a<b>&\\*"' == gen_auditlog.untrusted("/etc/a<b>&\\*")
        assert "2F6120622E747874" == gen_auditlog.untrusted("/a b.txt")
        assert "2F6122" == gen_auditlog.untrusted('/a"')
        assert "2F74E9" == gen_auditlog.untrusted(b"/t\xe9")


@needs_libapparmor
class TestRunHarness:
    @pytest.mark.parametrize("framing", ["audit", "kern"])
    def test_small_run_produces_table_and_numbers(self, tmp_path: Path, framing: str) -> None:
        """run.py on 20k lines, 1 run: C accepts every AppArmor line, our rows match it."""
        out = tmp_path / "bench.json"
        proc = subprocess.run(
            [
                sys.executable,
                str(BENCH / "run.py"),
                "--lines",
                "20000",
                "--runs",
                "1",
                "--data-dir",
                str(tmp_path / "data"),
                "--build-dir",
                str(tmp_path / "build"),
                "--json",
                str(out),
                "--framing",
                framing,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert 0 == proc.returncode, proc.stderr
        assert "| approach | time (s) |" in proc.stdout
        result = json.loads(out.read_text())
        rows = {r["row"]: r for r in result["rows"]}
        c = rows["c"]["result"]
        assert c["candidates"] == c["valid"]  # the file is one libapparmor fully accepts
        assert result["apparmor_lines"] == c["candidates"]
        if "ours1" not in rows:
            pytest.skip(f"our parser not measured: {result['errors']}")
        assert result["expected_records"] == rows["ours1"]["records"]
        assert result["expected_records"] == rows["ours2"]["records"]
        assert c["valid"] == rows["ours1"]["result"]["apparmor"]
        assert 0 == rows["ours1"]["rejects"]
        assert rows["ours1"]["seconds"] > 0 and rows["ours1"]["rss_mib"] > 0
