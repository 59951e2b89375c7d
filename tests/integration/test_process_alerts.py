"""`armorwatch process` with [process.alerts]: a denial storm from Kafka becomes one webhook."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import orjson
import pytest

from armorwatch.parsers import schema as S
from armorwatch.parsers.envelope import Envelope
from armorwatch.sinks.kafka import KafkaSink
from tests.conftest import ROOT, Broker
from tests.integration.test_kafka import sink_config
from tests.jobs.alert_data import record
from tests.sinks.webhook_server import receiver

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CONFIG = """
[process.kafka]
bootstrap_servers = "{bootstrap}"
topics = ["{topic}"]
group_id = "g-{topic}"
max_batch_wait_s = 0.1
dead_letter_topic = "{topic}.dead"
[process.store]
path = "{work}/p.duckdb"
[process.alerts]
state_dir = "{work}/alerts"
[process.alerts.webhook]
url = "{url}"
state_dir = "{work}/webhook"
allow_cidrs = ["127.0.0.1/32"]
"""


class TestProcessAlerts:
    async def test_ptrace_storm_from_kafka_is_one_webhook(
        self, kafka_broker: Broker, tmp_path: Path
    ) -> None:
        """2,000 ptrace denials consumed from Kafka reach the receiver as one grouped alert."""
        topic = f"aw-{uuid.uuid4().hex[:10]}"
        async with KafkaSink(sink_config(kafka_broker.bootstrap, topic)) as sink:
            for b in range(20):
                rows = [
                    record((b * 100 + i) * 0.01, profile="/usr/bin/gdb", class_="ptrace",
                           name=None, **{S.PEER: "/usr/sbin/sshd"})
                    for i in range(100)
                ]  # fmt: skip
                await sink.send(Envelope(records=S.batch_from_rows(rows)))
        with receiver() as rx:
            cfg = tmp_path / "process.toml"
            cfg.write_text(
                CONFIG.format(bootstrap=kafka_broker.bootstrap, topic=topic, work=tmp_path,
                              url=rx.url)
            )  # fmt: skip
            proc = subprocess.run(
                [sys.executable, "-m", "armorwatch.cli", "process", "--config", str(cfg),
                 "--exit-when-idle", "2"],
                capture_output=True, text=True, timeout=90, cwd=ROOT,
            )  # fmt: skip
        assert 0 == proc.returncode, proc.stderr
        assert "2000 records" in proc.stderr
        groups = [orjson.loads(r.body)["group"] for r in rx.requests]
        assert [{"host": "web-01", "profile": "/usr/bin/gdb"}] == groups
