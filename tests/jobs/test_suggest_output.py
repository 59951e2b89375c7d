"""``armorwatch suggest -o DIR`` never overwrites (issue 20): ``NAME.suggested`` beside an
existing file, ``--merge`` appends only the missing rules after a backup, ``--diff`` shows
the change and writes nothing.

The store is written by ``armorwatch run`` from an audit.log as auditd writes it; the
``local/`` file is hand-written the way an administrator keeps one (comments, odd spacing,
no final newline).
"""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
from pathlib import Path

import pytest

from armorwatch.cli import main

NTPD = "/usr/sbin/ntpd"
HAND_WRITTEN = (
    b"# Site-specific additions for ntpd -- kept by hand, do not touch\n"
    b"/var/lib/ntp/drift   rw,   # the drift file\n"
    b"capability sys_time,\n"
    b"  /etc/ntp.conf r,"  # no final newline: it must survive as it is
)


def avc(serial: int, name: str, mask: str = "r", operation: str = "open") -> str:
    """One AppArmor DENIED file record of audit.log for ntpd."""
    return (
        f"node=ntp-01 type=AVC msg=audit(1763882115.{serial:03d}:{serial}): "
        f'apparmor="DENIED" operation="{operation}" class="file" profile="{NTPD}" '
        f'name="{name}" pid={2000 + serial} comm="ntpd" requested_mask="{mask}" '
        f'denied_mask="{mask}" fsuid=0 ouid=0\n'
    )


def cap(serial: int, capname: str) -> str:
    """One AppArmor DENIED capability record of audit.log for ntpd."""
    return (
        f"node=ntp-01 type=AVC msg=audit(1763882115.{serial:03d}:{serial}): "
        f'apparmor="DENIED" operation="capable" class="cap" profile="{NTPD}" '
        f'pid={2000 + serial} comm="ntpd" capability=25 capname="{capname}"\n'
    )


