"""Every command on empty, junk and record-less input: no traceback, documented exit codes.

Issue 19: ``run`` ended in a traceback on an audit.log without ``node=`` and on input
with no MAC records; CSV cells could start a spreadsheet formula. The commands run as
the installed ``armorwatch`` program (a real process), on files written the way auditd,
syslog and ``journalctl -o json`` write them.
"""

from __future__ import annotations

import csv
import io
import json
import random
import shutil
import socket
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from armorwatch.cli import main
from armorwatch.commands import INTERNAL_ERROR
from armorwatch.commands import parse as parse_command
from armorwatch.sinks.store import open_store

ARMORWATCH = Path(sys.executable).parent / "armorwatch"
SAMPLES = Path(__file__).resolve().parents[2] / "armorwatch" / "samples"


def _hex(text: str) -> str:
    return text.encode().hex().upper()


# auditd (log_format = RAW, name_format = NONE) on a host with no AppArmor/SELinux
# activity: an auditd start, an ssh login with the kernel's LOGIN event, a logout.
RECORDLESS_AUDIT = (
    "type=DAEMON_START msg=audit(1763869802.417:7711): op=start ver=3.1.2 format=raw "
    "kernel=6.8.0-88-generic auid=4294967295 pid=1187 uid=0 ses=4294967295 subj=unconfined "
    "res=success\n"
    "type=USER_AUTH msg=audit(1763871220.511:3140): pid=2210 uid=0 auid=4294967295 "
    "ses=4294967295 subj=unconfined msg='op=PAM:authentication grantors=pam_permit "
    'acct="alice" exe="/usr/sbin/sshd" hostname=192.0.2.40 addr=192.0.2.40 terminal=ssh '
    "res=success'\n"
    "type=LOGIN msg=audit(1763871220.517:3143): pid=2210 uid=0 subj=unconfined "
    "old-auid=4294967295 auid=1000 tty=(none) old-ses=4294967295 ses=7 res=1\n"
    "type=SYSCALL msg=audit(1763871220.517:3143): arch=c000003e syscall=1 success=yes exit=4 "
    "a0=3 a1=7ffc4f2b9e80 a2=4 a3=0 items=0 ppid=1310 pid=2210 auid=1000 uid=0 gid=0 euid=0 "
    'suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=7 comm="sshd" exe="/usr/sbin/sshd" '
    "subj=unconfined key=(null)\n"
    f"type=PROCTITLE msg=audit(1763871220.517:3143): proctitle={_hex('sshd: alice [priv]')}\n"
    "type=EOE msg=audit(1763871220.517:3143): \n"
    "type=USER_LOGIN msg=audit(1763871220.604:3146): pid=2210 uid=0 auid=1000 ses=7 "
    'subj=unconfined msg=\'op=login id=1000 exe="/usr/sbin/sshd" hostname=? '
    "addr=192.0.2.40 terminal=/dev/pts/0 res=success'\n"
    "type=USER_END msg=audit(1763877005.880:3281): pid=2210 uid=0 auid=1000 ses=7 "
    'subj=unconfined msg=\'op=PAM:session_close grantors=pam_unix acct="alice" '
    'exe="/usr/sbin/sshd" hostname=192.0.2.40 addr=192.0.2.40 terminal=ssh res=success\'\n'
)

# rsyslog's kern.log with kernel and daemon lines but no audit record.
RECORDLESS_KERNLOG = (
    "Nov 23 06:40:01 web-02 kernel: [   12.345678] e1000e 0000:00:1f.6 eno1: NIC Link is Up "
    "1000 Mbps Full Duplex, Flow Control: Rx/Tx\n"
    "Nov 23 06:40:02 web-02 kernel: [   13.002114] EXT4-fs (nvme0n1p2): mounted filesystem "
    "with ordered data mode. Quota mode: none.\n"
    "Nov 23 06:41:17 web-02 systemd[1]: Started cron.service - Regular background program "
    "processing daemon.\n"
)


