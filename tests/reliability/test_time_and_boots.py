"""Time and boot faults (reliability.md E1, E2): clock steps and serial restarts lose nothing."""

from __future__ import annotations

from pathlib import Path

from armorwatch.ingest.auditd_file import AuditdFileConfig, AuditdFileSource
from armorwatch.ingest.checkpoint import CheckpointStore
from armorwatch.ingest.collector import Collector, CollectorConfig
from armorwatch.parsers.result import HostInfo
from armorwatch.pipeline import InProcessTransport
from armorwatch.sinks.duckdb import DuckDBConfig, DuckDBSink
from armorwatch.sinks.store import open_store
from tests.harness.checker import check, stored_serials
from tests.harness.replayer import PROFILE, Ledger, Replayer

FAST = CollectorConfig(idle_flush=0.05, checkpoint_interval=0.0)


async def collect_once(log: Path, db: Path, state: Path, host: HostInfo) -> None:
    """Read ``log`` to its end through the real collector into the DuckDB file ``db``."""
    source = AuditdFileSource(AuditdFileConfig(path=log, poll_interval=0.01, rotate_wait=0.02))
    store = DuckDBSink(DuckDBConfig(path=db))
    await store.open()
    async with InProcessTransport(store) as channel:
        collector = Collector([source], channel, CheckpointStore(state / "cp.json"), host, FAST)
        await collector.run(follow=False)


def boot(n: int) -> HostInfo:
    """Identity of host h1 in its n-th boot."""
    return HostInfo("h1", "m" * 32, f"{n:032x}")


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    """Rows of a read-only query."""
    con = open_store(db, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


class TestClockStep:
    async def test_clock_step_backwards_keeps_every_event(self, tmp_path: Path) -> None:
        """A 5-minute step back of the wall clock mid-run neither loses nor merges events."""
        ledger = Ledger(tmp_path / "ledger")
        r = Replayer(tmp_path, ledger)
        r.write(500)
        r.ts -= 300.0
        r.write(500)
        r.close()
        ledger.close()
        db = tmp_path / "s.duckdb"
        await collect_once(r.log, db, tmp_path, boot(1))
        verdict = check(Ledger.read(tmp_path / "ledger"), stored_serials(db, PROFILE))
        assert ((), 0, 1000) == (verdict.lost, verdict.duplicates_final, verdict.stored_rows)


class TestReboot:
    async def test_serial_restart_after_reboot_keeps_both_boots(self, tmp_path: Path) -> None:
        """Serials restart at 1 after a reboot; both boots' events are stored."""
        ledger = Ledger(tmp_path / "ledger")
        r = Replayer(tmp_path, ledger)
        r.write(300)
        r.reboot()
        r.ts += 60.0
        r.write(300)
        r.close()
        db = tmp_path / "s.duckdb"
        await collect_once(r.log, db, tmp_path, boot(1))
        assert [(600, 300)] == rows(
            db, "SELECT count(*), count(DISTINCT serial) FROM records WHERE record_type = 'AVC'"
        )

    async def test_colliding_ts_and_serial_from_two_boots_are_kept(self, tmp_path: Path) -> None:
        """The same audit(ts:serial) seen in two boots is two events: the key has boot_id."""
        db = tmp_path / "s.duckdb"
        for n in (1, 2):
            d = tmp_path / f"boot{n}"
            d.mkdir()
            r = Replayer(d, Ledger(d / "ledger"))  # same start ts and serials in both boots
            r.write(200)
            r.close()
            await collect_once(r.log, db, d, boot(n))
        assert [(400, 2)] == rows(
            db, "SELECT count(*), count(DISTINCT boot_id) FROM records WHERE record_type = 'AVC'"
        )

    async def test_replay_after_checkpoint_loss_is_deduplicated(self, tmp_path: Path) -> None:
        """Reading the same boot's log twice (lost checkpoint) stores each event once."""
        r = Replayer(tmp_path, Ledger(tmp_path / "ledger"))
        r.write(400)
        r.close()
        db = tmp_path / "s.duckdb"
        await collect_once(r.log, db, tmp_path, boot(1))
        (tmp_path / "cp.json").unlink()
        await collect_once(r.log, db, tmp_path, boot(1))
        assert [(400,)] == rows(db, "SELECT count(*) FROM records WHERE record_type = 'AVC'")
