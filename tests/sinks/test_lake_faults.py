"""Faults of the lake under a writer: the data directory full (a real tmpfs, mounted as
root: skipped when mounting is not permitted) and kill -9 of `armorwatch process`
mid-commit with a PostgreSQL catalog (real broker, real server). Every record ends up
stored exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from armorwatch import metrics
from armorwatch.assembly.daemons import process
from armorwatch.assembly.settings import ProcessConfig
from armorwatch.ingest.kafka import KafkaSourceConfig
from armorwatch.parsers.envelope import Envelope
from armorwatch.sinks.duckdb import DuckDBConfig, DuckDBSink, UpkeepConfig
from armorwatch.sinks.errors import TransientSinkError
from armorwatch.sinks.kafka import KafkaSink
from armorwatch.sinks.store import data_dir
from tests.conftest import ROOT, Broker
from tests.harness.poll import until
from tests.harness.postgres import Postgres
from tests.integration.test_kafka import records, sink_config
from tests.sinks.test_lake_postgres_restart import commit_errors
from tests.sinks.test_store_upkeep import count, lake_url

pytest.importorskip("duckdb_ext")

pytestmark = pytest.mark.timeout(60)

FILLER = "filler"


@contextlib.contextmanager
def tmpfs(directory: Path) -> Iterator[None]:
    """A 16 MB tmpfs mounted at ``directory``, unmounted at the end (skip when mounting is
    not permitted)."""
    directory.mkdir(parents=True, exist_ok=True)
    mount = ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(directory)]
    try:
        done = subprocess.run(mount, capture_output=True, text=True, timeout=10)
    except (FileNotFoundError, PermissionError) as e:
        pytest.skip(f"cannot mount a tmpfs: {e}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=True, timeout=10)


def fill(directory: Path) -> Path:
    """Fill the file system of ``directory`` up to its last 4 KB with a file; the file
    (remove it to free the space)."""
    filler = directory / FILLER
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
        os.ftruncate(f.fileno(), max(0, f.tell() - 4096))
    return filler


async def new_store(db: Path | str) -> None:
    """Create the store ``db`` (its tables and meta rows written)."""
    async with DuckDBSink(DuckDBConfig(path=db, inline_rows=0)):  # type: ignore[arg-type]
        pass


async def test_full_data_directory_is_transient_and_loses_nothing(tmp_path: Path) -> None:
    """With the data directory full, a commit fails with a TransientSinkError saying so
    (no ack, nothing stored); once space is freed the same envelopes are stored once."""
    db = tmp_path / "s.duckdb"
    with tmpfs(data_dir(db)):
        # No inlining: the rows go to a Parquet file in the full directory.
        async with DuckDBSink(DuckDBConfig(path=db, inline_rows=0)) as sink:
            filler = fill(data_dir(db))
            first = Envelope(records=records(0, 5000))
            with pytest.raises(TransientSinkError, match="data path is full"):
                await sink.send(first)
            assert 1 == sink.stats.commit_errors
            assert 0 == count(db, "SELECT count(*) FROM records")
            filler.unlink()  # space freed: the caller's retry goes through
            await sink.send(first)
            await sink.send(Envelope(records=records(4000, 2000)))  # overlaps: stored once
        assert 6000 == count(db, "SELECT count(*) FROM records")
        assert 6000 == count(db, "SELECT count(DISTINCT rid) FROM records")


async def test_full_disk_under_the_catalog_is_transient_and_loses_nothing(
    tmp_path: Path,
) -> None:
    """With the disk of an embedded store's SQLite catalog full (small commits are inlined
    into the catalog), a commit fails with a TransientSinkError saying so; once space is
    freed the same envelope is stored once."""
    disk = tmp_path / "disk"
    db = disk / "s.duckdb"
    with tmpfs(disk):
        async with DuckDBSink(DuckDBConfig(path=db)) as sink:
            await sink.send(Envelope(records=records(0, 50)))
            filler = fill(disk)
            second = Envelope(records=records(50, 50))
            with pytest.raises(TransientSinkError, match="catalog cannot be written"):
                await sink.send(second)
            filler.unlink()
            await sink.send(second)
        assert 100 == count(db, "SELECT count(*) FROM records")
        assert 100 == count(db, "SELECT count(DISTINCT rid) FROM records")


@pytest.mark.integration
async def test_process_backs_off_while_the_data_directory_is_full(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    """`process` into an embedded store whose data directory is full: its commits fail
    (counted), it acknowledges nothing to Kafka and retries; once space is freed every
    record is stored exactly once."""
    topic = f"aw-{uuid.uuid4().hex[:10]}"
    db = tmp_path / "s.duckdb"
    config = ProcessConfig(
        kafka=KafkaSourceConfig(
            bootstrap_servers=kafka_broker.bootstrap,
            topics=(topic,),
            group_id=f"g-{topic}",
            max_batch_wait_s=0.1,
            store_retry_initial_s=0.1,
            store_retry_max_s=0.5,
            dead_letter_path=tmp_path / "poison.jsonl",
            dead_letter_topic=None,
        ),
        store=DuckDBConfig(path=db, inline_rows=0),
        upkeep=UpkeepConfig(interval_s=0),
    )
    endpoint = metrics.MetricsServer("127.0.0.1:0")

    async def produce(filler: Path) -> None:
        async with KafkaSink(sink_config(kafka_broker.bootstrap, topic)) as sink:
            for i in range(4):
                await sink.send(Envelope(records=records(i * 500, 500)))
            await until(lambda: commit_errors(endpoint) >= 2, timeout=40)
            filler.unlink()
            for i in range(4, 8):
                await sink.send(Envelope(records=records(i * 500, 500)))

    try:
        with tmpfs(data_dir(db)):
            await new_store(db)
            filler = fill(data_dir(db))
            await asyncio.gather(
                produce(filler), process(config, [], exit_when_idle_s=8, endpoint=endpoint)
            )
            assert commit_errors(endpoint) >= 2
            assert 4000 == count(db, "SELECT count(*) FROM records")
            assert 4000 == count(db, "SELECT count(DISTINCT rid) FROM records")
    finally:
        endpoint.close()


SIZE = 137
"""Records per envelope: a commit stores whole envelopes, so the stored count is always a
multiple of it (a partial commit would show)."""
KILLS = 2


def parquet_files(directory: Path) -> int:
    """Parquet files under ``directory`` (committed or not)."""
    return sum(1 for _ in directory.rglob("*.parquet"))


def stored(url: str) -> tuple[int, int]:
    """(rows, distinct rids) of the lake's records."""
    return (
        count(url, "SELECT count(*) FROM records"),
        count(url, "SELECT count(DISTINCT rid) FROM records"),
    )


