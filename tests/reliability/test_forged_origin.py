"""What any local user can write never reads as the kernel's: syslog files, journald."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from armorwatch.sinks.store import open_store

# rsyslog's default template: date, host, tag, then the kernel's printk text
LINE = (
    b"Nov 14 22:13:20 web-01 kernel: [ 4242.123456] audit: type=1400 "
    b'audit(1700000000.101:77): apparmor="STATUS" operation="profile_remove" '
    b'profile="unconfined" name="/usr/sbin/cupsd" pid=31337 comm="apparmor_parser"\n'
    b"Nov 14 22:13:21 web-01 kernel: [ 4243.000000] audit: type=1400 "
    b'audit(1700000001.101:78): apparmor="DENIED" operation="open" class="file" '
    b'profile="/usr/sbin/cupsd" name="/etc/shadow" pid=812 comm="cupsd" '
    b'requested_mask="r" denied_mask="r" fsuid=0 ouid=0\n'
)


def run(tmp: Path, log: Path) -> subprocess.CompletedProcess[str]:
    """`armorwatch run LOG` into tmp/s.duckdb, as a user runs it."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("armorwatch")), "run", str(log), "--db",
         str(tmp / "s.duckdb"), "--report-dir", str(tmp / "r")],
        capture_output=True, text=True, timeout=120, cwd=tmp,
    )  # fmt: skip


def origins(db: Path) -> list[tuple[str, str | None]]:
    """(origin, suspect) of every stored record."""
    with open_store(db, read_only=True) as con:
        return con.execute("SELECT origin, suspect FROM records ORDER BY serial").fetchall()


class TestSyslogFiles:
    def test_kern_log_lines_are_the_kernels(self, tmp_path: Path) -> None:
        """kern.log holds only LOG_KERN messages, which user programs cannot send."""
        log = tmp_path / "kern.log"
        log.write_bytes(LINE)
        res = run(tmp_path, log)
        assert 0 == res.returncode, res.stderr
        assert [("kernel", None), ("kernel", None)] == origins(tmp_path / "s.duckdb")

    def test_general_syslog_lines_are_unverified_and_raise_no_alert(self, tmp_path: Path) -> None:
        """/var/log/syslog takes `logger -t kernel`: unverified, suspect, no critical alert."""
        log = tmp_path / "syslog"
        log.write_bytes(LINE)
        res = run(tmp_path, log)
        assert 0 == res.returncode, res.stderr
        got = origins(tmp_path / "s.duckdb")
        assert {"unverified"} == {o for o, _ in got} and all(s for _, s in got)
        assert "profile unloaded" not in res.stdout.lower()
        assert "sensitive" not in res.stdout.lower()


class TestJournaldFields:
    def test_node_in_message_cannot_move_a_record_to_another_host(self, tmp_path: Path) -> None:
        """An entry of host h42 whose MESSAGE says node=web-01 is stored as h42's."""
        entry = {
            "__CURSOR": "s=1;i=1",
            "__REALTIME_TIMESTAMP": "1700000000101000",
            "_BOOT_ID": "0123456789abcdef0123456789abcdef",
            "_MACHINE_ID": "fedcba9876543210fedcba9876543210",
            "_HOSTNAME": "h42",
            "_TRANSPORT": "audit",
            "_AUDIT_TYPE": "1400",
            "_AUDIT_TYPE_NAME": "AVC",
            "_AUDIT_ID": "77",
            "MESSAGE": "node=web-01 type=AVC msg=audit(1700000000.101:77): "
            'apparmor="DENIED" operation="open" class="file" '
            'profile="/usr/sbin/cupsd" name="/etc/cups/x" pid=812 comm="cupsd" '
            'requested_mask="r" denied_mask="r" fsuid=0 ouid=0',
        }
        log = tmp_path / "journal.json"
        log.write_bytes(orjson.dumps(entry) + b"\n")
        res = run(tmp_path, log)
        assert 0 == res.returncode, res.stderr
        with open_store(tmp_path / "s.duckdb", read_only=True) as con:
            assert [("h42",)] == con.execute("SELECT host FROM records").fetchall()
