"""`armorwatch run`: the embedded default processes the bundled samples end to end."""

from __future__ import annotations

import contextlib
import io
import random
import socket
from pathlib import Path

import pytest

from armorwatch.cli import main
from armorwatch.sinks.store import open_store

SAMPLES = Path(__file__).resolve().parents[2] / "armorwatch" / "samples"


def _count(db: Path, sql: str, *params: object) -> int:
    con = open_store(db, read_only=True)
    try:
        return int(con.execute(sql, list(params)).fetchone()[0])  # type: ignore[index]
    finally:
        con.close()


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One run of the default with its output (module-scoped: the report takes a while)."""
    work = tmp_path_factory.mktemp("run")
    mp = pytest.MonkeyPatch()
    mp.chdir(work)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert 0 == main(["run"])
    mp.undo()
    return work, out.getvalue()


class TestDefaultRun:
    def test_samples_are_stored(self, first_run: tuple[Path, str]) -> None:
        """With no config, the four sample files land in ./armorwatch.duckdb from four hosts."""
        work, out = first_run
        db = work / "armorwatch.duckdb"
        # 97 from the three named hosts, 6 from local-audit.log (no node=).
        assert 103 == _count(db, "SELECT count(*) FROM records")
        assert 4 == _count(db, "SELECT count(DISTINCT host) FROM records")
        assert 0 == _count(db, "SELECT count(*) FROM records WHERE host IS NULL")
        assert "103 MAC records read: 103 stored new, 0 already in the store" in out

    def test_local_sample_gets_this_host(self, first_run: tuple[Path, str]) -> None:
        """The records of local-audit.log carry this machine's name, and the output says so."""
        work, out = first_run
        here = socket.gethostname()
        sql = "SELECT count(*) FROM records WHERE host = ?"
        assert 6 == _count(work / "armorwatch.duckdb", sql, here)
        assert f"were given host {here!r}" in out

    def test_summary_and_report_are_printed(self, first_run: tuple[Path, str]) -> None:
        """The output names the top denial, an alert, the suggestions and where the report is."""
        work, out = first_run
        assert "Top denials:" in out
        assert "snap.chromium.chromium" in out
        assert "Suggested rules:" in out
        assert "1432 records lost (journald_suppressed)" in out
        assert "Report: armorwatch-report/index.html" in out
        assert (work / "armorwatch-report" / "index.html").is_file()

    def test_rejected_line_is_kept(self, first_run: tuple[Path, str]) -> None:
        """The truncated sample record is counted, kept in the dead-letter file and the store."""
        work, out = first_run
        assert "rejected lines: 1" in out
        assert 1 == len((work / "armorwatch-deadletter.jsonl").read_text().splitlines())
        assert 1 == _count(work / "armorwatch.duckdb", "SELECT count(*) FROM rejects")

    def test_rerun_does_not_double_count(self, tmp_path: Path) -> None:
        """Running twice on the same files stores each record once (dedup by key)."""
        db = tmp_path / "a.duckdb"
        args = ["run", "--no-report", "--db", str(db)]
        dl = ["--report-dir", str(tmp_path / "r")]
        assert 0 == main(args + dl)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert 0 == main(args + dl)
        assert 103 == _count(db, "SELECT count(*) FROM records")
        assert "103 MAC records read: 0 stored new, 103 already in the store" in out.getvalue()


