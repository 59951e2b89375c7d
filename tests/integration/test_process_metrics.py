"""`armorwatch process` serves its counters (consumer lag too) while consuming, and logs
its start, its partitions and a summary."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from pathlib import Path

import pytest

from armorwatch import metrics
from armorwatch.cli import main
from armorwatch.commands.process import ProcessConfig, process
from armorwatch.ingest.kafka import KafkaSource, KafkaSourceConfig
from armorwatch.parsers.envelope import Envelope
from armorwatch.sinks.duckdb import DuckDBConfig
from armorwatch.sinks.kafka import KafkaSink
from tests.armorwatch.test_metrics import scrape
from tests.conftest import Broker
from tests.harness.poll import until
from tests.integration.test_kafka import records, send, sink_config, source_config

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
            store=DuckDBConfig(path=tmp_path / "m.duckdb"),
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


class GateStore:
    """A store whose sends wait for ``gate``: a processor stuck behind a slow database."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.rows = 0

    async def send(self, envelope: Envelope) -> None:
        """Wait for the gate, then count the records."""
        await self.gate.wait()
        self.rows += envelope.records.num_rows

    async def close(self) -> None:
        """Nothing to release."""




class TestConsumerLag:
    async def test_lag_per_partition_while_the_store_blocks(
        self, kafka_broker: Broker, tmp_path: Path
    ) -> None:
        """highwater - position is exported per partition; it falls to 0 once stored."""
        topic = f"aw-{uuid.uuid4().hex[:10]}"
        sink = KafkaSink(sink_config(kafka_broker.bootstrap, topic))
        await sink.open()
        try:
            for i in range(20):  # one host: every message in one partition
                await sink.send(Envelope(records=records(i * 10, 10)))
        finally:
            await sink.close()
        store = GateStore()
        config = source_config(
            kafka_broker.bootstrap, topic, f"g-{topic}", fetch_max_records=2,
            dead_letter_path=tmp_path / "p.jsonl", dead_letter_topic=None,
        )  # fmt: skip
        source = KafkaSource(config, store)
        endpoint = metrics.MetricsServer("127.0.0.1:0")
        endpoint.add("kafka_source", source)
        stop = asyncio.Event()
        await source.start()
        run = asyncio.create_task(source.run(stop))

        def lag() -> dict[str, float]:
            return {
                dict(labels)["partition"]: v
                for (name, labels), v in scrape(endpoint).items()
                if name == "armorwatch_lag_messages"
            }

        def lag_now() -> int:
            source.refresh_stats()  # what a scrape does
            return sum(source.stats.lag_messages.values())

        try:
            await until(lambda: lag_now() > 0, timeout=30.0)
            blocked = await asyncio.to_thread(lag)
            store.gate.set()
            await until(lambda: store.rows == 200 and not source._offsets, timeout=30.0)
            await until(lambda: lag_now() == 0, timeout=30.0)
            drained = await asyncio.to_thread(lag)
        finally:
            stop.set()
            await asyncio.wait_for(run, 30)
            await source.close()
            endpoint.close()
        assert 0 < sum(blocked.values()) <= 20
        assert all(p.startswith(f"{topic}/") for p in blocked)
        assert 0 == sum(drained.values())

    def test_cli_logs_its_start_and_partitions_and_a_json_summary(
        self, kafka_broker: Broker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`process --log-format json`: start line, assigned partitions, a JSON exit summary."""
        topic = f"aw-{uuid.uuid4().hex[:10]}"

        send(kafka_broker.bootstrap, topic, Envelope(records=records(0, 30)))
        db, poison = tmp_path / "cli.duckdb", str(tmp_path / "p.jsonl")
        argv = ["process", "--kafka", kafka_broker.bootstrap, "--topic", topic,
                "--group", f"g-{topic}", "--db", str(db), "--exit-when-idle", "5",
                "--dead-letter-file", poison, "--log-format", "json"]  # fmt: skip
        try:
            assert 0 == main(argv)
        finally:
            logging.getLogger().handlers.clear()
        lines = [json.loads(x) for x in capsys.readouterr().err.splitlines()]
        msgs = [str(x.get("msg", "")) for x in lines]
        assert any(
            m.startswith(f"Processing {topic} from Kafka {kafka_broker.bootstrap}") for m in msgs
        )
        assert any(m.startswith("Assigned partitions:") for m in msgs)
        assert (30, str(db)) == (lines[-1]["records"], lines[-1]["store"])
