"""The store's writer: group commits and de-duplication into the DuckLake of ``sinks.store``.

``DuckDBSink`` is the sink the processor writes to. Contract (see ``sinks.base``):
``send(envelope)`` returns only after the envelope's rows are committed to the lake (its
catalog holds the new snapshot; the Parquet files are written before).

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
sql/insert_records.sql; DuckLake prunes the Parquet files by their ts statistics), and
repeats inside one batch keep their first row, so replays and at-least-once redelivery
are stored once. With one writer rid stays unique (one transaction at a time). Several
writers (a PostgreSQL catalog) can both store rows redelivered to both at once: host-keyed
Kafka partitions prevent that, ``dedup_recent`` (scheduled upkeep) removes what a zombie
processor leaves (README "Several writers"). ``loss``
and ``rejects`` are small: their rid (of all columns) is anti-joined against the whole
table (DuckLake has no PRIMARY KEY).

Migrations. Table ``meta`` holds ``schema_version`` (``parsers.schema.SCHEMA_VERSION``
of the tables). Opening an older store adds any schema column a table lacks, then runs
``sql/migrate_<version>.sql`` for each newer version when such a file exists; a store
newer than the code is refused (TerminalSinkError). Column comments are rewritten when
this version defines them differently (``meta.catalog``: their hash). Macros and views
are TEMP, defined by ``sinks.store.open_store`` on every connection.

Readers. ``open_reader`` opens the lake READ_ONLY (``sinks.store.open_store``) while
the writer writes: each query sees the last snapshot committed before it started. No
copy of the store is made for readers.

Errors::

    SinkError (sinks.errors)
    ├── TransientSinkError   catalog unreachable or busy, I/O error, disk full
    └── TerminalSinkError    schema mismatch, store from a newer armorwatch, an old
                             single-file store (LegacyStoreError), closed sink
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from armorwatch.parsers import schema as S
from armorwatch.parsers import sqlfile
from armorwatch.parsers.envelope import Envelope
from armorwatch.sinks.base import SinkBase
from armorwatch.sinks.errors import SinkError, TerminalSinkError, TransientSinkError
from armorwatch.sinks.store import (
    LAKE,
    META,
    LegacyStoreError,
    StoreConfig,
    StoreNotFoundError,
    define_views,
    open_reader,
    open_store,
    parse_spec,
    stored_schema_version,
    writer_lock,
)

# re-exported: the commands catch / call them from here (open_reader and the schema check
# live in sinks.store, which imports no pyarrow: the readers do not need it)
__all__ = ["StoreNotFoundError", "open_reader", "stored_schema_version"]

log = logging.getLogger(__name__)

T = TypeVar("T")

RECORDS: str = "records"
LOSS: str = "loss"
REJECTS: str = "rejects"
PROFILE_STATE: str = "profile_state"
VIEWS: tuple[str, ...] = (
    "denials",
    "complain_events",
    "profile_status",
    "denials_by_profile_hour",
    "top_denied_objects",
    "new_denials",
    "profile_modes",
    "pod_profile_mismatches",
)
# Ingest metadata columns added in front of the schema columns of each table.
META_COLUMNS: tuple[tuple[str, str], ...] = (
    ("rid", "UUID NOT NULL"),
    ("ingested_at", "TIMESTAMPTZ NOT NULL"),
    ("batch_id", "BIGINT NOT NULL"),
)
META_COLUMN_NAMES: tuple[str, ...] = tuple(n for n, _ in META_COLUMNS)
OPEN_ATTEMPTS = 5
"""Times a writer tries to open the store (0.2, 0.4, 0.8, 1.6 s apart)."""

def sql_text(name: str) -> str:
    """What to run for ``sinks/sql/<name>`` (package data, header grammar of
    ``parsers.sqlfile``): the shared files it includes, then its own text."""
    return sqlfile.read("armorwatch.sinks", "sql", name.removesuffix(".sql")).text


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


def table_ddl(table: str, schema: pa.Schema) -> str:
    """CREATE TABLE for ``schema`` with the ingest metadata columns in front (no key:
    DuckLake has none; the inserts anti-join on rid)."""
    cols = [f"{_quote(n)} {t}" for n, t in META_COLUMNS]
    cols += [f"{_quote(f.name)} {duckdb_type(f.type)}" for f in schema]
    return f"CREATE TABLE IF NOT EXISTS {_quote(table)} (\n    " + ",\n    ".join(cols) + "\n)"


@dataclass(frozen=True)
class DuckDBConfig:
    """Settings of the DuckDB store."""

    CONFIG_REMOVED: ClassVar[dict[str, str]] = {
        key: "readers read the lake itself while the writer writes (no snapshot copy); "
        "delete the key"
        for key in ("snapshot_path", "snapshot_interval_s")
    }

    path: Path = Path("armorwatch.duckdb")
    """The store (``sinks.store.parse_spec``): a path names the embedded lake (SQLite
    catalog file, Parquet files in ``PATH.files/``), created when missing; a
    ``postgresql://…?data_path=…`` URL a PostgreSQL catalog."""
    batch_rows: int = 100_000
    """Commit as soon as this many rows wait (one transaction for all waiting envelopes)."""
    max_delay_s: float = 0.5
    """Longest an envelope waits for its group commit (the bound on ack latency)."""
    linger_s: float = 0.02
    """Commit when no envelope arrived for this long (a lone sequential sender's delay)."""
    max_pending_rows: int = 400_000
    """Rows that may wait for a commit before ``send`` blocks (backpressure)."""
    inline_rows: int = 1000
    """A commit of at most this many rows per table is kept in the catalog (DuckLake data
    inlining), not in a Parquet file of its own: no tiny files from small commits. SQLite
    catalogs only (DuckLake 1.4.4 cannot inline a BLOB into PostgreSQL)."""
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
    profile_state_rows: int = 0
    """Profile-state rows newly stored (a redelivered reading is stored once)."""
    commits: int = 0
    """Transactions committed."""
    commit_errors: int = 0
    """Transactions that failed (their envelopes got the error)."""
    pending_rows: int = 0
    """Rows waiting for a commit right now."""


