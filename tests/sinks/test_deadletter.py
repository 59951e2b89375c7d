"""DeadLetterSink: rejects kept byte-exact in a JSON lines file."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from armorwatch.parsers import schema as S
from armorwatch.sinks.deadletter import DeadLetterConfig, DeadLetterSink, iter_rejects, read_rejects
from armorwatch.sinks.errors import TerminalSinkError

HOSTILE = b'type=AVC msg=audit(1:2): name="\x1b]0;pwned\x07\xe2\x80\xae\xff\x00"\n'


def rejects(*raws: bytes) -> pa.RecordBatch:
    """REJECT_SCHEMA rows for ``raws``."""
    return S.batch_from_rows(
        [
            {S.SOURCE: S.SOURCE_AUDITLOG, S.HOST: "web-01", S.REASON: "bad", S.RAW: r}
            for r in raws
        ],
        S.REJECT_SCHEMA,
    )


class TestDeadLetterSink:
    async def test_round_trip_is_byte_exact(self, tmp_path: Path) -> None:
        """Raw bytes written (controls, invalid UTF-8, NUL) come back identical."""
        path = tmp_path / "dl" / "rejects.jsonl"
        async with DeadLetterSink(DeadLetterConfig(path=path)) as sink:
            assert 2 == await sink.write(rejects(HOSTILE, b"plain"))
            assert 1 == await sink.write(rejects(b"third"))
        expected = rejects(HOSTILE, b"plain", b"third")
        assert expected.to_pylist() == read_rejects(path).to_pylist()
        assert (3, 2) == (sink.stats.rows, sink.stats.writes)

    async def test_visible_form_has_no_control_bytes(self, tmp_path: Path) -> None:
        """The human-readable raw field carries no ESC, BEL, NUL or bidi override."""
        path = tmp_path / "rejects.jsonl"
        async with DeadLetterSink(DeadLetterConfig(path=path)) as sink:
            await sink.write(rejects(HOSTILE))
        visible = orjson.loads(path.read_bytes())[S.RAW]
        assert [] == [c for c in visible if c in "\x1b\x07\x00\u202e\n"]

    async def test_torn_tail_does_not_swallow_next_write(self, tmp_path: Path) -> None:
        """After a crash left half a line, the next write is still read back."""
        path = tmp_path / "rejects.jsonl"
        path.write_bytes(b'{"source": "audit.log", "raw_b64": "AAA')
        async with DeadLetterSink(DeadLetterConfig(path=path)) as sink:
            await sink.write(rejects(b"after crash"))
        assert [b"after crash"] == [r[S.RAW] for r in iter_rejects(path)]

    async def test_wrong_schema_is_terminal(self, tmp_path: Path) -> None:
        """A batch that is not REJECT_SCHEMA raises TerminalSinkError and writes nothing."""
        path = tmp_path / "rejects.jsonl"
        async with DeadLetterSink(DeadLetterConfig(path=path)) as sink:
            with pytest.raises(TerminalSinkError):
                await sink.write(pa.RecordBatch.from_pylist([{"x": 1}]))
        assert not path.exists()

    async def test_external_rotation_starts_a_new_file(self, tmp_path: Path) -> None:
        """When the file is renamed away, the next write creates it again."""
        path = tmp_path / "rejects.jsonl"
        async with DeadLetterSink(DeadLetterConfig(path=path)) as sink:
            await sink.write(rejects(b"one"))
            path.rename(tmp_path / "rejects.jsonl.1")
            await sink.write(rejects(b"two"))
        assert [b"two"] == [r[S.RAW] for r in iter_rejects(path)]
