"""kill -9 of `armorwatch process` at random points, 20 times: lost = 0, D_final = 0."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from armorwatch.parsers.envelope import Envelope
from armorwatch.sinks.kafka import KafkaSink
from armorwatch.sinks.store import open_store
from tests.conftest import ROOT, Broker
from tests.integration.test_kafka import records, sink_config

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

CONFIG = """
[process.kafka]
bootstrap_servers = "{bootstrap}"
topics = ["{topic}"]
group_id = "{group}"
max_batch_rows = 2000
max_batch_wait_s = 0.1
session_timeout_ms = {session_ms}
heartbeat_interval_ms = 200
commit_timeout_s = 2.0
dead_letter_topic = "{topic}.dead"
[process.store]
path = "{db}"
"""

ENVELOPES, PER_ENVELOPE = 40, 500


def process(cfg: Path, *extra: str) -> subprocess.Popen[bytes]:
    """`armorwatch process` as a child process."""
    return subprocess.Popen(
        [sys.executable, "-m", "armorwatch.cli", "process", "--config", str(cfg), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )


class TestProcessorKill9:
    async def test_twenty_kills_while_consuming(self, kafka_broker: Broker, tmp_path: Path) -> None:
        """Twenty SIGKILLs of the processor while it stores: every key stored exactly once."""
        topic = f"aw-{uuid.uuid4().hex[:10]}"
        db = tmp_path / "p.duckdb"
        cfg = tmp_path / "process.toml"
        cfg.write_text(
            CONFIG.format(
                bootstrap=kafka_broker.bootstrap,
                topic=topic,
                group=f"g-{topic}",
                session_ms=1000,
                db=db,
            )
        )
        rng = random.Random(7)

        def kill_twenty_times() -> None:
            for _ in range(20):
                proc = process(cfg)
                time.sleep(rng.uniform(0.8, 2.5))
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()

        # Produce while the processor is being killed, so kills land mid-consumption.
        killer = asyncio.create_task(asyncio.to_thread(kill_twenty_times))
        async with KafkaSink(sink_config(kafka_broker.bootstrap, topic)) as sink:
            for i in range(ENVELOPES):
                await sink.send(Envelope(records=records(i * PER_ENVELOPE, PER_ENVELOPE)))
                await asyncio.sleep(0.6)
        await killer
        final = process(cfg, "--exit-when-idle", "3")
        _out, err = final.communicate(timeout=120)
        assert 0 == final.returncode, err.decode()
        con = open_store(db, read_only=True)
        rows, keys = con.execute(
            "SELECT count(*), count(DISTINCT (host, boot_id, ts, serial)) FROM records"
        ).fetchone()  # type: ignore[misc]
        con.close()
        assert (ENVELOPES * PER_ENVELOPE, ENVELOPES * PER_ENVELOPE) == (rows, keys)