@dataclass
class _Pending:
    records: list[pa.RecordBatch] = field(default_factory=list)
    loss: list[pa.RecordBatch] = field(default_factory=list)
    rejects: list[pa.RecordBatch] = field(default_factory=list)
    profile_state: list[pa.RecordBatch] = field(default_factory=list)
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
        self._lock_fd: int | None = None

    # --- lifecycle ----------------------------------------------------------------
    async def open(self) -> None:
        """Open (creating or migrating) the store and start the committer; idempotent."""
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
        """Commit what waits and close; idempotent."""
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
        await self._enqueue(
            records=envelope.records, loss=envelope.loss, profile_state=envelope.profile_state
        )
        self.stats.envelopes += 1

    async def send_rejects(self, rejects: pa.RecordBatch) -> None:
        """Store parser rejects (REJECT_SCHEMA) in table rejects; returns after commit."""
        await self._enqueue(rejects=rejects)

    def connection(self) -> duckdb.DuckDBPyConnection:
        """A cursor on the writer's database for in-process readers (jobs in `run`).

        It is a separate connection to the writer's database instance: DuckDB's MVCC gives
        it a consistent view of committed rows while the writer thread keeps committing.
        TEMP macros and views are per connection, so they are defined on it here.
        Use it from one thread at a time and close it when done.
        """
        if self._con is None:
            raise TerminalSinkError("DuckDBSink is not open")
        cur = self._con.cursor()
        try:
            cur.execute(f"USE {LAKE}")
            define_views(cur, comments=False)
        except BaseException:
            cur.close()
            raise
        return cur

    async def upkeep(
        self,
        *,
        retention_days: float | None,
        snapshot_days: float = 7.0,
        dedup_window_s: float | None = None,
    ) -> UpkeepCounts:
        """``upkeep_on`` the writer's own connection, on its thread between two group
        commits: the embedded store's upkeep (a second DuckDB writing its SQLite catalog
        would fail this writer's commits). Envelopes sent meanwhile wait for the next
        commit (bounded by ``max_pending_rows``). Raises TransientSinkError."""
        if self._con is None:
            await self.open()

        def run() -> UpkeepCounts:
            con = self._con
            if con is None:
                raise TerminalSinkError("DuckDBSink is closed")
            try:
                return upkeep_on(
                    con,
                    retention_days=retention_days,
                    snapshot_days=snapshot_days,
                    dedup_window_s=dedup_window_s,
                )
            except duckdb.Error as e:
                with contextlib.suppress(duckdb.Error):
                    con.rollback()  # a failed step may leave its transaction open
                raise TransientSinkError(f"upkeep of {self.config.path} failed: {e}") from e

        result: UpkeepCounts = await self._run(run)
        return result

    # --- internals: queueing ------------------------------------------------------
    async def _enqueue(
        self,
        records: pa.RecordBatch | None = None,
        loss: pa.RecordBatch | None = None,
        rejects: pa.RecordBatch | None = None,
        profile_state: pa.RecordBatch | None = None,
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
            ("profile_state", profile_state, S.PROFILE_STATE_SCHEMA),
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
        if "profile_state" in parts:
            p.profile_state.append(parts["profile_state"])
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
                await self._run(self._commit_sync, p.records, p.loss, p.rejects, p.profile_state)
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
        try:
            store = parse_spec(cfg.path)
        except ValueError as e:
            raise TerminalSinkError(str(e)) from e
        try:
            self._lock_fd = writer_lock(store)
        except OSError as e:
            raise TransientSinkError(f"cannot open {cfg.path} for writing: {e}") from e
        try:
            self._open_lake(store)
        except BaseException:
            self._unlock()
            raise

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _open_lake(self, store: StoreConfig) -> None:
        cfg = self.config
        for attempt in range(OPEN_ATTEMPTS):
            try:
                con = open_store(
                    store,
                    read_only=False,
                    threads=cfg.threads,
                    memory_limit=cfg.memory_limit,
                    setup=migrate,
                    # duckdb-ext-ducklake 1.4.4 inlines a BLOB into PostgreSQL as a text
                    # literal PostgreSQL rejects (raw with auditd's 0x1d separator).
                    inline_rows=cfg.inline_rows if store.kind == "sqlite" else 0,
                )
                break
            except LegacyStoreError as e:
                raise TerminalSinkError(str(e)) from e
            except OSError as e:
                raise TransientSinkError(f"cannot open {cfg.path} for writing: {e}") from e
            except (TransientSinkError, duckdb.Error) as e:
                # Writers starting together on a new PostgreSQL catalog race to create
                # it and its tables; the loser's transaction conflicts. Try again.
                if attempt + 1 == OPEN_ATTEMPTS:
                    if isinstance(e, TransientSinkError):
                        raise
                    raise TransientSinkError(f"cannot open {store.label}: {e}") from e
                log.info("opening %s failed (%s); retrying", store.label, e)
                time.sleep(0.2 * 2**attempt)
        try:
            # No per-commit counter row in meta: every writer rewriting one row would
            # make concurrent writers (a PostgreSQL catalog) conflict on each commit.
            row = con.execute(sql_text("last_batch_id.sql")).fetchone()
            self._batch_id = int(row[0]) if row and row[0] is not None else 0
        except BaseException:
            con.close()
            raise
        self._con = con

    def _commit_sync(
        self,
        records: Sequence[pa.RecordBatch],
        loss: Sequence[pa.RecordBatch],
        rejects: Sequence[pa.RecordBatch],
        profile_state: Sequence[pa.RecordBatch] = (),
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
                (PROFILE_STATE, "insert_profile_state.sql", profile_state, S.PROFILE_STATE_SCHEMA),
            ):
                if not batches:
                    continue
                stage = _decoded(pa.Table.from_batches(batches, schema=sch))
                con.register("_stage", stage)
                try:
                    args: dict[str, Any] = dict(params)
                    if table == RECORDS:
                        sql_file = self._records_insert(con, stage, args)
                    elif table == PROFILE_STATE:  # its anti-join reads the batch's ts range
                        bounds = pc.min_max(stage.column(S.TS))
                        args["lo"], args["hi"] = bounds["min"].as_py(), bounds["max"].as_py()
                    # An INSERT returns the number of rows it stored (skipped ones excluded).
                    row = con.execute(sql_text(sql_file), args).fetchone()
                    counts[table] = int(row[0]) if row else 0
                finally:
                    con.unregister("_stage")
            con.commit()
        except duckdb.Error as e:
            self.stats.commit_errors += 1
            with contextlib.suppress(duckdb.Error):
                con.rollback()
            if isinstance(e, duckdb.IOException) and "No space left" in str(e):
                # ENOSPC writing a Parquet file: nothing is committed, the caller retries
                # (no ack: a processor holds its Kafka offsets) until space is freed.
                raise TransientSinkError(
                    f"DuckDB commit failed: the store's data path is full: {e}"
                ) from e
            if "disk I/O error" in str(e) or "database or disk is full" in str(e):
                # SQLite's words for the same on an embedded store's catalog (its WAL
                # cannot grow): transient too, the next commit works once space is freed.
                raise TransientSinkError(
                    f"DuckDB commit failed: the store's catalog cannot be written (disk "
                    f"full or failing): {e}"
                ) from e
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
        self.stats.profile_state_rows += counts.get(PROFILE_STATE, 0)

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

    def _close_sync(self) -> None:
        con = self._con
        if con is None:
            return
        self._con = None
        try:
            con.close()
        finally:
            self._unlock()


def _decoded(table: pa.Table) -> pa.Table:
    """``table`` with its dictionary columns decoded: duckdb 1.4.4 crashes (SIGSEGV) when
    a registered Arrow dictionary column goes through DISTINCT ON or a window function
    and is then materialised."""
    for i, f in enumerate(table.schema):
        if pa.types.is_dictionary(f.type):
            col = table.column(i)
            table = table.set_column(
                i, pa.field(f.name, f.type.value_type), pc.cast(col, f.type.value_type)
            )
    return table


# --- schema and migrations ----------------------------------------------------------
# The tables that hold one Arrow schema's columns (after the ingest metadata columns).
_TABLE_SCHEMAS: tuple[tuple[str, pa.Schema], ...] = (
    (RECORDS, S.MAC_SCHEMA),
    (LOSS, S.LOSS_SCHEMA),
    (REJECTS, S.REJECT_SCHEMA),
    (PROFILE_STATE, S.PROFILE_STATE_SCHEMA),  # v6
)


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Create or upgrade the lake's tables and comments to SCHEMA_VERSION; return the old
    version (0 for a new store).

    Runs in one transaction: a failed migration leaves the store as it was.
    """
    con.begin()
    try:
        old = stored_schema_version(con)
        if old is not None and old > S.SCHEMA_VERSION:
            raise TerminalSinkError(
                f"the store has schema version {old}, newer than this armorwatch "
                f"({S.SCHEMA_VERSION}); upgrade armorwatch"
            )
        con.execute(f"CREATE TABLE IF NOT EXISTS {META} (key VARCHAR NOT NULL, value VARCHAR)")
        for table, sch in _TABLE_SCHEMAS:
            con.execute(table_ddl(table, sch))
        if old is not None:
            con.execute(sql_text("macros.sql"))  # migration scripts recompute rids
            # Columns first: duckdb 1.4 refuses to commit an UPDATE of a table that is
            # ALTERed later in the same transaction.
            for table, sch in _TABLE_SCHEMAS:
                _add_missing_columns(con, table, sch)
            for version in range(old + 1, S.SCHEMA_VERSION + 1):
                step = resources.files("armorwatch.sinks").joinpath("sql", f"migrate_{version}.sql")
                if step.is_file():
                    con.execute(sql_text(f"migrate_{version}"))
        # Comments are rewritten only when this version defines them differently: ~300
        # COMMENT statements (each a lake snapshot) cost seconds on every writer open.
        fingerprint = _catalog_fingerprint()
        row = con.execute(f"SELECT value FROM {META} WHERE key = 'catalog'").fetchone()
        fresh = old == S.SCHEMA_VERSION and row is not None and row[0] == fingerprint
        if old != S.SCHEMA_VERSION:
            _set_meta(con, "schema_version", str(S.SCHEMA_VERSION))
        if not fresh:
            _apply_comments(con)
            _set_meta(con, "catalog", fingerprint)
        con.commit()
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.rollback()
        raise
    return old or 0


def _set_meta(con: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    """meta[key] = value (no upsert in DuckLake: delete, insert; inside the caller's
    transaction)."""
    con.execute(f"DELETE FROM {META} WHERE key = ?", [key])
    con.execute(f"INSERT INTO {META} VALUES (?, ?)", [key, value])


def _catalog_fingerprint() -> str:
    """What the table and column comments of this version are made of."""
    text = "\n".join(_comment_statements())
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


def _apply_comments(con: duckdb.DuckDBPyConnection) -> None:
    # Inside the migration's transaction: every column commented exists by then (added
    # by table_ddl or _add_missing_columns). View columns get theirs per connection
    # (sinks.store.define_views: the views are TEMP).
    for statement in _comment_statements():
        con.execute(statement)


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


# --- migration of a single-file store ------------------------------------------------
@dataclass(frozen=True)
class CopyCounts:
    """Rows ``copy_legacy`` read from the old store and newly stored in the lake."""

    schema_version: int
    """The old store's schema version."""
    read: dict[str, int]
    """Rows per table in the old store."""
    stored: dict[str, int]
    """Rows per table the lake did not hold yet (0 everywhere on a second run)."""


def copy_legacy(old: Path, spec: str | Path) -> CopyCounts:
    """Copy the single-file DuckDB store ``old`` (any schema version) into the lake
    ``spec``, in one transaction; idempotent: a row whose rid the lake holds is skipped.

    Columns the old version lacks stay NULL; records' rid is recomputed from the record
    (schema v2 derived it from the record's position). Takes the writer lock: no writer
    may run meanwhile. Raises StoreNotFoundError, TerminalSinkError (not a DuckDB file,
    or a newer schema), TransientSinkError.
    """
    if not old.is_file():
        raise StoreNotFoundError(f"no store file at {old}")
    store = parse_spec(spec)
    if store.catalog_file is not None and store.catalog_file.resolve() == old.resolve():
        raise TerminalSinkError(f"the lake must be another path than {old} (--db NEW)")
    fd = writer_lock(store)
    try:
        con = open_store(store, read_only=False, setup=migrate)
        try:
            return _copy_legacy(con, old)
        finally:
            con.close()
    finally:
        if fd is not None:
            os.close(fd)


def _copy_legacy(con: duckdb.DuckDBPyConnection, old: Path) -> CopyCounts:
    try:
        con.execute(f"ATTACH {_literal(str(old))} AS legacy (READ_ONLY)")
    except duckdb.Error as e:
        raise TerminalSinkError(f"{old} is no DuckDB store: {e}") from e
    try:
        con.execute("USE legacy")
        version = stored_schema_version(con)
        con.execute(f"USE {LAKE}")
        if version is None:
            raise TerminalSinkError(f"{old} holds no armorwatch store (no meta table)")
        if version > S.SCHEMA_VERSION:
            raise TerminalSinkError(
                f"{old} has schema version {version}, newer than this armorwatch "
                f"({S.SCHEMA_VERSION}); upgrade armorwatch"
            )
        read: dict[str, int] = {}
        stored: dict[str, int] = {}
        con.begin()
        try:
            for table, _ in _TABLE_SCHEMAS:
                have = {
                    r[0]
                    for r in con.execute(
                        "SELECT column_name FROM duckdb_columns() WHERE database_name = 'legacy'"
                        " AND schema_name = 'main' AND table_name = ?",
                        [table],
                    ).fetchall()
                }
                if not have:
                    continue
                row = con.execute(f"SELECT count(*) FROM legacy.main.{_quote(table)}").fetchone()
                read[table] = int(row[0]) if row else 0
                stored[table] = _copy_table(con, table, have)
            con.commit()
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.rollback()
            raise
    except duckdb.Error as e:
        raise TransientSinkError(f"copying {old} into the lake failed: {e}") from e
    finally:
        with contextlib.suppress(duckdb.Error):
            con.execute(f"USE {LAKE}")
            con.execute("DETACH legacy")
    return CopyCounts(schema_version=version, read=read, stored=stored)


def _copy_table(con: duckdb.DuckDBPyConnection, table: str, have: set[str]) -> int:
    """Insert the old ``table``'s rows the lake lacks (by rid); the number stored."""
    lake_columns = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = ?"
            " AND schema_name = 'main' AND table_name = ? ORDER BY column_index",
            [LAKE, table],
        ).fetchall()
    ]
    common = [c for c in lake_columns if c in have and c != "rid"]
    select = ", ".join(_quote(c) for c in common)
    rid = (
        "aw_record_rid(host, boot_id, ts, serial, record_type, raw)" if table == RECORDS else "rid"
    )
    sql = (
        f"INSERT INTO {_quote(table)} BY NAME "
        f"WITH s AS (SELECT DISTINCT ON (rid) * FROM "
        f"(SELECT {rid} AS rid, {select} FROM legacy.main.{_quote(table)})) "
        f"SELECT * FROM s WHERE rid NOT IN (SELECT t.rid FROM {_quote(table)} AS t)"
    )
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# --- upkeep -----------------------------------------------------------------------------
@dataclass(frozen=True)
class UpkeepCounts:
    """What ``upkeep`` did."""

    deleted: dict[str, int]
    """Rows deleted per table (older than the retention)."""
    files_before: int
    """Data files the lake listed before."""
    files_after: int
    """Data files it lists after."""
    duplicates: dict[str, int] = field(default_factory=dict)
    """Later copies of a rid deleted per table (``dedup_recent``); empty when not run."""


