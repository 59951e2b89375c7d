"""The Kafka transport against the real broker: delivery, outages, crashes, rebalances."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pyarrow as pa
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from armorwatch.ingest.kafka import KafkaSource, KafkaSourceConfig
from armorwatch.parsers import schema as S
from armorwatch.parsers.envelope import Envelope
from armorwatch.sinks.duckdb import DuckDBConfig, DuckDBSink
from armorwatch.sinks.errors import TerminalSinkError
from armorwatch.sinks.kafka import KafkaConfig, KafkaSink, encode_batch
from armorwatch.sinks.store import open_store
from tests.conftest import ROOT, Broker, free_port, start_broker

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def records(first: int, n: int, host: str = "h1") -> pa.RecordBatch:
    """``n`` MAC records of ``host`` with serials first..first+n-1 (distinct keys)."""
    return S.batch_from_rows(
        [
            {
                S.TS: 1_763_000_000_000 + i,
                S.HOST: host,
                S.BOOT_ID: "boot-1",
                S.SERIAL: i,
                S.RECORD_TYPE: "AVC",
                S.ORDINAL: 0,
                S.APPARMOR: S.AA_DENIED,
                S.PROFILE: f"/usr/bin/p{i % 5}",
                S.RAW: f'type=AVC msg=audit(1.0:{i}): apparmor="DENIED"'.encode(),
            }
            for i in range(first, first + n)
        ]
    )


def topic_name() -> str:
    """A fresh topic per test."""
    return f"aw-{uuid.uuid4().hex[:10]}"


def sink_config(bootstrap: str, topic: str, **kw: object) -> KafkaConfig:
    """Producer settings for the Tansu broker (no producer ids: idempotence off)."""
    return KafkaConfig(
        bootstrap_servers=bootstrap,
        topic=topic,
        enable_idempotence=False,
        partitions=4,
        retry_backoff_initial_s=0.1,
        retry_backoff_max_s=0.5,
        **{"request_timeout_ms": 3000, **kw},  # type: ignore[arg-type]
    )


def send(bootstrap: str, topic: str, envelope: Envelope) -> None:
    """Deliver one envelope to ``topic`` through the real KafkaSink (acknowledged)."""

    async def produce() -> None:
        sink = KafkaSink(sink_config(bootstrap, topic))
        await sink.open()
        try:
            await sink.send(envelope)
        finally:
            await sink.close()

    asyncio.run(produce())


def source_config(bootstrap: str, topic: str, group: str, **kw: object) -> KafkaSourceConfig:
    """Consumer settings with short waits so tests stay fast."""
    return KafkaSourceConfig(
        bootstrap_servers=bootstrap,
        topics=(topic,),
        group_id=group,
        max_batch_wait_s=0.2,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        **kw,  # type: ignore[arg-type]
    )


def stored(db: Path) -> tuple[int, int]:
    """(rows, distinct keys) in the records table of a closed DuckDB file."""
    con = open_store(db, read_only=True)
    try:
        row = con.execute(
            "SELECT count(*), count(DISTINCT (host, boot_id, ts, serial, record_type, ordinal))"
            " FROM records"
        ).fetchone()
    finally:
        con.close()
    assert row is not None
    return int(row[0]), int(row[1])


@contextlib.asynccontextmanager
async def processor(
    bootstrap: str, topic: str, group: str, db: Path, **kw: object
) -> AsyncIterator[tuple[KafkaSource, DuckDBSink]]:
    """A running KafkaSource → DuckDBSink in a task; stopped (flushed) on exit."""
    sink = DuckDBSink(DuckDBConfig(path=db))
    await sink.open()
    source = KafkaSource(source_config(bootstrap, topic, group, **kw), sink)
    stop = asyncio.Event()
    await source.start()
    task = asyncio.create_task(source.run(stop))
    try:
        yield source, sink
    finally:
        stop.set()
        await task
        await source.close()
        await sink.close()


async def wait_for(cond: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll ``cond`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


class TestEndToEnd:
    async def test_sample_logs_through_kafka_into_duckdb_exact_counts(
        self, kafka_broker: Broker, tmp_path: Path
    ) -> None:
        """Parsed sample logs sent by KafkaSink and stored by `process` match a direct parse."""
        from armorwatch.parsers.result import HostInfo
        from armorwatch.parsers.stream import parse_bytes

        topic, db = topic_name(), tmp_path / "aw.duckdb"
        samples = ROOT / "armorwatch" / "samples"
        expected_keys: set[tuple[object, ...]] = set()
        async with KafkaSink(sink_config(kafka_broker.bootstrap, topic)) as sink:
            for name, source in (
                ("audit.log", S.SOURCE_AUDITLOG),
                ("kern.log", S.SOURCE_KERNLOG),
                ("journal.json", S.SOURCE_JOURNALD),
            ):
                result = parse_bytes((samples / name).read_bytes(), source, HostInfo("sample"))
                keys = result.records.select(list(S.KEY_COLUMNS)).to_pylist()
                expected_keys |= {tuple(k.values()) for k in keys}
                await sink.send(Envelope(records=result.records, loss=result.loss,
                                         meta={"host": "sample", "source": source}))
        assert expected_keys, "the samples parse to records"
        async with processor(kafka_broker.bootstrap, topic, f"g-{topic}", db) as (src, _):
            await wait_for(lambda: src.stats.records >= len(expected_keys) and not src._offsets)
        assert (len(expected_keys), len(expected_keys)) == stored(db)
        assert 0 == src.stats.poison

    def test_collect_then_process_commands_store_exact_counts(self, tmp_path: Path) -> None:
        """`collect --kafka --once`, started while the broker is down, then `process`,
        store exactly what a direct parse yields."""
        from armorwatch.parsers.result import HostInfo
        from armorwatch.parsers.stream import parse_bytes

        topic, db = topic_name(), tmp_path / "cli.duckdb"
        samples = ROOT / "armorwatch" / "samples"
        config = tmp_path / "aw.toml"
        config.write_text(
            f"""[collect]
