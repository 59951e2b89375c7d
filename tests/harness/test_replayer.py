"""The replayer writes and rotates like auditd and logrotate, and its ledger is exact."""

from __future__ import annotations

from pathlib import Path

from tests.harness.checker import check
from tests.harness.replayer import Ledger, Replayer


def _serials_in(paths: list[Path]) -> list[int]:
    out = []
    for p in paths:
        for line in p.read_bytes().split(b"\n"):
            if line.startswith(b"type=AVC"):
                out.append(int(line.split(b":", 2)[1].split(b")")[0]))
    return out


class TestReplayer:
    def test_auditd_rotation_keeps_every_event_in_some_file(self, tmp_path: Path) -> None:
        """After rename rotations, audit.log and its .N files hold exactly the ledger."""
        ledger = Ledger(tmp_path / "ledger")
        r = Replayer(tmp_path, ledger, num_logs=5)
        for _ in range(3):
            r.write(10)
            r.rotate("auditd")
        r.write(5)
        r.close()
        ledger.close()
        files = sorted(tmp_path.glob("audit.log*"))
        assert 4 == len(files)
        assert Ledger.read(tmp_path / "ledger") == sorted(_serials_in(files))

    def test_rotation_beyond_num_logs_deletes_the_oldest(self, tmp_path: Path) -> None:
        """With num_logs=2 only audit.log and audit.log.1 survive, as with auditd."""
        ledger = Ledger(tmp_path / "ledger")
        r = Replayer(tmp_path, ledger, num_logs=2)
        for _ in range(3):
            r.write(2)
            r.rotate("auditd")
        r.close()
        assert ["audit.log", "audit.log.1"] == sorted(p.name for p in tmp_path.glob("audit.log*"))

    def test_copytruncate_window_is_marked(self, tmp_path: Path) -> None:
        """Events written between copy and truncate are in the ledger's window and in no file."""
        ledger = Ledger(tmp_path / "ledger")
        r = Replayer(tmp_path, ledger)
        r.write(3)
        r.rotate("copytruncate", window_events=2)
        r.write(1)
        r.close()
        on_disk = _serials_in(sorted(tmp_path.glob("audit.log*")))
        verdict = check(Ledger.read(tmp_path / "ledger"), on_disk, frozenset(ledger.window))
        assert {4, 5} == ledger.window
        assert () == verdict.lost

    def test_stale_writer_leaves_a_nul_hole(self, tmp_path: Path) -> None:
        """Without O_APPEND the writer continues at its old offset after a truncation."""
        r = Replayer(tmp_path, Ledger(tmp_path / "ledger"), o_append=False)
        r.write(2)
        size = r.log.stat().st_size
        r.rotate("copytruncate")
        r.write(1)
        r.close()
        data = r.log.read_bytes()
        assert b"\0" * size == data[:size]
