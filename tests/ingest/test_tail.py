"""The file-tailing core with real files: rotation, truncation, deletion, inode reuse."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import re
import shutil
from pathlib import Path

from armorwatch.ingest.base import Chunk, LossNotice
from armorwatch.ingest.tail import FileTailer, TailConfig
from armorwatch.parsers import schema as S
from tests.harness.replayer import Ledger, Replayer

_AVC = re.compile(rb"^type=AVC msg=audit\([\d.]+:(\d+)\)", re.M)


def fast(path: Path, **kw: object) -> TailConfig:
    """A tail config that polls quickly for tests."""
    return TailConfig(path=path, poll_interval=0.01, rotate_wait=0.05, **kw)  # type: ignore[arg-type]


class Collected:
    """Follows a tailer in a background task and keeps what it yielded."""

    def __init__(self, tailer: FileTailer) -> None:
        self.tailer = tailer
        self.chunks: list[Chunk] = []
        self.losses: list[LossNotice] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for item in self.tailer.items(follow=True):
            if isinstance(item, Chunk):
                if item.data:  # empty chunks only mark where a segment starts
                    self.chunks.append(item)
            else:
                self.losses.append(item)

    @property
    def data(self) -> bytes:
        return b"".join(c.data for c in self.chunks)

    def serials(self) -> list[int]:
        return [int(m) for m in _AVC.findall(self.data)]

    async def until(self, serials: int, timeout: float = 5.0) -> None:
        """Wait until ``serials`` AVC lines arrived (or time out)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.serials()) < serials and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)

    async def until_true(self, cond: object, timeout: float = 5.0) -> None:
        """Wait until ``cond()`` holds (or time out)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not cond() and loop.time() < deadline:  # type: ignore[operator]
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        await self.tailer.aclose()
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def read_once(tailer: FileTailer) -> tuple[list[Chunk], list[LossNotice]]:
    """Everything a tailer yields up to the current end (follow=False)."""
    chunks: list[Chunk] = []
    losses: list[LossNotice] = []
    async for item in tailer.items(follow=False):
        if isinstance(item, LossNotice):
            losses.append(item)
        elif item.data:  # empty chunks only mark where a segment starts
            chunks.append(item)
    return chunks, losses


def serials_of(chunks: list[Chunk]) -> list[int]:
    return [int(m) for m in _AVC.findall(b"".join(c.data for c in chunks))]


def make(tmp_path: Path, **kw: object) -> Replayer:
    return Replayer(tmp_path, Ledger(tmp_path / "ledger"), **kw)  # type: ignore[arg-type]


class TestFollow:
    async def test_partial_line_held_until_complete(self, tmp_path: Path) -> None:
        """A line without its newline is not emitted until the newline is written."""
        log = tmp_path / "audit.log"
        log.write_bytes(b"line one\nline tw")
        c = Collected(FileTailer(fast(log)))
        await c.until_true(lambda: c.data)
        await asyncio.sleep(0.05)  # several polls: the partial line must stay held
        assert b"line one\n" == c.data
        with log.open("ab") as f:
            f.write(b"o\n")
        await c.until_true(lambda: c.data.endswith(b"two\n"))
        await c.stop()
        assert b"line one\nline two\n" == c.data

    async def test_rotation_while_writing_loses_nothing(self, tmp_path: Path) -> None:
        """auditd-style rename rotations during writing: every serial arrives exactly once."""
        r = make(tmp_path, num_logs=50)
        c = Collected(FileTailer(fast(r.log)))
        for i in range(20):
            r.write(25)
            if i % 3 == 2:
                r.rotate("auditd")
            await asyncio.sleep(0.005)
        await c.until(500)
        await c.stop()
        assert list(range(1, 501)) == c.serials()
        assert 6 == c.tailer.stats.rotations

    async def test_fast_rotation_reads_intermediate_files(self, tmp_path: Path) -> None:
        """Two rotations between polls: the file rotated in between is read too, in order."""
        r = make(tmp_path)
        tailer = FileTailer(TailConfig(path=r.log, poll_interval=0.2, rotate_wait=0.0))
        c = Collected(tailer)
        r.write(10)
        await c.until(10)
        r.write(10)
        r.rotate("auditd")
        r.write(10)
        r.rotate("auditd")
        r.write(10)
        await c.until(40)
        await c.stop()
        assert list(range(1, 41)) == c.serials()

    async def test_copytruncate_with_stale_writer(self, tmp_path: Path) -> None:
        """copytruncate with a writer lacking O_APPEND: no NUL reaches the output, no loss."""
        r = make(tmp_path, o_append=False)
        c = Collected(FileTailer(fast(r.log)))
        for i in range(5):
            r.write(20)
            await c.until(35 * i + 20)
            r.write(5)
            r.rotate("copytruncate")
            r.write(10)
            # One truncation per poll: two between polls is a documented limit.
            await c.until_true(lambda i=i: c.tailer.stats.truncations == i + 1)
        await c.until(175)
        await c.stop()
        assert b"\x00" not in c.data
        assert list(range(1, 176)) == sorted(set(c.serials()))
        assert 5 == c.tailer.stats.truncations
        assert [S.LOSS_TRUNCATED] * 5 == [n.kind for n in c.losses]
        # Nothing was written between copy and truncation: the stale writer's offset
        # proves that no byte was lost.
        assert [0] * 5 == [n.count for n in c.losses]
        assert all(n.detail.startswith("0 bytes lost, 0 lines") for n in c.losses)

    async def test_truncate_in_place_then_append(self, tmp_path: Path) -> None:
        """After `: > audit.log` every line written afterwards is delivered."""
        r = make(tmp_path)
        c = Collected(FileTailer(fast(r.log)))
        r.write(30)
        await c.until(30)
        r.truncate()
        await asyncio.sleep(0.05)
        r.write(5)
        await c.until(35)
        await c.stop()
        assert list(range(1, 36)) == c.serials()
        assert 1 == c.tailer.stats.truncations

    async def test_delete_and_recreate(self, tmp_path: Path) -> None:
        """A deleted file is drained and the recreated one read from its start."""
        r = make(tmp_path)
        c = Collected(FileTailer(fast(r.log)))
        r.write(10)
        await c.until(10)
        r.delete_and_recreate()
        r.write(10)
        await c.until(20)
        await c.stop()
        assert list(range(1, 21)) == c.serials()

    async def test_long_line_is_cut_not_fatal(self, tmp_path: Path) -> None:
        """A line above max_line_bytes is cut and counted; reading goes on."""
        log = tmp_path / "audit.log"
        log.write_bytes(b"x" * 2500 + b"\nshort\n")
        c = Collected(FileTailer(fast(log, max_line_bytes=1000)))
        await c.until_true(lambda: c.data.endswith(b"\nshort\n"))
        await c.stop()
        assert 2 == c.tailer.stats.long_lines
        assert c.data.endswith(b"\nshort\n")
        assert 2500 + 7 == c.chunks[-1].end

    async def test_unreadable_then_readable(self, tmp_path: Path) -> None:
        """A file that cannot be opened is reported blind once, then read when it can be."""
        log = tmp_path / "audit.log"
        if os.geteuid() == 0:
            # root ignores file modes: make the path a directory instead, then a file.
            log.mkdir()
            c = Collected(FileTailer(fast(log)))
            await c.until_true(lambda: c.losses)
            log.rmdir()
        else:
            log.write_bytes(b"")
            log.chmod(0)
            c = Collected(FileTailer(fast(log)))
            await c.until_true(lambda: c.losses)
            log.chmod(0o600)
        log.write_bytes(b"hello\n")
        await c.until_true(lambda: c.data)
        await c.stop()
        assert b"hello\n" == c.data
        assert [S.LOSS_SOURCE_BLIND] == [n.kind for n in c.losses]


class TestRestart:
    async def test_resume_in_rotated_file_then_newer(self, tmp_path: Path) -> None:
        """Stopped at a position, three rotations later: the rest of .3, then .2, .1, live."""
        r = make(tmp_path)
        r.write(10)
        t1 = FileTailer(fast(r.log))
        chunks, _ = await read_once(t1)
        data = b"".join(c.data for c in chunks)
        cut = data.index(b"type=AVC", 1000)  # stopped in the middle of the file
        pos = t1.position(chunks[-1].segment, cut)
        assert pos is not None
        done = serials_of([Chunk(data[:cut], 0, 0)])
        for _ in range(3):
            r.write(10)
            r.rotate("auditd")
        r.write(10)
        t2 = FileTailer(fast(r.log))
        t2.restore(pos)
        chunks2, losses = await read_once(t2)
        assert [] == losses
        assert list(range(1, 51)) == sorted(set(done + serials_of(chunks2)))
        assert len(serials_of(chunks2)) + len(done) - 50 <= 1

    async def test_rotated_away_unread_is_reported(self, tmp_path: Path) -> None:
        """When the checkpointed file is gone, loss is reported and the rest is read."""
        r = make(tmp_path, num_logs=2)
        r.write(10)
        t1 = FileTailer(fast(r.log))
        chunks, _ = await read_once(t1)
        pos = t1.position(chunks[0].segment, 0)
        for _ in range(3):
            r.write(10)
            r.rotate("auditd")
        r.write(10)
        t2 = FileTailer(fast(r.log))
        t2.restore(pos)
        chunks2, losses = await read_once(t2)
        assert [S.LOSS_ROTATED_AWAY] == [n.kind for n in losses]
        assert list(range(31, 51)) == serials_of(chunks2)

    async def test_inode_reuse_is_a_new_file(self, tmp_path: Path) -> None:
        """Same device and inode but other first bytes: read from the start, nothing skipped."""
        log = tmp_path / "audit.log"
        log.write_bytes(b"first file line\n")
        t1 = FileTailer(fast(log))
        chunks, _ = await read_once(t1)
        pos = t1.position(chunks[-1].segment, chunks[-1].end)
        assert pos is not None
        # Rewrite in place: same inode, different, longer content (inode reuse seen by us).
        with log.open("r+b") as f:
            f.write(b"second file, longer content\nmore\n")
        t2 = FileTailer(fast(log))
        t2.restore(pos)
        chunks2, losses = await read_once(t2)
        assert b"second file, longer content\nmore\n" == b"".join(c.data for c in chunks2)
        assert [S.LOSS_ROTATED_AWAY] == [n.kind for n in losses]

    async def test_file_shorter_than_fingerprint(self, tmp_path: Path) -> None:
        """A 3-byte file is read, checkpointed and resumed without re-reading."""
        log = tmp_path / "audit.log"
        log.write_bytes(b"ab\n")
        t1 = FileTailer(fast(log))
        chunks, _ = await read_once(t1)
        assert b"ab\n" == chunks[0].data
        pos = t1.position(chunks[0].segment, chunks[0].end)
        with log.open("ab") as f:
            f.write(b"cd\n")
        t2 = FileTailer(fast(log))
        t2.restore(pos)
        chunks2, _ = await read_once(t2)
        assert b"cd\n" == b"".join(c.data for c in chunks2)

    async def test_identical_headers_are_two_files(self, tmp_path: Path) -> None:
        """Two files with the same first KiB but different inodes are not confused."""
        header = b"#" * 2000 + b"\n"
        log = tmp_path / "audit.log"
        log.write_bytes(header + b"old\n")
        t1 = FileTailer(fast(log))
        chunks, _ = await read_once(t1)
        pos = t1.position(chunks[-1].segment, chunks[-1].end)
        log.rename(tmp_path / "audit.log.1")
        log.write_bytes(header + b"new\n")
        t2 = FileTailer(fast(log))
        t2.restore(pos)
        chunks2, _ = await read_once(t2)
        assert header + b"new\n" == b"".join(c.data for c in chunks2)

    async def test_backfill_reads_gz_oldest_first(self, tmp_path: Path) -> None:
        """First start with backfill: .3.gz, .2.gz, .1, then the live file, in order."""
        r = make(tmp_path)
        for _ in range(3):
            r.write(10)
            r.rotate("auditd")
        r.write(10)
        for n in (2, 3):
            p = tmp_path / f"audit.log.{n}"
            with p.open("rb") as src, gzip.open(f"{p}.gz", "wb") as dst:
                shutil.copyfileobj(src, dst)
            p.unlink()
        chunks, losses = await read_once(FileTailer(fast(r.log, backfill=True)))
        assert [] == losses
        assert list(range(1, 41)) == serials_of(chunks)

    async def test_start_at_end(self, tmp_path: Path) -> None:
        """start_at=end skips what is already in the file but keeps a partial last line."""
        log = tmp_path / "audit.log"
        log.write_bytes(b"old\nparti")
        c = Collected(FileTailer(fast(log, start_at="end")))
        await c.until_true(lambda: c.tailer.stats.files_opened)
        with log.open("ab") as f:
            f.write(b"al\nnew\n")
        await c.until_true(lambda: c.data.endswith(b"new\n"))
        await c.stop()
        assert b"partial\nnew\n" == c.data


class TestRestartThenFollow:
    async def test_stale_writer_copytruncate_after_restore(self, tmp_path: Path) -> None:
        """A live file reached through a restored position still detects stale-writer holes."""
        r = make(tmp_path, o_append=False)
        r.write(10)
        t1 = FileTailer(fast(r.log))
        chunks, _ = await read_once(t1)
        pos = t1.position(chunks[-1].segment, chunks[-1].end)
        r.write(10)
        t2 = FileTailer(fast(r.log))
        t2.restore(pos)
        c = Collected(t2)
        await c.until(10)
        for i in range(3):
            r.write(5)
            r.rotate("copytruncate")
            r.write(5)
            await c.until_true(lambda i=i: c.tailer.stats.truncations == i + 1)
        await c.until(40)
        await c.stop()
        assert b"\x00" not in c.data
        assert list(range(11, 51)) == sorted(set(c.serials()))