sources = ["auditd", "kernlog"]
host = "sample-host"
state_dir = "{tmp_path / 'state'}"
[collect.auditd]
path = "{samples / 'audit.log'}"
[collect.kernlog]
path = "{samples / 'kern.log'}"
[collect.kafka]
topic = "{topic}"
enable_idempotence = false
"""
        )
        expected = sum(
            parse_bytes((samples / n).read_bytes(), src, HostInfo("sample-host")).records.num_rows
            for n, src in (("audit.log", S.SOURCE_AUDITLOG), ("kern.log", S.SOURCE_KERNLOG))
        )
        cli = [sys.executable, "-m", "armorwatch.cli"]
        port = free_port()
        bootstrap = f"127.0.0.1:{port}"
        collect = subprocess.Popen(
            [*cli, "collect", "--config", str(config), "--once", "--kafka", bootstrap],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        )
        broker: Broker | None = None
        try:
            time.sleep(2)
            assert collect.poll() is None, "collect waits for the broker"
            broker = start_broker(port)
            _, err = collect.communicate(timeout=60)
            assert 0 == collect.returncode, err
            process = subprocess.run(
                [*cli, "process", "--kafka", bootstrap, "--topic", topic,
                 "--group", f"g-{topic}", "--db", str(db), "--exit-when-idle", "1"],
                capture_output=True, text=True, timeout=60, cwd=ROOT,
            )
        finally:
            if collect.poll() is None:
                collect.kill()
                collect.wait()
            if broker is not None:
                broker.stop()
        assert 0 == process.returncode, process.stderr
        assert expected > 0
        assert (expected, expected) == stored(db)


class TestDelivery:
    async def test_oversize_envelope_is_split_and_fully_stored(
        self, kafka_broker: Broker, tmp_path: Path
    ) -> None:
        """An envelope far above max_message_bytes arrives whole as several messages."""
        topic, db = topic_name(), tmp_path / "big.duckdb"
        batch = records(0, 3000)
        big = batch.set_column(
            batch.schema.get_field_index(S.RAW), S.RAW,
            pa.array([os.urandom(300) for _ in range(3000)], pa.binary()),
        )
        config = sink_config(kafka_broker.bootstrap, topic, max_message_bytes=128 * 1024)
        async with KafkaSink(config) as sink:
            await sink.send(Envelope(records=big))
        assert sink.stats.messages > 5
        assert 1 == sink.stats.splits
        async with processor(kafka_broker.bootstrap, topic, f"g-{topic}", db) as (src, _):
            await wait_for(lambda: src.stats.records >= 3000 and not src._offsets)
        assert (3000, 3000) == stored(db)

    async def test_idempotent_producer_on_a_broker_without_producer_ids_fails_closed(
        self, kafka_broker: Broker
    ) -> None:
        """enable_idempotence on Tansu raises a terminal error naming the setting."""
        config = KafkaConfig(bootstrap_servers=kafka_broker.bootstrap, topic=topic_name())
        with pytest.raises(TerminalSinkError, match="enable_idempotence"):
            async with KafkaSink(config) as sink:
                await sink.send(Envelope(records=records(0, 1)))

    async def test_producer_retry_duplicates_are_removed_by_the_store_key(
        self, kafka_broker: Broker, tmp_path: Path
    ) -> None:
        """Without idempotence a retried envelope lands twice in Kafka and once in DuckDB."""
        topic, db = topic_name(), tmp_path / "dup.duckdb"
        env = Envelope(records=records(0, 400))
        async with KafkaSink(sink_config(kafka_broker.bootstrap, topic)) as sink:
            await sink.send(env)
            await sink.send(env)  # what a producer retry after a lost ack does
        async with processor(kafka_broker.bootstrap, topic, f"g-{topic}", db) as (src, duck):
            await wait_for(lambda: src.stats.records >= 800 and not src._offsets)
        assert 400 == duck.stats.duplicates
        assert (400, 400) == stored(db)

    async def test_poison_messages_go_to_dead_letter_and_consumer_keeps_going(
        self, kafka_broker: Broker, tmp_path: Path
    ) -> None:
        """Garbage and wrong schema versions are dead-lettered (topic and file), counted."""
        topic, db, dlq_file = topic_name(), tmp_path / "p.duckdb", tmp_path / "dlq.jsonl"
        dlq_topic = topic + "-dlq"
        wrong = records(0, 2)
        meta = {S.SCHEMA_VERSION_KEY: b"999"}
        wrong = pa.RecordBatch.from_arrays(wrong.columns, schema=wrong.schema.with_metadata(meta))
        producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"\x00not arrow", key=b"h1")
            await producer.send_and_wait(
                topic, encode_batch(wrong, pa.ipc.IpcWriteOptions()), key=b"h1"
            )
            await producer.send_and_wait(  # a good body behind a foreign version header
                topic, encode_batch(records(900, 2), pa.ipc.IpcWriteOptions()), key=b"h1",
                headers=[(S.SCHEMA_VERSION_KEY.decode(), b"999")],
            )
        finally:
            await producer.stop()
        async with KafkaSink(sink_config(kafka_broker.bootstrap, topic)) as sink:
            await sink.send(Envelope(records=records(0, 50)))
        async with processor(
            kafka_broker.bootstrap, topic, f"g-{topic}", db,
            dead_letter_topic=dlq_topic, dead_letter_path=dlq_file,
        ) as (src, _):
            await wait_for(lambda: src.stats.records >= 50 and not src._offsets)
        assert 3 == src.stats.poison
        assert (50, 50) == stored(db)
        lines = [json.loads(x) for x in dlq_file.read_text().splitlines()]
        assert 3 == len(lines)
        assert "not an Arrow IPC stream" in lines[0]["reason"]
        assert "schema version 999" in lines[1]["reason"]
        assert "schema version header" in lines[2]["reason"]
        consumer = AIOKafkaConsumer(
            dlq_topic, bootstrap_servers=kafka_broker.bootstrap, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            got = await consumer.getmany(timeout_ms=5000)
        finally:
            await consumer.stop()
        values = [m.value for msgs in got.values() for m in msgs]
        assert b"\x00not arrow" in values


class TestFaults:
    async def test_broker_stopped_and_restarted_mid_stream_loses_nothing(
        self, tmp_path: Path
    ) -> None:
        """Sends block while the broker is down and all deliver after its restart: lost = 0.

        Tansu keeps topics and group offsets in memory, so a restart empties them; the
        processor therefore stores what was acknowledged before the stop and is started
        again after the restart (a durable Kafka keeps both across restarts).
        """
        port = free_port()
        broker = start_broker(port)
        topic, db = topic_name(), tmp_path / "restart.duckdb"
        group = f"g-{topic}"
        # Requests time out well within the outage, so the sink's own reconnect loop (new
        # producer, topic re-created) runs; Tansu accepts produce to a lost in-memory topic
        # from a surviving producer but then never serves it.
        sink = KafkaSink(sink_config(broker.bootstrap, topic, request_timeout_ms=1000))
        try:
            await sink.open()
            async with processor(broker.bootstrap, topic, group, db) as (src, duck):
                for i in range(10):
                    await sink.send(Envelope(records=records(i * 100, 100)))
                await wait_for(lambda: duck.stats.rows_inserted >= 1000 and not src._offsets)
            broker.stop()

            async def rest() -> None:
                for i in range(10, 20):
                    await sink.send(Envelope(records=records(i * 100, 100)))

            sending = asyncio.create_task(rest())
            await asyncio.sleep(4)
            assert not sending.done(), "send blocks while the broker is down"
            broker = start_broker(port)
            await asyncio.wait_for(sending, 60)
            assert 20 == sink.stats.envelopes
            assert sink.stats.retries > 0
            async with processor(broker.bootstrap, topic, group, db) as (src, duck):
                await wait_for(lambda: duck.stats.rows_inserted >= 1000 and not src._offsets)
        finally:
            await sink.close()
            broker.stop()
        assert (2000, 2000) == stored(db)

    async def test_processor_started_before_the_broker_waits_then_stores(
        self, tmp_path: Path
    ) -> None:
        """A processor whose broker is not up yet retries, then stores what arrives."""
        port = free_port()
        bootstrap = f"127.0.0.1:{port}"
        topic, db = topic_name(), tmp_path / "late.duckdb"
        starting = asyncio.create_task(_late_processor(bootstrap, topic, db))
        await asyncio.sleep(1.0)
        assert not starting.done()
        broker = start_broker(port)
        try:
            async with KafkaSink(sink_config(bootstrap, topic)) as sink:
                await sink.send(Envelope(records=records(0, 300)))
            assert 300 == await asyncio.wait_for(starting, 60)
        finally:
            broker.stop()
        assert (300, 300) == stored(db)

    async def test_consumer_killed_between_store_and_commit_redelivers_without_duplicates(
        self, kafka_broker: Broker, tmp_path: Path
    ) -> None:
        """kill -9 after the DuckDB commit, before the offset commit: rows = keys = sent."""
        topic, db = topic_name(), tmp_path / "kill.duckdb"
        group = f"g-{topic}"
        async with KafkaSink(sink_config(kafka_broker.bootstrap, topic)) as sink:
            for i in range(6):
                await sink.send(Envelope(records=records(i * 500, 500)))
        proc = subprocess.run(
            [sys.executable, "-c", KILL_AFTER_STORE, kafka_broker.bootstrap, topic, group, str(db)],
            capture_output=True, text=True, timeout=60, cwd=ROOT,
        )
        assert -9 == proc.returncode, proc.stderr
        first, _ = stored(db)
        assert first > 0
        async with processor(kafka_broker.bootstrap, topic, group, db) as (src, duck):
            await wait_for(lambda: duck.stats.rows_received >= 3000 and not src._offsets)
        assert 0 < first < 3000
        assert first == duck.stats.duplicates  # the stored-but-uncommitted batch came back
        assert (3000, 3000) == stored(db)

    async def test_rebalance_between_two_consumers_loses_nothing(
        self, kafka_broker: Broker, tmp_path: Path
    ) -> None:
        """A second member joins and leaves mid-stream; the two stores hold every key."""
        topic = topic_name()
        group = f"g-{topic}"
        db_a, db_b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
        hosts = [f"host{i}" for i in range(8)]  # keys spread over the 4 partitions
        async with KafkaSink(sink_config(kafka_broker.bootstrap, topic)) as sink:

            async def produce(first: int) -> None:
                for h in hosts:
                    await sink.send(Envelope(records=records(first, 100, h), meta={"host": h}))

            async with processor(kafka_broker.bootstrap, topic, group, db_a) as (a, _):
                await produce(0)
                await wait_for(lambda: a.stats.records >= 800)  # a owns all partitions
                async with processor(kafka_broker.bootstrap, topic, group, db_b) as (b, _):
                    await wait_for(lambda: a.stats.rebalances >= 1)
                    await produce(100)
                    await wait_for(lambda: a.stats.records + b.stats.records >= 1600)
                    await produce(200)
                await produce(300)  # b left: a takes its partitions back
                await wait_for(
                    lambda: a.stats.records + b.stats.records >= 3200 and not a._offsets
                )
        keys: set[tuple[object, ...]] = set()
        for db in (db_a, db_b):
            con = open_store(db, read_only=True)
            keys |= set(con.execute("SELECT host, serial FROM records").fetchall())
            con.close()
        assert {(h, s) for h in hosts for s in range(400)} == keys
        assert b.stats.records > 0
        assert a.stats.rebalances >= 2


async def _late_processor(bootstrap: str, topic: str, db: Path) -> int:
    """Start a processor (it retries until the broker is up); records stored when idle."""
    async with processor(bootstrap, topic, f"g-{topic}", db) as (src, _):
        await wait_for(lambda: src.stats.records >= 300 and not src._offsets, timeout=60)
    return src.stats.records


# Runs in a child: store one batch in DuckDB, then SIGKILL itself before the offset commit.
KILL_AFTER_STORE = """
import asyncio, os, signal, sys
from pathlib import Path
from armorwatch.ingest.kafka import KafkaSource, KafkaSourceConfig
from armorwatch.sinks.duckdb import DuckDBConfig, DuckDBSink

bootstrap, topic, group = sys.argv[1:4]
db = Path(sys.argv[4])

class KillAfterStore:
    def __init__(self, inner):
        self.inner = inner
    async def send(self, envelope):
        await self.inner.send(envelope)
        os.kill(os.getpid(), signal.SIGKILL)
    async def close(self):
        await self.inner.close()

async def main():
    sink = DuckDBSink(DuckDBConfig(path=db))
    await sink.open()
    config = KafkaSourceConfig(bootstrap_servers=bootstrap, topics=(topic,), group_id=group,
                               max_batch_rows=1000, max_batch_wait_s=0.2,
                               session_timeout_ms=3000, heartbeat_interval_ms=500)
    async with KafkaSource(config, KillAfterStore(sink)) as source:
        await source.run()

asyncio.run(main())
"""
