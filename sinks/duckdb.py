"""The DuckDB store: one writer process, group commits, de-duplication, read snapshots.

``DuckDBSink`` is the sink the processor writes to. Contract (see ``sinks.base``):
``send(envelope)`` returns only after the envelope's rows are committed to the DB file.

Group commit. DuckDB is 2-8x faster with large transactions than with one small
autocommit per batch (performance.md §11: 73k rows/s at 10k-row commits, 170k rows/s at
>=122,880). ``send`` therefore does not commit by itself: it hands its envelope to one
committer task and waits. The committer commits everything waiting as ONE transaction
when any of these holds:

- ``batch_rows`` rows are waiting (default 100,000);
- the oldest waiting envelope has waited ``max_delay_s`` (default 0.5 s): the bound on
  how long an acknowledgement is held back;
- nothing new arrived for ``linger_s`` (default 0.02 s): a single caller that sends,
  waits for the ack, then sends again is acked after ~``linger_s``, not ``max_delay_s``.

Concurrent senders (a Kafka processor keeping several envelopes in flight) therefore get
large transactions; a lone sequential sender gets small ones quickly. Waiting rows are
bounded (``max_pending_rows``): ``send`` blocks beyond it (backpressure).

De-duplication. Each row gets ``rid``: md5 of ``parsers.schema.KEY_COLUMNS`` (raw as its
md5) with NULL marked explicitly (a NULL part equals a NULL part and nothing else). A row
is inserted only when no stored row in the batch's ts range has its rid (an anti-join
DuckDB's zone maps prune to that time range; ~1.9x faster than a PRIMARY KEY, see
sql/insert_records.sql), and repeats inside one batch keep their first row, so replays
and at-least-once redelivery are stored once. rid stays unique because this sink is the
only writer and commits one transaction at a time. ``loss`` and ``rejects`` are small:
there rid (of all columns) is a PRIMARY KEY with INSERT OR IGNORE.

Migrations. Table ``meta`` holds ``schema_version`` (``parsers.schema.SCHEMA_VERSION``
of the tables). Opening an older DB runs ``sql/migrate_<version>.sql`` for each newer
version when such a file exists, then adds any MAC_SCHEMA column the table lacks; a DB
newer than the code is refused (TerminalSinkError). Views, macros and column comments
are recreated on an open whenever this version defines them differently from what the
catalog holds (``meta.catalog``: a hash of their definitions and of the views stored).

Readers. DuckDB lets one process open a DB file read-write, and while it does, no other
process can open it at all (not even READ_ONLY). So the writer publishes a snapshot:
every ``snapshot_interval_s`` (after a commit) and on close it CHECKPOINTs, copies the
DB file to ``<snapshot_path>.tmp`` and renames it over ``snapshot_path``, all inside
the writer thread, so the copy is consistent and readers never see a partial file.
``open_reader`` opens the DB READ_ONLY when no writer holds it, else the newest
snapshot; either way with external access disabled and configuration locked.

Errors::

    SinkError (sinks.errors)
    ├── TransientSinkError   lock held by another writer, I/O error, disk full
    └── TerminalSinkError    schema mismatch, DB from a newer armorwatch, closed sink
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import os
import re
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from parsers import schema as S
from parsers import sqlfile
from parsers.envelope import Envelope
from sinks.base import SinkBase
from sinks.errors import SinkError, TerminalSinkError, TransientSinkError

log = logging.getLogger(__name__)

T = TypeVar("T")

RECORDS: str = "records"
LOSS: str = "loss"
REJECTS: str = "rejects"
META: str = "meta"
VIEWS: tuple[str, ...] = (
    "denials",
    "complain_events",
    "profile_status",
    "denials_by_profile_hour",
    "top_denied_objects",
    "new_denials",
)
# Ingest metadata columns added in front of the schema columns of each table.
META_COLUMNS: tuple[tuple[str, str], ...] = (
    ("rid", "UUID NOT NULL"),
    ("ingested_at", "TIMESTAMPTZ NOT NULL"),
    ("batch_id", "BIGINT NOT NULL"),
)
META_COLUMN_NAMES: tuple[str, ...] = tuple(n for n, _ in META_COLUMNS)

# Settings every reader connection gets: no file system, no extensions, no ATTACH, and
# nobody can SET them back.
READER_CONFIG: dict[str, Any] = {
    "enable_external_access": False,
    "lock_configuration": True,
}


def sql_text(name: str) -> str:
    """What to run for ``sinks/sql/<name>`` (package data, header grammar of
    ``parsers.sqlfile``): the shared files it includes, then its own text."""
    return sqlfile.read("sinks", "sql", name.removesuffix(".sql")).text


def duckdb_type(t: pa.DataType) -> str:
    """The DuckDB column type storing Arrow type ``t`` (the types MAC_SCHEMA uses)."""
    if pa.types.is_dictionary(t):
        return duckdb_type(t.value_type)
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
    if pa.types.is_list(t):
        return duckdb_type(t.value_type) + "[]"
    simple = {
        pa.string(): "VARCHAR",
        pa.large_string(): "VARCHAR",
        pa.binary(): "BLOB",
        pa.large_binary(): "BLOB",
        pa.bool_(): "BOOLEAN",
        pa.int8(): "TINYINT",
        pa.int16(): "SMALLINT",
        pa.int32(): "INTEGER",
        pa.int64(): "BIGINT",
        pa.uint8(): "UTINYINT",
        pa.uint16(): "USMALLINT",
        pa.uint32(): "UINTEGER",
        pa.uint64(): "UBIGINT",
        pa.float32(): "FLOAT",
        pa.float64(): "DOUBLE",
    }
    if t in simple:
        return simple[t]
    raise TypeError(f"no DuckDB type for Arrow {t}")


def _quote(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def table_ddl(table: str, schema: pa.Schema, primary_key: bool = False) -> str:
    """CREATE TABLE for ``schema`` with the ingest metadata columns in front.

    ``primary_key`` makes rid the primary key (loss, rejects: small tables inserted with
    INSERT OR IGNORE); records keeps rid unique by an anti-join instead (faster).
    """
    cols = [
        f"{_quote(n)} {'UUID PRIMARY KEY' if primary_key and n == 'rid' else t}"
        for n, t in META_COLUMNS
    ]
    cols += [f"{_quote(f.name)} {duckdb_type(f.type)}" for f in schema]
    return f"CREATE TABLE IF NOT EXISTS {_quote(table)} (\n    " + ",\n    ".join(cols) + "\n)"


def default_snapshot_path(path: Path) -> Path:
    """Where the read snapshot of ``path`` lives unless configured: ``<stem>.snapshot.duckdb``."""
    return path.with_name(path.stem + ".snapshot" + (path.suffix or ".duckdb"))


@dataclass(frozen=True)
class DuckDBConfig:
    """Settings of the DuckDB store."""

    path: Path = Path("armorwatch.duckdb")
    """The DB file; created with its parent directory when missing."""
    batch_rows: int = 100_000
    """Commit as soon as this many rows wait (one transaction for all waiting envelopes)."""
    max_delay_s: float = 0.5
    """Longest an envelope waits for its group commit (the bound on ack latency)."""
    linger_s: float = 0.02
    """Commit when no envelope arrived for this long (a lone sequential sender's delay)."""
    max_pending_rows: int = 400_000
    """Rows that may wait for a commit before ``send`` blocks (backpressure)."""
    snapshot_path: Path | None = None
    """Read snapshot for other processes; None means ``<stem>.snapshot.duckdb`` beside path."""
    snapshot_interval_s: float = 60.0
    """Refresh the snapshot after a commit at most this often; 0 disables snapshots."""
    threads: int | None = None
    """DuckDB worker threads of the writer; None = DuckDB's default (all cores)."""
    memory_limit: str | None = None
    """DuckDB memory_limit of the writer, e.g. '1GB'; None = DuckDB's default (80% RAM)."""


@dataclass
class DuckDBStats:
    """Counters of a DuckDBSink, read by the metrics endpoint."""

    envelopes: int = 0
    """Envelopes acknowledged."""
    rows_received: int = 0
    """MAC records received in acknowledged envelopes."""
    rows_inserted: int = 0
    """MAC records newly stored (received minus duplicates)."""
    duplicates: int = 0
    """MAC records skipped because their rid was already stored (or repeated in the batch)."""
    loss_rows: int = 0
    """Loss rows newly stored."""
    reject_rows: int = 0
    """Reject rows newly stored."""
    commits: int = 0
    """Transactions committed."""
    commit_errors: int = 0
    """Transactions that failed (their envelopes got the error)."""
    snapshots: int = 0
    """Read snapshots published."""
    pending_rows: int = 0
    """Rows waiting for a commit right now."""


@dataclass
class _Pending:
    records: list[pa.RecordBatch] = field(default_factory=list)
    loss: list[pa.RecordBatch] = field(default_factory=list)
    rejects: list[pa.RecordBatch] = field(default_factory=list)
    futures: list[asyncio.Future[None]] = field(default_factory=list)
    rows: int = 0
    first_at: float = 0.0
    last_at: float = 0.0


class DuckDBSink(SinkBase):
    """The single writer of the armorwatch DuckDB file (see the module docstring)."""

    def __init__(self, config: DuckDBConfig | None = None) -> None:
        self.config = config or DuckDBConfig()
        self.stats = DuckDBStats()
        self._con: duckdb.DuckDBPyConnection | None = None
        # One thread owns the connection: DuckDB calls block, and ordering is free.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="duckdb-writer")
        self._pending = _Pending()
        self._wakeup: asyncio.Event | None = None
        self._room: asyncio.Condition | None = None
        self._committer: asyncio.Task[None] | None = None
        self._open_lock: asyncio.Lock | None = None
        self._closed = False
        self._batch_id = 0
        self._last_snapshot = 0.0

    @property
    def snapshot_path(self) -> Path:
        """The snapshot file readers open while this writer runs."""
        return self.config.snapshot_path or default_snapshot_path(self.config.path)

    # --- lifecycle ----------------------------------------------------------------
    async def open(self) -> None:
        """Open (creating or migrating) the DB file and start the committer; idempotent."""
        if self._closed:
            raise TerminalSinkError("DuckDBSink is closed")
        if self._open_lock is None:
            self._open_lock = asyncio.Lock()
        async with self._open_lock:  # concurrent first sends open it once
            if self._con is not None:
                return
            await self._run(self._open_sync)
            self._wakeup = asyncio.Event()
            self._room = asyncio.Condition()
            self._committer = asyncio.create_task(self._commit_loop(), name="duckdb-committer")

    async def close(self) -> None:
        """Commit what waits, publish a final snapshot, checkpoint and close; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._committer is not None:
            assert self._wakeup is not None
            self._wakeup.set()
            with contextlib.suppress(asyncio.CancelledError):
                await self._committer
        if self._con is not None:
            await self._run(self._close_sync)
        self._executor.shutdown(wait=True)

    # --- the Sink API -------------------------------------------------------------
    async def send(self, envelope: Envelope) -> None:
        """Return once the envelope's records and loss rows are committed (the ack)."""
        await self._enqueue(records=envelope.records, loss=envelope.loss)
        self.stats.envelopes += 1

    async def send_rejects(self, rejects: pa.RecordBatch) -> None:
        """Store parser rejects (REJECT_SCHEMA) in table rejects; returns after commit."""
        await self._enqueue(rejects=rejects)

    def connection(self) -> duckdb.DuckDBPyConnection:
        """A cursor on the writer's database for in-process readers (jobs in `run`).

        It is a separate connection to the writer's database instance: DuckDB's MVCC gives
        it a consistent view of committed rows while the writer thread keeps committing.
        Use it from one thread at a time and close it when done.
        """
        if self._con is None:
            raise TerminalSinkError("DuckDBSink is not open")
        return self._con.cursor()

    # --- internals: queueing ------------------------------------------------------
    async def _enqueue(
        self,
        records: pa.RecordBatch | None = None,
        loss: pa.RecordBatch | None = None,
        rejects: pa.RecordBatch | None = None,
    ) -> None:
        if self._closed:
            raise TerminalSinkError("send after close")
        if self._con is None:
            await self.open()
        assert self._wakeup is not None and self._room is not None
        # Validate here so one bad envelope fails alone, not its whole commit group.
        parts: dict[str, pa.RecordBatch] = {}
        for key, batch, sch in (
            ("records", records, S.MAC_SCHEMA),
            ("loss", loss, S.LOSS_SCHEMA),
            ("rejects", rejects, S.REJECT_SCHEMA),
        ):
            if batch is not None and batch.num_rows:
                try:
                    parts[key] = S.conform(batch, sch)
                except (ValueError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                    raise TerminalSinkError(f"{key} batch does not match the schema: {e}") from e
        rows = sum(b.num_rows for b in parts.values())
        if rows == 0:
            return
        async with self._room:
            # Backpressure; an oversize envelope is admitted alone rather than never.
            await self._room.wait_for(
                lambda: (
                    self._pending.rows == 0
                    or self._pending.rows + rows <= self.config.max_pending_rows
                )
            )
        if self._closed:
            raise TerminalSinkError("send after close")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        p = self._pending
        now = time.monotonic()
        if not p.futures:
            p.first_at = now
        p.last_at = now
        p.rows += rows
        p.futures.append(fut)
        if "records" in parts:
            p.records.append(parts["records"])
        if "loss" in parts:
            p.loss.append(parts["loss"])
        if "rejects" in parts:
            p.rejects.append(parts["rejects"])
        self.stats.pending_rows = p.rows
        self._wakeup.set()
        # Shielded: a cancelled caller does not cancel the shared commit.
        await asyncio.shield(fut)

    async def _commit_loop(self) -> None:
        assert self._wakeup is not None and self._room is not None
        cfg = self.config
        while True:
            p = self._pending
            if not p.futures:
                if self._closed:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            now = time.monotonic()
            deadline = min(p.first_at + cfg.max_delay_s, p.last_at + cfg.linger_s)
            if p.rows < cfg.batch_rows and now < deadline and not self._closed:
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), deadline - now)
                continue
            self._pending = _Pending()
            self.stats.pending_rows = 0
            async with self._room:
                self._room.notify_all()
            try:
                await self._run(self._commit_sync, p.records, p.loss, p.rejects)
            except BaseException as e:  # every waiter must learn the outcome
                err = e if isinstance(e, SinkError) else TransientSinkError(f"commit failed: {e}")
                for f in p.futures:
                    if not f.done():
                        f.set_exception(err)
                if isinstance(e, asyncio.CancelledError):
                    raise
            else:
                for f in p.futures:
                    if not f.done():
                        f.set_result(None)

    async def _run(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    # --- internals: the writer thread ---------------------------------------------
    def _open_sync(self) -> None:
        cfg = self.config
        cfg.path.parent.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {}
        if cfg.threads is not None:
            config["threads"] = cfg.threads
        if cfg.memory_limit is not None:
            config["memory_limit"] = cfg.memory_limit
        try:
            con = duckdb.connect(str(cfg.path), config=config)
        except duckdb.IOException as e:
            # Another process holds the write lock (reliability.md B6): fail fast.
            raise TransientSinkError(f"cannot open {cfg.path} for writing: {e}") from e
        try:
            migrate(con)
            con.execute(sql_text("macros.sql"))
            row = con.execute(f"SELECT value FROM {META} WHERE key = 'last_batch_id'").fetchone()
            self._batch_id = int(row[0]) if row else 0
        except BaseException:
            con.close()
            raise
        self._con = con
        if cfg.snapshot_interval_s > 0:
            self._snapshot_sync()

    def _commit_sync(
        self,
        records: Sequence[pa.RecordBatch],
        loss: Sequence[pa.RecordBatch],
        rejects: Sequence[pa.RecordBatch],
    ) -> None:
        con = self._con
        assert con is not None
        batch_id = self._batch_id + 1
        params = {"ingested_at": dt.datetime.now(dt.UTC), "batch_id": batch_id}
        counts: dict[str, int] = {}
        try:
            con.begin()
            for table, sql_file, batches, sch in (
                (RECORDS, "insert_records.sql", records, S.MAC_SCHEMA),
                (LOSS, "insert_loss.sql", loss, S.LOSS_SCHEMA),
                (REJECTS, "insert_rejects.sql", rejects, S.REJECT_SCHEMA),
            ):
                if not batches:
                    continue
                stage = pa.Table.from_batches(batches, schema=sch)
                con.register("_stage", stage)
                try:
                    args: dict[str, Any] = dict(params)
                    if table == RECORDS:
                        sql_file = self._records_insert(con, stage, args)
                    # An INSERT returns the number of rows it stored (skipped ones excluded).
                    row = con.execute(sql_text(sql_file), args).fetchone()
                    counts[table] = int(row[0]) if row else 0
                finally:
                    con.unregister("_stage")
            con.execute(
                f"INSERT OR REPLACE INTO {META} VALUES ('last_batch_id', ?)", [str(batch_id)]
            )
            con.commit()
        except duckdb.Error as e:
            self.stats.commit_errors += 1
            with contextlib.suppress(duckdb.Error):
                con.rollback()
            raise TransientSinkError(f"DuckDB commit failed: {e}") from e
        self._batch_id = batch_id
        received = sum(b.num_rows for b in records)
        inserted = counts.get(RECORDS, 0)
        self.stats.commits += 1
        self.stats.rows_received += received
        self.stats.rows_inserted += inserted
        self.stats.duplicates += received - inserted
        self.stats.loss_rows += counts.get(LOSS, 0)
        self.stats.reject_rows += counts.get(REJECTS, 0)
        interval = self.config.snapshot_interval_s
        if interval > 0 and time.monotonic() - self._last_snapshot >= interval:
            try:
                self._snapshot_sync()
            except (OSError, subprocess.CalledProcessError, duckdb.Error) as e:
                # The commit stands; a stale snapshot only delays readers.
                log.warning("snapshot of %s failed: %s", self.config.path, e)

    @staticmethod
    def _records_insert(
        con: duckdb.DuckDBPyConnection, stage: pa.Table, args: dict[str, Any]
    ) -> str:
        """Add the ts-window parameters; pick the insert for a batch with/without repeats."""
        ts = stage.column(S.TS)
        bounds = pc.min_max(ts)
        args["lo"] = bounds["min"].as_py()
        args["hi"] = bounds["max"].as_py()
        args["null_ts"] = ts.null_count > 0
        row = con.execute(sql_text("records_batch_duplicates.sql")).fetchone()
        repeats = int(row[0]) if row and row[0] is not None else 0
        return "insert_records_dedup.sql" if repeats else "insert_records.sql"

    def _snapshot_sync(self) -> None:
        """CHECKPOINT, copy the file, rename over the snapshot (writer thread only)."""
        con = self._con
        assert con is not None
        con.execute("CHECKPOINT")
        target = self.snapshot_path
        tmp = target.with_name(target.name + ".tmp")
        # Copy in a child process: DuckDB's write lock is a POSIX fcntl lock, which this
        # process would lose the moment it closed ANY descriptor of the DB file (as
        # shutil.copyfile does), letting a second writer in. Nothing writes meanwhile:
        # this runs in the only thread that uses the connection.
        subprocess.run(
            ["cp", "--reflink=auto", "--", str(self.config.path), str(tmp)],
            check=True,
            capture_output=True,
        )
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
        self._last_snapshot = time.monotonic()
        self.stats.snapshots += 1

    def _close_sync(self) -> None:
        con = self._con
        if con is None:
            return
        try:
            if self.config.snapshot_interval_s > 0:
                try:
                    self._snapshot_sync()
                except (OSError, subprocess.CalledProcessError, duckdb.Error) as e:
                    log.warning("final snapshot of %s failed: %s", self.config.path, e)
            else:
                con.execute("CHECKPOINT")
        finally:
            con.close()
            self._con = None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- schema and migrations ----------------------------------------------------------
def stored_schema_version(con: duckdb.DuckDBPyConnection) -> int | None:
    """The schema_version recorded in ``meta``, or None for a DB without armorwatch tables."""
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND schema_name = 'main'",
        [META],
    ).fetchone()
    if not exists or not exists[0]:
        return None
    rows = con.execute(f"SELECT value FROM {META} WHERE key = 'schema_version'").fetchall()
    return int(rows[0][0]) if rows else None


