"""A short AddressSanitizer/UBSan campaign over the compiled scanner (long: run the script)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("asan_fastscan.py")


def _libasan() -> bool:
    if shutil.which("gcc") is None:
        return False
    out = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True, text=True)
    return Path(out.stdout.strip()).is_file()


@pytest.mark.skipif(
    not (ROOT / "parsers" / "_fastscan.c").is_file() or not _libasan(),
    reason="no compiled scanner source, gcc or libasan",
)
class TestScannerUnderSanitizers:
    def test_short_campaign_is_clean(self) -> None:
        """600 hostile inputs in random chunkings (half of them journald JSON through the C
        JSON reader) raise no ASan/UBSan report."""
        proc = subprocess.run(
            [sys.executable, str(SCRIPT), "--runs", "600", "--seed", "3"],
            capture_output=True, text=True, timeout=240, cwd=ROOT,
        )  # fmt: skip
        assert 0 == proc.returncode, proc.stderr[-4000:]
        assert "no sanitizer report" in proc.stdout

    def test_value_starting_with_invalid_utf8(self, tmp_path: Path) -> None:
        """comm="\\xffx" goes through the sanitized scanner without a report."""
        log = tmp_path / "ub.log"
        log.write_bytes(
            b'type=AVC msg=audit(1762300800.100:9): apparmor="DENIED" operation="open" '
            b'profile="/x" name="/a" pid=1 comm="\xffx" requested_mask="r" denied_mask="r" '
            b"fsuid=0 ouid=0\n"
        )
        proc = subprocess.run(
            [sys.executable, str(SCRIPT), "--input", str(log), "--no-suppress"],
            capture_output=True, text=True, timeout=240, cwd=ROOT,
        )  # fmt: skip
        assert 0 == proc.returncode, proc.stderr[-2000:]
