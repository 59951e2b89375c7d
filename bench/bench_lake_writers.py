"""DuckLake store: several writers, exactly once; small commits, file count, bytes, readers.

DESIGN NOTE (measured with this script, 2026-12-02)
==================================================
Recommendation for the write path (issue 14): **host-keyed partitions + the anti-join,
plus a windowed dedup compaction as the safety net**; no commit-time serialization.

- The anti-join alone does NOT keep rid unique with two writers: DuckLake's conflict
  check lets two concurrent appends to one table both commit (it refuses two
  transactions that update or delete in the same file, not two inserts). Of the 75,000
  redelivered rows (15 racing 5,000-row batches) 55,000, 55,000 and 45,000 were stored
  twice in three runs. Nothing was ever lost.
- Host-keyed partitions (the Kafka sink already keys by host) with an orderly handover
  (ingest/kafka.py stores and commits before a revocation completes): 0 duplicates, no
  cost per commit. The hole is a zombie: a member expelled by the session timeout while
  its commit is still running races the new owner exactly like the anti-join case above.
- A unique check at commit works: ``conflict`` (each transaction also updates a one-row
  lake table; DuckLake refuses the second of two overlapping commits, which retries and
  then sees the first one's rows): 0 duplicates, 30-46 retries per run (each retry
  rewrites its Parquet file); ``advisory`` (pg_advisory_lock around insert + commit): 0
  duplicates, no retries. Both serialize the commits of ALL writers, the thing several
  processors are for, and the advisory lock lives on a separate PostgreSQL session (not
  a fence when that connection drops mid-commit).
- A dedup compaction (DELETE of every row whose rid an older row holds) removes what the
  race leaves: 0 duplicates after the passes, 0.28-0.60 s per pass over the whole
  300k-row table; readers saw up to 15,000-40,000 doubled rows between 2 s passes. Over
  only the rows committed in the last 10 s (``compaction-window``) it caught the same
  duplicates, 0.32-0.39 s per pass: no difference at 300k rows, but its cost stays flat
  as the table grows. Since with host-keyed partitions duplicates need a zombie, run it
  with the upkeep schedule (window > the longest commit + session timeout), not every
  few seconds.

Figures (1M-line audit.log -> 301,697 records with unique rid, 5,000-row commits, 25 % of
the batches written by both writers; PostgreSQL 15 catalog, local data dir). The 2-core
machine was shared with other jobs (load average 12-20), so rows/s move by 2x between
runs and the order of the strategies changes from run to run: compare duplicates and
retries, not speed; no scaling figure can be read out of these.

    strategy            run A rows/s  run B rows/s  run D rows/s  duplicates left
    single (1 writer)          6,739        12,388        13,469                0
    duckdb-file (old, 1 w.)    5,783         6,783         8,691                0
    antijoin                  13,114        10,636        15,058  55,000/55,000/45,000
    hostkeyed                  9,234        11,603        20,157                0
    conflict                   4,883         8,119        16,283                0
    advisory                   5,444        10,052        12,509                0
    compaction                 5,562        12,070        14,208    0 after passes
    compaction-window              -             -        14,257    0 after passes

(``single`` ran with a reader process querying beside it; ``hostkeyed``'s B waits for
the handover, so its wall time includes idle time.)

Other figures (same runs):

- Bytes per record: 114 B with one Parquet file per 5,000-row commit (61 files), 108 B
  after ``ducklake_merge_adjacent_files`` (2 files), against 280-285 B for the old single
  DuckDB file in the same runs (84.4-86.0 MB; README's 290 B). The PostgreSQL catalog
  database was 8.9 MB in all (PostgreSQL's own per-database baseline included).
- Reader latency while one writer commits 5,000-row batches (a new transaction per
  query, 179-205 queries a run): ``count(*)`` p50 41-85 ms, p99 162-452 ms; a group-by
  over the profile p50 40-88 ms, p99 236-436 ms.
- Merge of 61 files -> 1: 6.0 s; the group-by scan 92-104 ms before, 32-101 ms after
  (no reliable gain at 61 files of 5,000 rows; see the small commits for 300 files).
- Small commits (300 commits of 100 rows, one run):
  PostgreSQL catalog, no inlining: 300 files, 159 ms/commit, scan 432 ms; merge 4.0 s ->
  1 file, scan 25 ms; expire + cleanup removed the 300 old files in 0.24 s.
  SQLite catalog, no inlining: 300 files, 200 ms/commit, scan 128 ms; merge 3.5 s ->
  1 file, scan 64 ms.
  SQLite catalog, ``DATA_INLINING_ROW_LIMIT 1000``: 0 files, 386 ms/commit;
  ``ducklake_flush_inlined_data`` 2.1 s -> 1 file.
  PostgreSQL catalog with inlining: every commit FAILS with duckdb-ext-ducklake
  1.4.4.20260205: the inlined ``raw`` BLOB is sent as a text literal PostgreSQL rejects
  ("invalid input syntax for type bytea" on bytes such as auditd's 0x1d separator). So:
  no inlining on PostgreSQL (``DATA_INLINING_ROW_LIMIT 0``); keep files in check with a
  scheduled merge + ``ducklake_expire_snapshots`` + ``ducklake_cleanup_old_files`` (at
  one 5,000-row commit per 0.5 s that is ~7,200 files an hour before a merge).

What is measured (one run, side by side, on a real PostgreSQL 15 catalog started by
``tests/harness/postgres.py`` and a local data directory):

1. **Multi-writer exactly-once.** The records of a generated audit.log (parsed by
   ``parsers.stream``, rid computed by ``sinks/sql/macros.sql`` as the store does) are cut
   into batches. Two writer processes write them into one lake; a share of the batches
   (``--overlap``, default 25 %) is written by BOTH, as after a Kafka rebalance with
   redelivery (the new owner re-reads from the last committed offset while the old owner
   commits the same rows). Strategies:

   - ``antijoin``: each transaction inserts only rids not yet in ``records`` (the
     single-file store's SQL). Both writers hit the shared batches at the same time.
   - ``hostkeyed``: host-keyed partitions, one writer per partition at a time: the
     shared batches are a partition handed over from A to B, which B re-reads only after
     A has committed (what a revocation callback that waits for the in-flight commit
     gives), plus the anti-join. Other partitions are written concurrently.
   - ``conflict``: the anti-join, and every transaction also updates one row of a tiny
     lake table ``commit_lock``: DuckLake's optimistic concurrency then refuses the
     second of two overlapping commits ("Transaction conflict"), which is retried and
     whose anti-join then sees the first one's rows. A unique check at commit, done by
     the lake itself.
   - ``advisory``: the anti-join inside a PostgreSQL advisory lock (``pg_advisory_lock``
     on the catalog database through DuckDB's postgres extension) held from before the
     insert until after the commit: the same serialization, pessimistic (no wasted work).
   - ``compaction``: ``antijoin`` writers, and a periodic dedup pass (``--compact-every``
     seconds, and once at the end) deleting every row whose rid an older row holds;
     ``compaction-window``: the same pass only over rows committed in the last
     ``--compact-window-s`` seconds (the final pass is the full one, as a check).
   - ``single``: one writer, no overlap (the reference), and ``duckdb-file``: the same
     single writer into one DuckDB file (the old store).

   Reported: distinct rows stored per second of wall time (both writers, start barrier
   to last commit), duplicate rows left when the writers stop (and after the final
   compaction), conflicts retried, and that no rid is missing.

2. **Small commits and files.** ``--small-commits`` commits of ``--small-rows`` rows with
   data inlining off (``DATA_INLINING_ROW_LIMIT 0``) and on: Parquet files the lake
   holds, then after ``ducklake_flush_inlined_data`` / ``ducklake_merge_adjacent_files``
   (+ expire and cleanup), with the time each takes and a scan's time before and after.

3. **Bytes per record**: the data files of the ``single`` lake (after merging) and the
   catalog database's size, per stored record, next to the old DuckDB file's 290 B.

4. **Reader latency during ingest**: a reader process runs a count and a group-by over
   ``records`` in a loop (a new transaction each time: it sees the newest snapshot) while
   one writer commits; p50/p99 of each query.

Run: ``.venv/bin/python bench/bench_lake_writers.py [--lines 1000000] [--json OUT]``.
Needs PostgreSQL (Debian ``postgresql``; ``make apt``) and the duckdb-ext-* wheels.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import multiprocessing as mp
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import gen_auditlog  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from armorwatch.parsers import schema as S  # noqa: E402
from armorwatch.parsers import sqlfile  # noqa: E402
from armorwatch.parsers.result import HostInfo  # noqa: E402
from armorwatch.parsers.stream import Parser  # noqa: E402
from tests.harness.postgres import Postgres, start_postgres  # noqa: E402

HOST = HostInfo("bench-host", "bench-machine", "bench-boot")
CHUNK = 8 << 20
OLD_BYTES_PER_RECORD = 290  # the single-file store: 1M-line audit.log -> 306,237 rows -> 87 MB
MAX_RETRIES = 200
LOCK_KEY = 0x61776C6B  # "awlk": the advisory lock's key

# The single-file store's insert (sinks/sql/insert_records.sql) on a stage that already
# holds rid: only rids not stored in the batch's ts range are inserted.
INSERT = """
INSERT INTO records BY NAME
SELECT $ingested_at AS ingested_at, $batch_id AS batch_id, *
FROM _stage
WHERE rid NOT IN (SELECT r.rid FROM records AS r WHERE r.ts BETWEEN $lo AND $hi)
  AND rid NOT IN (SELECT r.rid FROM records AS r WHERE $null_ts AND r.ts IS NULL)