DEDUP_TABLES: tuple[str, ...] = (RECORDS, LOSS, REJECTS)
ORPHAN_AGE_S = 3600.0
"""Upkeep deletes a data file no snapshot names once it is this old (by its mtime): far
longer than any commit takes to get from writing its files to its catalog commit."""


def dedup_recent(con: duckdb.DuckDBPyConnection, window_s: float) -> dict[str, int]:
    """Delete the later copies of every rid among the rows committed in the last
    ``window_s`` seconds (records, loss, rejects; the first committed copy stays, one
    transaction per table); the rows deleted per table.

    Why: the insert's anti-join sees only committed rows, so two writers committing the
    same redelivered rows at the same time both store them (bench/bench_lake_writers.py:
    55,000 of 75,000). Host-keyed Kafka partitions with an orderly handover prevent that;
    what is left is a zombie processor still committing after its partitions moved on.
    This pass closes that gap when ``window_s`` covers the time since the previous pass
    plus the longest commit and the consumer session timeout. ``ingested_at`` is each
    writer's clock: skew between processors must stay well below the window.
    """
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=window_s)
    deleted: dict[str, int] = {}
    for table in DEDUP_TABLES:
        args: dict[str, Any] = {"since": since}
        if table == RECORDS:
            row = con.execute(
                "SELECT count(*), min(ts), max(ts), bool_or(ts IS NULL) FROM records"
                " WHERE ingested_at >= ?",
                [since],
            ).fetchone()
            if not row or not row[0]:
                deleted[table] = 0
                continue
            args.update(lo=row[1], hi=row[2], null_ts=bool(row[3]))
        out = con.execute(sql_text(f"dedup_{table}.sql"), args).fetchone()
        deleted[table] = int(out[0]) if out else 0
    return deleted