# The tables that hold one Arrow schema's columns (after the ingest metadata columns).
_TABLE_SCHEMAS: tuple[tuple[str, pa.Schema], ...] = (
    (RECORDS, S.MAC_SCHEMA),
    (LOSS, S.LOSS_SCHEMA),
    (REJECTS, S.REJECT_SCHEMA),
)


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Create or upgrade tables, views and comments to SCHEMA_VERSION; return the old version.

    The old version is 0 for a new DB.

    Runs in one transaction: a failed migration leaves the DB as it was.
    """
    con.begin()
    try:
        old = stored_schema_version(con)
        if old is not None and old > S.SCHEMA_VERSION:
            raise TerminalSinkError(
                f"the DB has schema version {old}, newer than this armorwatch "
                f"({S.SCHEMA_VERSION}); upgrade armorwatch"
            )
        con.execute(f"CREATE TABLE IF NOT EXISTS {META} (key VARCHAR PRIMARY KEY, value VARCHAR)")
        con.execute(table_ddl(RECORDS, S.MAC_SCHEMA))
        con.execute(table_ddl(LOSS, S.LOSS_SCHEMA, primary_key=True))
        con.execute(table_ddl(REJECTS, S.REJECT_SCHEMA, primary_key=True))
        if old is not None:
            con.execute(sql_text("macros.sql"))  # migration scripts recompute rids
            for version in range(old + 1, S.SCHEMA_VERSION + 1):
                if resources.files("sinks").joinpath("sql", f"migrate_{version}.sql").is_file():
                    con.execute(sql_text(f"migrate_{version}"))
            for table, sch in _TABLE_SCHEMAS:
                _add_missing_columns(con, table, sch)
        # Views, macros and comments are recreated only when this version defines them
        # differently: ~300 COMMENT statements cost ~0.3 s on every writer open otherwise.
        # The catalog's own view text is part of the key: an older armorwatch that
        # rewrote the views (and knows nothing of this key) is noticed at the next open.
        fingerprint = _catalog_fingerprint()
        row = con.execute(f"SELECT value FROM {META} WHERE key = 'catalog'").fetchone()
        fresh = old == S.SCHEMA_VERSION and row is not None and row[0] == _stamp(con, fingerprint)
        if not fresh:
            con.execute(sql_text("views.sql"))  # and the macros of parsers/sql/derived.sql
        con.execute(
            f"INSERT OR REPLACE INTO {META} VALUES ('schema_version', ?)", [str(S.SCHEMA_VERSION)]
        )
        con.commit()
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.rollback()
        raise
    if not fresh:
        _apply_comments(con)
        # Recorded last: a crash before this line recreates everything at the next open.
        stamp = _stamp(con, fingerprint)
        con.execute(f"INSERT OR REPLACE INTO {META} VALUES ('catalog', ?)", [stamp])
    return old or 0


def _stamp(con: duckdb.DuckDBPyConnection, fingerprint: str) -> str:
    """``fingerprint`` bound to the views the catalog holds now."""
    row = con.execute(
        "SELECT string_agg(view_name || ':' || sql, '\n' ORDER BY view_name)"
        " FROM duckdb_views() WHERE schema_name = 'main' AND NOT internal"
    ).fetchone()
    held = (row[0] if row else None) or ""
    return hashlib.sha256(f"{fingerprint}\n{held}".encode()).hexdigest()


def _catalog_fingerprint() -> str:
    """What the views, macros and comments of this version are made of."""
    text = "\n".join([sql_text("views.sql"), *_comment_statements()])
    return hashlib.sha256(text.encode()).hexdigest()


def _comment_statements() -> list[str]:
    """COMMENT ON statements documenting the store: comments.sql (tables, ingest metadata
    columns), then one per schema column, from its description in ``parsers.schema``."""
    statements = [st.query for st in duckdb.extract_statements(sql_text("comments.sql"))]
    for table, sch in _TABLE_SCHEMAS:
        for column, text in S.descriptions(sch).items():
            literal = "'" + text.replace("'", "''") + "'"
            statements.append(f"COMMENT ON COLUMN {_quote(table)}.{_quote(column)} IS {literal}")
    return statements


# A select-list line of views.sql, `expr [AS name],  -- text`, and a field line of the
# derived-columns struct in parsers/sql/derived.sql, `'name': expr,  -- text`.
_VIEW_COLUMN = re.compile(r"^\s+(?:.*\sAS\s+)?(\w+),?\s+--\s+(.+?)\s*$", re.IGNORECASE)
_DERIVED_FIELD = re.compile(r"^\s+'(\w+)':.*\s--\s+(.+?)\s*$")
_VIEW_START = re.compile(r"^CREATE OR REPLACE VIEW (\w+) AS$")


def view_column_docs() -> dict[tuple[str, str], str]:
    """(view, column) -> the comment its definition carries: the select-list lines of
    views.sql, and the derived columns' fields in parsers/sql/derived.sql for the views
    that unnest them. Columns a view takes with ``*`` are documented by their table."""
    lines = sqlfile.shared("derived").splitlines()
    derived = {m[1]: m[2] for ln in lines if (m := _DERIVED_FIELD.match(ln))}
    docs: dict[tuple[str, str], str] = {}
    view = None
    for line in sql_text("views.sql").splitlines():
        if m := _VIEW_START.match(line):
            view = m[1]
        elif view and line.startswith("FROM "):  # the select list is over
            view = None
        elif view and "aw_derived_columns(" in line:
            docs.update({(view, col): text for col, text in derived.items()})
        elif view and (m := _VIEW_COLUMN.match(line)):
            docs[(view, m[1])] = m[2]
    return docs


def _view_comment_statements(con: duckdb.DuckDBPyConnection) -> list[str]:
    """A COMMENT ON every view column (views are recreated on each open, which drops
    them): its own doc, else that of the table column it passes through."""
    docs = view_column_docs()
    rows = con.execute(
        "SELECT c.table_name, c.column_name FROM duckdb_columns() c"
        " JOIN duckdb_views() v ON v.view_name = c.table_name AND v.schema_name = c.schema_name"
        " WHERE c.schema_name = 'main' AND NOT v.internal ORDER BY c.table_name, c.column_index"
    ).fetchall()
    table_docs = dict(
        con.execute(
            "SELECT column_name, comment FROM duckdb_columns()"
            " WHERE schema_name = 'main' AND table_name = ? AND comment IS NOT NULL",
            [RECORDS],
        ).fetchall()
    )
    out = []
    for view, column in rows:
        text = docs.get((view, column)) or table_docs.get(column)
        if text:
            literal = "'" + text.replace("'", "''") + "'"
            out.append(f"COMMENT ON COLUMN {_quote(view)}.{_quote(column)} IS {literal}")
    return out


def _apply_comments(con: duckdb.DuckDBPyConnection) -> None:
    # One autocommit statement at a time, after the migration: a comment on a column a
    # newer schema dropped must not stop the store from opening (an error would abort
    # the migration's transaction). Table columns first: views pass their docs on.
    for statement in _comment_statements():
        try:
            con.execute(statement)
        except (duckdb.CatalogException, duckdb.BinderException) as e:
            log.warning("column comment not applied: %s", e)
    for statement in _view_comment_statements(con):
        try:
            con.execute(statement)
        except (duckdb.CatalogException, duckdb.BinderException) as e:
            log.warning("view column comment not applied: %s", e)


def _add_missing_columns(con: duckdb.DuckDBPyConnection, table: str, sch: pa.Schema) -> None:
    have = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns()"
            " WHERE table_name = ? AND schema_name = 'main'",
            [table],
        ).fetchall()
    }
    for f in sch:
        if f.name not in have:
            con.execute(
                f"ALTER TABLE {_quote(table)} ADD COLUMN {_quote(f.name)} {duckdb_type(f.type)}"
            )


# --- readers ------------------------------------------------------------------------
class StoreNotFoundError(FileNotFoundError):
    """Neither the DB file nor its snapshot exists."""


def open_reader(
    path: Path, snapshot_path: Path | None = None
) -> tuple[duckdb.DuckDBPyConnection, Path]:
    """A locked-down READ_ONLY connection for analysts and jobs, and the file it opened.

    Opens ``path`` itself when no writer holds it, else its snapshot (``snapshot_path``
    or ``<stem>.snapshot.duckdb``). The connection cannot touch the file system
    (read_csv, COPY TO, ATTACH, INSTALL/LOAD) or change that (``lock_configuration``).
    Raises StoreNotFoundError when neither file exists, duckdb.IOException when the DB is
    locked by a writer and there is no snapshot yet.
    """
    snap = snapshot_path or default_snapshot_path(path)
    candidates = [p for p in (path, snap) if p.is_file()]
    if not candidates:
        raise StoreNotFoundError(f"no armorwatch store at {path} (nor a snapshot at {snap})")
    last: Exception | None = None
    for candidate in candidates:
        try:
            con = duckdb.connect(str(candidate), read_only=True, config=dict(READER_CONFIG))
        except duckdb.IOException as e:  # locked by the writer: try the snapshot
            last = e
            continue
        return _current(con, candidate, path), candidate
    assert last is not None
    raise last


def _current(
    con: duckdb.DuckDBPyConnection, candidate: Path, path: Path
) -> duckdb.DuckDBPyConnection:
    """``con``, after upgrading a store an older armorwatch wrote (no writer holds it).

    Jobs read columns the old schema lacks (``suspect``): the store is migrated once, as
    a writer would on open. A snapshot of an older writer that still runs is refused.
    """
    version = stored_schema_version(con)
    if version is None or version >= S.SCHEMA_VERSION:
        return con
    con.close()
    if candidate != path:
        raise TerminalSinkError(
            f"{candidate} is a snapshot of schema v{version} written by an older armorwatch "
            f"that still runs; upgrade it (this version reads v{S.SCHEMA_VERSION})"
        )
    log.info("upgrading %s from schema v%s to v%s", path, version, S.SCHEMA_VERSION)
    rw = duckdb.connect(str(path))
    try:
        migrate(rw)
    finally:
        rw.close()
    return duckdb.connect(str(path), read_only=True, config=dict(READER_CONFIG))