@pytest.fixture(scope="module")
def ntp_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with ntpd denials: two already in the hand-written file, two new (read only)."""
    tmp_path = tmp_path_factory.mktemp("ntp")
    log = tmp_path / "audit.log"
    log.write_text(
        avc(1, "/var/lib/ntp/drift", "rw") + avc(2, "/etc/ntp.conf")
        + avc(3, "/etc/ntp/keys.d/a.key") + cap(4, "sys_time") + cap(5, "sys_nice")
    )
    db = tmp_path / "store.duckdb"
    with contextlib.redirect_stdout(io.StringIO()):
        assert 0 == main(["run", str(log), "--db", str(db), "--no-report"])
    return db


def suggest(db: Path, out: Path, *extra: str) -> int:
    """``armorwatch suggest -o out`` on ``db`` (unvalidated: the test is about files)."""
    return main(["suggest", "--db", str(db), "--profile", NTPD, "-o", str(out),
                 "--no-validate", *extra])


@pytest.fixture
def local(tmp_path: Path) -> Path:
    """A local/ directory holding a hand-written usr.sbin.ntpd."""
    d = tmp_path / "local"
    d.mkdir()
    (d / "usr.sbin.ntpd").write_bytes(HAND_WRITTEN)
    return d


def active(text: str) -> list[str]:
    """The non-comment, non-blank lines of a policy text, stripped."""
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


class TestNeverOverwrite:
    def test_new_file_written(self, ntp_db: Path, tmp_path: Path) -> None:
        """Into an empty directory the local file is written as before."""
        out = tmp_path / "fresh"
        assert 0 == suggest(ntp_db, out)
        assert "capability sys_nice," in (out / "usr.sbin.ntpd").read_text()

    def test_existing_file_kept_suggested_beside(
        self, ntp_db: Path, local: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An existing file is left byte-for-byte; the suggestion goes to NAME.suggested."""
        assert 0 == suggest(ntp_db, local)
        assert HAND_WRITTEN == (local / "usr.sbin.ntpd").read_bytes()
        side = (local / "usr.sbin.ntpd.suggested").read_text()
        assert "capability sys_nice," in active(side)
        assert "left as it is" in capsys.readouterr().out
        assert not list(local.glob("*.bak*"))

    def test_merge_appends_only_missing_rules(
        self, ntp_db: Path, local: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--merge keeps the file as its prefix, appends the missing rules, backs it up."""
        assert 0 == suggest(ntp_db, local, "--merge")
        merged = (local / "usr.sbin.ntpd").read_bytes()
        assert merged.startswith(HAND_WRITTEN + b"\n")
        added = active(merged[len(HAND_WRITTEN):].decode())
        assert ["capability sys_nice,", "owner /etc/ntp/keys.d/a.key r,"] == sorted(added)
        assert HAND_WRITTEN == (local / "usr.sbin.ntpd.bak").read_bytes()
        assert "2 missing rule(s) appended" in capsys.readouterr().out
        # A second merge finds nothing missing: no change, no second backup.
        assert 0 == suggest(ntp_db, local, "--merge")
        assert merged == (local / "usr.sbin.ntpd").read_bytes()
        assert ["usr.sbin.ntpd.bak"] == sorted(p.name for p in local.glob("*.bak*"))
        assert "unchanged" in capsys.readouterr().out

    def test_merge_never_overwrites_a_backup(self, ntp_db: Path, local: Path) -> None:
        """An existing NAME.bak is kept; the new backup takes the next free name."""
        (local / "usr.sbin.ntpd.bak").write_bytes(b"older backup\n")
        assert 0 == suggest(ntp_db, local, "--merge")
        assert b"older backup\n" == (local / "usr.sbin.ntpd.bak").read_bytes()
        assert HAND_WRITTEN == (local / "usr.sbin.ntpd.bak.1").read_bytes()

    def test_diff_shows_merge_and_writes_nothing(
        self, ntp_db: Path, local: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--diff --merge prints a unified diff of the appended rules and changes no file."""
        before = sorted(p.name for p in local.iterdir())
        assert 0 == suggest(ntp_db, local, "--merge", "--diff")
        out = capsys.readouterr().out
        assert f"--- {local / 'usr.sbin.ntpd'}" in out
        plus = {ln[1:] for ln in out.splitlines() if ln.startswith("+") and ln[1:2] != "+"}
        assert {"owner /etc/ntp/keys.d/a.key r,", "capability sys_nice,"} <= plus
        assert "capability sys_time," not in plus
        assert before == sorted(p.name for p in local.iterdir())
        assert HAND_WRITTEN == (local / "usr.sbin.ntpd").read_bytes()

    def test_diff_of_a_new_file(
        self, ntp_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--diff against a missing file diffs from /dev/null and creates nothing."""
        out = tmp_path / "none"
        assert 0 == suggest(ntp_db, out, "--diff")
        assert "--- /dev/null" in capsys.readouterr().out
        assert not out.exists()

    def test_merge_needs_output(self, ntp_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """--merge without -o is a usage error."""
        assert 2 == main(["suggest", "--db", str(ntp_db), "--merge"])
        assert "need -o" in capsys.readouterr().err


class TestFromFiles:
    def test_suggest_from_log_files(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """``suggest FILE...`` parses the logs into a temporary store, like aa-logprof -f."""
        log = tmp_path / "audit.log"
        log.write_text(avc(1, "/etc/ntp.conf") + cap(2, "sys_nice"))
        out = tmp_path / "out"
        assert 0 == main(["suggest", str(log), "-o", str(out), "--no-validate"])
        assert "2 MAC record(s)" in capsys.readouterr().err
        assert {"owner /etc/ntp.conf r,", "capability sys_nice,"} <= set(
            active((out / "usr.sbin.ntpd").read_text()))
        assert not (tmp_path / "armorwatch.duckdb").exists()
        assert [] == [p for p in tmp_path.iterdir() if p.suffix == ".duckdb"]

    def test_unreadable_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A missing log file is a usage/I-O error (2) naming it."""
        assert 2 == main(["suggest", str(tmp_path / "nope.log")])
        assert "nope.log" in capsys.readouterr().err


def se_avc(serial: int, perm: str, target: str, tclass: str, permissive: int = 0) -> str:
    """One SELinux AVC denial of audit.log, as the kernel writes it."""
    return (
        f"node=web-01 type=AVC msg=audit(1763882115.{serial:03d}:{serial}): avc:  denied  "
        f"{{ {perm} }} for  pid={3000 + serial} comm=\"httpd\" name=\"x\" dev=\"sda1\" "
        f"ino={serial} scontext=system_u:system_r:httpd_t:s0 "
        f"tcontext=system_u:object_r:{target}:s0 tclass={tclass} permissive={permissive}\n"
    )


class TestSELinuxModule:
    def test_module_compiles(self, tmp_path: Path) -> None:
        """selinux-allow.te is a module with require and 'self' that checkmodule -M -m
        compiles (Debian checkpolicy)."""
        checkmodule = shutil.which("checkmodule")
        if checkmodule is None:
            pytest.skip("checkmodule (Debian checkpolicy) is not installed")
        log = tmp_path / "audit.log"
        log.write_text(se_avc(1, "read", "var_log_t", "file")
                       + se_avc(2, "name_connect", "postgresql_port_t", "tcp_socket")
                       + se_avc(3, "setopt", "httpd_t", "tcp_socket")
                       + se_avc(4, "getattr", "var_log_t", "file", permissive=1))
        out = tmp_path / "out"
        assert 0 == main(["suggest", str(log), "-o", str(out), "--no-validate"])
        te = out / "selinux-allow.te"
        text = te.read_text()
        assert text.startswith("module armorwatch_local 1.0;")
        assert "allow httpd_t self:tcp_socket setopt;" in text
        mod = tmp_path / "armorwatch_local.mod"  # checkmodule wants the module's name
        ran = subprocess.run([checkmodule, "-M", "-m", "-o", str(mod), str(te)],
                             capture_output=True, text=True, timeout=60)
        assert 0 == ran.returncode, ran.stdout + ran.stderr
