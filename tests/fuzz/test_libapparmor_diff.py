"""Differential test: our parser against libapparmor's C parse_record on realistic lines.

The benchmark file (``bench/gen_auditlog.py``) holds only AppArmor lines that Debian's
libapparmor accepts, so on it the two parsers must agree field by field: same decision,
operation, profile, name (capname for capabilities), masks, ids, network, dbus, mount
and signal fields. A disagreement is a parser bug (or a generator bug) with the line to
show for it. Runs ``bench/c/aa_parse.c -f``, built with gcc against libapparmor.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from armorwatch.parsers import schema as S
from armorwatch.parsers.stream import parse_bytes

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import gen_auditlog  # noqa: E402

pytestmark = pytest.mark.skipif(
    not Path("/usr/include/aalogparse/aalogparse.h").is_file() or shutil.which("gcc") is None,
    reason="libapparmor-dev or gcc not installed",
)

# libapparmor aa_log_record field -> our column
FIELD_COLUMN = {
    "event": S.APPARMOR,
    "operation": S.OPERATION,
    "profile": S.PROFILE,
    "name": S.NAME,
    "name2": S.NAME2,
    "comm": S.COMM,
    "denied_mask": S.DENIED_MASK,
    "requested_mask": S.REQUESTED_MASK,
    "fsuid": S.FSUID,
    "ouid": S.OUID,
    "pid": S.PID,
    "peer_profile": S.PEER_LABEL,
    "peer": S.PEER,
    "info": S.INFO,
    "error_code": S.ERROR,
    "net_family": S.FAMILY,
    "net_sock_type": S.SOCK_TYPE,
    "net_protocol": S.PROTOCOL,
    "net_local_addr": S.LADDR,
    "net_local_port": S.LPORT,
    "net_foreign_addr": S.FADDR,
    "net_foreign_port": S.FPORT,
    "dbus_bus": S.BUS,
    "dbus_path": S.PATH,
    "dbus_interface": S.INTERFACE,
    "dbus_member": S.MEMBER,
    "signal": S.SIGNAL,
    "fs_type": S.FSTYPE,
    "flags": S.FLAGS,
    "src_name": S.SRCNAME,
    "namespace": S.NAMESPACE,
}


@pytest.fixture(scope="module")
def c_parser(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bench/c/aa_parse.c built against libapparmor."""
    out = tmp_path_factory.mktemp("build") / "aa_parse"
    src = ROOT / "bench" / "c" / "aa_parse.c"
    subprocess.run(["gcc", "-O2", "-o", str(out), str(src), "-lapparmor"], check=True)
    return out


def c_records(binary: Path, log: Path) -> dict[int, dict[str, str]]:
    """Line number -> the fields libapparmor set, decoded to text."""
    proc = subprocess.run([str(binary), "-f", str(log)], capture_output=True, check=True)
    out: dict[int, dict[str, str]] = {}
    for line in proc.stdout.decode().splitlines():
        lineno, *pairs = line.split("\t")
        fields = {}
        for pair in pairs:
            key, _, value = pair.partition("=")
            fields[key] = bytes.fromhex(value).decode("utf-8", "backslashreplace")
        out[int(lineno)] = fields
    return out


def expected_column(field: str, value: str, c: dict[str, str]) -> tuple[str, str]:
    """Where our parser keeps a libapparmor field, and the text it should hold."""
    if field == "event":
        return S.APPARMOR, value.upper()
    if field == "name" and c.get("operation") == "capable":
        return S.CAPNAME, value  # libapparmor files capname= under name
    if field == "comm" and c.get("operation", "").startswith("dbus_"):
        return S.EXE, value  # libapparmor files a USER_AVC's exe= (dbus-daemon) under comm
    if field == "error_code":
        return S.ERROR, str(-int(value))  # libapparmor negates error=-13 to 13
    return FIELD_COLUMN[field], value


def as_text(value: Any) -> str | None:
    """Our value as libapparmor prints it."""
    return None if value is None else str(value)


class TestAgainstLibapparmor:
    def test_fields_agree_on_benchmark_lines(self, c_parser: Path, tmp_path: Path) -> None:
        """On 20k realistic lines, every field libapparmor sets equals ours."""
        log = tmp_path / "audit.log"
        stats = gen_auditlog.generate(log, lines=20_000, seed=5)
        data = log.read_bytes()
        theirs = c_records(c_parser, log)
        assert stats.apparmor == len(theirs)  # libapparmor accepts every AppArmor line
        ours: dict[bytes, dict[str, Any]] = {}
        for row in parse_bytes(data, S.SOURCE_AUDITLOG, framing="audit").records.to_pylist():
            ours[row[S.RAW]] = row
        lines = data.split(b"\n")
        missing: list[int] = []
        diffs: dict[str, list[str]] = defaultdict(list)
        for lineno, fields in theirs.items():
            row = ours.get(lines[lineno - 1])
            if row is None:
                missing.append(lineno)
                continue
            for field, value in fields.items():
                column, want = expected_column(field, value, fields)
                got = as_text(row[column])
                if want != got:
                    diffs[f"{field}->{column}"].append(
                        f"line {lineno}: libapparmor {want!r}, ours {got!r}"
                    )
        assert [] == missing[:5]
        summary = {k: (len(v), v[:2]) for k, v in diffs.items()}
        assert {} == summary
