"""The Parquet archive: records and loss partitioned by date and host (hive layout), zstd.

Layout under ``ParquetConfig.path``::

    records/date=2025-11-23/host=web-01/part-<sha256 of the rows>.parquet
    loss/date=2025-11-23/host=web-01/part-<...>.parquet

``date`` is the UTC date of ``ts``; a null date or host is written as hive's
``__HIVE_DEFAULT_PARTITION__`` (DuckDB reads it back as NULL); other host names are
percent-encoded in the path (DuckDB decodes them). The partition columns are not
repeated inside the files. Read it with DuckDB (or any engine that reads Parquet)::

    SELECT * FROM read_parquet('ARCHIVE/records/**/*.parquet', hive_partitioning = true)

Durability: each file is written to a dot-prefixed temporary name, fsynced, renamed into
place and its directory fsynced before ``send`` returns, so a reader never sees a
partial file and an acknowledged envelope survives a crash.

Duplicates: a file is named after the sha256 of its rows, so replaying the same
envelope rewrites the same file (idempotent). A replay cut at different boundaries
produces different files; de-duplicate on read by the record key when that matters::

    SELECT DISTINCT ON (host, boot_id, ts, serial, record_type, md5(raw))
        * FROM read_parquet(...)

Retention: ``date=`` partitions older than ``retention_days`` (by partition date, UTC)
are deleted when the sink opens and then at most every ``retention_check_s``.

Errors::

    SinkError (sinks.errors)
    ├── TransientSinkError   write, fsync or rename failed (disk full, permissions)
    └── TerminalSinkError    the batch does not match its schema, send after close
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import os
import re
import shutil
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from parsers import schema as S
from parsers.envelope import Envelope
from sinks.base import SinkBase
from sinks.errors import TerminalSinkError, TransientSinkError

log = logging.getLogger(__name__)

RECORDS_DIR = "records"
LOSS_DIR = "loss"
DATE_KEY = "date"
"""Hive partition key of the UTC date of ``ts``."""
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
_DATE_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class ParquetConfig:
    """Settings of the Parquet archive."""

    path: Path = Path("armorwatch-archive")
    """Archive root; records/ and loss/ are created under it."""
    compression: str = "zstd"
    """Parquet codec (zstd, snappy, gzip, none)."""
    compression_level: int | None = None
    """Codec level; None = the codec's default (zstd: 3)."""
    row_group_rows: int = 122_880
    """Rows per Parquet row group (DuckDB's own row group size)."""
    retention_days: int = 90
    """Delete date partitions older than this many days; 0 keeps everything."""
    retention_check_s: float = 3600.0
    """Apply retention at most this often while sending."""
    fsync: bool = True
    """fsync files and directories before acknowledging."""


@dataclass
class ParquetStats:
    """Counters of a ParquetSink, read by the metrics endpoint."""

    envelopes: int = 0
    """Envelopes acknowledged."""
    rows: int = 0
    """Record rows written."""
    loss_rows: int = 0
    """Loss rows written."""
    files: int = 0
    """Parquet files written (replays rewrite the same names)."""
    bytes: int = 0
    """Bytes of the files written."""
    partitions_removed: int = 0
    """date= partitions deleted by retention."""
    errors: int = 0
    """Sends that failed."""


