"""Loss rows are made of the data, never of the read or the clock: re-reads store each once."""

from __future__ import annotations

import random
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from armorwatch.ingest.base import Chunk, Item, LossNotice
from armorwatch.ingest.checkpoint import CheckpointStore
from armorwatch.ingest.collector import Collector, CollectorConfig
from armorwatch.ingest.tail import FileTailer, TailConfig
from armorwatch.parsers import schema as S
from armorwatch.parsers.result import HostInfo
from armorwatch.parsers.stream import ENGINES, Parser
from tests.ingest.test_reject_loss import UNDATED, CutSource, LossSink, record, truncated

HOST = HostInfo("h1")
FAST = CollectorConfig(idle_flush=5.0, checkpoint_interval=0.0)
KIND = S.LOSS_SCHEMA.names.index(S.KIND)
COUNT = S.LOSS_SCHEMA.names.index(S.COUNT)
TS = S.LOSS_SCHEMA.names.index(S.TS)


def junk(rnd: random.Random, size: int) -> bytes:
    """One line of binary junk (control bytes no log text has), ``size`` bytes and a newline."""
    return rnd.randbytes(size).replace(b"\n", b"\x01") + b"\x00\n"


def stream(kinds: list[str], seed: int, junk_size: int = 60) -> bytes:
    """Lines of the given kinds in order: records, rejected lines (dated or not), junk."""
    rnd = random.Random(seed)
    lines = []
    for i, kind in enumerate(kinds, start=1):
        if kind == "junk":
            lines.append(junk(rnd, junk_size))
        else:
            line = {"record": record, "truncated": truncated}.get(kind, lambda _: UNDATED)(i)
            lines.append(line + b"\n")
    return b"".join(lines)


KINDS = st.lists(st.sampled_from(["record", "truncated", "undated", "junk", "junk"]), max_size=40)


def parse_loss(data: bytes, cuts: list[int], engine: str, every: int) -> list[dict[str, Any]]:
    """The parser's loss rows for ``data`` read in pieces cut at ``cuts`` (any byte)."""
    p = Parser(S.SOURCE_AUDITLOG, HOST, engine=engine, junk_report_bytes=every)
    rows: list[dict[str, Any]] = []
    at = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        if cut > at:
            rows += p.feed(data[at:cut], at).loss.to_pylist()
            at = cut
    return rows + p.flush().loss.to_pylist()


class TestJunkRowsAreOfTheContent:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        KINDS,
        st.integers(0, 1000),
        st.lists(st.integers(0, 4000), max_size=12),
        st.sampled_from([64, 300, 1000]),
    )
    def test_any_read_cuts_give_the_rows_of_one_read(
        self, kinds: list[str], seed: int, cuts: list[int], every: int
    ) -> None:
        """Whatever the read sizes and engine, the junk rows (count, position, time) equal
        those of one whole read, and together count each junk line once."""
        data = stream(kinds, seed)
        whole = parse_loss(data, [], "python", every)
        for engine in ENGINES:
            assert whole == parse_loss(data, [c % (len(data) + 1) for c in cuts], engine, every)
        assert kinds.count("junk") == sum(r[S.COUNT] for r in whole)
        assert all(r[S.KIND] == S.LOSS_PARSE_REJECT for r in whole)

    def test_rows_name_stream_offsets_not_reads(self) -> None:
        """A junk row names the stream offset it was counted up to (a multiple of the
        report size), the same for 4 KiB and 1 MiB reads of 3 MiB of junk."""
        data = b"".join(junk(random.Random(i), 500) for i in range(6000))
        small = parse_loss(data, list(range(0, len(data), 4096)), "c", 1 << 20)
        big = parse_loss(data, list(range(0, len(data), 1 << 20)), "c", 1 << 20)
        assert small == big
        assert [f"before byte {n << 20} " for n in (1, 2)] == [
            r[S.DETAIL][r[S.DETAIL].index("before") :][: len(f"before byte {n << 20} ")]
            for n, r in zip((1, 2), small, strict=False)
        ]


Runs = list[tuple[list[int], int | None]]


async def collect_loss(data: bytes, runs: Runs) -> set[tuple[Any, ...]]:
    """The distinct loss rows (as the store keys them) of consecutive collector runs over
    ``data`` sharing one checkpoint (each run: its cut points and where it stops)."""
    sink = LossSink()
    with tempfile.TemporaryDirectory() as tmp:
        cp = CheckpointStore(Path(tmp) / "cp.json")
        for cuts, stop in runs:
            await Collector([CutSource(data, cuts, stop)], sink, cp, HOST, FAST).run(follow=False)
    return set(sink.rows)


@st.composite
def scenario(draw: st.DrawFn) -> tuple[list[str], int, int, Runs]:
    """Line kinds, the junk's seed and line size (some 70 kB lines cross the parser's 1 MiB
    report offsets), and consecutive runs: cut points and where each stops."""
    kinds, seed = draw(KINDS), draw(st.integers(0, 1000))
    size = draw(st.sampled_from([60, 70_000]))
    data = stream(kinds, seed, size)
    ends = [i + 1 for i, b in enumerate(data) if b == 0x0A]
    cuts = st.lists(st.sampled_from(ends), max_size=6) if ends else st.just([])
    stops = draw(st.lists(st.sampled_from(ends), max_size=3)) if ends else []
    runs: Runs = [(draw(cuts), s) for s in sorted(stops)]
    return kinds, seed, size, [*runs, (draw(cuts), None)]


