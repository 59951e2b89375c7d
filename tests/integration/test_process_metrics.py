"""`armorwatch process` serves its counters on the metrics endpoint while consuming."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from armorwatch import metrics
from armorwatch.commands.process import ProcessConfig, process
from ingest.kafka import KafkaSourceConfig
from parsers.envelope import Envelope
from sinks.duckdb import DuckDBConfig
from sinks.kafka import KafkaSink
from tests.armorwatch.test_metrics import scrape
from tests.conftest import Broker
from tests.integration.test_kafka import records, sink_config

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


class TestProcessMetrics:
    async def test_scrape_after_consuming(self, kafka_broker: Broker, tmp_path: Path) -> None:
        """Records stored by the processor show up in the scraped Prometheus text."""
        topic = f"aw-{uuid.uuid4().hex[:10]}"
        async with KafkaSink(sink_config(kafka_broker.bootstrap, topic)) as sink:
            await sink.send(Envelope(records=records(0, 250)))
        config = ProcessConfig(
            kafka=KafkaSourceConfig(
                bootstrap_servers=kafka_broker.bootstrap,
                topics=(topic,),
                group_id=f"g-{topic}",
                max_batch_wait_s=0.1,
                dead_letter_path=tmp_path / "poison.jsonl",
                dead_letter_topic=None,
            ),
            store=DuckDBConfig(path=tmp_path / "m.duckdb", snapshot_interval_s=0),
        )
        endpoint = metrics.MetricsServer("127.0.0.1:0")
        try:
            await process(config, [], exit_when_idle_s=1.5, endpoint=endpoint)
            got = scrape(endpoint)
        finally:
            endpoint.close()
        stored = sum(v for (name, _), v in got.items() if name == "armorwatch_records_total")
        assert 250.0 == stored
        assert any(name.startswith("armorwatch_kafka_source_") for name, _ in got)