class StoreBusyError(TerminalSinkError):
    """``upkeep`` of an embedded store while its writer runs (it holds the writer lock)."""


def upkeep(
    spec: str | Path,
    *,
    retention_days: float | None,
    snapshot_days: float = 7.0,
    dedup_window_s: float | None = None,
) -> UpkeepCounts:
    """Retention and compaction of the lake ``spec`` on a connection of its own
    (``upkeep_on``).

    Takes no writer lock on a PostgreSQL catalog (it stores no records): it runs beside
    the writers there. An embedded store (SQLite catalog) is upkept by its running writer
    itself (``DuckDBSink.upkeep``, ``[process.upkeep]``): a second DuckDB writing into the
    SQLite catalog would make that writer's commits fail ("database is locked"), so this
    takes the writer lock and raises StoreBusyError when a writer holds it.
    """
    store = parse_spec(spec)
    if store.catalog_file is not None and not store.catalog_file.is_file():
        raise StoreNotFoundError(f"no armorwatch store at {store.label}")
    try:
        fd = writer_lock(store)
    except TransientSinkError as e:
        raise StoreBusyError(
            f"a writer (armorwatch process/collect) has the embedded store {store.label} "
            "open: upkeep it from that writer, [process.upkeep] in its config "
            "(interval_s, retention_days), or run this while no writer runs"
        ) from e
    try:
        con = open_store(store, read_only=False)
        try:
            return upkeep_on(
                con,
                retention_days=retention_days,
                snapshot_days=snapshot_days,
                dedup_window_s=dedup_window_s,
            )
        except duckdb.Error as e:
            raise TransientSinkError(f"upkeep of {store.label} failed: {e}") from e
        finally:
            con.close()
    finally:
        if fd is not None:
            os.close(fd)


