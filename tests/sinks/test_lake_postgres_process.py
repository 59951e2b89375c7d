"""Several processors, one consumer group, one lake: real broker, real PostgreSQL catalog.

The multi-processor deployment of docker-compose.yml, run on loopback: the processors
share one store URL (``postgresql://…?data_path=…``) and split the topic's partitions
(records are keyed by host); a rebalance hands partitions over after the old owner has
stored and committed what it gathered, so every record is stored exactly once.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from armorwatch.parsers.envelope import Envelope
from armorwatch.sinks.kafka import KafkaSink
from armorwatch.sinks.store import open_store
from tests.conftest import ROOT, Broker
from tests.harness.postgres import Postgres
from tests.integration.test_kafka import records, sink_config, topic_name

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

HOSTS = [f"host{i}" for i in range(8)]  # keys spread over the topic's 4 partitions


def lake_url(postgres: Postgres, data: Path) -> str:
    """A store URL on a fresh catalog database of the test server."""
    dbname = postgres.new_database().rsplit("dbname=", 1)[1]
    return f"postgresql://postgres@127.0.0.1:{postgres.port}/{dbname}?data_path={data}"


def stored(url: str) -> tuple[int, set[tuple[str, int]]]:
    """(rows, distinct (host, serial)) of the lake's records."""
    con = open_store(url, read_only=True)
    try:
        rows = con.execute("SELECT host, serial FROM records").fetchall()
    finally:
        con.close()
    return len(rows), {(str(h), int(s)) for h, s in rows}


async def produce(bootstrap: str, topic: str, first: int, n: int = 100) -> None:
    """``n`` records per host with serials first..first+n-1."""
    async with KafkaSink(sink_config(bootstrap, topic)) as sink:
        for h in HOSTS:
            await sink.send(Envelope(records=records(first, n, h), meta={"host": h}))


class TestProcessorsShareOneLake:
    def test_two_process_commands_with_the_compose_config_fill_one_lake(
        self, kafka_broker: Broker, postgres: Postgres, tmp_path: Path
    ) -> None:
        """Two `armorwatch process --config deploy/compose/processor.toml` (broker, topic,
        group and store pointed at loopback) split the partitions (the second one's join is
        a rebalance) and store every record once in one lake."""
        topic = topic_name()
        url = lake_url(postgres, tmp_path / "lake")
        asyncio.run(produce(kafka_broker.bootstrap, topic, 0, 500))
        cmd = [
            sys.executable, "-m", "armorwatch.cli", "process",
            "--config", str(ROOT / "deploy" / "compose" / "processor.toml"),
            "--kafka", kafka_broker.bootstrap, "--topic", topic, "--group", f"g-{topic}",
            "--db", url, "--exit-when-idle", "2",
        ]  # fmt: skip
        procs = [
            subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(2)
        ]
        try:
            outs = [p.communicate(timeout=90) for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        assert [0, 0] == [p.returncode for p in procs], [e.decode()[-2000:] for _, e in outs]
        rows, keys = stored(url)
        assert {(h, s) for h in HOSTS for s in range(500)} == keys
        assert len(keys) == rows
