"""ParquetSink: hive layout readable by DuckDB, zstd, idempotent replays, retention."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from parsers import schema as S
from parsers.envelope import Envelope
from parsers.stream import parse_bytes
from sinks.errors import TerminalSinkError
from sinks.parquet import ParquetConfig, ParquetSink
from tests.sinks.test_duckdb import T0, batch, denial, loss_batch

SAMPLES = Path(__file__).resolve().parents[2] / "armorwatch" / "samples"


def read(root: Path, sub: str = "records", select: str = "*") -> list[tuple[object, ...]]:
    """``select`` over the archive as DuckDB reads it with hive partitioning."""
    con = duckdb.connect()
    try:
        return con.execute(
            f"SELECT {select} FROM read_parquet('{root}/{sub}/**/*.parquet',"
            " hive_partitioning = true)"
        ).fetchall()
    finally:
        con.close()


def read_arrow(root: Path) -> pa.Table:
    """The records archive as an Arrow table (hive columns included)."""
    con = duckdb.connect()
    try:
        return con.sql(
            f"SELECT * FROM read_parquet('{root}/records/**/*.parquet', hive_partitioning = true)"
            " ORDER BY serial"
        ).to_arrow_table()
    finally:
        con.close()


def files(root: Path) -> list[Path]:
    """Every Parquet file under ``root``."""
    return sorted(root.rglob("*.parquet"))


class TestLayout:
    async def test_partitioned_by_date_and_host(self, tmp_path: Path) -> None:
        """Rows land under date=YYYY-MM-DD/host=NAME by their UTC date and host."""
        rows = [
            denial(1),
            denial(2, **{S.HOST: "web-02"}),
            denial(3, **{S.TS: T0 + dt.timedelta(days=1)}),
        ]
        async with ParquetSink(ParquetConfig(path=tmp_path, retention_days=0)) as sink:
            await sink.send(Envelope(batch(rows)))
        assert [
            "records/date=2025-11-23/host=web-01",
            "records/date=2025-11-23/host=web-02",
            "records/date=2025-11-24/host=web-01",
        ] == [str(f.parent.relative_to(tmp_path)) for f in files(tmp_path)]

    async def test_duckdb_reads_every_column_back(self, tmp_path: Path) -> None:
        """read_parquet with hive_partitioning returns the rows with host and date."""
        rows = [denial(i, **{S.PROFILE_STACK: ["a", "b"]}) for i in range(5)]
        async with ParquetSink(ParquetConfig(path=tmp_path, retention_days=0)) as sink:
            await sink.send(Envelope(batch(rows)))
        table = read_arrow(tmp_path)
        assert set(S.COLUMNS) | {"date"} == set(table.column_names)
        got = table.select(list(S.COLUMNS))
        expected = pa.Table.from_batches([batch(rows)]).replace_schema_metadata(None)
        assert expected.to_pylist() == got.cast(expected.schema).to_pylist()

    async def test_zstd(self, tmp_path: Path) -> None:
        """Every column chunk is zstd-compressed."""
        async with ParquetSink(ParquetConfig(path=tmp_path, retention_days=0)) as sink:
            await sink.send(Envelope(batch([denial(1)])))
        meta = pq.ParquetFile(files(tmp_path)[0]).metadata
        codecs = {meta.row_group(0).column(i).compression for i in range(meta.num_columns)}
        assert {"ZSTD"} == codecs

    async def test_hostile_and_null_hosts(self, tmp_path: Path) -> None:
        """Host names with '/', '..' or '=' stay inside the archive and read back exactly."""
        hosts = ["../../etc", "a/b", "k=v", "..", None]
        rows = [denial(i, **{S.HOST: h}) for i, h in enumerate(hosts)]
        root = tmp_path / "deep" / "archive"
        async with ParquetSink(ParquetConfig(path=root, retention_days=0)) as sink:
            await sink.send(Envelope(batch(rows)))
        assert [] == [f for f in tmp_path.rglob("*.parquet") if root not in f.parents]
        got = read(root, select="host, serial")
        got = [(h,) for h, _ in sorted(got, key=lambda r: r[1])]
        assert [(h,) for h in hosts] == got

    async def test_loss_is_archived_separately(self, tmp_path: Path) -> None:
        """Loss rows go under loss/ with the same partitioning."""
        async with ParquetSink(ParquetConfig(path=tmp_path, retention_days=0)) as sink:
            await sink.send(Envelope(loss=loss_batch(3, count=7)))
        assert [(3, 21)] == read(tmp_path, "loss", "count(*), sum(count)")

    async def test_samples_round_trip(self, tmp_path: Path) -> None:
        """The bundled audit.log archives and reads back with the same row count per host."""
        result = parse_bytes((SAMPLES / "audit.log").read_bytes(), S.SOURCE_AUDITLOG)
        async with ParquetSink(ParquetConfig(path=tmp_path, retention_days=0)) as sink:
            await sink.send(Envelope(result.records, result.loss))
        assert [(result.records.num_rows,)] == read(tmp_path, select="count(*)")


class TestReplay:
    async def test_same_envelope_rewrites_same_file(self, tmp_path: Path) -> None:
        """Replaying an envelope leaves one copy of its rows."""
        env = Envelope(batch([denial(i) for i in range(4)]))
        async with ParquetSink(ParquetConfig(path=tmp_path, retention_days=0)) as sink:
            for _ in range(3):
                await sink.send(env)
        assert 1 == len(files(tmp_path))
        assert [(4,)] == read(tmp_path, select="count(*)")

    async def test_no_temporary_files_left(self, tmp_path: Path) -> None:
        """After send returns only final .parquet files exist."""
        async with ParquetSink(ParquetConfig(path=tmp_path, retention_days=0)) as sink:
            await sink.send(Envelope(batch([denial(1)])))
        assert [] == [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".parquet"]

    async def test_wrong_schema_is_terminal(self, tmp_path: Path) -> None:
        """A batch that is not MAC_SCHEMA raises TerminalSinkError and writes nothing."""
        async with ParquetSink(ParquetConfig(path=tmp_path, retention_days=0)) as sink:
            with pytest.raises(TerminalSinkError):
                await sink.send(Envelope(pa.RecordBatch.from_pylist([{"x": 1}])))
        assert [] == files(tmp_path)


class TestRetention:
    async def test_old_partitions_removed(self, tmp_path: Path) -> None:
        """Partitions older than retention_days are deleted; newer and null-date ones stay."""
        rows = [
            denial(1, **{S.TS: T0 - dt.timedelta(days=40)}),
            denial(2, **{S.TS: T0 - dt.timedelta(days=10)}),
            denial(3, **{S.TS: None}),
        ]
        sink = ParquetSink(ParquetConfig(path=tmp_path, retention_days=30))
        sink.write_sync(Envelope(batch(rows), loss_batch(1)))
        assert 1 == sink.apply_retention(today=T0.date())
        kept = sorted({f.parents[1].name for f in files(tmp_path / "records")})
        assert ["date=2025-11-13", "date=__HIVE_DEFAULT_PARTITION__"] == kept
        assert 1 == len(files(tmp_path / "loss"))

    async def test_retention_zero_keeps_everything(self, tmp_path: Path) -> None:
        """retention_days = 0 never deletes."""
        sink = ParquetSink(ParquetConfig(path=tmp_path, retention_days=0))
        sink.write_sync(Envelope(batch([denial(1, **{S.TS: T0 - dt.timedelta(days=4000)})])))
        assert 0 == sink.apply_retention(today=T0.date())
        assert 1 == len(files(tmp_path))