def upkeep_on(
    con: duckdb.DuckDBPyConnection,
    *,
    retention_days: float | None,
    snapshot_days: float = 7.0,
    dedup_window_s: float | None = None,
) -> UpkeepCounts:
    """Retention and compaction of the lake ``con`` has attached, each step its own
    transaction (no transaction may be open on ``con``); raises duckdb.Error.

    Deletes records and loss rows whose ``ts`` (rejects: ``ingested_at``) is older than
    ``retention_days`` (None: keep everything), moves inlined rows into Parquet files,
    merges adjacent small files, expires snapshots older than ``snapshot_days`` (the
    time-travel horizon; deleted rows keep their files until then) and removes the files
    no snapshot references any more, and those no commit ever named (``ORPHAN_AGE_S``
    old). With ``dedup_window_s``, first deletes the later copies of a rid among the rows
    committed in that many seconds (``dedup_recent``).
    """
    before = _data_files(con)
    deleted: dict[str, int] = {}
    if retention_days is not None:
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=retention_days)
        # profile_state too: a live collector re-sends its reading every resend_s, so
        # the hosts' current modes stay within any retention.
        tables = ((RECORDS, S.TS), (LOSS, S.TS), (REJECTS, "ingested_at"), (PROFILE_STATE, S.TS))
        for table, column in tables:
            row = con.execute(
                f"DELETE FROM {_quote(table)} WHERE {_quote(column)} < ?", [cutoff]
            ).fetchone()
            deleted[table] = int(row[0]) if row else 0
    duplicates = dedup_recent(con, dedup_window_s) if dedup_window_s else {}
    horizon = dt.datetime.now(dt.UTC) - dt.timedelta(days=snapshot_days)
    con.execute(f"CALL ducklake_flush_inlined_data('{LAKE}')")
    con.execute(f"CALL ducklake_merge_adjacent_files('{LAKE}')")
    con.execute(f"CALL ducklake_expire_snapshots('{LAKE}', older_than => ?)", [horizon])
    # The files of the snapshots just expired go now: only a query running since
    # before the horizon could still read them.
    con.execute(f"CALL ducklake_cleanup_old_files('{LAKE}', cleanup_all => true)")
    # Files no commit names: a writer killed mid-commit, a disk that filled up mid-file.
    # Only older ones: a live writer's commit in flight has its files but no catalog rows.
    orphans = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=ORPHAN_AGE_S)
    con.execute(f"CALL ducklake_delete_orphaned_files('{LAKE}', older_than => ?)", [orphans])
    return UpkeepCounts(
        deleted=deleted,
        files_before=before,
        files_after=_data_files(con),
        duplicates=duplicates,
    )