class ParquetSink(SinkBase):
    """Archives envelopes as hive-partitioned Parquet files (see the module docstring)."""

    def __init__(self, config: ParquetConfig | None = None) -> None:
        self.config = config or ParquetConfig()
        self.stats = ParquetStats()
        self._lock = threading.Lock()
        self._closed = False
        self._opened = False
        self._last_retention = time.monotonic()  # open() applies it first

    async def open(self) -> None:
        """Create the root and apply retention once; idempotent."""
        if self._closed:
            raise TerminalSinkError("ParquetSink is closed")
        if self._opened:
            return
        await asyncio.to_thread(self._open_sync)
        self._opened = True

    async def close(self) -> None:
        """Nothing is buffered: every send was synced; idempotent."""
        self._closed = True

    async def send(self, envelope: Envelope) -> None:
        """Write the envelope's records and loss; returns after the files are durable."""
        if self._closed:
            raise TerminalSinkError("send after close")
        if not self._opened:
            await self.open()
        if envelope.num_rows == 0:
            return
        await asyncio.to_thread(self.write_sync, envelope)

    def write_sync(self, envelope: Envelope) -> None:
        """Blocking ``send`` for synchronous callers."""
        try:
            records = S.conform(envelope.records, S.MAC_SCHEMA)
            loss = S.conform(envelope.loss, S.LOSS_SCHEMA)
        except (ValueError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
            raise TerminalSinkError(f"batch does not match the schema: {e}") from e
        with self._lock:
            try:
                files = self._write_partitioned(RECORDS_DIR, records)
                files += self._write_partitioned(LOSS_DIR, loss)
            except OSError as e:
                self.stats.errors += 1
                raise TransientSinkError(f"cannot write the Parquet archive: {e}") from e
            self.stats.envelopes += 1
            self.stats.rows += records.num_rows
            self.stats.loss_rows += loss.num_rows
            self.stats.files += files
            if (
                self.config.retention_days > 0
                and time.monotonic() - self._last_retention >= self.config.retention_check_s
            ):
                self._retention_locked(None)

    def apply_retention(self, today: dt.date | None = None) -> int:
        """Delete date partitions older than ``retention_days`` before ``today`` (UTC)."""
        with self._lock:
            return self._retention_locked(today)

    # --- internals ----------------------------------------------------------------
    def _open_sync(self) -> None:
        for sub in (RECORDS_DIR, LOSS_DIR):
            (self.config.path / sub).mkdir(parents=True, exist_ok=True)
        if self.config.retention_days > 0:
            self.apply_retention()

    def _retention_locked(self, today: dt.date | None) -> int:
        self._last_retention = time.monotonic()
        if self.config.retention_days <= 0:
            return 0
        today = today or dt.datetime.now(dt.UTC).date()
        cutoff = today - dt.timedelta(days=self.config.retention_days)
        removed = 0
        for sub in (RECORDS_DIR, LOSS_DIR):
            root = self.config.path / sub
            if not root.is_dir():
                continue
            for entry in root.iterdir():
                m = _DATE_DIR.match(entry.name)
                if not m or not entry.is_dir():
                    continue  # the null-date partition and foreign files are kept
                if dt.date.fromisoformat(m.group(1)) < cutoff:
                    shutil.rmtree(entry)
                    removed += 1
        self.stats.partitions_removed += removed
        return removed

    def _write_partitioned(self, sub: str, batch: pa.RecordBatch) -> int:
        if batch.num_rows == 0:
            return 0
        table = pa.Table.from_batches([batch])
        dates = pc.cast(table.column(S.TS), pa.date32())
        hosts = pc.cast(table.column(S.HOST), pa.string())
        keys = pa.table({DATE_KEY: dates, S.HOST: hosts})
        groups = keys.group_by([DATE_KEY, S.HOST], use_threads=False).aggregate([])
        body = table.drop_columns([S.HOST])
        written = 0
        for date, host in zip(
            groups.column(DATE_KEY).to_pylist(), groups.column(S.HOST).to_pylist(), strict=True
        ):
            mask = pc.and_kleene(
                _equal_or_both_null(dates, date, pa.date32()),
                _equal_or_both_null(hosts, host, pa.string()),
            )
            part = body.filter(mask)
            directory = (
                self.config.path / sub / f"{DATE_KEY}={_date_value(date)}"
                f"/{S.HOST}={_host_value(host)}"
            )
            self._write_file(directory, part)
            written += 1
        return written

    def _write_file(self, directory: Path, table: pa.Table) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as w:
            w.write_table(table)
        name = "part-" + hashlib.sha256(sink.getvalue()).hexdigest()[:32] + ".parquet"
        final = directory / name
        tmp = directory / f".{name}.{os.getpid()}.tmp"
        cfg = self.config
        pq.write_table(
            table,
            tmp,
            compression=cfg.compression,
            compression_level=cfg.compression_level,
            row_group_size=cfg.row_group_rows,
        )
        if cfg.fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, final)
        if cfg.fsync:
            _fsync_dir(directory)
        self.stats.bytes += final.stat().st_size


def _equal_or_both_null(array: pa.ChunkedArray, value: object, typ: pa.DataType) -> pa.Array:
    if value is None:
        return pc.is_null(array)
    return pc.fill_null(pc.equal(array, pa.scalar(value, typ)), False)


def _date_value(date: dt.date | None) -> str:
    return NULL_PARTITION if date is None else date.isoformat()


def _host_value(host: str | None) -> str:
    # Percent-encode all but unreserved characters, so a host name never becomes a path
    # separator, '..' or an '=' that confuses hive parsing. '' is stored as null.
    if not host:
        return NULL_PARTITION
    encoded = urllib.parse.quote(host, safe="-_.~")
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
