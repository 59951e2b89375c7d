"""kill -9 of a real `armorwatch collect` process during a replay: nothing is lost."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path

import pytest

from armorwatch.sinks.store import open_store
from tests.harness.checker import check, stored_serials
from tests.harness.replayer import PROFILE, Ledger, Replayer, paced
from tests.harness.soak import CONFIG
from tests.harness.soak import start_collector as collect

EVENTS = 8_000


@pytest.mark.integration
class TestKill9:
    @pytest.mark.parametrize("mode", ["auditd", "copytruncate"])
    def test_kill9_at_random_points_loses_nothing(self, tmp_path: Path, mode: str) -> None:
        """Repeated kill -9 during a replay with rotations: every ledger serial is stored once."""
        logdir = tmp_path / "log"
        logdir.mkdir()
        ledger_path = tmp_path / "ledger"
        replayer = Replayer(logdir, Ledger(ledger_path), num_logs=30)
        cfg = tmp_path / "collect.toml"
        cfg.write_text(CONFIG.format(log=replayer.log))
        state, db = tmp_path / "state", tmp_path / "store.duckdb"
        rng = random.Random(4)

        def write() -> None:
            for i, n in enumerate(paced(EVENTS, rate=1500, batch=100)):
                replayer.write(n)
                if i % 15 == 14:
                    replayer.rotate(mode)
            replayer.ledger.close()

        writer = threading.Thread(target=write)
        writer.start()
        kills = 0
        while writer.is_alive():
            proc = collect(cfg, state, db)
            time.sleep(rng.uniform(0.4, 1.6))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
        writer.join()
        final = collect(cfg, state, db, "--once")
        _out, err = final.communicate(timeout=60)
        assert 0 == final.returncode, err.decode()
        verdict = check(Ledger.read(ledger_path), stored_serials(db, PROFILE))
        assert kills >= 3
        assert () == verdict.lost
        assert () == verdict.unexpected
        assert 0 == verdict.duplicates_final
        assert EVENTS == verdict.written

    def test_sigterm_saves_the_acknowledged_position(self, tmp_path: Path) -> None:
        """SIGTERM stops the collector with exit 0 and a checkpoint at the end of the file."""
        logdir = tmp_path / "log"
        logdir.mkdir()
        replayer = Replayer(logdir, Ledger(tmp_path / "ledger"))
        replayer.write(500)
        cfg = tmp_path / "collect.toml"
        cfg.write_text(CONFIG.format(log=replayer.log))
        state, db = tmp_path / "state", tmp_path / "store.duckdb"
        proc = collect(cfg, state, db)
        checkpoint = state / "collect.checkpoint.json"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and str(replayer.log.stat().st_size) not in (
            checkpoint.read_text() if checkpoint.exists() else ""
        ):
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert 0 == proc.returncode, err.decode()
        assert b"collected 500 MAC records" in out


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("AW_SOAK_SECONDS"),
    reason="soak: set AW_SOAK_SECONDS (e.g. 60); the kill -9 tests are the fast variant",
)
class TestSoak:
    def test_rotation_every_2s_at_5k_lines_per_s(self, tmp_path: Path) -> None:
        """Reliability A1 (shortened): 5.1k lines/s, auditd rotation every 2 s, num_logs=5."""
        seconds = float(os.environ["AW_SOAK_SECONDS"])
        logdir = tmp_path / "log"
        logdir.mkdir()
        ledger_path = tmp_path / "ledger"
        replayer = Replayer(logdir, Ledger(ledger_path), num_logs=5)
        cfg = tmp_path / "collect.toml"
        cfg.write_text(CONFIG.format(log=replayer.log))
        state, db = tmp_path / "state", tmp_path / "store.duckdb"
        proc = collect(cfg, state, db)
        time.sleep(2)
        events = int(seconds * 1700)  # 3 lines an event
        start = time.monotonic()
        last_rotation = start
        for n in paced(events, rate=1700, batch=85):
            replayer.write(n)
            if time.monotonic() - last_rotation >= 2.0:
                replayer.rotate("auditd")
                last_rotation = time.monotonic()
        replayer.ledger.close()
        time.sleep(3)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
        assert 0 == proc.returncode, err.decode()
        verdict = check(Ledger.read(ledger_path), stored_serials(db, PROFILE))
        assert () == verdict.lost
        assert 0 == verdict.duplicates_final
        assert events == verdict.written
        assert replayer.rotations >= seconds / 2 - 1


JOURNAL_CONFIG = """
[collect]
sources = ["journald"]
[collect.journald]
directory = "{directory}"
restart_wait = 0.1
[collect.collector]
idle_flush = 0.1
checkpoint_interval = 0.0
"""


@pytest.mark.integration
class TestKill9Journald:
    def test_kill9_while_following_a_journal_loses_nothing(self, tmp_path: Path) -> None:
        """kill -9 while following a journal directory: every audit entry is stored once."""
        from tests.ingest.test_journald import REMOTE, export_entry, write_journal

        if not REMOTE.exists():
            pytest.skip("systemd-journal-remote not installed")
        jdir = tmp_path / "journal"
        jdir.mkdir()
        journal = jdir / "remote.journal"
        cfg = tmp_path / "collect.toml"
        cfg.write_text(JOURNAL_CONFIG.format(directory=jdir))
        state, db = tmp_path / "state", tmp_path / "store.duckdb"
        total, batch = 1500, 50
        write_journal(journal, [export_entry(s) for s in range(1, batch + 1)])
        rng = random.Random(7)

        def write() -> None:
            for start in range(batch + 1, total + 1, batch):
                write_journal(journal, [export_entry(s) for s in range(start, start + batch)])
                time.sleep(0.15)

        writer = threading.Thread(target=write)
        writer.start()
        kills = 0
        while writer.is_alive():
            proc = collect(cfg, state, db)
            time.sleep(rng.uniform(0.6, 1.8))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
        writer.join()
        final = collect(cfg, state, db, "--once")
        _out, err = final.communicate(timeout=60)
        assert 0 == final.returncode, err.decode()
        con = open_store(db, read_only=True)
        try:
            rows = [r[0] for r in con.execute("SELECT serial FROM records").fetchall()]
        finally:
            con.close()
        assert kills >= 2
        assert list(range(1, total + 1)) == sorted(rows)