@pytest.mark.integration
@pytest.mark.timeout(120)
async def test_kill9_of_process_mid_commit_stores_every_record_once(
    kafka_broker: Broker, postgres: Postgres, tmp_path: Path
) -> None:
    """`armorwatch process` on a PostgreSQL catalog is killed with SIGKILL twice while it
    commits (once as a commit's Parquet file appears, once at a random moment) and
    restarted: no partial commit is ever visible and, after redelivery, every produced
    record is stored exactly once."""
    topic = f"aw-{uuid.uuid4().hex[:10]}"
    url = lake_url(postgres, tmp_path / "lake")
    config = tmp_path / "process.toml"
    config.write_text(
        "[process.kafka]\n"
        "session_timeout_ms = 3000\n"
        "heartbeat_interval_ms = 300\n"
        "max_batch_wait_s = 0.1\n"
        "store_retry_initial_s = 0.1\n"
        f'dead_letter_path = "{tmp_path / "poison.jsonl"}"\n'
        "[process.upkeep]\n"
        "interval_s = 0\n"
    )
    cmd = [
        sys.executable, "-m", "armorwatch.cli", "process", "--config", str(config),
        "--kafka", kafka_broker.bootstrap, "--topic", topic, "--group", f"g-{topic}",
        "--db", url,
    ]  # fmt: skip
    killing = asyncio.Event()
    sent = 0  # envelopes produced

    async def produce() -> None:
        nonlocal sent
        async with KafkaSink(sink_config(kafka_broker.bootstrap, topic)) as sink:
            while not killing.is_set():
                await sink.send(Envelope(records=records(sent * SIZE, SIZE)))
                sent += 1
                await asyncio.sleep(0.05)

    await new_store(url)
    rng = random.Random(14)
    producer = asyncio.create_task(produce())
    seen: list[int] = []  # rows stored after each kill
    try:
        for kill in range(KILLS):
            before = (await asyncio.to_thread(stored, url))[0]
            proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.DEVNULL)
            try:
                # Killed once it has committed something new: commits keep coming then.
                deadline = time.monotonic() + 40
                while (await asyncio.to_thread(stored, url))[0] <= before:
                    assert proc.poll() is None, "the processor exited"
                    assert time.monotonic() < deadline, "the processor stored nothing"
                    await asyncio.sleep(0.05)
                if kill == 0:
                    # The moment a commit's Parquet file appears: its catalog commit is
                    # still to come (the file is written first).
                    files = parquet_files(tmp_path / "lake")
                    while parquet_files(tmp_path / "lake") <= files:
                        assert time.monotonic() < deadline, "the processor stopped writing"
                        await asyncio.sleep(0.002)
                else:
                    await asyncio.sleep(rng.uniform(0, 0.4))
            finally:
                os.kill(proc.pid, signal.SIGKILL)
                await asyncio.to_thread(proc.wait)
            rows, distinct = await asyncio.to_thread(stored, url)
            assert rows == distinct and rows % SIZE == 0, (rows, distinct)
            seen.append(rows)
        killing.set()
        await producer
        # The last run takes over what the killed ones had not acknowledged.
        final = subprocess.run(
            [*cmd, "--exit-when-idle", "5"], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
    finally:
        killing.set()
        await producer
    assert 0 == final.returncode, final.stderr[-2000:]
    rows, distinct = stored(url)
    assert (sent * SIZE, sent * SIZE) == (rows, distinct), seen