def _data_files(con: duckdb.DuckDBPyConnection) -> int:
    total = 0
    for table, _ in _TABLE_SCHEMAS:
        row = con.execute(
            f"SELECT count(*) FROM ducklake_list_files('{LAKE}', ?)", [table]
        ).fetchone()
        total += int(row[0]) if row else 0
    return total


# --- scheduled upkeep (armorwatch process) -----------------------------------------------
@dataclass(frozen=True)
class UpkeepConfig:
    """Upkeep a processor runs on its store while it writes (``[process.upkeep]``)."""

    interval_s: float = 300.0
    """Seconds between passes (the first one after this long); 0 (or less) turns scheduled
    upkeep off (run ``armorwatch store upkeep`` from cron instead; on an embedded store it
    runs only while no writer has the store open)."""
    dedup_window_s: float = 900.0
    """Each pass first deletes the later copies of a rid among the rows committed in the
    last this many seconds (several processors: a zombie's late commit); must cover the
    interval plus the longest commit and the consumer session timeout. 0: no dedup pass."""
    retention_days: float | None = None
    """Delete rows older than this many days; None keeps every row."""
    snapshot_days: float = 7.0
    """Keep snapshots (``query --at``) this many days; older ones expire, their files go."""


@dataclass
class UpkeepStats:
    """Counters of the scheduled upkeep, read by the metrics endpoint."""

    passes: int = 0
    """Upkeep passes that completed."""
    failures: int = 0
    """Upkeep passes that failed (logged; the next pass tries again)."""
    duplicates_deleted: int = 0
    """Later copies of a rid the dedup passes deleted (records, loss, rejects)."""
    rows_deleted: int = 0
    """Rows the retention deleted."""