"""
# Every row whose rid an older row (smaller batch_id, then rowid) holds.
DEDUP = """
DELETE FROM records WHERE rowid IN (
    SELECT rowid FROM (
        SELECT rowid, row_number() OVER (PARTITION BY rid ORDER BY batch_id, rowid) AS n
        FROM records
        WHERE rid IN (SELECT rid FROM records GROUP BY rid HAVING count(*) > 1)
    ) WHERE n > 1
)
"""
# The same, only among rows committed since $since: two copies of one rid come from one
# rebalance, so both are recent, and DuckLake skips the files of older commits by their
# ingested_at statistics.
DEDUP_WINDOW = """
DELETE FROM records WHERE rowid IN (
    SELECT rowid FROM (
        SELECT rowid, row_number() OVER (PARTITION BY rid ORDER BY batch_id, rowid) AS n
        FROM records
        WHERE ingested_at >= $since
          AND rid IN (
              SELECT rid FROM records WHERE ingested_at >= $since
              GROUP BY rid HAVING count(*) > 1
          )
    ) WHERE n > 1
)
"""
READER_QUERIES = {
    "count": "SELECT count(*) FROM records",
    "by_profile": (
        f"SELECT {S.PROFILE}, count(*) AS n FROM records GROUP BY ALL ORDER BY n DESC LIMIT 10"
    ),
}


# --- the lake -------------------------------------------------------------------------
def extension_directory() -> str:
    """The extension folder of the duckdb-ext-* wheels (nothing downloaded at run time)."""
    import duckdb_ext

    return str(Path(next(iter(duckdb_ext.__path__))) / "extensions")


def connect_lake(dsn: str, data: Path, inline_rows: int = 0) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the lake attached and in use (``sinks.store`` does this
    for the product; duplicated here so the benchmark runs against any state of it).

    ``dsn`` is a libpq string (PostgreSQL catalog) or ``sqlite:PATH`` (embedded catalog).
    """
    con = duckdb.connect(
        config={
            "extension_directory": extension_directory(),
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
    )
    con.execute("SET enable_progress_bar = false; LOAD ducklake; LOAD postgres; LOAD sqlite")
    catalog = dsn if dsn.startswith("sqlite:") else f"postgres:{dsn}"
    con.execute(
        f"ATTACH 'ducklake:{catalog}' AS lake "
        f"(DATA_PATH '{data}/', DATA_INLINING_ROW_LIMIT {int(inline_rows)})"
    )
    con.execute("USE lake")
    return con


def connect_file(path: str) -> duckdb.DuckDBPyConnection:
    """A connection to the old single-file store (no progress bar in the output)."""
    con = duckdb.connect(path)
    con.execute("SET enable_progress_bar = false")
    return con


def create_tables(con: duckdb.DuckDBPyConnection, stage: Path) -> None:
    """``records`` (ingested_at, batch_id, rid, MAC_SCHEMA columns) and ``commit_lock``."""
    con.execute(
        "CREATE TABLE records AS SELECT now()::TIMESTAMPTZ AS ingested_at, 0::BIGINT AS "
        f"batch_id, * FROM read_parquet('{stage}') LIMIT 0"
    )
    con.execute("CREATE TABLE commit_lock (n BIGINT)")
    con.execute("INSERT INTO commit_lock VALUES (0)")


# --- the data -------------------------------------------------------------------------
def stage_file(audit_log: Path, cache: Path) -> Path:
    """Parquet of the log's records with rid (unique), built once per log file."""
    out = cache / f"lake-stage-{audit_log.stem}.parquet"
    if out.is_file() and out.stat().st_mtime >= audit_log.stat().st_mtime:
        return out
    parser = Parser(S.SOURCE_AUDITLOG, HOST, framing="audit")
    batches = []
    with audit_log.open("rb") as f:
        offset = 0
        while data := f.read(CHUNK):
            r = parser.feed(data, offset)
            offset += len(data)
            if r.records.num_rows:
                batches.append(r.records)
    r = parser.flush()
    if r.records.num_rows:
        batches.append(r.records)
    table = pa.Table.from_batches(batches, schema=S.MAC_SCHEMA)
    # Dictionary columns as plain values: the lake stores the value type.
    cols = [
        c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns
    ]
    plain = pa.Table.from_arrays(cols, names=table.column_names)
    con = duckdb.connect()
    con.execute(sqlfile.read("armorwatch.sinks", "sql", "macros").text)
    con.register("parsed", plain)
    key = ", ".join(S.KEY_COLUMNS)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    con.execute(
        f"COPY (SELECT aw_record_rid({key}) AS rid, * FROM parsed "
        f"QUALIFY row_number() OVER (PARTITION BY aw_record_rid({key})) = 1 ORDER BY ts) "
        f"TO '{tmp}' (FORMAT parquet)"
    )
    con.close()
    os.replace(tmp, out)
    return out


def cut(rows: int, batch_rows: int) -> list[tuple[int, int]]:
    """[start, end) row ranges of consecutive batches."""
    return [(s, min(s + batch_rows, rows)) for s in range(0, rows, batch_rows)]


def schedules(n_batches: int, overlap: float) -> tuple[list[int], list[int], list[int], int]:
    """Batch indexes of writer A, of writer B, the shared (redelivered) ones, and where in
    both lists the shared run starts (the "rebalance": half of each writer's own batches
    before it, half after)."""
    n_shared = round(n_batches * overlap)
    start = (n_batches - n_shared) // 2
    shared = list(range(start, start + n_shared))
    rest = [i for i in range(n_batches) if i not in set(shared)]
    own_a, own_b = rest[0::2], rest[1::2]
    h = min(len(own_a), len(own_b)) // 2
    return own_a[:h] + shared + own_a[h:], own_b[:h] + shared + own_b[h:], shared, h


# --- writers --------------------------------------------------------------------------
def _commit(
    con: duckdb.DuckDBPyConnection,
    stage: pa.Table,
    batch_id: int,
    strategy: str,
) -> tuple[int, int]:
    """Insert one batch in one transaction with the strategy's guard; (inserted, retries)."""
    ts = stage.column(S.TS)
    bounds = pc.min_max(ts)
    params = {
        "ingested_at": dt.datetime.now(dt.UTC),
        "batch_id": batch_id,
        "lo": bounds["min"].as_py(),
        "hi": bounds["max"].as_py(),
        "null_ts": ts.null_count > 0,
    }
    retries = 0
    con.register("_stage", stage)
    try:
        while True:
            locked = False
            try:
                if strategy == "advisory":
                    con.execute(
                        "SELECT * FROM postgres_query('pgc', "
                        f"'SELECT pg_advisory_lock({LOCK_KEY})')"
                    ).fetchall()
                    locked = True
                con.execute("BEGIN")
                if strategy == "conflict":
                    con.execute("UPDATE commit_lock SET n = n + 1")
                row = con.execute(INSERT, params).fetchone()
                con.execute("COMMIT")
                return (int(row[0]) if row else 0), retries
            except duckdb.TransactionException as e:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                # Only a lost race is retried; anything else is a real failure.
                if "conflict" not in str(e).lower() or retries >= MAX_RETRIES:
                    raise RuntimeError(f"commit failed: {str(e)[:400]}") from None
                retries += 1
                time.sleep(random.uniform(0.005, 0.05))
            finally:
                if locked:
                    con.execute(
                        "SELECT * FROM postgres_query('pgc', "
                        f"'SELECT pg_advisory_unlock({LOCK_KEY})')"
                    ).fetchall()
    finally:
        con.unregister("_stage")


def writer(
    name: str,
    target: dict[str, Any],
    stage_path: str,
    ranges: list[tuple[int, int]],
    order: list[int],
    strategy: str,
    start: Any,
    wait_for: Any,
    wait_before: list[int],
    done_event: Any,
    signal_after: int | None,
    results: Any,
) -> None:
    """One writer process: commit the batches ``order`` names; report its figures."""
    stage = pq.read_table(stage_path)
    if target["kind"] == "lake":
        con = connect_lake(target["dsn"], Path(target["data"]), target.get("inline", 0))
        if strategy == "advisory":
            con.execute(f"ATTACH '{target['dsn']}' AS pgc (TYPE postgres)")
    else:
        con = connect_file(target["path"])
    batch_base = 1_000_000 if name == "B" else 0
    inserted = retries = 0
    commit_s: list[float] = []
    start.wait()
    t0 = time.perf_counter()
    for k, i in enumerate(order):
        if wait_for is not None and k in wait_before:
            wait_for.wait()  # the handover (hostkeyed) or the rebalance (the others)
        s, e = ranges[i]
        c0 = time.perf_counter()
        n, r = _commit(con, stage.slice(s, e - s), batch_base + i, strategy)
        commit_s.append(time.perf_counter() - c0)
        inserted += n
        retries += r
        if signal_after is not None and i == signal_after and done_event is not None:
            done_event.set()
    elapsed = time.perf_counter() - t0
    con.close()
    results.put(
        {
            "writer": name,
            "batches": len(order),
            "inserted": inserted,
            "retries": retries,
            "seconds": elapsed,
            "commit_p50_ms": 1000 * statistics.median(commit_s) if commit_s else 0,
        }
    )


def reader(dsn: str, data: str, stop: Any, results: Any, inline: int = 0) -> None:
    """Run READER_QUERIES in a loop until ``stop``; report each query's latencies."""
    con = connect_lake(dsn, Path(data), inline)
    lat: dict[str, list[float]] = {k: [] for k in READER_QUERIES}
    while not stop.is_set():
        for k, q in READER_QUERIES.items():
            t = time.perf_counter()
            con.execute(q).fetchall()
            lat[k].append(time.perf_counter() - t)
    con.close()
    results.put(lat)


def run_writers(
    pg: Postgres,
    tmp: Path,
    stage_path: Path,
    rows: int,
    batch_rows: int,
    overlap: float,
    strategy: str,
    compact_every: float,
    with_reader: bool = False,
    compact_window_s: float = 10.0,
) -> dict[str, Any]:
    """One strategy end to end on a fresh lake (or DuckDB file); its figures."""
    ranges = cut(rows, batch_rows)
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    start = ctx.Event()
    work = tmp / strategy
    work.mkdir()
    if strategy == "duckdb-file":
        target: dict[str, Any] = {"kind": "file", "path": str(work / "store.duckdb")}
        con = connect_file(target["path"])
        con.execute(
            "CREATE TABLE records AS SELECT now()::TIMESTAMPTZ AS ingested_at, 0::BIGINT AS "
            f"batch_id, * FROM read_parquet('{stage_path}') LIMIT 0"
        )
    else:
        target = {"kind": "lake", "dsn": pg.new_database(), "data": str(work / "data")}
        con = connect_lake(target["dsn"], Path(target["data"]))
        create_tables(con, stage_path)
    con.close()

    procs = []
    handover = None
    if strategy in ("single", "duckdb-file"):
        plans: list[tuple[str, list[int], Any, list[int], int | None]]
        plans = [("A", list(range(len(ranges))), None, [], None)]
    else:
        a, b, shared, h = schedules(len(ranges), overlap)
        if strategy == "hostkeyed":
            # B writes its own partitions first and the handed-over one (shared) only
            # once A, its previous owner, has committed all of it.
            handover = ctx.Event()
            b = [i for i in b if i not in shared] + shared
            wait_before = [len(b) - len(shared)]
            plans = [
                ("A", a, None, [], shared[-1]),
                ("B", b, handover, wait_before, None),
            ]
        else:
            # The rebalance: both writers reach the shared batches together (the old
            # owner still committing what the new owner re-reads) and write them in the
            # same order, each commit racing the other's.
            rebalance = ctx.Barrier(2)
            plans = [("A", a, rebalance, [h], None), ("B", b, rebalance, [h], None)]
    for name, order, wait_for, wait_before, signal_after in plans:
        p = ctx.Process(
            target=writer,
            args=(
                name,
                target,
                str(stage_path),
                ranges,
                order,
                "antijoin" if strategy.startswith(("compaction", "hostkeyed")) else strategy,
                start,
                wait_for,
                wait_before,
                handover if signal_after is not None else None,
                signal_after,
                results,
            ),
        )
        p.start()
        procs.append(p)
    stop_reader = ctx.Event()
    rproc = None
    if with_reader:
        rproc = ctx.Process(
            target=reader, args=(target["dsn"], target["data"], stop_reader, results)
        )
        rproc.start()
    compactions: list[float] = []
    deleted_passes: list[int] = []
    stop_compactor = threading.Event()

    def compactor() -> None:
        ccon = connect_lake(target["dsn"], Path(target["data"]))
        while not stop_compactor.wait(compact_every):
            t = time.perf_counter()
            try:
                if strategy == "compaction-window":
                    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=compact_window_s)
                    row = ccon.execute(DEDUP_WINDOW, {"since": since}).fetchone()
                else:
                    row = ccon.execute(DEDUP).fetchone()
            except duckdb.TransactionException:
                continue  # another delete won; the next pass catches up
            compactions.append(time.perf_counter() - t)
            deleted_passes.append(int(row[0]) if row else 0)
        ccon.close()

    cthread = None
    time.sleep(3.0)  # let the processes load the stage and attach
    t0 = time.perf_counter()
    start.set()
    if strategy.startswith("compaction"):
        cthread = threading.Thread(target=compactor)
        cthread.start()
    outs = [results.get(timeout=1800) for _ in procs]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join()
    if cthread is not None:
        stop_compactor.set()
        cthread.join()
    lat = None
    if rproc is not None:
        stop_reader.set()
        lat = results.get(timeout=120)
        rproc.join()

    if target["kind"] == "lake":
        con = connect_lake(target["dsn"], Path(target["data"]))
    else:
        con = connect_file(target["path"])
    total, distinct = row_of(con, "SELECT count(*), count(DISTINCT rid) FROM records")
    out: dict[str, Any] = {
        "strategy": strategy,
        "rows": rows,
        "batches": len(ranges),
        "stored": total,
        "distinct": distinct,
        "missing": rows - distinct,
        "duplicates": total - distinct,
        "wall_s": wall,
        "rows_per_s": distinct / wall,
        "retries": sum(o["retries"] for o in outs),
        "writers": outs,
    }
    if strategy.startswith("compaction"):
        t = time.perf_counter()
        row = con.execute(DEDUP).fetchone()
        out["final_compaction_s"] = time.perf_counter() - t
        # What one pass deletes is what readers saw doubled just before it.
        out["deleted_live"] = sum(deleted_passes)
        out["deleted_max_pass"] = max(deleted_passes, default=0)
        out["deleted_final"] = int(row[0]) if row else 0
        out["compaction_passes"] = len(compactions)
        out["compaction_p50_s"] = statistics.median(compactions) if compactions else None
        total, distinct = row_of(con, "SELECT count(*), count(DISTINCT rid) FROM records")
        out["duplicates_after_compaction"] = total - distinct
        out["missing_after_compaction"] = rows - distinct
    if lat is not None:
        out["reader"] = {
            k: {
                "n": len(v),
                "p50_ms": 1000 * statistics.median(v),
                "p99_ms": 1000 * percentile(v, 0.99),
            }
            for k, v in lat.items()
        }
    if target["kind"] == "lake":
        out["files"] = row_of(con, "SELECT count(*) FROM ducklake_list_files('lake', 'records')")[0]
        out["data_dir"] = target["data"]
        out["dsn"] = target["dsn"]
    else:
        con.execute("CHECKPOINT")
        out["file_bytes"] = Path(target["path"]).stat().st_size
    con.close()
    return out


