"""Disk full on the collector's state dir (reliability.md D6): delivery goes on, nothing lost."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from armorwatch.ingest.auditd_file import AuditdFileConfig, AuditdFileSource
from armorwatch.ingest.checkpoint import CheckpointStore
from armorwatch.ingest.collector import Collector, CollectorConfig
from armorwatch.pipeline import InProcessTransport
from armorwatch.sinks.duckdb import DuckDBConfig, DuckDBSink
from tests.harness.checker import check, stored_serials
from tests.harness.replayer import PROFILE, Ledger, Replayer
from tests.reliability.test_time_and_boots import boot


@pytest.fixture
def tiny_state_dir(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs mounted for the test (skipped where mounting is not allowed)."""
    state = tmp_path / "state"
    state.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(state)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield state
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)


def fill(directory: Path) -> None:
    """Write until the file system is full."""
    fd = os.open(directory / "ballast", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


@pytest.mark.integration
class TestStateDirFull:
    async def test_full_state_dir_loses_nothing_and_recovers(
        self, tmp_path: Path, tiny_state_dir: Path
    ) -> None:
        """With no room for the checkpoint, records are still delivered; once freed it saves."""
        logdir = tmp_path / "log"
        logdir.mkdir()
        ledger = Ledger(tmp_path / "ledger")
        r = Replayer(logdir, ledger)
        r.write(2_000)
        fill(tiny_state_dir)
        db = tmp_path / "s.duckdb"
        checkpoint = CheckpointStore(tiny_state_dir / "cp.json")

        async def collect() -> Collector:
            cfg = AuditdFileConfig(path=r.log, poll_interval=0.01, rotate_wait=0.02)
            store = DuckDBSink(DuckDBConfig(path=db))
            await store.open()
            async with InProcessTransport(store) as channel:
                c = Collector(
                    [AuditdFileSource(cfg)], channel, checkpoint, boot(1),
                    CollectorConfig(idle_flush=0.05, checkpoint_interval=0.0),
                )  # fmt: skip
                await c.run(follow=False)
            return c

        first = await collect()
        assert first.stats.checkpoint_errors > 0
        assert not (tiny_state_dir / "cp.json").exists()
        (tiny_state_dir / "ballast").unlink()
        r.write(500)
        r.close()
        ledger.close()
        second = await collect()  # re-reads from the start: duplicates, removed by the key
        assert 0 == second.stats.checkpoint_errors
        assert r.log.stat().st_size == json.loads((tiny_state_dir / "cp.json").read_text())[
            "sources"]["auditd"]["offset"]  # fmt: skip
        verdict = check(Ledger.read(tmp_path / "ledger"), stored_serials(db, PROFILE))
        assert ((), 0, 2_500) == (verdict.lost, verdict.duplicates_final, verdict.stored_rows)