class ScheduledUpkeep:
    """``upkeep`` of one store every ``interval_s`` beside its writer; a failed pass is
    logged and counted, never fatal.

    A PostgreSQL catalog: on a thread and connection of its own (ingest never waits for
    it). An embedded store (SQLite catalog): on the writer's own connection between two
    group commits (``DuckDBSink.upkeep``; a second DuckDB writing the SQLite catalog would
    fail the writer's commits), so ``sink`` is needed there; without it no pass runs."""

    def __init__(
        self, store: str | Path, config: UpkeepConfig, sink: DuckDBSink | None = None
    ) -> None:
        self.store = store
        self.config = config
        self.sink = sink
        self.stats = UpkeepStats()

    async def run(self, stop: asyncio.Event) -> None:
        """Run a pass every ``interval_s`` until ``stop`` is set (at once when off)."""
        cfg = self.config
        if cfg.interval_s <= 0:
            return
        embedded = parse_spec(self.store).kind == "sqlite"
        if embedded and self.sink is None:
            log.info(
                "store upkeep: not scheduled on an embedded store (SQLite catalog) "
                "without its writer"
            )
            return
        if 0 < cfg.dedup_window_s < cfg.interval_s:
            log.warning(
                "store upkeep: dedup_window_s (%g) is shorter than interval_s (%g): rows "
                "committed between two passes are not checked for duplicates",
                cfg.dedup_window_s, cfg.interval_s,
            )  # fmt: skip
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-upkeep") as pool:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), cfg.interval_s)
                if stop.is_set():
                    return
                if embedded:
                    await self.run_on_writer()
                else:
                    await loop.run_in_executor(pool, self.run_once)

    def run_once(self) -> UpkeepCounts | None:
        """One pass on a connection of its own (blocking); its counts, or None when it
        failed."""
        cfg = self.config
        started = time.monotonic()
        try:
            done = upkeep(
                self.store,
                retention_days=cfg.retention_days,
                snapshot_days=cfg.snapshot_days,
                dedup_window_s=cfg.dedup_window_s or None,
            )
        except (SinkError, OSError, duckdb.Error) as e:
            # A concurrent pass of another processor conflicts, the catalog is down: the
            # next pass tries again, ingest goes on.
            self._failed(e)
            return None
        return self._done(done, started)

    async def run_on_writer(self) -> UpkeepCounts | None:
        """One pass on the writer's connection (``DuckDBSink.upkeep``); its counts, or None
        when it failed."""
        assert self.sink is not None
        cfg = self.config
        started = time.monotonic()
        try:
            done = await self.sink.upkeep(
                retention_days=cfg.retention_days,
                snapshot_days=cfg.snapshot_days,
                dedup_window_s=cfg.dedup_window_s or None,
            )
        except (SinkError, OSError) as e:
            self._failed(e)
            return None
        return self._done(done, started)

    def _failed(self, e: Exception) -> None:
        self.stats.failures += 1
        log.warning("store upkeep failed (retried in %gs): %s", self.config.interval_s, e)

    def _done(self, done: UpkeepCounts, started: float) -> UpkeepCounts:
        self.stats.passes += 1
        self.stats.duplicates_deleted += sum(done.duplicates.values())
        self.stats.rows_deleted += sum(done.deleted.values())
        log.info(
            "store upkeep: %d duplicate and %d expired rows deleted, data files %d -> %d "
            "(%.1fs)",
            sum(done.duplicates.values()), sum(done.deleted.values()),
            done.files_before, done.files_after, time.monotonic() - started,
        )  # fmt: skip
        return done