def _journal_json() -> str:
    """`journalctl -o json` lines without MAC records, a binary MESSAGE and a cut line."""
    entries = [
        {
            "__REALTIME_TIMESTAMP": "1763882115101471",
            "_HOSTNAME": "db-01",
            "_TRANSPORT": "journal",
            "SYSLOG_IDENTIFIER": "systemd-logind",
            "MESSAGE": "New session 3 of user alice.",
        },
        {
            "__REALTIME_TIMESTAMP": "1763882115201471",
            "_HOSTNAME": "db-01",
            "_TRANSPORT": "stdout",
            "SYSLOG_IDENTIFIER": "backup",
            "MESSAGE": [27, 91, 50, 74, 255, 254],  # journald's form of a non-UTF-8 message
        },
    ]
    return "".join(json.dumps(e) + "\n" for e in entries) + '{"__REALTIME_TIMESTAMP": "17638'


def _junk() -> bytes:
    """Random bytes with NULs, a 20 kB line and audit-looking garbage (seeded)."""
    rng = random.Random(19)
    return (
        rng.randbytes(64 << 10)
        + b"\ntype=AVC msg=audit(\x00\xff:): apparmor=\n"
        + b"A" * 20_000
        + b"\n\xc3\x28 invalid UTF-8\r\n"
    )


INPUTS: dict[str, bytes] = {
    "empty.log": b"",
    "junk.log": _junk(),
    "audit.log": RECORDLESS_AUDIT.encode(),
    "kern.log": RECORDLESS_KERNLOG.encode(),
    "journal.json": _journal_json().encode(),
}


@dataclass(frozen=True)
class Ran:
    """One finished armorwatch process."""

    argv: tuple[str, ...]
    rc: int
    out: str
    err: str


def cli(cwd: Path, *argv: str, stdin: bytes | None = None) -> Ran:
    """Run the installed ``armorwatch`` program in ``cwd``."""
    done = subprocess.run(
        [str(ARMORWATCH), *argv], cwd=cwd, input=stdin, capture_output=True, timeout=300
    )
    return Ran(
        tuple(argv),
        done.returncode,
        done.stdout.decode(errors="replace"),
        done.stderr.decode(errors="replace"),
    )


def run_all(cwd: Path, commands: Sequence[tuple[str, ...]]) -> list[Ran]:
    """Run independent commands in parallel (each is its own process)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda argv: cli(cwd, *argv), commands))


def count(db: Path, sql: str, *params: object) -> int:
    """One integer from the store."""
    con = open_store(db, read_only=True)
    try:
        return int(con.execute(sql, list(params)).fetchone()[0])  # type: ignore[index]
    finally:
        con.close()


@pytest.fixture(scope="module", autouse=True)
def installed() -> None:
    """The tests need the console script of this checkout's environment."""
    if not ARMORWATCH.is_file() or shutil.which(str(ARMORWATCH)) is None:
        pytest.skip(f"{ARMORWATCH} is not installed (pip install -e .)")


