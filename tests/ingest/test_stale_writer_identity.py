"""Issue 19: files truncated under a writer without O_APPEND all start with NUL bytes,
so a file is identified by the bytes after that NUL run (and where it ends); restarts
anywhere in a chain of copytruncate copies read every surviving line and count the
destroyed bytes of each truncation exactly once."""

from __future__ import annotations

import re
from pathlib import Path

from armorwatch.ingest.base import Chunk, LossNotice
from armorwatch.ingest.tail import FileId, FileTailer
from armorwatch.parsers import schema as S
from tests.harness.replayer import Ledger, Replayer
from tests.ingest.test_tail import fast, read_once

_SERIAL = re.compile(rb"^type=AVC msg=audit\([\d.]+:(\d+)\)", re.M)


def serials(data: bytes) -> list[int]:
    """AVC serials in ``data``, in order."""
    return [int(s) for s in _SERIAL.findall(data)]


def stale(tmp_path: Path) -> Replayer:
    """A replayer writing like a daemon without O_APPEND."""
    return Replayer(tmp_path, Ledger(tmp_path / "ledger"), o_append=False, num_logs=100)


class TestFingerprintAfterHole:
    async def test_segment_after_truncation_is_fingerprinted_after_its_hole(
        self, tmp_path: Path
    ) -> None:
        """The position of a file that starts with a stale writer's hole names where the
        hole ends and hashes the bytes after it, not the NULs every such file starts with."""
        r = stale(tmp_path)
        r.write(10)
        r.rotate("copytruncate")
        r.write(3)
        t = FileTailer(fast(r.log))
        chunks, _ = await read_once(t)
        pos = t.position(chunks[-1].segment, chunks[-1].end)
        assert pos is not None
        held, at = r.copytruncated[0]
        assert at == held == pos["fp_at"]
        assert pos["fp_len"] == 1024
        assert FileId.from_json(pos).fp_at == at

    def test_position_without_fp_at_still_restores(self) -> None:
        """A checkpoint written before fp_at existed reads as fingerprinting from byte 0."""
        fid = FileId.from_json({"dev": 1, "ino": 2, "fp_len": 3, "fp": "ab"})
        assert 0 == fid.fp_at
        assert "fp_at" not in fid.to_json()


class TestRestartInStaleWriterChain:
    async def test_three_copytruncates_after_a_checkpoint_at_a_segment_start(
        self, tmp_path: Path
    ) -> None:
        """A checkpoint at the start of the segment after a truncation, then three
        copytruncates while stopped: every line outside the race windows is read and each
        truncation is one row counting its window's bytes."""
        r = stale(tmp_path)
        r.write(10)
        r.rotate("copytruncate", window_events=2)
        r.write(10)
        t1 = FileTailer(fast(r.log))
        chunks, _ = await read_once(t1)
        pos = t1.position(chunks[-1].segment, 0)  # nothing of this segment acknowledged
        for _ in range(3):
            r.write(5)
            r.rotate("copytruncate", window_events=2)
        r.write(5)
        t2 = FileTailer(fast(r.log))
        t2.restore(pos)
        chunks2, losses = await read_once(t2)
        got = set(serials(b"".join(c.data for c in chunks2)))
        assert set(range(13, 49)) - r.ledger.window == got
        want = [(S.LOSS_TRUNCATED, at - held) for held, at in r.copytruncated[1:]]
        assert want == [(n.kind, n.count) for n in losses]
        assert all(n.count > 0 for n in losses)

    async def test_restart_inside_a_copy_counts_the_later_truncations(self, tmp_path: Path) -> None:
        """A checkpoint inside a copy (the collector was catching up through the copies)
        and more copytruncates since: walking on to newer copies and the live file counts
        each truncation from the stale writer's hole that starts the next file."""
        r = stale(tmp_path)
        r.write(10)
        for _ in range(2):
            r.rotate("copytruncate", window_events=1)
            r.write(10)
        # Copies: audit.log.2 (serials 1-10), audit.log.1 (hole, 12-21); live: 23-32.
        t1 = FileTailer(fast(r.log, backfill=True))
        chunks, _ = await read_once(t1)
        in_copy = [c for c in chunks if c.data.startswith(b"type=AVC") and b":15)" in c.data]
        assert in_copy
        pos = t1.position(in_copy[0].segment, in_copy[0].offset)
        assert pos is not None
        assert (tmp_path / "audit.log.1").stat().st_ino == pos["ino"]
        r.rotate("copytruncate", window_events=2)
        r.write(4)
        t2 = FileTailer(fast(r.log))
        t2.restore(pos)
        chunks2, losses = await read_once(t2)
        got = set(serials(b"".join(c.data for c in chunks2)))
        assert set(range(12, 39)) - r.ledger.window <= got
        assert not got & r.ledger.window
        want = [(S.LOSS_TRUNCATED, at - held) for held, at in r.copytruncated[1:]]
        assert want == [(n.kind, n.count) for n in losses]


class TestOAppendChainAcrossRestarts:
    async def test_pending_copytruncate_links_survive_a_restart(self, tmp_path: Path) -> None:
        """Copytruncates (O_APPEND writer) found at restart are reported as the reading
        passes each copy; a position taken halfway through still names the links left,
        so a second restart reports those and not the ones already passed."""
        r = Replayer(tmp_path, Ledger(tmp_path / "ledger"))
        r.write(10)
        t1 = FileTailer(fast(r.log))
        chunks, _ = await read_once(t1)
        pos = t1.position(chunks[-1].segment, chunks[-1].end)
        for _ in range(3):
            r.write(4)
            r.rotate("copytruncate", window_events=1)
        r.write(2)
        t2 = FileTailer(fast(r.log))
        t2.restore(pos)
        notices: list[LossNotice] = []
        async for item in t2.items(follow=False):
            if isinstance(item, LossNotice):
                notices.append(item)
            elif notices:  # the start mark of the file after the first copy: stop here
                break
        assert [(S.LOSS_TRUNCATED, 0)] == [(n.kind, n.count) for n in notices]
        assert isinstance(item, Chunk) and not item.data
        pos2 = t2.position(item.segment, 0)
        await t2.aclose()
        assert pos2 is not None and len(pos2["ct"]) == 2
        t3 = FileTailer(fast(r.log))
        t3.restore(pos2)
        _chunks3, losses3 = await read_once(t3)
        assert [(S.LOSS_TRUNCATED, 0)] * 2 == [(n.kind, n.count) for n in losses3]
