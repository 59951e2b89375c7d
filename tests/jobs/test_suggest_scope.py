"""``suggest --host/--until`` and ``report --host`` through the CLI on a real store, and
``suggest``'s progress bar on a terminal (a pseudo-terminal) and not elsewhere."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from armorwatch.cli import main
from tests.harness.terminal import stderr_on_terminal

T0 = 1763882115  # 2025-11-23T07:15:15Z
HOUR = 3600


def avc(host: str | None, t: int, serial: int, name: str, profile: str) -> str:
    """One AppArmor DENIED file record as auditd writes it (``node=`` when named)."""
    node = f"node={host} " if host else ""
    return (
        f"{node}type=AVC msg=audit({t}.{serial:03d}:{serial}): apparmor=\"DENIED\" "
        f'operation="open" class="file" profile="{profile}" name="{name}" '
        f'pid={2000 + serial} comm="app" requested_mask="r" denied_mask="r" '
        "fsuid=0 ouid=0\n"
    )


@pytest.fixture(scope="module")
def fleet_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """web-01 denied /etc/web.conf at T0 and /etc/late.conf an hour later; db-01 /etc/db.conf."""
    tmp = tmp_path_factory.mktemp("scope")
    log = tmp / "audit.log"
    log.write_text(
        avc("web-01", T0, 1, "/etc/web.conf", "/usr/sbin/nginx")
        + avc("db-01", T0, 2, "/etc/db.conf", "/usr/sbin/mysqld")
        + avc("web-01", T0 + HOUR, 3, "/etc/late.conf", "/usr/sbin/nginx")
    )
    db = tmp / "store.duckdb"
    with contextlib.redirect_stdout(io.StringIO()):
        assert 0 == main(["run", str(log), "--db", str(db), "--no-report"])
    return db


def suggested(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, set[str]]:
    """``armorwatch suggest --format json`` → {profile: its rules}."""
    capsys.readouterr()
    assert 0 == main(["suggest", "--format", "json", "--no-validate", *args])
    out = json.loads(capsys.readouterr().out)
    return {p["profile"]: {r["rule"] for r in p["rules"]} for p in out["profiles"]}


def rule_hosts(capsys: pytest.CaptureFixture[str], *args: str) -> set[str]:
    """The hosts of every rule's evidence in ``armorwatch suggest --format json``."""
    capsys.readouterr()
    assert 0 == main(["suggest", "--format", "json", "--no-validate", *args])
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return {h for p in out["profiles"] for r in p["rules"] for h in r["evidence"]["hosts"]}


class TestSuggestScope:
    def test_whole_store_without_flags(
        self, fleet_db: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Without --host/--until every host's and every time's records give rules."""
        got = suggested(capsys, "--db", str(fleet_db))
        assert {"/usr/sbin/nginx", "/usr/sbin/mysqld"} == set(got)
        assert 2 == len(got["/usr/sbin/nginx"])

    def test_host_keeps_that_hosts_records(
        self, fleet_db: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--host on a store suggests from that host's records only."""
        got = suggested(capsys, "--db", str(fleet_db), "--host", "db-01")
        assert ["/usr/sbin/mysqld"] == list(got)
        assert {"db-01"} == rule_hosts(capsys, "--db", str(fleet_db), "--host", "db-01")
        assert {} == suggested(capsys, "--db", str(fleet_db), "--host", "no-such-host")

    def test_until_closes_the_window(
        self, fleet_db: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--until leaves later records out; a --since duration counts back from it."""
        until = "2025-11-23T07:30:00Z"  # between the two nginx records
        got = suggested(capsys, "--db", str(fleet_db), "--until", until)
        assert {"/usr/sbin/nginx", "/usr/sbin/mysqld"} == set(got)
        assert not any("late" in r for r in got["/usr/sbin/nginx"])
        # 10 minutes back from the late record: only it
        late = suggested(capsys, "--db", str(fleet_db), "--until", "2025-11-23T08:15:16Z",
                         "--since", "10m")
        assert ["/usr/sbin/nginx"] == list(late)
        assert all("late" in r for r in late["/usr/sbin/nginx"])

    def test_bad_until_is_a_usage_error(
        self, fleet_db: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An --until that is no ISO time exits 2 naming it."""
        assert 2 == main(["suggest", "--db", str(fleet_db), "--until", "yesterday"])
        assert "--until 'yesterday'" in capsys.readouterr().err

    def test_host_with_files_names_records_and_filters_nothing(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """With FILE, --host names the records without node= (no filter): both hosts stay."""
        log = tmp_path / "audit.log"
        log.write_text(avc(None, T0, 1, "/etc/a.conf", "/usr/sbin/nginx")
                       + avc("other", T0, 2, "/etc/b.conf", "/usr/sbin/nginx"))
        assert {"mybox", "other"} == rule_hosts(capsys, str(log), "--host", "mybox")


class TestReportHost:
    def test_report_of_one_host(self, fleet_db: Path, tmp_path: Path) -> None:
        """report --host counts and lists that host's records only; the window still ends
        at the fleet's newest record."""
        out = tmp_path / "report"
        with contextlib.redirect_stdout(io.StringIO()):
            assert 0 == main(["report", "--db", str(fleet_db), "--host", "db-01",
                              "--format", "json", "-o", str(out)])
        rep = json.loads((out / "report.json").read_text())
        assert (1, 1, 1) == (rep["summary"]["denials"], rep["summary"]["hosts"],
                             len(rep["hosts"]))
        assert {"/usr/sbin/mysqld"} == {p["subject"] for p in rep["profiles"]}
        assert rep["window_end"].startswith("2025-11-23T08:15:15")
        with contextlib.redirect_stdout(io.StringIO()):
            assert 0 == main(["report", "--db", str(fleet_db), "--format", "json",
                              "-o", str(tmp_path / "all")])
        whole = json.loads((tmp_path / "all" / "report.json").read_text())
        assert (3, 2) == (whole["summary"]["denials"], whole["summary"]["hosts"])


def _run_cli(args: list[str], tty: bool) -> tuple[int, str]:
    """Run ``armorwatch ARGS`` as a process, stderr on a pseudo-terminal or a pipe."""
    cmd = [sys.executable, "-c", "import sys; from armorwatch.cli import main; sys.exit(main())",
           *args]
    if not tty:
        proc = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
        return proc.returncode, proc.stderr.decode("utf-8", "replace")
    rc, err = stderr_on_terminal(cmd, columns=100)
    return rc, err.decode("utf-8", "replace")


class TestSuggestProgress:
    def test_bar_on_a_terminal(self, fleet_db: Path) -> None:
        """On a terminal suggest draws a bar over its steps."""
        rc, err = _run_cli(["suggest", "--db", str(fleet_db), "--no-validate"], tty=True)
        assert 0 == rc, err
        assert "suggest:" in err and "/4" in err and "\r" in err

    def test_no_bar_when_not_a_terminal(self, fleet_db: Path) -> None:
        """Piped, suggest writes no bar (no carriage returns, no step count)."""
        rc, err = _run_cli(["suggest", "--db", str(fleet_db), "--no-validate"], tty=False)
        assert 0 == rc, err
        assert "\r" not in err and "/4" not in err