class TestEveryCommand:
    @pytest.mark.parametrize("name", sorted(INPUTS))
    def test_no_traceback_and_documented_codes(self, name: str, tmp_path: Path) -> None:
        """run, collect --once, parse, query, suggest, alerts and report end cleanly."""
        src = tmp_path / name
        src.write_bytes(INPUTS[name])
        db, other = tmp_path / "s.duckdb", tmp_path / "c.duckdb"
        first = cli(tmp_path, "run", "--db", str(db), "--report-dir", "r", name)
        assert (0, False) == (first.rc, "Traceback" in first.err), first
        assert f"no AppArmor/SELinux records in {src.name}" in first.out
        cfg = tmp_path / "collect.toml"
        cfg.write_text(
            f'[collect]\nsources = ["auditd"]\nstate_dir = "{tmp_path / "state"}"\n'
            f'db = "{other}"\n[collect.auditd]\npath = "{src}"\n'
        )
        expected: dict[tuple[str, ...], int] = {
            ("collect", "--once", "--config", str(cfg)): 0,
            ("parse", name): 0,
            ("query", "--format", "csv", "top-denials", "--db", str(db)): 0,
            ("suggest", "--db", str(db)): 0,
            ("alerts", "test", "--db", str(db)): 0,
            ("report", "--db", str(db), "-o", "rep"): 0,
        }
        got = run_all(tmp_path, list(expected))
        assert [] == [r for r in got if "Traceback" in r.out + r.err]
        assert [] == [(r.argv, r.rc, r.err) for r in got if r.rc != expected[r.argv]]
        report = next(r for r in got if r.argv[0] == "report")
        assert f"no AppArmor/SELinux records in {db}" in report.out
        assert not (tmp_path / "rep").exists()

    @pytest.mark.parametrize("name", ["junk.log", "journal.json"])
    def test_input_files_as_store_or_config(self, name: str, tmp_path: Path) -> None:
        """A log file given as the store or a config is a usage error (2), not a crash."""
        (tmp_path / name).write_bytes(INPUTS[name])
        expected: dict[tuple[str, ...], int] = {
            ("query", "top-denials", "--db", name): 2,
            ("suggest", "--db", name): 2,
            ("alerts", "test", "--db", name): 2,
            ("report", "--db", name): 2,
            ("run", "--config", name): 2,
            ("collect", "--once", "--config", name): 2,
            ("process", "--config", name): 2,
            ("alerts", "rules", "--rules", name): 2,
            ("process", "--help"): 0,  # beyond its help, process needs a broker
        }
        got = run_all(tmp_path, list(expected))
        assert [] == [r for r in got if "Traceback" in r.out + r.err]
        assert [] == [(r.argv, r.rc, r.err) for r in got if r.rc != expected[r.argv]]

    def test_stdin_junk_to_parse(self, tmp_path: Path) -> None:
        """parse reading junk from stdin exits 0 and reports zero records."""
        ran = cli(tmp_path, "parse", "-", stdin=_junk())
        assert (0, "") == (ran.rc, ran.out)
        assert "armorwatch parse: 0 records" in ran.err
        assert "Traceback" not in ran.err


