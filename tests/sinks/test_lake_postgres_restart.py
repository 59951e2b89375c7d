"""Fault: the PostgreSQL catalog restarted mid-stream under `armorwatch process` (real
broker, real server): commits fail transiently, the processor retries, nothing is lost
and nothing is stored twice."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import duckdb
import pytest

from armorwatch import metrics
from armorwatch.assembly.daemons import process
from armorwatch.assembly.settings import ProcessConfig
from armorwatch.ingest.kafka import KafkaSourceConfig
from armorwatch.parsers.envelope import Envelope
from armorwatch.sinks.duckdb import DuckDBConfig, UpkeepConfig
from armorwatch.sinks.kafka import KafkaSink
from armorwatch.sinks.store import StoreNotFoundError
from tests.armorwatch.test_metrics import scrape
from tests.conftest import Broker
from tests.harness.poll import until
from tests.harness.postgres import Postgres
from tests.integration.test_kafka import records, sink_config
from tests.sinks.test_store_upkeep import count, lake_url

pytest.importorskip("duckdb_ext")

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def commit_errors(endpoint: metrics.MetricsServer) -> float:
    """The store's failed commits so far, as the metrics endpoint says."""
    got = scrape(endpoint)
    return sum(v for (n, _), v in got.items() if n.startswith("armorwatch_store_commit_errors"))


async def test_postgres_restart_mid_stream_loses_nothing(
    kafka_broker: Broker, postgres: Postgres, tmp_path: Path
) -> None:
    """The catalog server stops after the first records are stored and starts again once
    a commit has failed (counted) while more keep arriving: every record is stored once."""
    topic = f"aw-{uuid.uuid4().hex[:10]}"
    url = lake_url(postgres, tmp_path / "lake")
    config = ProcessConfig(
        kafka=KafkaSourceConfig(
            bootstrap_servers=kafka_broker.bootstrap,
            topics=(topic,),
            group_id=f"g-{topic}",
            max_batch_wait_s=0.1,
            store_retry_initial_s=0.1,
            dead_letter_path=tmp_path / "poison.jsonl",
            dead_letter_topic=None,
        ),
        store=DuckDBConfig(path=url),  # type: ignore[arg-type]
        upkeep=UpkeepConfig(interval_s=0),
    )

    async def produce() -> None:
        async with KafkaSink(sink_config(kafka_broker.bootstrap, topic)) as sink:
            await sink.send(Envelope(records=records(0, 50)))
            while True:  # the first records are stored: now the server goes away
                try:
                    if count(url, "SELECT count(*) FROM records") > 0:
                        break
                except (StoreNotFoundError, duckdb.Error):  # no lake or tables yet
                    pass
                await asyncio.sleep(0.1)
            # Down until a commit has failed (however slowly the processor gets to one on
            # a loaded machine), then up again (same port, same data).
            await asyncio.to_thread(postgres.stop_server)
            await sink.send(Envelope(records=records(50, 50)))
            await until(lambda: commit_errors(endpoint) >= 1, timeout=60)
            await asyncio.to_thread(postgres.start)
            for i in range(2, 8):
                await sink.send(Envelope(records=records(i * 50, 50)))
                await asyncio.sleep(0.1)

    endpoint = metrics.MetricsServer("127.0.0.1:0")
    try:
        # Idle exit well beyond the gaps the producer leaves while it stops the server
        # (seconds under load): an idle processor would leave and never meet the outage.
        await asyncio.gather(produce(), process(config, [], exit_when_idle_s=20, endpoint=endpoint))
        got = scrape(endpoint)
    finally:
        endpoint.close()
    errors = sum(v for (n, _), v in got.items() if n.startswith("armorwatch_store_commit_errors"))
    assert errors >= 1, sorted(n for n, _ in got if n.startswith("armorwatch_store_"))
    assert 400 == count(url, "SELECT count(DISTINCT rid) FROM records")
    assert 400 == count(url, "SELECT count(*) FROM records")
