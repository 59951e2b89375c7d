"""Issue 19: a copytruncate is a `truncated` loss row counting the bytes destroyed unread,
whether the collector was running or was started after it (from a checkpoint)."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from armorwatch.cli import main
from armorwatch.ingest.checkpoint import CheckpointStore
from armorwatch.ingest.collector import Collector
from armorwatch.ingest.tail import FileTailer
from armorwatch.parsers import schema as S
from armorwatch.sinks.store import open_store
from tests.harness.replayer import Ledger, Replayer
from tests.ingest.test_collector import FAST, HOST, ListSink, auditd
from tests.ingest.test_tail import Collected, fast, read_once


def copytruncate(r: Replayer, window: int, keep_copy: bool = True) -> tuple[int, bytes]:
    """logrotate's copytruncate: shift audit.log.N to .N+1, copy audit.log to audit.log.1,
    ``window`` events written in between (the race every tailer documents), truncate in
    place (without ``keep_copy``: only the truncation). Returns the copy's size and the
    content the file had when it was truncated."""
    held = 0
    if keep_copy:
        n = 1
        while r.log.with_name(f"audit.log.{n}").exists():
            n += 1
        for k in range(n - 1, 0, -1):
            r.log.with_name(f"audit.log.{k}").rename(r.log.with_name(f"audit.log.{k + 1}"))
        shutil.copyfile(r.log, r.log.with_name("audit.log.1"))
        held = r.log.with_name("audit.log.1").stat().st_size
    r.ledger.window.update(r.write(window))
    old = r.log.read_bytes()
    os.truncate(r.log, 0)
    return held, old


def loss_rows(sink: ListSink) -> list[tuple[str, int, str]]:
    """(kind, count, detail) of every loss row the sink acknowledged."""
    return [
        (k, c, d)
        for e in sink.envelopes
        for k, c, d in zip(
            e.loss.column(S.KIND).to_pylist(),
            e.loss.column(S.COUNT).to_pylist(),
            e.loss.column(S.DETAIL).to_pylist(),
            strict=True,
        )
    ]


def lines_of(data: bytes) -> list[bytes]:
    """Lines with their newline."""
    return data.splitlines(keepends=True)


def never_read(old: bytes, start: int, delivered: bytes) -> int:
    """Bytes of the lines of ``old`` after ``start`` that are not in ``delivered``."""
    got = set(lines_of(delivered))
    return sum(len(line) for line in lines_of(old[start:]) if line not in got)


class TestRestartAfterCopytruncate:
    @pytest.mark.parametrize("o_append", [False, True])
    async def test_collector_restart_reports_bytes_lost(
        self, tmp_path: Path, o_append: bool
    ) -> None:
        """A collector started after a copytruncate done while it was down reports one
        truncated row: the exact bytes destroyed under a writer without O_APPEND, and
        "0 bytes known lost; number of lines unknown" under an O_APPEND writer."""
        r = Replayer(tmp_path, Ledger(tmp_path / "ledger"), o_append=o_append)
        r.write(10)
        store = CheckpointStore(tmp_path / "cp.json", fsync=False)
        sink = ListSink()
        await Collector([auditd(r.log)], sink, store, HOST, FAST).run(follow=False)
        assert [] == loss_rows(sink)
        r.write(5)  # unread when the copy is made: read from the copy
        held, old = copytruncate(r, window=3)  # serials 16-18 destroyed
        r.write(4)
        await Collector([auditd(r.log)], sink, store, HOST, FAST).run(follow=False)
        rows = loss_rows(sink)
        assert [S.LOSS_TRUNCATED] == [k for k, _c, _d in rows]
        _kind, count, detail = rows[0]
        if o_append:
            # Where an O_APPEND writer was when it was truncated is recorded nowhere.
            assert 0 == count
            assert detail.startswith("0 bytes known lost; number of lines unknown")
        else:
            assert len(old) - held == count > 0
            assert detail.startswith(f"{count} bytes lost; number of lines unknown")
        assert "audit.log.1" in detail
        stored = sorted({int(s) for s in sink.column(S.SERIAL) if s is not None})  # type: ignore[call-overload]
        assert [*range(1, 16), *range(19, 23)] == stored
        assert {16, 17, 18} == r.ledger.window

    async def test_three_copytruncates_while_stopped(self, tmp_path: Path) -> None:
        """Three copytruncates (O_APPEND writer) while the collector was down: one
        truncated row each, and every line still held by a copy or the live file is read."""
        r = Replayer(tmp_path, Ledger(tmp_path / "ledger"))
        r.write(10)
        store = CheckpointStore(tmp_path / "cp.json", fsync=False)
        sink = ListSink()
        await Collector([auditd(r.log)], sink, store, HOST, FAST).run(follow=False)
        for _ in range(3):
            r.write(4)
            copytruncate(r, window=1)
        r.write(2)
        await Collector([auditd(r.log)], sink, store, HOST, FAST).run(follow=False)
        rows = loss_rows(sink)
        assert [(S.LOSS_TRUNCATED, 0)] * 3 == [(k, c) for k, c, _d in rows]
        assert all("number of lines unknown" in d for _k, _c, d in rows)
        stored = {int(s) for s in sink.column(S.SERIAL) if s is not None}  # type: ignore[call-overload]
        assert set(range(1, 28)) - r.ledger.window == stored

    async def test_checkpoint_between_copy_and_truncation(self, tmp_path: Path) -> None:
        """A checkpoint written after the copy was made but before the truncation (kill -9
        there): the rest is read from the copy and the lines after it are counted lost."""
        r = Replayer(tmp_path, Ledger(tmp_path / "ledger"), o_append=False)
        r.write(10)
        shutil.copyfile(r.log, r.log.with_name("audit.log.1"))
        r.write(2)  # after the copy: destroyed by the truncation below
        t1 = FileTailer(fast(r.log))
        chunks, _ = await read_once(t1)
        data = b"".join(c.data for c in chunks)
        cut = data.index(b"type=AVC", len(data) // 2)  # stopped before the end
        pos = t1.position(chunks[-1].segment, cut)
        assert pos is not None
        old = r.log.read_bytes()
        r.truncate()
        r.write(3)
        t2 = FileTailer(fast(r.log))
        t2.restore(pos)
        chunks2, losses = await read_once(t2)
        got = b"".join(c.data for c in chunks2)
        held = r.log.with_name("audit.log.1").stat().st_size
        assert [(S.LOSS_TRUNCATED, len(old) - held)] == [(n.kind, n.count) for n in losses]
        assert never_read(old, cut, got) == losses[0].count
        assert got.startswith(data[cut:held])
        assert 1 == t2.stats.truncations

    async def test_truncate_in_place_under_stale_writer(self, tmp_path: Path) -> None:
        """`: > audit.log` while stopped, no copy, writer without O_APPEND: the bytes after
        the checkpoint are counted lost, exactly, and the new lines are read."""
        r = Replayer(tmp_path, Ledger(tmp_path / "ledger"), o_append=False)
        r.write(10)
        t1 = FileTailer(fast(r.log))
        chunks, _ = await read_once(t1)
        end = chunks[-1].end
        pos = t1.position(chunks[-1].segment, end)
        assert pos is not None
        r.write(4)
        old = r.log.read_bytes()
        r.truncate()
        r.write(2)
        t2 = FileTailer(fast(r.log))
        t2.restore(pos)
        chunks2, losses = await read_once(t2)
        got = b"".join(c.data for c in chunks2)
        assert [(S.LOSS_TRUNCATED, len(old) - end)] == [(n.kind, n.count) for n in losses]
        assert losses[0].detail.startswith(f"{len(old) - end} bytes lost; number of lines unknown")
        assert 6 == len(lines_of(got))
        assert b"\x00" not in got


class TestFollowingCopytruncate:
    async def test_window_bytes_counted_while_following(self, tmp_path: Path) -> None:
        """A running tailer's truncated notice counts exactly the bytes it never read
        (writer without O_APPEND), whatever its polls caught of the race window."""
        r = Replayer(tmp_path, Ledger(tmp_path / "ledger"), o_append=False)
        c = Collected(FileTailer(fast(r.log)))
        r.write(10)
        await c.until(10)
        r.write(3)
        _held, old = copytruncate(r, window=4)
        r.write(2)
        await c.until_true(lambda: bool(c.losses) and c.serials()[-1:] == [19])
        await c.stop()
        assert [S.LOSS_TRUNCATED] == [n.kind for n in c.losses]
        assert never_read(old, 0, c.data) == c.losses[0].count
        assert b"\x00" not in c.data


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    before=st.integers(1, 12),
    cut=st.integers(0, 12),
    copy=st.booleans(),
    rounds=st.lists(
        st.tuples(st.integers(0, 8), st.integers(0, 8), st.integers(1, 4)), min_size=1, max_size=3
    ),
)
def test_bytes_lost_equal_bytes_never_read(
    before: int, cut: int, copy: bool, rounds: list[tuple[int, int, int]]
) -> None:
    """Wherever the truncations fall relative to the checkpoint (one to three while
    stopped, copytruncate or in place, a writer without O_APPEND that wrote again after
    each), the restarted tailer's truncated notices count exactly the bytes after the
    checkpoint that it never read."""
    cut = min(cut, before)
    with tempfile.TemporaryDirectory() as d:
        r = Replayer(Path(d), Ledger(Path(d) / "ledger"), o_append=False)
        try:
            r.write(before)
            t1 = FileTailer(fast(r.log))
            chunks, _ = asyncio.run(read_once(t1))
            data = b"".join(c.data for c in chunks)
            offset = len(b"".join(lines_of(data)[: 3 * cut]))  # 3 lines an event
            pos = t1.position(chunks[-1].segment, offset)
            after_checkpoint: list[bytes] = []
            for i, (after, window, later) in enumerate(rounds):
                r.write(after)
                _held, old = copytruncate(r, window, keep_copy=copy)
                # What the writer put in the file since the checkpoint (or the last
                # truncation, after its hole): every line the tailer should account for.
                after_checkpoint += lines_of(old[offset:] if i == 0 else old.lstrip(b"\x00"))
                new = r.write(later)
            t2 = FileTailer(fast(r.log))
            t2.restore(pos)
            chunks2, losses = asyncio.run(read_once(t2))
        finally:
            r.close()
            r.ledger.close()
    got = b"".join(c.data for c in chunks2)
    delivered = set(lines_of(got))
    assert {S.LOSS_TRUNCATED} == {n.kind for n in losses}
    assert (len(rounds) if copy else 1) == len(losses)
    unread = [line for line in after_checkpoint if line not in delivered]
    assert sum(len(line) for line in unread) == sum(n.count for n in losses)
    # With copies only the race windows are gone; without, all but the last writes.
    destroyed = 0 if copy else before - cut + sum(a + w + n for a, w, n in rounds) - rounds[-1][2]
    assert 3 * (sum(w for _a, w, _n in rounds) if copy else destroyed) == len(unread)
    assert all(f":{s})".encode() in got for s in new)
    assert b"\x00" not in got


class TestCollectCommand:
    def test_collect_once_after_copytruncate(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`armorwatch collect --once`, a copytruncate with lines written in its race
        window, `collect --once` again: the store's loss table and the summary count the
        destroyed bytes, never "loss: none"."""
        r = Replayer(tmp_path, Ledger(tmp_path / "ledger"), o_append=False)
        cfg = tmp_path / "armorwatch.toml"
        cfg.write_text(f'[collect.auditd]\npath = "{r.log}"\npoll_interval = 0.01\n')
        db, state = tmp_path / "store.duckdb", tmp_path / "state"
        argv = ["collect", "--config", str(cfg), "--once", "--source", "auditd"]
        argv += ["--state-dir", str(state), "--db", str(db)]
        r.write(20)
        assert 0 == main(argv)
        assert "loss: none" in capsys.readouterr().out
        r.write(5)
        held, old = copytruncate(r, window=3)
        r.write(4)
        assert 0 == main(argv)
        out = capsys.readouterr().out
        lost = len(old) - held
        assert f"loss: truncated={lost} bytes\n" in out
        con = open_store(db, read_only=True)
        try:
            rows = con.execute("SELECT kind, count, detail FROM loss").fetchall()
            serials = [s for (s,) in con.execute("SELECT DISTINCT serial FROM records").fetchall()]
        finally:
            con.close()
        assert [(S.LOSS_TRUNCATED, lost)] == [(k, c) for k, c, _d in rows]
        assert rows[0][2].startswith(f"{lost} bytes lost; number of lines unknown")
        assert [*range(1, 26), *range(29, 33)] == sorted(serials)