class TestUncaughtException:
    @pytest.fixture
    def broken_parse(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A fake `parse` command with a bug: it raises what no command expects."""

        def boom(args: object) -> int:
            raise RuntimeError("a bug\nwith a second line \x1b[2J")

        monkeypatch.setattr(parse_command, "run", boom)

    def test_one_line_and_internal_error_code(
        self, broken_parse: None, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An unhandled exception is one stderr line naming it, exit 70, no traceback."""
        rc = main(["parse", "x.log"])
        out, err = capsys.readouterr()
        assert (INTERNAL_ERROR, "") == (rc, out)
        assert 1 == len(err.splitlines())
        assert err.startswith("armorwatch parse: internal error: RuntimeError: a bug\\n")
        assert "Traceback" not in err
        assert "\x1b" not in err
        assert "--log-level DEBUG" in err

    def test_traceback_at_debug(
        self, broken_parse: None, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """With --log-level DEBUG the same error also prints its traceback."""
        rc = main(["parse", "--log-level", "DEBUG", "x.log"])
        _, err = capsys.readouterr()
        assert INTERNAL_ERROR == rc
        assert "Traceback (most recent call last)" in err
        assert err.splitlines()[0].startswith("armorwatch parse: internal error: RuntimeError")


class TestBrokenPipe:
    def test_reader_going_away_is_quiet(self, tmp_path: Path) -> None:
        """query and parse piped into a reader that stops early exit 0 without a message."""
        db = tmp_path / "a.duckdb"
        log = str(SAMPLES / "local-audit.log")
        assert 0 == cli(tmp_path, "run", "--no-report", "--db", str(db), log).rc
        # big enough that parse is still writing when the reader goes (else it ends
        # normally and prints its summary)
        big = tmp_path / "audit.log"
        big.write_bytes((SAMPLES / "audit.log").read_bytes() * 300)
        for argv in (
            ("query", "--db", str(db), "--format", "csv", "SELECT * FROM range(300000)"),
            ("query", "--db", str(db), "SELECT * FROM range(300000)"),
            ("parse", str(big)),
        ):
            proc = subprocess.Popen(
                [str(ARMORWATCH), *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            assert proc.stdout is not None and proc.stderr is not None
            proc.stdout.readline()
            proc.stdout.close()  # like `| head -1`
            err = proc.stderr.read().decode()
            assert (0, "") == (proc.wait(timeout=120), err), argv


class TestRecordsWithoutHost:
    def test_run_and_report_on_an_audit_log_without_node(self, tmp_path: Path) -> None:
        """An audit.log without node= is stored under --host, reported, and said so."""
        log = tmp_path / "audit.log"
        shutil.copy(SAMPLES / "local-audit.log", log)
        db = tmp_path / "a.duckdb"
        ran = cli(tmp_path, "run", "--host", "laptop-7", "--db", str(db), str(log))
        assert (0, False) == (ran.rc, "Traceback" in ran.err)
        assert "6 MAC records read: 6 stored new, 0 already in the store" in ran.out
        assert "were given host 'laptop-7'" in ran.out
        assert "Report: armorwatch-report/index.html" in ran.out
        assert (6, 0) == (
            count(db, "SELECT count(*) FROM records WHERE host = ?", "laptop-7"),
            count(db, "SELECT count(*) FROM records WHERE host IS NULL"),
        )
        report = cli(tmp_path, "report", "--db", str(db), "-o", "again")
        assert (0, False) == (report.rc, "Traceback" in report.err)
        assert (tmp_path / "again" / "index.html").is_file()

    def test_default_host_is_this_machine(self, tmp_path: Path) -> None:
        """Without --host, records naming no host get this machine's host name."""
        db = tmp_path / "a.duckdb"
        log = SAMPLES / "local-audit.log"
        ran = cli(tmp_path, "run", "--no-report", "--db", str(db), str(log))
        assert 0 == ran.rc
        here = socket.gethostname()
        assert f"were given host {here!r}" in ran.out
        assert 6 == count(db, "SELECT count(*) FROM records WHERE host = ?", here)

    def test_parse_gives_the_same_host(self, tmp_path: Path) -> None:
        """parse fills host as run does (--host, else this machine), and says so."""
        log = str(SAMPLES / "local-audit.log")
        plain, named = run_all(tmp_path, [("parse", log), ("parse", "--host", "h9", log)])
        assert {socket.gethostname()} == {json.loads(x)["host"] for x in plain.out.splitlines()}
        assert {"h9"} == {json.loads(x)["host"] for x in named.out.splitlines()}
        assert "records that name no host were given host 'h9'" in named.err


def _avc(serial: int, comm_field: str, pid: int) -> str:
    """An AppArmor denial as auditd writes it (comm hex-encoded when it has a space)."""
    ts = f"1763870143.{serial:03d}"
    return (
        f'type=AVC msg=audit({ts}:{serial}): apparmor="DENIED" operation="open" class="file" '
        f'profile="/usr/bin/evince" name="/home/bob/Downloads/invoice.pdf" pid={pid} '
        f'comm={comm_field} requested_mask="r" denied_mask="r" fsuid=1000 ouid=1000\n'
        f"type=EOE msg=audit({ts}:{serial}): \n"
    )


class TestCsvInjection:
    def test_formula_cells_are_guarded(self, tmp_path: Path) -> None:
        """comm values a spreadsheet would run as formulas come out with a leading quote."""
        log = tmp_path / "audit.log"
        log.write_text(
            _avc(101, _hex("=cmd|' /C calc'"), 4101)  # a space: the kernel hex-encodes comm
            + _avc(102, '"@SUM(1+9)*cmd"', 4102)
            + _avc(103, '"+1-2"', 4103)
            + _avc(104, '"-2+3"', 4104)
            + _avc(105, '"evince"', 4105)
        )
        db = tmp_path / "a.duckdb"
        assert 0 == cli(tmp_path, "run", "--no-report", "--db", str(db), str(log)).rc
        sql = 'SELECT comm AS "=c", pid, -pid AS neg FROM records ORDER BY pid'
        ran = cli(tmp_path, "query", "--db", str(db), "--format", "csv", sql)
        assert 0 == ran.rc
        rows = list(csv.reader(io.StringIO(ran.out)))
        assert ["'=c", "pid", "neg"] == rows[0]
        assert [
            ["'=cmd|' /C calc'", "4101", "-4101"],
            ["'@SUM(1+9)*cmd", "4102", "-4102"],
            ["'+1-2", "4103", "-4103"],
            ["'-2+3", "4104", "-4104"],
            ["evince", "4105", "-4105"],
        ] == rows[1:]
        # Text cells are quoted (a ';' in one cannot start a new cell); numbers are not.
        assert '"evince",4105,-4105' == ran.out.splitlines()[-1]
