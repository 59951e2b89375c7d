"""Upkeep of an embedded store (SQLite catalog) beside its live writer: scheduled passes
run on the writer's own connection between group commits (``DuckDBSink.upkeep``), and
`armorwatch store upkeep` from cron refuses, in one line, while a writer has the store."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from armorwatch import metrics
from armorwatch.assembly.daemons import process
from armorwatch.assembly.settings import ProcessConfig
from armorwatch.ingest.kafka import KafkaSourceConfig
from armorwatch.parsers.envelope import Envelope
from armorwatch.sinks.duckdb import DuckDBConfig, DuckDBSink, ScheduledUpkeep, UpkeepConfig, upkeep
from armorwatch.sinks.kafka import KafkaSink
from armorwatch.sinks.store import data_dir
from tests.armorwatch.test_metrics import scrape
from tests.conftest import ROOT, Broker
from tests.integration.test_kafka import records, sink_config
from tests.sinks.test_duckdb import batch, denial
from tests.sinks.test_store_upkeep import count

pytest.importorskip("duckdb_ext")

pytestmark = pytest.mark.timeout(60)

OLD = 10
"""Envelopes (one row each) older than the retention."""
FRESH = 30
"""Envelopes (one row each) stored before the passes start."""


def files(sink: DuckDBSink) -> int:
    """Parquet files the lake lists for records, read beside the writer."""
    cur = sink.connection()
    try:
        row = cur.execute("SELECT count(*) FROM ducklake_list_files('lake', 'records')").fetchone()
    finally:
        cur.close()
    assert row is not None
    return int(row[0])


async def test_scheduled_upkeep_runs_on_the_writers_connection_while_it_commits(
    tmp_path: Path,
) -> None:
    """A writer committing one envelope after another while three or more scheduled
    passes run: no commit fails, rows past the retention are gone, the small files are
    merged, every acknowledged row is stored once."""
    db = tmp_path / "s.duckdb"
    now = dt.datetime.now(dt.UTC)
    old = now - dt.timedelta(days=100)
    # No inlining: every commit writes a Parquet file of its own (the tiny files to merge).
    async with DuckDBSink(DuckDBConfig(path=db, inline_rows=0, linger_s=0.005)) as sink:
        for i in range(OLD):
            await sink.send(Envelope(batch([denial(i, ts=old + dt.timedelta(seconds=i))])))
        for i in range(FRESH):
            await sink.send(Envelope(batch([denial(1000 + i, ts=now)])))
        before = files(sink)
        upkeep = ScheduledUpkeep(
            db,
            UpkeepConfig(interval_s=0.2, dedup_window_s=600, retention_days=30, snapshot_days=0),
            sink=sink,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(upkeep.run(stop))
        acked = 0  # fresh envelopes acknowledged while the passes run
        while upkeep.stats.passes + upkeep.stats.failures < 3:
            await sink.send(Envelope(batch([denial(5000 + acked, ts=now)])))
            acked += 1
        stop.set()
        await task
        await sink.send(Envelope(batch([denial(5000 + acked, ts=now)])))  # the writer goes on
        acked += 1
        after = files(sink)
        errors = sink.stats.commit_errors
    assert (upkeep.stats.failures, errors) == (0, 0)
    assert OLD == upkeep.stats.rows_deleted
    assert before >= OLD + FRESH
    assert after < before / 2, (before, after)
    stored = FRESH + acked
    assert stored == count(db, "SELECT count(*) FROM records")
    assert stored == count(db, "SELECT count(DISTINCT rid) FROM records")
    assert 0 == count(db, f"SELECT count(*) FROM records WHERE serial < {OLD}")


def store_upkeep(db: Path) -> subprocess.CompletedProcess[str]:
    """`armorwatch store upkeep --db DB --retention-days 30`, as cron runs it."""
    cmd = [sys.executable, "-m", "armorwatch.cli", "store", "upkeep", "--db", str(db),
           "--retention-days", "30"]  # fmt: skip
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=50)


async def test_store_upkeep_from_cron_refuses_in_one_line_while_a_writer_runs(
    tmp_path: Path,
) -> None:
    """`armorwatch store upkeep` on an embedded store a writer has open exits 1 with one
    line pointing at [process.upkeep], and the writer's commits go on; once the writer is
    gone the same command does the upkeep."""
    db = tmp_path / "s.duckdb"
    now = dt.datetime.now(dt.UTC)
    old = now - dt.timedelta(days=100)
    async with DuckDBSink(DuckDBConfig(path=db)) as sink:
        await sink.send(Envelope(batch([denial(i, ts=old) for i in range(5)])))
        busy = await asyncio.to_thread(store_upkeep, db)
        await sink.send(Envelope(batch([denial(10, ts=now)])))
        errors = sink.stats.commit_errors
    assert 1 == busy.returncode, busy.stderr
    lines = busy.stderr.strip().splitlines()
    assert 1 == len(lines), busy.stderr
    assert lines[0].startswith("armorwatch store upkeep: a writer")
    assert "[process.upkeep]" in lines[0]
    assert 0 == errors
    idle = await asyncio.to_thread(store_upkeep, db)
    assert 0 == idle.returncode, idle.stderr
    assert "records: 5 rows deleted" in idle.stdout
    assert 1 == count(db, "SELECT count(*) FROM records")


def metric(got: Mapping[tuple[str, Any], float], prefix: str) -> float:
    """The sum of the scraped samples whose name starts with ``prefix`` (at least one)."""
    values = [v for (name, _), v in got.items() if name.startswith(prefix)]
    assert values, f"no metric {prefix}"
    return sum(values)


@pytest.mark.integration
async def test_process_runs_upkeep_on_an_embedded_store(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    """`process` into an embedded store with [process.upkeep] interval_s = 0.3 runs passes
    on its writer while it consumes: none fails, no commit fails, every record is stored
    once."""
    topic = f"aw-{uuid.uuid4().hex[:10]}"
    db = tmp_path / "s.duckdb"
    config = ProcessConfig(
        kafka=KafkaSourceConfig(
            bootstrap_servers=kafka_broker.bootstrap,
            topics=(topic,),
            group_id=f"g-{topic}",
            max_batch_wait_s=0.1,
            dead_letter_path=tmp_path / "poison.jsonl",
            dead_letter_topic=None,
        ),
        store=DuckDBConfig(path=db, inline_rows=0),
        upkeep=UpkeepConfig(interval_s=0.3, dedup_window_s=600, retention_days=3650),
    )

    async def produce() -> None:
        async with KafkaSink(sink_config(kafka_broker.bootstrap, topic)) as sink:
            for i in range(8):  # keeps arriving while the passes run
                await sink.send(Envelope(records=records(i * 50, 50)))
                await asyncio.sleep(0.25)

    endpoint = metrics.MetricsServer("127.0.0.1:0")
    try:
        await asyncio.gather(produce(), process(config, [], exit_when_idle_s=2, endpoint=endpoint))
        got = scrape(endpoint)
    finally:
        endpoint.close()
    assert metric(got, "armorwatch_store_upkeep_passes") >= 1, sorted(n for n, _ in got)
    assert 0 == metric(got, "armorwatch_store_upkeep_failures")
    assert 0 == metric(got, "armorwatch_store_commit_errors")
    assert 400 == count(db, "SELECT count(*) FROM records")
    assert 400 == count(db, "SELECT count(DISTINCT rid) FROM records")


async def test_upkeep_deletes_files_no_commit_named_once_an_hour_old(tmp_path: Path) -> None:
    """A Parquet file no snapshot names (a writer killed between writing it and its
    catalog commit) is deleted by upkeep once it is over an hour old; a younger one (a
    commit still in flight) stays, and so does every stored row."""
    db = tmp_path / "s.duckdb"
    async with DuckDBSink(DuckDBConfig(path=db, inline_rows=0)) as sink:
        await sink.send(Envelope(records=records(0, 100)))
    stored = next((data_dir(db) / "main" / "records").glob("*.parquet"))
    old = stored.with_name("ducklake-killed-mid-commit.parquet")
    young = stored.with_name("ducklake-in-flight.parquet")
    for copy in (old, young):
        shutil.copy(stored, copy)
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    upkeep(db, retention_days=None)
    assert (False, True, True) == (old.exists(), young.exists(), stored.exists())
    assert 100 == count(db, "SELECT count(*) FROM records")
