"""Parser API: samples, chunking, partial lines, event grouping, safe_offset."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from armorwatch.parsers import fast
from armorwatch.parsers import records as R
from armorwatch.parsers import schema as S
from armorwatch.parsers.result import HostInfo
from armorwatch.parsers.stream import Parser, parse_bytes

SAMPLES = Path(__file__).resolve().parents[2] / "armorwatch" / "samples"


def _rows(batch: pa.RecordBatch) -> list[dict[str, object]]:
    return [{k: v for k, v in r.items() if v is not None} for r in batch.to_pylist()]


def _feed_in_pieces(data: bytes, size: int) -> tuple[list[dict[str, object]], int]:
    p = Parser(S.SOURCE_AUDITLOG, year=2025)
    rows: list[dict[str, object]] = []
    rejects = 0
    for i in range(0, len(data), size):
        r = p.feed(data[i : i + size], i)
        rows += _rows(r.records)
        rejects += r.rejects.num_rows
    r = p.flush()
    rows += _rows(r.records)
    return rows, rejects + r.rejects.num_rows


class TestSamples:
    def test_audit_log_sample(self) -> None:
        """The bundled audit.log yields its 74 MAC records and dead-letters the truncated one."""
        r = parse_bytes((SAMPLES / "audit.log").read_bytes(), S.SOURCE_AUDITLOG, year=2025)
        assert 74 == r.records.num_rows
        assert ["truncated"] == [x.split()[0] for x in r.rejects.column(S.REASON).to_pylist()]

    def test_kern_log_sample(self) -> None:
        """The bundled kern.log parses without rejects and reports the suppressed callbacks."""
        r = parse_bytes((SAMPLES / "kern.log").read_bytes(), S.SOURCE_KERNLOG, year=2025)
        assert (13, 0) == (r.records.num_rows, r.rejects.num_rows)
        assert [(S.LOSS_CALLBACKS_SUPPRESSED, 7)] == [
            (x[S.KIND], x[S.COUNT]) for x in r.loss.to_pylist()
        ]

    def test_journal_sample(self) -> None:
        """The bundled journal parses without rejects; the forged syslog AVC is user space."""
        r = parse_bytes((SAMPLES / "journal.json").read_bytes(), S.SOURCE_JOURNALD)
        assert (10, 0) == (r.records.num_rows, r.rejects.num_rows)
        origins = r.records.column(S.ORIGIN).to_pylist()
        assert 1 == origins.count(S.ORIGIN_USERSPACE)
        assert [(S.LOSS_JOURNALD_SUPPRESSED, 1432)] == [
            (x[S.KIND], x[S.COUNT]) for x in r.loss.to_pylist()
        ]

    def test_schema_is_exact(self) -> None:
        """Every result batch has exactly the published schemas, metadata included."""
        r = parse_bytes((SAMPLES / "audit.log").read_bytes(), S.SOURCE_AUDITLOG, year=2025)
        assert r.records.schema.equals(S.MAC_SCHEMA, check_metadata=True)
        assert r.rejects.schema.equals(S.REJECT_SCHEMA, check_metadata=True)
        assert r.loss.schema.equals(S.LOSS_SCHEMA, check_metadata=True)


class TestChunking:
    def test_any_chunk_size_gives_the_same_records(self) -> None:
        """Feeding the sample in pieces of any size gives the records of one whole feed."""
        data = (SAMPLES / "audit.log").read_bytes()
        whole, _ = _feed_in_pieces(data, len(data))
        for size in (13, 100, 4096):
            assert whole == _feed_in_pieces(data, size)[0]

    def test_partial_line_is_held(self) -> None:
        """A line without its newline yields nothing until the rest arrives."""
        line = (
            b'type=AVC msg=audit(1.000:5): apparmor="DENIED" operation="open" '
            b'profile="p" name="/x" pid=1 comm="c" requested_mask="r" denied_mask="r"\n'
        )
        p = Parser(S.SOURCE_AUDITLOG)
        first = p.feed(line[:30], 0)
        assert (0, 0) == (first.records.num_rows, first.lines)
        p.feed(line[30:], 30)
        assert 1 == p.flush().records.num_rows

    def test_safe_offset_stops_before_an_open_event(self) -> None:
        """safe_offset stays at the AVC until its PROCTITLE ends the event."""
        avc = (
            b'type=AVC msg=audit(10.000:7): apparmor="DENIED" operation="open" '
            b'profile="p" name="/x" pid=1 comm="c" requested_mask="r" denied_mask="r"\n'
        )
        sc = b'type=SYSCALL msg=audit(10.000:7): syscall=2 exe="/bin/c" uid=0 auid=7\n'
        pt = b"type=PROCTITLE msg=audit(10.000:7): proctitle=6300782079\n"
        p = Parser(S.SOURCE_AUDITLOG, HostInfo(host="h"))
        r1 = p.feed(avc + sc, 0)
        assert (0, 0) == (r1.records.num_rows, r1.safe_offset)
        r2 = p.feed(pt, len(avc + sc))
        assert len(avc + sc + pt) == r2.safe_offset
        row = _rows(r2.records)[0]
        assert ("/bin/c", "2", 0, 7, "c x y") == (
            row[S.EXE],
            row[S.SYSCALL],
            row[S.UID],
            row[S.AUID],
            row[S.PROCTITLE],
        )


class TestLongLines:
    @pytest.mark.parametrize("engine", ["python", "c"] if fast.available() else ["python"])
    def test_unterminated_line_is_cut_and_skipped(self, engine: str) -> None:
        """A record-like line that never ends is dead-lettered at 1 MiB; the next line parses."""
        p = Parser(S.SOURCE_AUDITLOG, engine=engine)
        start = b'type=AVC msg=audit(1.000:4): apparmor="DENIED" operation="open" name="'
        junk = b"A" * (600 << 10)
        r1, r2 = p.feed(start + junk, 0), p.feed(junk, len(start + junk))
        assert (0, 1) == (r1.rejects.num_rows, r2.rejects.num_rows)
        assert (1 << 20) == len(r2.rejects.column(S.RAW)[0].as_py())
        assert [R.R_TOO_LONG] == r2.rejects.column(S.REASON).to_pylist()
        avc = (
            b'type=AVC msg=audit(1.000:5): apparmor="DENIED" operation="open" profile="p" '
            b'name="/x" pid=1 comm="c" requested_mask="r" denied_mask="r"\n'
        )
        r3 = p.feed(junk + b"\n" + avc, len(start) + 2 * len(junk))
        assert (0, 1) == (r3.rejects.num_rows, r3.records.num_rows + p.flush().records.num_rows)

    @pytest.mark.parametrize("engine", ["python", "c"] if fast.available() else ["python"])
    def test_unterminated_nul_region_is_counted_as_junk(self, engine: str) -> None:
        """A NUL region that never ends is counted as junk (all its bytes), not dead-lettered."""
        p = Parser(S.SOURCE_AUDITLOG, engine=engine)
        junk = b"\0" * (600 << 10)
        results = [p.feed(junk, 0), p.feed(junk, len(junk)), p.feed(junk + b"\n", 2 * len(junk))]
        results.append(p.flush())
        assert 0 == sum(r.rejects.num_rows for r in results)
        loss = [row for r in results for row in r.loss.to_pylist()]
        assert [(S.LOSS_PARSE_REJECT, 1)] == [(x[S.KIND], x[S.COUNT]) for x in loss]
        assert f"{3 * len(junk)} bytes of binary data" in loss[0][S.DETAIL]
