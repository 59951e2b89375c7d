"""`armorwatch collect`: configuration, --once into DuckDB, --detect, exit codes."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from armorwatch.cli import main
from armorwatch.sinks.store import open_store
from tests.ingest.test_collector import SAMPLES


def write_config(tmp_path: Path, body: str) -> Path:
    cfg = tmp_path / "armorwatch.toml"
    cfg.write_text(body)
    return cfg


# A writer that holds the store (its writer lock) for a minute.
HOLD_STORE = """
import asyncio, sys
from pathlib import Path
from armorwatch.sinks.duckdb import DuckDBConfig, DuckDBSink

async def hold():
    async with DuckDBSink(DuckDBConfig(path=Path(sys.argv[1]))):
        print("held", flush=True)
        await asyncio.sleep(60)

asyncio.run(hold())
"""


class TestCollectCommand:
    def test_once_into_duckdb_then_nothing_new(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--once stores the sample's records and rejects; a second run adds nothing."""
        log = tmp_path / "audit.log"
        shutil.copy(SAMPLES / "audit.log", log)
        cfg = write_config(
            tmp_path,
            f'[collect]\nsources = ["auditd"]\n[collect.auditd]\npath = "{log}"\n'
            "[run]\n# other commands' tables are ignored here\n",
        )
        db, state = tmp_path / "x.duckdb", tmp_path / "state"
        argv = [
            "collect",
            "--config",
            str(cfg),
            "--once",
            "--state-dir",
            str(state),
            "--db",
            str(db),
        ]
        assert 0 == main(argv)
        assert "collected 74 MAC records" in capsys.readouterr().out
        assert 0 == main(argv)
        assert "collected 0 MAC records" in capsys.readouterr().out
        con = open_store(db, read_only=True)
        try:
            assert 74 == con.execute("SELECT count(*) FROM records").fetchone()[0]  # type: ignore[index]
        finally:
            con.close()
        assert (state / "collect.checkpoint.json").is_file()
        assert 1 == len((state / "deadletter.jsonl").read_text().splitlines())

    def test_store_held_by_another_writer_is_a_failure_not_a_crash(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A store another process writes: exit 1 with one line, not 70 'internal error'."""
        log = tmp_path / "audit.log"
        shutil.copy(SAMPLES / "audit.log", log)
        db = tmp_path / "x.duckdb"
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD_STORE, str(db)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert holder.stdout is not None and "held" in holder.stdout.readline()
            cfg = write_config(tmp_path, f'[collect.auditd]\npath = "{log}"\n')
            code = main(["collect", "--config", str(cfg), "--once", "--source", "auditd",
                         "--db", str(db), "--state-dir", str(tmp_path / "state"),
                         "--log-level", "ERROR"])  # fmt: skip
        finally:
            holder.kill()
            holder.wait()
        err = capsys.readouterr().err
        assert (1, 1, True) == (code, len(err.strip().splitlines()), "cannot open" in err), err

    def test_source_flag_overrides_config(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--source kernlog reads kern.log even though the config names auditd."""
        kern = tmp_path / "kern.log"
        shutil.copy(SAMPLES / "kern.log", kern)
        cfg = write_config(
            tmp_path, f'[collect]\nsources = ["auditd"]\n[collect.kernlog]\npath = "{kern}"\n'
        )
        argv = [
            "collect",
            "--config",
            str(cfg),
            "--once",
            "--source",
            "kernlog",
            "--state-dir",
            str(tmp_path / "s"),
            "--db",
            str(tmp_path / "k.duckdb"),
        ]
        assert 0 == main(argv)
        out = capsys.readouterr().out
        assert "from kernlog" in out
        assert "callbacks_suppressed=7" in out

    def test_unknown_key_is_a_usage_error(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A typo in [collect] exits 2 and names the key."""
        cfg = write_config(tmp_path, "[collect]\nsorces = []\n")
        assert 2 == main(["collect", "--config", str(cfg), "--once"])
        assert "collect.sorces" in capsys.readouterr().err

    def test_unknown_source_is_a_usage_error(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An unknown source name exits 2."""
        cfg = write_config(tmp_path, '[collect]\nsources = ["syslogd"]\n')
        assert 2 == main(["collect", "--config", str(cfg), "--once"])
        assert "syslogd" in capsys.readouterr().err

    def test_detect_reports_the_authoritative_source(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--detect prints the findings and the source it would read."""
        assert 0 == main(["collect", "--detect"])
        assert "authoritative source:" in capsys.readouterr().out

    def test_collect_alerts_like_process(self, tmp_path: Path) -> None:
        """[collect.alerts] evaluates the rules on each delivered envelope, as process does."""
        now = time.time()
        log = tmp_path / "audit.log"
        log.write_text(
            "".join(
                f"node=web-01 type=AVC msg=audit({now + i:.3f}:{70 + i}): "
                'apparmor="DENIED" operation="ptrace" class="ptrace" profile="/usr/bin/gdb" '
                'pid=4242 comm="gdb" requested_mask="read" denied_mask="read" '
                'peer="/usr/sbin/sshd"\n'
                for i in range(3)
            )
        )
        alerts = tmp_path / "alerts"
        cfg = write_config(
            tmp_path,
            f'[collect]\nsources = ["audit"]\ndb = "{tmp_path / "a.duckdb"}"\n'
            f'[collect.auditd]\npath = "{log}"\n[collect.alerts]\nstate_dir = "{alerts}"\n',
        )
        argv = ["collect", "--config", str(cfg), "--once", "--state-dir", str(tmp_path / "s")]
        assert 0 == main(argv)
        con = sqlite3.connect(alerts / "alerts.sqlite")
        try:
            groups = con.execute("SELECT count(*) FROM groups").fetchone()[0]
        finally:
            con.close()
        assert groups > 0
