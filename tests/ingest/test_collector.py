"""The collector: acks before checkpoints, retries, backpressure, loss rows, dedup."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from armorwatch.ingest.auditd_file import AuditdFileConfig, AuditdFileSource
from armorwatch.ingest.checkpoint import CheckpointStore
from armorwatch.ingest.collector import Collector, CollectorConfig, CollectorError
from armorwatch.ingest.kernlog import KernLogConfig, KernLogSource
from armorwatch.parsers import schema as S
from armorwatch.parsers.envelope import Envelope
from armorwatch.parsers.result import HostInfo
from armorwatch.sinks.errors import TerminalSinkError, TransientSinkError
from tests.harness.replayer import Ledger, Replayer

SAMPLES = Path(__file__).resolve().parents[2] / "armorwatch" / "samples"
HOST = HostInfo("h1", "m" * 32, "b" * 32)
FAST = CollectorConfig(idle_flush=0.05, checkpoint_interval=0.0, retry_initial=0.01)


class ListSink:
    """A fake sink that keeps what it acknowledged; optional failures before acking."""

    def __init__(self, fail: list[Exception] | None = None) -> None:
        self.envelopes: list[Envelope] = []
        self.fail = list(fail or [])
        self.closed = False

    async def send(self, envelope: Envelope) -> None:
        if self.fail:
            raise self.fail.pop(0)
        self.envelopes.append(envelope)

    async def close(self) -> None:
        self.closed = True

    def column(self, name: str) -> list[object]:
        return [v for e in self.envelopes for v in e.records.column(name).to_pylist()]

    def loss_kinds(self) -> list[str]:
        return [v for e in self.envelopes for v in e.loss.column(S.KIND).to_pylist()]


class BlockedSink(ListSink):
    """A sink whose send never returns until released: a down or very slow store."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def send(self, envelope: Envelope) -> None:
        await self.release.wait()
        await super().send(envelope)


def auditd(path: Path, **kw: object) -> AuditdFileSource:
    cfg = AuditdFileConfig(path=path, poll_interval=0.01, rotate_wait=0.02, **kw)  # type: ignore[arg-type]
    return AuditdFileSource(cfg)


class TestOnce:
    async def test_sample_audit_log_then_resume(self, tmp_path: Path) -> None:
        """A --once run stores the sample's records; a second run from the checkpoint adds none."""
        log = tmp_path / "audit.log"
        shutil.copy(SAMPLES / "audit.log", log)
        store = CheckpointStore(tmp_path / "state" / "checkpoint.json")
        sink = ListSink()
        await Collector([auditd(log)], sink, store, HOST, FAST).run(follow=False)
        assert 74 == len(sink.column(S.SERIAL))
        assert [S.LOSS_PARSE_REJECT] == sink.loss_kinds()
        doc = json.loads(store.path.read_text())
        assert 1 == doc["version"]
        assert log.stat().st_size == doc["sources"]["auditd"]["offset"]
        sink2 = ListSink()
        await Collector([auditd(log)], sink2, store, HOST, FAST).run(follow=False)
        assert [] == sink2.column(S.SERIAL)

    async def test_rejects_reach_the_dead_letter(self, tmp_path: Path) -> None:
        """The sample's truncated record goes to the dead-letter callback with its raw bytes."""
        log = tmp_path / "audit.log"
        shutil.copy(SAMPLES / "audit.log", log)
        dead: list[pa.RecordBatch] = []

        async def dead_letter(batch: pa.RecordBatch) -> None:
            dead.append(batch)

        c = Collector([auditd(log)], ListSink(), None, HOST, FAST, dead_letter=dead_letter)
        await c.run(follow=False)
        assert 1 == sum(b.num_rows for b in dead)
        assert 1 == c.stats.rejects
        assert b"apparmor=" in dead[0].column(S.RAW)[0].as_py()

    async def test_envelope_carries_host_identity(self, tmp_path: Path) -> None:
        """Every envelope's meta names host, machine-id and boot_id."""
        log = tmp_path / "kern.log"
        shutil.copy(SAMPLES / "kern.log", log)
        src = KernLogSource(KernLogConfig(path=log, poll_interval=0.01))
        sink = ListSink()
        await Collector([src], sink, None, HOST, FAST).run(follow=False)
        meta = sink.envelopes[0].meta
        assert ("h1", "m" * 32, "b" * 32) == (meta["host"], meta["machine_id"], meta["boot_id"])
        assert [S.LOSS_CALLBACKS_SUPPRESSED] == sink.loss_kinds()
        assert {"b" * 32} == set(sink.column(S.BOOT_ID))