class TestRunErrors:
    def test_unreadable_input_is_a_usage_error(self, tmp_path: Path) -> None:
        """A missing input file gives exit 2 and stores nothing."""
        db = tmp_path / "a.duckdb"
        assert 2 == main(["run", "--db", str(db), str(tmp_path / "missing.log")])
        assert not db.exists()

    def test_unknown_config_key_is_an_error(self, tmp_path: Path) -> None:
        """A typo in the [run] table is reported, not ignored."""
        cfg = tmp_path / "c.toml"
        cfg.write_text('[run]\ndbb = "x.duckdb"\n')
        assert 2 == main(["run", "--config", str(cfg)])

    def test_host_from_config(self, tmp_path: Path) -> None:
        """`host` in the [run] table names records without node=; --host overrides it."""
        log = tmp_path / "audit.log"
        log.write_bytes((SAMPLES / "local-audit.log").read_bytes())
        cfg = tmp_path / "c.toml"
        cfg.write_text(f'[run]\nhost = "cfg-host"\ndb = "{tmp_path / "a.duckdb"}"\n')
        assert 0 == main(["run", "--no-report", "--config", str(cfg), str(log)])
        assert 0 == main(["run", "--no-report", "--config", str(cfg), "--host", "cli", str(log)])
        sql = "SELECT count(*) FROM records WHERE host = ?"
        assert (6, 6) == (
            _count(tmp_path / "a.duckdb", sql, "cfg-host"),
            _count(tmp_path / "a.duckdb", sql, "cli"),
        )

    def test_explicit_files_and_kinds(self, tmp_path: Path) -> None:
        """Files given on the command line are read with the framing their name implies."""
        log = tmp_path / "kern.log"
        log.write_text(
            "Nov 23 06:45:05 h1 kernel: [  12.5] audit: type=1400 audit(1763880305.100:7): "
            'apparmor="DENIED" operation="capable" class="cap" profile="/usr/sbin/cupsd" '
            'pid=1 comm="cupsd" capability=12 capname="net_admin"\n'
        )
        db = tmp_path / "k.duckdb"
        assert 0 == main(["run", "--no-report", "--db", str(db), str(log)])
        assert 1 == _count(db, "SELECT count(*) FROM denials WHERE capname = 'net_admin'")


class TestLossOnce:
    def test_three_runs_count_loss_like_one(self, tmp_path: Path) -> None:
        """`run` three times on the same files (the last time re-written) stores the loss of
        one run: each rejected line (two of them byte-identical, without a time of their
        own) counts once."""
        log = tmp_path / "audit.log"
        undated = b'type=AVC apparmor="DENIED" operation="open" profile="/x" name="/y\n'
        with log.open("ab") as f:  # appended line by line, as auditd writes
            f.write((SAMPLES / "audit.log").read_bytes())
            for line in (undated, undated):
                f.write(line)
        kern = tmp_path / "kern.log"
        kern.write_bytes((SAMPLES / "kern.log").read_bytes())
        db = tmp_path / "a.duckdb"
        argv = ["run", "--no-report", "--db", str(db), str(log), str(kern)]
        sql = "SELECT count(*) || '/' || sum(count) FROM loss WHERE kind = ?"
        counts = []
        for i in range(3):
            if i == 2:  # the same file unpacked again: a new inode, the same input
                content = log.read_bytes()
                log.unlink()
                log.write_bytes(content)
            assert 0 == main(argv)
            counts.append(
                {k: _count_text(db, sql, k) for k in ("parse_reject", "callbacks_suppressed")}
            )
        # the sample's truncated record and the two undated lines: 3 rows of 1 line each
        assert {"parse_reject": "3/3", "callbacks_suppressed": "1/7"} == counts[0]
        assert counts[0] == counts[1] == counts[2]


    def test_junk_and_undated_reject_count_once(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`run` twice on a file that opens with a rejected line (no event time before it)
        and holds 4 MB of binary junk stores its loss once: the second run adds nothing."""
        monkeypatch.chdir(tmp_path)
        rnd = random.Random(11)
        junk = b"".join(
            rnd.randbytes(280).replace(b"\n", b"\x01") + b"\x00\n" for _ in range(7000)
        )
        undated = b'type=AVC apparmor="DENIED" operation="open" profile="/x" name="/y\n'
        log = tmp_path / "audit.log"
        log.write_bytes(undated + junk + (SAMPLES / "audit.log").read_bytes() + junk)
        db = tmp_path / "a.duckdb"
        sql = "SELECT count(*) || '/' || sum(count) FROM loss WHERE kind = ?"
        counts = []
        for _ in range(2):
            assert 0 == main(["run", "--no-report", "--db", str(db), str(log)])
            counts.append(_count_text(db, sql, "parse_reject"))
        # the undated line, the sample's truncated record, and a row of junk at each MiB
        # of the file and at its end: 4 MB
        assert counts[0].startswith("6/")
        assert counts[0] == counts[1]


def _count_text(db: Path, sql: str, *params: object) -> str:
    con = open_store(db, read_only=True)
    try:
        return str(con.execute(sql, list(params)).fetchone()[0])  # type: ignore[index]
    finally:
        con.close()
