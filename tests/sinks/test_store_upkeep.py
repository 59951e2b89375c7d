"""Scheduled upkeep (sinks.duckdb.ScheduledUpkeep, ``[process.upkeep]``): passes run beside
a writer that keeps acknowledging, a failed pass is counted and not fatal, and
`armorwatch process` runs them and shows them in its metrics."""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from pathlib import Path

import pytest

from armorwatch import metrics
from armorwatch.assembly.daemons import process
from armorwatch.assembly.settings import ProcessConfig
from armorwatch.config import ConfigError, from_mapping
from armorwatch.ingest.kafka import KafkaSourceConfig
from armorwatch.parsers.envelope import Envelope
from armorwatch.sinks.duckdb import DuckDBConfig, DuckDBSink, ScheduledUpkeep, UpkeepConfig
from armorwatch.sinks.kafka import KafkaSink
from armorwatch.sinks.store import open_store
from tests.armorwatch.test_metrics import scrape
from tests.conftest import Broker
from tests.harness.postgres import Postgres
from tests.integration.test_kafka import records, sink_config
from tests.sinks.test_duckdb import batch, denial

pytest.importorskip("duckdb_ext")


def lake_url(postgres: Postgres, data: Path) -> str:
    """A store URL on a fresh catalog database of the test server."""
    dbname = postgres.new_database().rsplit("dbname=", 1)[1]
    return f"postgresql://postgres@127.0.0.1:{postgres.port}/{dbname}?data_path={data}"


def count(db: Path | str, sql: str) -> int:
    """The one number ``sql`` returns on the store ``db``."""
    con = open_store(db, read_only=True)
    try:
        row = con.execute(sql).fetchone()
    finally:
        con.close()
    assert row is not None
    return int(row[0])


class TestScheduledUpkeep:
    @pytest.mark.integration
    @pytest.mark.timeout(120)
    async def test_passes_run_while_the_writer_keeps_acknowledging(
        self, postgres: Postgres, tmp_path: Path
    ) -> None:
        """With a short interval, passes run on a PostgreSQL catalog (and delete a racing
        writer's copies) while the sink goes on acknowledging envelopes; every acknowledged
        row is stored once."""
        url = lake_url(postgres, tmp_path / "lake")
        cfg = DuckDBConfig(path=url)  # type: ignore[arg-type]
        async with DuckDBSink(cfg) as sink:
            await sink.send(Envelope(batch([denial(i) for i in range(20)])))
            con = open_store(url, read_only=False)
            try:  # what a second writer racing this one leaves: copies under its batch id
                con.execute(
                    "INSERT INTO records SELECT * REPLACE (batch_id + 100 AS batch_id)"
                    " FROM records WHERE serial < 5"
                )
            finally:
                con.close()
            upkeep = ScheduledUpkeep(url, UpkeepConfig(interval_s=0.2, dedup_window_s=600))
            stop = asyncio.Event()
            task = asyncio.create_task(upkeep.run(stop))
            acked = 1  # envelopes acknowledged
            while upkeep.stats.passes + upkeep.stats.failures < 2:
                await sink.send(Envelope(batch([denial(100 + acked)])))
                acked += 1
            stop.set()
            await task
            await sink.send(Envelope(batch([denial(100 + acked)])))  # the writer goes on
            acked += 1
            errors = sink.stats.commit_errors
        assert upkeep.stats.passes >= 1
        assert 0 == errors
        assert 5 == upkeep.stats.duplicates_deleted
        stored = 20 + acked - 1  # the first envelope held 20 rows, the others one each
        assert stored == count(url, "SELECT count(*) FROM records")
        assert stored == count(url, "SELECT count(DISTINCT rid) FROM records")

    async def test_an_embedded_store_is_not_scheduled(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """On an embedded store (SQLite catalog) no pass runs (it would fail the writer's
        commits): run() says so and returns."""
        upkeep = ScheduledUpkeep(tmp_path / "s.duckdb", UpkeepConfig(interval_s=0.05))
        with caplog.at_level(logging.INFO, logger="armorwatch.sinks.duckdb"):
            await upkeep.run(asyncio.Event())
        assert (0, 0) == (upkeep.stats.passes, upkeep.stats.failures)
        assert "not scheduled on an embedded store" in caplog.text

    async def test_a_failed_pass_is_logged_and_counted_and_the_next_one_runs(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A pass on a catalog nobody serves fails: logged as a warning, counted, and the
        schedule goes on to the next pass."""
        with socket.socket() as s:  # a loopback port nothing listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        url = f"postgresql://postgres@127.0.0.1:{port}/none?data_path={tmp_path}&connect_timeout=1"
        upkeep = ScheduledUpkeep(url, UpkeepConfig(interval_s=0.05))
        stop = asyncio.Event()
        task = asyncio.create_task(upkeep.run(stop))
        with caplog.at_level(logging.WARNING, logger="armorwatch.sinks.duckdb"):
            while upkeep.stats.failures < 2:
                await asyncio.sleep(0.05)
            stop.set()
            await task
        assert 0 == upkeep.stats.passes
        assert "store upkeep failed" in caplog.text

    async def test_interval_zero_is_off(self, tmp_path: Path) -> None:
        """interval_s = 0 runs no pass: run() returns at once."""
        upkeep = ScheduledUpkeep(tmp_path / "s.duckdb", UpkeepConfig(interval_s=0))
        await upkeep.run(asyncio.Event())
        assert (0, 0) == (upkeep.stats.passes, upkeep.stats.failures)

    def test_config_keys_and_defaults(self) -> None:
        """[process.upkeep] takes interval_s, dedup_window_s, retention_days, snapshot_days
        (defaults 300, 900, keep all, 7); other keys are errors."""
        assert UpkeepConfig(300.0, 900.0, None, 7.0) == ProcessConfig().upkeep
        got = from_mapping(ProcessConfig, {"upkeep": {"interval_s": 60, "retention_days": 30}})
        assert (60.0, 30.0) == (got.upkeep.interval_s, got.upkeep.retention_days)
        with pytest.raises(ConfigError, match=r"upkeep\.every"):
            from_mapping(ProcessConfig, {"upkeep": {"every": 1}})


@pytest.mark.integration
@pytest.mark.timeout(90)
async def test_process_runs_upkeep_and_reports_it_in_metrics(
    kafka_broker: Broker, postgres: Postgres, tmp_path: Path
) -> None:
    """`process` with [process.upkeep] interval_s = 0.3 runs passes while it consumes
    and acknowledges; the metrics count them; every record is stored."""
    topic = f"aw-{uuid.uuid4().hex[:10]}"
    url = lake_url(postgres, tmp_path / "lake")
    config = ProcessConfig(
        kafka=KafkaSourceConfig(
            bootstrap_servers=kafka_broker.bootstrap,
            topics=(topic,),
            group_id=f"g-{topic}",
            max_batch_wait_s=0.1,
            dead_letter_path=tmp_path / "poison.jsonl",
            dead_letter_topic=None,
        ),
        store=DuckDBConfig(path=url),  # type: ignore[arg-type]
        upkeep=UpkeepConfig(interval_s=0.3, dedup_window_s=600),
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
    passes = sum(
        v for (name, _), v in got.items() if name.startswith("armorwatch_store_upkeep_passes")
    )
    assert passes >= 1, sorted(n for n, _ in got if "upkeep" in n)
    assert 400.0 == sum(v for (name, _), v in got.items() if name == "armorwatch_records_total")
    assert 400 == count(url, "SELECT count(DISTINCT rid) FROM records")