class TestAcks:
    async def test_transient_errors_are_retried(self, tmp_path: Path) -> None:
        """Two transient failures, then success: everything arrives once, retries counted."""
        log = tmp_path / "audit.log"
        shutil.copy(SAMPLES / "audit.log", log)
        sink = ListSink(fail=[TransientSinkError("down"), TransientSinkError("still down")])
        c = Collector([auditd(log)], sink, None, HOST, FAST)
        await c.run(follow=False)
        assert 2 == c.stats.send_retries
        assert 74 == len(sink.column(S.SERIAL))

    async def test_terminal_error_does_not_advance_the_checkpoint(self, tmp_path: Path) -> None:
        """A terminal sink error stops the collector and leaves no checkpoint past unacked data."""
        log = tmp_path / "audit.log"
        shutil.copy(SAMPLES / "audit.log", log)
        store = CheckpointStore(tmp_path / "cp.json")
        sink = ListSink(fail=[TerminalSinkError("schema mismatch")])
        with pytest.raises(CollectorError):
            await Collector([auditd(log)], sink, store, HOST, FAST).run(follow=False)
        positions = store.load()
        assert positions.get("auditd", {}).get("offset", 0) < log.stat().st_size
        # Nothing was acked, so a restart re-reads from the start and loses nothing.
        sink2 = ListSink()
        await Collector([auditd(log)], sink2, store, HOST, FAST).run(follow=False)
        assert 74 == len(sink2.column(S.SERIAL))

    async def test_blocked_sink_stops_reading(self, tmp_path: Path) -> None:
        """While the sink does not ack, the collector reads a bounded amount, saves no progress."""
        r = Replayer(tmp_path, Ledger(tmp_path / "ledger"))
        r.write(20_000)  # ~7 MB
        src = auditd(r.log, read_bytes=64 * 1024)
        sink = BlockedSink()
        store = CheckpointStore(tmp_path / "cp.json")
        cfg = CollectorConfig(
            chunk_queue=2, envelope_queue=2, batch_records=500, checkpoint_interval=0.0
        )
        c = Collector([src], sink, store, HOST, cfg)
        task = asyncio.create_task(c.run(follow=True))
        await asyncio.sleep(0.5)
        # 2 envelopes queued + 1 in the sender + 1 being built (500 events, ~160 KB of
        # input each, plus one chunk), 2 chunks queued, 1 being read: ~1.2 MB of 7 MB.
        assert c.stats.bytes <= 1_600_000
        assert src.stats.bytes_read <= 1_800_000
        # Only the start position (before any data) may be saved while nothing is acked.
        assert 0 == store.load()["auditd"]["offset"]
        sink.release.set()
        for _ in range(200):
            if len(set(sink.column(S.SERIAL))) == 20_000:
                break
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert set(range(1, 20_001)) == set(sink.column(S.SERIAL))
        assert r.log.stat().st_size == store.load()["auditd"]["offset"]


class TestLoss:
    async def test_rotated_away_unread_becomes_a_loss_row(self, tmp_path: Path) -> None:
        """A checkpointed file rotated away while stopped is reported as a loss record."""
        r = Replayer(tmp_path, Ledger(tmp_path / "ledger"), num_logs=2)
        r.write(5)
        store = CheckpointStore(tmp_path / "cp.json")
        await Collector([auditd(r.log)], ListSink(), store, HOST, FAST).run(follow=False)
        for _ in range(3):
            r.write(5)
            r.rotate("auditd")
        r.write(5)
        sink = ListSink()
        c = Collector([auditd(r.log)], sink, store, HOST, FAST)
        await c.run(follow=False)
        assert [S.LOSS_ROTATED_AWAY] == sink.loss_kinds()
        # Serials 6..15 were in the files rotated away: the serial distance bounds it.
        assert 10 == c.stats.by_kind[S.LOSS_ROTATED_AWAY]
        assert list(range(16, 26)) == sorted(set(sink.column(S.SERIAL)))


