"""Checkpoint files, host identity and source detection."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from armorwatch.ingest.checkpoint import VERSION, CheckpointStore
from armorwatch.ingest.collector import Collector, CollectorConfig
from armorwatch.ingest.detect import AUDITD, JOURNALD, KERNLOG, describe, detect
from armorwatch.ingest.errors import CheckpointError
from armorwatch.ingest.hostid import host_info
from armorwatch.parsers import schema as S
from tests.ingest.test_collector import HOST, SAMPLES, ListSink, auditd


class TestCheckpoint:
    def test_roundtrip(self, tmp_path: Path) -> None:
        """Saved positions load back unchanged, in a versioned document."""
        store = CheckpointStore(tmp_path / "d" / "cp.json")
        store.save({"auditd": {"ino": 5, "offset": 10}})
        assert {"auditd": {"ino": 5, "offset": 10}} == store.load()
        assert VERSION == json.loads(store.path.read_text())["version"]
        assert [] == [p.name for p in store.path.parent.iterdir() if p.name.startswith(".")]

    @pytest.mark.parametrize("content", [b"", b"{", b"[]", b'{"sources": {}}', b"\x00" * 64])
    def test_corrupt_checkpoint_is_set_aside(self, tmp_path: Path, content: bytes) -> None:
        """A zero-byte or unparseable checkpoint means re-read (never skip) and is kept aside."""
        store = CheckpointStore(tmp_path / "cp.json")
        store.path.write_bytes(content)
        assert {} == store.load()
        assert 1 == store.stats.corrupt
        assert content == (tmp_path / "cp.json.corrupt-0").read_bytes()

    def test_newer_version_is_refused(self, tmp_path: Path) -> None:
        """A checkpoint from a newer armorwatch is an error, not a silent restart."""
        store = CheckpointStore(tmp_path / "cp.json")
        store.path.write_text(json.dumps({"version": VERSION + 1, "sources": {}}))
        with pytest.raises(CheckpointError):
            store.load()

    async def test_corrupt_checkpoint_rereads_everything(self, tmp_path: Path) -> None:
        """After a power cut leaves a 0-byte checkpoint, the file is read again: L=0."""
        log = tmp_path / "audit.log"
        shutil.copy(SAMPLES / "audit.log", log)
        store = CheckpointStore(tmp_path / "cp.json")
        cfg = CollectorConfig(idle_flush=0.05, checkpoint_interval=0.0)
        await Collector([auditd(log)], ListSink(), store, HOST, cfg).run(follow=False)
        store.path.write_bytes(b"")
        sink = ListSink()
        await Collector([auditd(log)], sink, store, HOST, cfg).run(follow=False)
        assert 74 == len(sink.column(S.SERIAL))

    async def test_malformed_position_rereads(self, tmp_path: Path) -> None:
        """A position missing its fields re-reads the source rather than skipping it."""
        log = tmp_path / "audit.log"
        shutil.copy(SAMPLES / "audit.log", log)
        store = CheckpointStore(tmp_path / "cp.json")
        store.save({"auditd": {"offset": "nonsense"}})
        sink = ListSink()
        cfg = CollectorConfig(idle_flush=0.05, checkpoint_interval=0.0)
        await Collector([auditd(log)], sink, store, HOST, cfg).run(follow=False)
        assert 74 == len(sink.column(S.SERIAL))


class TestHostInfo:
    def test_ids_are_read_and_normalised(self, tmp_path: Path) -> None:
        """machine-id and boot_id are read as 32 lowercase hex digits."""
        mid = tmp_path / "machine-id"
        mid.write_text("7E6D5C4B3A29180706F5E4D3C2B1A090\n")
        boot = tmp_path / "boot_id"
        boot.write_text("9d2e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a\n")
        info = host_info("web-01", (tmp_path / "missing", mid), boot)
        assert "web-01" == info.host
        assert "7e6d5c4b3a29180706f5e4d3c2b1a090" == info.machine_id
        assert "9d2e8f7a6b5c4d3e2f1a0b9c8d7e6f5a" == info.boot_id

    def test_missing_ids_are_none(self, tmp_path: Path) -> None:
        """Without machine-id and boot_id files the fields are None, not errors."""
        info = host_info(None, (tmp_path / "a",), tmp_path / "b")
        assert (None, None) == (info.machine_id, info.boot_id)
        assert info.host


def fake_proc(tmp_path: Path, *names: str) -> Path:
    """A /proc with one process per name."""
    proc = tmp_path / "proc"
    for i, name in enumerate(names, start=1):
        (proc / str(i)).mkdir(parents=True)
        (proc / str(i) / "comm").write_text(name + "\n")
    proc.mkdir(exist_ok=True)
    return proc


def runner(output: str | None) -> object:
    def run(cmd: Sequence[str]) -> str | None:
        return output

    return run


class TestDetect:
    def test_auditd_running_is_authoritative(self, tmp_path: Path) -> None:
        """With auditd running, audit.log is the source to read."""
        log = tmp_path / "audit.log"
        shutil.copy(SAMPLES / "audit.log", log)
        d = detect(log, (), fake_proc(tmp_path, "systemd", "auditd"), runner("active\n"))  # type: ignore[arg-type]
        assert (AUDITD,) == d.recommended
        assert d.audit_log_apparmor
        assert "authoritative source:        auditd" in describe(d)

    def test_printk_goes_to_kern_log(self, tmp_path: Path) -> None:
        """Without auditd and the journald audit socket, kern.log carries printk records."""
        kern = tmp_path / "kern.log"
        shutil.copy(SAMPLES / "kern.log", kern)
        d = detect(
            tmp_path / "none.log",
            (kern,),
            fake_proc(tmp_path, "systemd"),
            runner("inactive\n"),  # type: ignore[arg-type]
        )
        assert (KERNLOG,) == d.recommended
        assert d.kern_log_apparmor

    def test_journald_audit_socket(self, tmp_path: Path) -> None:
        """Without auditd but with systemd-journald-audit.socket, journald is read."""
        d = detect(
            tmp_path / "none.log",
            (),
            fake_proc(tmp_path, "systemd-journald"),
            runner("active\n"),  # type: ignore[arg-type]
        )
        if d.journald_audit_socket is None or not d.journalctl:
            pytest.skip("systemctl or journalctl not installed")
        assert (JOURNALD,) == d.recommended


class FailingStore(CheckpointStore):
    """A checkpoint store whose writes fail, as on a full disk."""

    def save(self, positions: object) -> None:  # type: ignore[override]
        raise CheckpointError("No space left on device")


class TestCheckpointFailure:
    async def test_delivery_continues_when_the_checkpoint_cannot_be_written(
        self, tmp_path: Path
    ) -> None:
        """A failing checkpoint write is counted; records are still delivered."""
        log = tmp_path / "audit.log"
        shutil.copy(SAMPLES / "audit.log", log)
        sink = ListSink()
        cfg = CollectorConfig(idle_flush=0.05, checkpoint_interval=0.0)
        c = Collector([auditd(log)], sink, FailingStore(tmp_path / "cp.json"), HOST, cfg)
        await c.run(follow=False)
        assert 74 == len(sink.column(S.SERIAL))
        assert 0 < c.stats.checkpoint_errors
        assert 0 == c.stats.checkpoints


class TestDetectJournal:
    def test_journal_copy_is_reported(self, tmp_path: Path) -> None:
        """With auditd running and AppArmor records in the journal too, both are reported."""
        if shutil.which("journalctl") is None:
            pytest.skip("journalctl not installed")
        log = tmp_path / "audit.log"
        shutil.copy(SAMPLES / "audit.log", log)
        out = 'AVC apparmor="DENIED" operation="open"\n'
        d = detect(log, (), fake_proc(tmp_path, "auditd"), runner(out))  # type: ignore[arg-type]
        assert (AUDITD,) == d.recommended
        assert d.journal_apparmor is True
        assert any("journal also holds AppArmor" in r for r in d.reasons)


class TestAtomicWrite:
    def test_failed_rename_keeps_the_old_checkpoint(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A crash between write and rename leaves the previous checkpoint, intact."""
        import armorwatch.ingest.checkpoint as cp

        store = CheckpointStore(tmp_path / "cp.json")
        store.save({"auditd": {"offset": 1}})

        def power_cut(src: object, dst: object) -> None:
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(cp.os, "replace", power_cut)
        with pytest.raises(CheckpointError):
            store.save({"auditd": {"offset": 2}})
        monkeypatch.undo()
        assert {"auditd": {"offset": 1}} == CheckpointStore(store.path).load()