class TestCollectorLossOnce:
    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(scenario())
    async def test_cuts_restarts_and_reruns_store_each_loss_once(
        self, case: tuple[list[str], int, int, Runs]
    ) -> None:
        """Read cuts give the rows of one uncut read and a re-run adds none; with restarts
        too, every junk line and every rejected line is counted once."""
        kinds, seed, size, runs = case
        data = stream(kinds, seed, size)
        whole = await collect_loss(data, [([], None)])
        assert whole == await collect_loss(data, [([], None), ([], None)])  # a re-run
        assert whole == await collect_loss(data, [(runs[-1][0], None)])  # other cuts
        restarted = await collect_loss(data, runs)
        detail = S.LOSS_SCHEMA.names.index(S.DETAIL)
        for rows in (whole, restarted):
            rejects = [r for r in rows if "rejected by the parser" in r[detail]]
            assert len(kinds) - kinds.count("record") - kinds.count("junk") == len(rejects)
            assert kinds.count("junk") == sum(r[COUNT] for r in rows if r not in rejects)

    async def test_undated_first_line_is_dated_the_same_every_run(self) -> None:
        """A rejected line with no event time before it gets no time (not the clock), so
        two runs make one row."""
        data = UNDATED + b"\n" + record(2) + b"\n"
        first = await collect_loss(data, [([], None)])
        assert first == await collect_loss(data, [([], None)])
        (row,) = first
        assert row[TS] is None


class NoticeSource:
    """A source that says it cannot read its file (``notice``), then hands over ``data``."""

    name = "audit"
    source = S.SOURCE_AUDITLOG
    framing = "audit"
    kernel_tag = False

    def __init__(self, data: bytes, notice: LossNotice) -> None:
        self.data = data
        self.notice = notice
        self.start = 0

    def restore(self, position: Mapping[str, Any] | None) -> None:
        self.start = int(position["offset"]) if position else 0

    async def items(self, follow: bool = True) -> AsyncIterator[Item]:
        if self.start < len(self.data):
            yield Chunk(self.data[self.start :], self.start, 0)
        yield self.notice

    def position(self, segment: int, safe_offset: int) -> dict[str, Any] | None:
        return {"path": "/var/log/audit/audit.log", "dev": 1, "ino": 2, "offset": safe_offset}

    async def aclose(self) -> None:
        return None


class TestNoticesAreDatedByTheData:
    async def test_blind_source_noticed_again_is_one_row(self) -> None:
        """source_blind noticed on every run (a re-run, a restart past the data) is dated
        by the last event time read before it: the same row each time."""
        data = record(7) + b"\n"
        notice = LossNotice(S.LOSS_SOURCE_BLIND, 1, "Cannot read /x: denied.", ts=123)
        sink = LossSink()
        with tempfile.TemporaryDirectory() as tmp:
            cp = CheckpointStore(Path(tmp) / "cp.json")
            for _ in range(3):
                await Collector([NoticeSource(data, notice)], sink, cp, HOST, FAST).run(
                    follow=False
                )
        rows = {r for r in sink.rows if r[KIND] == S.LOSS_SOURCE_BLIND}
        assert 1 == len(rows)
        assert 1763874806_007 == round(next(iter(rows))[TS].timestamp() * 1000)

    async def test_notice_without_data_takes_the_source_time(self) -> None:
        """With no event read before it, the notice's own time from the data (``ts``)
        dates it; with none either, it stays undated (null), never the clock."""
        for ts, want in ((1700000000123, 1700000000123), (None, None)):
            notice = LossNotice(S.LOSS_JOURNAL_CURSOR_GAP, 1, "The stored cursor is gone.", ts=ts)
            sink = LossSink()
            with tempfile.TemporaryDirectory() as tmp:
                cp = CheckpointStore(Path(tmp) / "cp.json")
                await Collector([NoticeSource(b"", notice)], sink, cp, HOST, FAST).run(follow=False)
            ((got,),) = [[r[TS] for r in sink.rows if r[KIND] == S.LOSS_JOURNAL_CURSOR_GAP]]
            assert want == (None if got is None else round(got.timestamp() * 1000))

    async def test_unreadable_file_is_dated_by_its_mtime(self, tmp_path: Path) -> None:
        """The tailer's source_blind notice carries the unreadable path's mtime."""
        path = tmp_path / "audit.log"
        path.mkdir()  # opening a directory fails even for root
        tailer = FileTailer(TailConfig(path=path, poll_interval=0.01))
        got = [item async for item in tailer.items(follow=False)]
        (notice,) = [n for n in got if isinstance(n, LossNotice)]
        assert S.LOSS_SOURCE_BLIND == notice.kind
        assert path.stat().st_mtime_ns // 1_000_000 == notice.ts
