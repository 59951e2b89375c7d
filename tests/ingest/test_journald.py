"""JournaldSource against real journal files written by systemd-journal-remote."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from armorwatch.ingest.checkpoint import CheckpointStore
from armorwatch.ingest.collector import Collector, CollectorConfig
from armorwatch.ingest.journald import JournaldConfig, JournaldSource, _seqnum_gap
from armorwatch.parsers import schema as S
from armorwatch.parsers.result import HostInfo
from tests.ingest.test_collector import ListSink

REMOTE = Path("/lib/systemd/systemd-journal-remote")
BOOT = "9d2e8f7a6b5c4d3e2f1a0b9c8d7e6f5a"
FAST = CollectorConfig(idle_flush=0.05, checkpoint_interval=0.0)

needs_journal = pytest.mark.skipif(
    not REMOTE.exists() or shutil.which("journalctl") is None,
    reason="systemd-journal-remote / journalctl not installed",
)


def export_entry(serial: int, transport: str = "audit") -> str:
    """One entry in journal export format carrying an AppArmor AVC."""
    avc = (
        f'apparmor="DENIED" operation="open" class="file" profile="/usr/bin/x" '
        f'name="/etc/f{serial}" pid=1 comm="x" requested_mask="r" denied_mask="r" '
        f"fsuid=0 ouid=0"
    )
    ts = 1763882115101471 + serial * 1000
    fields = {
        "__REALTIME_TIMESTAMP": str(ts),
        "__MONOTONIC_TIMESTAMP": str(9000000 + serial),
        "_BOOT_ID": BOOT,
        "_MACHINE_ID": "7e6d5c4b3a29180706f5e4d3c2b1a090",
        "_HOSTNAME": "db-01",
        "_TRANSPORT": transport,
    }
    if transport == "audit":
        fields.update(
            _AUDIT_TYPE="1400",
            _AUDIT_ID=str(serial),
            SYSLOG_IDENTIFIER="audit",
            MESSAGE=f"AVC {avc}",
        )
    elif transport == "kernel":
        fields.update(
            SYSLOG_IDENTIFIER="kernel",
            MESSAGE=f"audit: type=1400 audit({ts // 1_000_000}.{ts // 1000 % 1000:03d}:"
            f"{serial}): {avc}",
        )
    else:  # a user process pretending to be the kernel
        fields.update(SYSLOG_IDENTIFIER="kernel", _PID="4242", MESSAGE=f"audit: {avc}")
    return "".join(f"{k}={v}\n" for k, v in fields.items()) + "\n"


def write_journal(path: Path, entries: list[str]) -> None:
    """Append entries to a journal file with systemd-journal-remote (export format in)."""
    subprocess.run(
        [str(REMOTE), f"--output={path}", "-"],
        input="".join(entries).encode(),
        check=True,
        capture_output=True,
        timeout=30,
    )


def source(path: Path) -> JournaldSource:
    return JournaldSource(JournaldConfig(files=(path,)))


@needs_journal
@pytest.mark.integration
class TestJournalFile:
    async def test_audit_and_kernel_transports_then_resume(self, tmp_path: Path) -> None:
        """Both transports are read; a restart from the cursor reads only new entries."""
        journal = tmp_path / "remote.journal"
        write_journal(
            journal,
            [export_entry(1), export_entry(2, "kernel"), export_entry(3), export_entry(4, "user")],
        )
        store = CheckpointStore(tmp_path / "cp.json")
        sink = ListSink()
        await Collector([source(journal)], sink, store, HostInfo(), FAST).run(follow=False)
        assert [1, 2, 3] == sorted(v for v in sink.column(S.SERIAL) if v is not None)
        assert {BOOT} == set(sink.column(S.BOOT_ID))
        assert "cursor" in store.load()["journald"]
        write_journal(journal, [export_entry(5), export_entry(6)])
        sink2 = ListSink()
        await Collector([source(journal)], sink2, store, HostInfo(), FAST).run(follow=False)
        assert [5, 6] == sorted(sink2.column(S.SERIAL))
        assert [] == sink2.loss_kinds()

    async def test_refused_cursor_is_a_reported_gap(self, tmp_path: Path) -> None:
        """A cursor journalctl refuses becomes a gap row, then the journal is re-read."""
        journal = tmp_path / "remote.journal"
        write_journal(journal, [export_entry(1), export_entry(2)])
        store = CheckpointStore(tmp_path / "cp.json")
        store.save({"journald": {"cursor": "s=00ff;i=5;b=00;m=0;t=0;x=0"}})
        sink = ListSink()
        src = source(journal)
        await Collector([src], sink, store, HostInfo(), FAST).run(follow=False)
        assert [S.LOSS_JOURNAL_CURSOR_GAP] == sink.loss_kinds()
        assert [1, 2] == sorted(sink.column(S.SERIAL))
        assert 1 == src.stats.cursor_gaps

    async def test_vanished_cursor_entry_is_a_reported_gap(self, tmp_path: Path) -> None:
        """A cursor of this journal whose entry is gone (vacuumed) is reported, not skipped."""
        journal = tmp_path / "remote.journal"
        write_journal(journal, [export_entry(1), export_entry(2)])
        first = subprocess.run(
            ["journalctl", f"--file={journal}", "-o", "json", "-n", "1", "--reverse"],
            capture_output=True,
            check=True,
        ).stdout
        real = first.split(b'"__CURSOR":"')[1].split(b'"')[0].decode()
        # The same journal, an entry before its first one: what a vacuum leaves behind.
        gone = ";".join("i=0" if p.startswith("i=") else p for p in real.split(";"))
        store = CheckpointStore(tmp_path / "cp.json")
        store.save({"journald": {"cursor": gone}})
        sink = ListSink()
        await Collector([source(journal)], sink, store, HostInfo(), FAST).run(follow=False)
        assert [S.LOSS_JOURNAL_CURSOR_GAP] == sink.loss_kinds()
        assert [1, 2] == sorted(sink.column(S.SERIAL))


class TestCursor:
    def test_seqnum_gap(self) -> None:
        """The gap between two cursors of one seqnum id is the seqnum distance minus one."""
        assert 9 == _seqnum_gap("s=ab;i=a;b=1", "s=ab;i=14;b=1")
        assert _seqnum_gap("s=ab;i=a", "s=cd;i=14") is None

    def test_command_line(self) -> None:
        """A resumed follow run starts AT the cursor (to check it) and filters transports."""
        cmd = JournaldSource(JournaldConfig(directory=Path("/j"))).command("s=1;i=2", True)
        assert [
            "journalctl",
            "--output=json",
            "--no-pager",
            "--quiet",
            "--directory=/j",
            "--cursor=s=1;i=2",
            "--follow",
            "_TRANSPORT=audit",
            "_TRANSPORT=kernel",
            "_TRANSPORT=driver",
        ] == cmd


@needs_journal
@pytest.mark.integration
class TestJournalFollow:
    async def test_follow_directory_sees_new_entries(self, tmp_path: Path) -> None:
        """journalctl --follow over a journal directory delivers entries appended later."""
        import asyncio
        import contextlib

        jdir = tmp_path / "journal"
        jdir.mkdir()
        journal = jdir / "remote.journal"
        write_journal(journal, [export_entry(1), export_entry(2)])
        store = CheckpointStore(tmp_path / "cp.json")
        sink = ListSink()
        src = JournaldSource(JournaldConfig(directory=jdir))
        task = asyncio.create_task(Collector([src], sink, store, HostInfo(), FAST).run(follow=True))

        async def until(n: int) -> None:
            for _ in range(200):
                if len(sink.column(S.SERIAL)) >= n:
                    return
                await asyncio.sleep(0.025)

        await until(2)
        write_journal(journal, [export_entry(3)])
        await until(3)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert [1, 2, 3] == sorted(sink.column(S.SERIAL))
        assert store.load()["journald"]["cursor"].count(";") >= 5


class TestFakeJournalctl:
    async def test_sample_journal_with_suppression(self, tmp_path: Path) -> None:
        """A fake journalctl printing the bundled sample: records, and 'Suppressed N' as loss."""
        sample = Path(__file__).resolve().parents[2] / "armorwatch" / "samples" / "journal.json"
        fake = tmp_path / "journalctl"
        fake.write_text(f"#!/bin/sh\nexec cat {sample}\n")
        fake.chmod(0o755)
        store = CheckpointStore(tmp_path / "cp.json")
        sink = ListSink()
        src = JournaldSource(JournaldConfig(journalctl=str(fake)))
        c = Collector([src], sink, store, HostInfo(), FAST)
        await c.run(follow=False)
        assert S.LOSS_JOURNALD_SUPPRESSED in sink.loss_kinds()
        assert 0 < c.stats.by_kind[S.LOSS_JOURNALD_SUPPRESSED]
        assert {"db-01"} == set(sink.column(S.HOST))
        last = sample.read_bytes().rstrip(b"\n").rsplit(b"\n", 1)[-1]
        assert (
            last.split(b'"__CURSOR": "')[1].split(b'"')[0].decode()
            == (store.load()["journald"]["cursor"])
        )