class TestDedup:
    async def test_same_event_from_two_sources_is_emitted_once(self, tmp_path: Path) -> None:
        """An event in audit.log and in kern.log (same boot, ts, serial) is delivered once."""
        audit = tmp_path / "audit.log"
        kern = tmp_path / "kern.log"
        audit.write_bytes(
            b'type=AVC msg=audit(1763874806.159:2203): apparmor="DENIED" operation="open" '
            b'class="file" profile="/usr/bin/evince" name="/etc/a" pid=1 comm="evince" '
            b'requested_mask="r" denied_mask="r" fsuid=0 ouid=0\n'
        )
        kern.write_bytes(
            b"Nov 23 05:13:26 h1 kernel: [ 1132.939032] audit: type=1400 "
            b'audit(1763874806.159:2203): apparmor="DENIED" operation="open" class="file" '
            b'profile="/usr/bin/evince" name="/etc/a" pid=1 comm="evince" requested_mask="r" '
            b'denied_mask="r" fsuid=0 ouid=0\n'
            b"Nov 23 05:13:27 h1 kernel: [ 1133.939032] audit: type=1400 "
            b'audit(1763874807.159:2204): apparmor="DENIED" operation="open" class="file" '
            b'profile="/usr/bin/evince" name="/etc/b" pid=1 comm="evince" requested_mask="r" '
            b'denied_mask="r" fsuid=0 ouid=0\n'
        )
        sources = [auditd(audit), KernLogSource(KernLogConfig(path=kern, poll_interval=0.01))]
        sink = ListSink()
        c = Collector(sources, sink, None, HOST, FAST)
        await c.run(follow=False)
        assert [2203, 2204] == sorted(sink.column(S.SERIAL))
        assert 1 == c.stats.dedup_dropped

    async def test_one_source_keeps_records_of_one_event(self, tmp_path: Path) -> None:
        """Within one source, several records of one event (ordinals) are all kept."""
        log = tmp_path / "audit.log"
        shutil.copy(SAMPLES / "audit.log", log)
        sink = ListSink()
        c = Collector([auditd(log)], sink, None, HOST, FAST, dedup=True)
        await c.run(follow=False)
        assert 74 == len(sink.column(S.SERIAL))
        assert 0 == c.stats.dedup_dropped


class TestPartialLine:
    async def test_partial_line_across_restart_is_emitted_once(self, tmp_path: Path) -> None:
        """An event whose last line is half written, a stop, then completion: stored once."""
        r = Replayer(tmp_path, Ledger(tmp_path / "ledger"))
        r.write(3)
        from tests.harness.replayer import event_lines

        full = event_lines(4, 1_764_000_000.5)
        r.write_partial(full[:60])  # inside the AVC line
        store = CheckpointStore(tmp_path / "cp.json")
        sink = ListSink()
        await Collector([auditd(r.log)], sink, store, HOST, FAST).run(follow=False)
        assert [1, 2, 3] == sorted(sink.column(S.SERIAL))
        r.write_partial(full[60:])
        await Collector([auditd(r.log)], sink, store, HOST, FAST).run(follow=False)
        assert [1, 2, 3, 4] == sorted(sink.column(S.SERIAL))


class TestLateWrites:
    async def test_writes_after_rename_are_read(self, tmp_path: Path) -> None:
        """logrotate create: a writer appends to the renamed file briefly; nothing is lost."""
        log = tmp_path / "audit.log"
        from tests.harness.replayer import event_lines

        log.write_bytes(event_lines(1, 1_764_000_000.0))
        src = AuditdFileSource(AuditdFileConfig(path=log, poll_interval=0.01, rotate_wait=0.3))
        sink = ListSink()
        c = Collector([src], sink, None, HOST, FAST)
        task = asyncio.create_task(c.run(follow=True))
        for _ in range(250):
            if sink.column(S.SERIAL):
                break
            await asyncio.sleep(0.02)
        log.rename(tmp_path / "audit.log.1")
        log.write_bytes(event_lines(3, 1_764_000_002.0))
        await asyncio.sleep(0.05)
        with (tmp_path / "audit.log.1").open("ab") as f:  # the writer has not reopened yet
            f.write(event_lines(2, 1_764_000_001.0))
        for _ in range(100):
            if len(set(sink.column(S.SERIAL))) == 3:
                break
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert [1, 2, 3] == sink.column(S.SERIAL)