def row_of(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    """The one row ``sql`` returns."""
    row = con.execute(sql).fetchone()
    assert row is not None, sql
    return row


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of ``values``."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * len(s)) - 1))]


# --- files, bytes ---------------------------------------------------------------------
def dir_bytes(path: Path) -> tuple[int, int]:
    """(files, bytes) under ``path``."""
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def scan_ms(con: duckdb.DuckDBPyConnection) -> float:
    """Median ms of a full group-by scan of records (3 runs)."""
    times = []
    for _ in range(3):
        t = time.perf_counter()
        con.execute(READER_QUERIES["by_profile"]).fetchall()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def upkeep(con: duckdb.DuckDBPyConnection) -> float:
    """Expire every old snapshot and delete the files no snapshot references; seconds."""
    t = time.perf_counter()
    con.execute("CALL ducklake_expire_snapshots('lake', older_than => now())")
    con.execute("CALL ducklake_cleanup_old_files('lake', cleanup_all => true)")
    return time.perf_counter() - t


def small_commits(
    pg: Postgres,
    tmp: Path,
    stage_path: Path,
    commits: int,
    rows_each: int,
    inline: int,
    catalog: str,
) -> dict[str, Any]:
    """``commits`` one-batch transactions of ``rows_each`` rows; files before/after upkeep."""
    work = tmp / f"small-{catalog}-inline{inline}"
    data = work / "data"
    work.mkdir()
    dsn = pg.new_database() if catalog == "postgres" else f"sqlite:{work / 'catalog.sqlite'}"
    con = connect_lake(dsn, data, inline)
    create_tables(con, stage_path)
    stage = pq.read_table(stage_path)
    out: dict[str, Any] = {"catalog": catalog, "inline_rows": inline}
    t = time.perf_counter()
    try:
        for i in range(commits):
            _commit(con, stage.slice(i * rows_each, rows_each), i, "antijoin")
    except RuntimeError as e:
        out["error"] = str(e)[:300]
        con.close()
        return out
    out |= {
        "commits": commits,
        "rows_each": rows_each,
        "commit_ms": 1000 * (time.perf_counter() - t) / commits,
        "files_after_commits": row_of(
            con, "SELECT count(*) FROM ducklake_list_files('lake', 'records')"
        )[0],
        "scan_ms_before": scan_ms(con),
    }
    if inline:
        t = time.perf_counter()
        con.execute("CALL ducklake_flush_inlined_data('lake')")
        out["flush_s"] = time.perf_counter() - t
        out["files_after_flush"] = row_of(
            con, "SELECT count(*) FROM ducklake_list_files('lake', 'records')"
        )[0]
    t = time.perf_counter()
    con.execute("CALL ducklake_merge_adjacent_files('lake')")
    out["merge_s"] = time.perf_counter() - t
    out["files_after_merge"] = row_of(
        con, "SELECT count(*) FROM ducklake_list_files('lake', 'records')"
    )[0]
    out["disk_files_before_cleanup"] = dir_bytes(data)[0]
    out["cleanup_s"] = upkeep(con)
    out["disk_files_after_cleanup"] = dir_bytes(data)[0]
    out["scan_ms_after"] = scan_ms(con)
    con.close()
    return out


def bytes_per_record(pg: Postgres, single: dict[str, Any]) -> dict[str, Any]:
    """Disk per stored record of the ``single`` lake: data files and catalog, merged."""
    data = Path(single["data_dir"])
    con = connect_lake(single["dsn"], data)
    rows = single["distinct"]
    files0, bytes0 = dir_bytes(data)
    scan0 = scan_ms(con)
    t = time.perf_counter()
    con.execute("CALL ducklake_merge_adjacent_files('lake')")
    merge_s = time.perf_counter() - t
    upkeep(con)
    files1, bytes1 = dir_bytes(data)
    scan1 = scan_ms(con)
    dbname = single["dsn"].rsplit("dbname=", 1)[1]
    con.execute(f"ATTACH '{single['dsn']}' AS pgc (TYPE postgres, READ_ONLY)")
    catalog = row_of(
        con, f"SELECT * FROM postgres_query('pgc', 'SELECT pg_database_size(''{dbname}'')')"
    )[0]
    con.close()
    return {
        "rows": rows,
        "files_before_merge": files0,
        "bytes_per_record_before_merge": bytes0 / rows,
        "files_after_merge": files1,
        "bytes_per_record_after_merge": bytes1 / rows,
        "merge_s": merge_s,
        "scan_ms_before_merge": scan0,
        "scan_ms_after_merge": scan1,
        "catalog_bytes": catalog,
        "old_store_bytes_per_record": OLD_BYTES_PER_RECORD,
    }


# --- main -----------------------------------------------------------------------------
STRATEGIES = (
    "single",
    "duckdb-file",
    "antijoin",
    "hostkeyed",
    "conflict",
    "advisory",
    "compaction",
    "compaction-window",
)


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="bench-lake-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--lines", type=int, default=1_000_000, help="audit.log lines (default 1M)")
    ap.add_argument("--audit-log", type=Path, help="use this generated log instead")
    ap.add_argument("--batch-rows", type=int, default=5_000, help="rows per commit (5000)")
    ap.add_argument("--overlap", type=float, default=0.25, help="share written twice (0.25)")
    ap.add_argument("--compact-every", type=float, default=2.0, help="dedup pass period, s")
    ap.add_argument(
        "--compact-window-s", type=float, default=10.0, help="compaction-window's window, s"
    )
    ap.add_argument("--small-commits", type=int, default=300, help="small commits (300; 0 skips)")
    ap.add_argument("--small-rows", type=int, default=100, help="rows per small commit (100)")
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--json", type=Path, help="write the raw figures here")
    args = ap.parse_args(argv)

    log = args.audit_log or gen_auditlog.ensure(args.lines)[0]
    stage_path = stage_file(log, HERE / ".data")
    rows = pq.ParquetFile(stage_path).metadata.num_rows
    print(f"{rows} records with unique rid from {log.name}", flush=True)
    report: dict[str, Any] = {"rows": rows, "log": log.name, "strategies": {}}
    pg = start_postgres()
    try:
        with workdir() as tmp:
            for strategy in filter(None, args.strategies.split(",")):
                r = run_writers(
                    pg,
                    tmp,
                    stage_path,
                    rows,
                    args.batch_rows,
                    args.overlap,
                    strategy,
                    args.compact_every,
                    with_reader=strategy == "single",
                    compact_window_s=args.compact_window_s,
                )
                report["strategies"][strategy] = r
                print(json.dumps({k: v for k, v in r.items() if k != "writers"}), flush=True)
            if "single" in report["strategies"]:
                report["bytes"] = bytes_per_record(pg, report["strategies"]["single"])
                print(json.dumps(report["bytes"]), flush=True)
            report["small_commits"] = [
                small_commits(
                    pg, tmp, stage_path, args.small_commits, args.small_rows, inline, catalog
                )
                for catalog in ("postgres", "sqlite")
                for inline in (0, 1000)
                if args.small_commits
            ]
            for s in report["small_commits"]:
                print(json.dumps(s), flush=True)
    finally:
        pg.stop()
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
