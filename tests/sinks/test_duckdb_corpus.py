"""DuckDBSink over the reference corpora: every parsed record stored once, replays add nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from armorwatch.parsers import schema as S
from armorwatch.parsers.envelope import Envelope
from armorwatch.parsers.stream import parse_bytes
from armorwatch.sinks.duckdb import DuckDBConfig, DuckDBSink

SUFFIXES = (".log", ".txt", ".in")


def corpus_batches(root: Path) -> list[pa.RecordBatch]:
    """Records parsed from every log-like corpus file (auto framing)."""
    out = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in SUFFIXES:
            result = parse_bytes(path.read_bytes(), S.SOURCE_AUDITLOG)
            if result.records.num_rows:
                out.append(result.records)
    return out


def python_key(row: dict[str, Any]) -> tuple[Any, ...]:
    """The record key as the store defines it, computed independently of the SQL."""
    key = tuple(row[c] for c in S.KEY_COLUMNS)
    if row[S.SERIAL] is None:
        key += (hashlib.md5(row[S.RAW] or b"").hexdigest(),)
    return key


@pytest.mark.corpus
class TestCorpusDedup:
    async def test_each_distinct_key_stored_once(self, corpora: Path, tmp_path: Path) -> None:
        """Stored rows equal the distinct record keys, and a full replay adds none."""
        batches = corpus_batches(corpora)
        rows = [r for b in batches for r in b.select([*S.KEY_COLUMNS, S.RAW]).to_pylist()]
        expected = len({python_key(r) for r in rows})
        async with DuckDBSink(DuckDBConfig(path=tmp_path / "c.duckdb")) as sink:
            # Eight envelopes of ~24 files each: records repeated across envelopes and
            # inside one both occur, at an eighth of the commits (each ~1 s on a busy box).
            size = -(-len(batches) // 8)
            for i in range(0, len(batches), size):
                group = pa.Table.from_batches(batches[i : i + size]).combine_chunks()
                await sink.send(Envelope(group.to_batches()[0]))
            first = sink.stats.rows_inserted
            # Replay everything again as one envelope: different boundaries, same records.
            await sink.send(
                Envelope(pa.Table.from_batches(batches).combine_chunks().to_batches()[0])
            )
            stored = sink.connection().execute("SELECT count(*) FROM records").fetchall()[0][0]
        assert 1000 < len(rows)
        assert (expected, expected, expected) == (first, sink.stats.rows_inserted, stored)
