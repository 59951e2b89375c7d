"""An operator's view of a Kafka outage: `collect --kafka` while its broker is killed.

The broker (its own Tansu process) is killed by PID with SIGKILL while ``collect`` runs
as a subprocess with ``--metrics-addr`` and JSON logs; the test reads /metrics and the
log lines as an operator would: the lag grows with the file, retries count, the queue
is not empty, aiokafka's connection errors are rate-limited, and after the broker comes
back on the same port every line written during the outage is delivered.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
from aiokafka import AIOKafkaConsumer
from prometheus_client.parser import text_string_to_metric_families

from armorwatch.parsers import schema as S
from tests.armorwatch.test_collect_metrics import avc
from tests.conftest import ROOT, Broker, free_port, start_broker

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

WINDOW = 4.0
"""--log-repeat-window of the run (60 s in production)."""


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """/metrics of the collector subprocess; {} while it does not answer yet."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return {}
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def total(got: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float:
    """The sum of a family's samples."""
    return sum(v for (n, _), v in got.items() if n == name)


def wait_metric(port: int, name: str, check: object, timeout: float = 60.0) -> float:
    """Poll /metrics until ``check(total(name))`` holds; the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = total(scrape(port), name)
        if check(value):  # type: ignore[operator]
            return value
        assert time.monotonic() < deadline, f"{name} stayed at {value}"
        time.sleep(0.2)


def append(path: Path, first: int, n: int) -> int:
    """Append events first..first+n-1; the next serial."""
    with path.open("ab") as f:
        f.write(b"".join(avc(i) for i in range(first, first + n)))
    return first + n


async def serials_in(bootstrap: str, topic: str) -> set[int]:
    """Serials of every record in ``topic`` (read from the start)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    got: set[int] = set()
    try:
        idle = 0
        while idle < 3:
            batch = await consumer.getmany(timeout_ms=1000)
            idle = 0 if batch else idle + 1
            for msgs in batch.values():
                for m in msgs:
                    table = pa.ipc.open_stream(m.value).read_all()
                    if S.SERIAL in table.column_names:
                        got.update(x for x in table[S.SERIAL].to_pylist() if x is not None)
    finally:
        await consumer.stop()
    return got


class TestBrokerKilled:
    def test_metrics_and_logs_tell_the_outage_and_nothing_is_lost(self, tmp_path: Path) -> None:
        """Broker SIGKILLed: lag grows, retries and queue move, aiokafka errors are
        rate-limited; broker back: every event written during the outage is delivered."""
        port, mport = free_port(), free_port()
        broker: Broker | None = start_broker(port)
        topic = f"aw-{uuid.uuid4().hex[:10]}"
        log = tmp_path / "audit.log"
        serial = append(log, 1, 50)
        cfg = tmp_path / "c.toml"
        cfg.write_text(
            f'[collect]\nsources = ["auditd"]\n'
            f'[collect.auditd]\npath = "{log}"\npoll_interval = 0.1\nread_bytes = 16384\n'
            # small reads and queues: what is held in memory stays far below the outage
            "[collect.collector]\nbatch_records = 100\nchunk_queue = 2\nenvelope_queue = 2\n"
            f'[collect.kafka]\nbootstrap_servers = "127.0.0.1:{port}"\ntopic = "{topic}"\n'
            "enable_idempotence = false\nrequest_timeout_ms = 1000\npartitions = 1\n"
            "retry_backoff_initial_s = 0.1\nretry_backoff_max_s = 0.5\n"
        )
        stderr = (tmp_path / "collect.err").open("w")
        collect = subprocess.Popen(
            [sys.executable, "-m", "armorwatch.cli", "collect", "--config", str(cfg),
             "--state-dir", str(tmp_path / "st"), "--metrics-addr", f"127.0.0.1:{mport}",
             "--log-format", "json", "--log-repeat-window", str(WINDOW)],
            stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=ROOT,
        )  # fmt: skip
        try:
            wait_metric(mport, "armorwatch_records_total", lambda v: v == 50)
            assert broker is not None
            os.kill(broker.process.pid, signal.SIGKILL)  # by PID, no clean shutdown
            broker.process.wait(timeout=10)
            broker = None
            killed_at = serial
            lags = []
            for _ in range(4):  # a writer goes on while the broker is gone
                serial = append(log, serial, 800)
                time.sleep(1.5)
                lags.append(total(scrape(mport), "armorwatch_lag_bytes"))
            got = scrape(mport)
            time.sleep(WINDOW + 1)  # one repeat window passes during the outage
            assert lags[0] > 0 and lags == sorted(lags) and lags[-1] > lags[0], lags
            retries = got[("armorwatch_send_retries_total", (("component", "kafka_sink"),
                                                              ("topic", topic)))]  # fmt: skip
            assert retries > 0
            assert total(got, "armorwatch_queue_depth") >= 1
            assert 0 == total(got, "armorwatch_kafka_sink_connected")
            assert 50 == total(got, "armorwatch_records_total")  # nothing new acknowledged
            broker = start_broker(port)
            wait_metric(mport, "armorwatch_records_total", lambda v: v == serial - 1, 90)
            after = scrape(mport)
            assert 0 == total(after, "armorwatch_lag_bytes")
            assert 0 == total(after, "armorwatch_queue_depth")
            assert 1 == total(after, "armorwatch_kafka_sink_connected")
            in_kafka = asyncio.run(serials_in(broker.bootstrap, topic))
        finally:
            if collect.poll() is None:
                collect.send_signal(signal.SIGTERM)
            out, _ = collect.communicate(timeout=30)
            stderr.close()
            if broker is not None:
                broker.stop()
        # Tansu keeps topics in memory: what was acknowledged before the kill is gone with
        # it; everything written during the outage must be in the new broker.
        assert set(range(killed_at, serial)) <= in_kafka
        assert 0 == collect.returncode
        assert serial - 1 == json.loads(out)["records"]
        lines = [json.loads(x) for x in (tmp_path / "collect.err").read_text().splitlines()]
        msgs = [str(x["msg"]) for x in lines]
        assert any(m.startswith(f"Collecting auditd ({log}: no checkpoint") for m in msgs)
        assert any(m.startswith("Kafka delivery resumed after") for m in msgs)
        noisy = [x for x in lines if x["level"] in ("WARNING", "ERROR")]
        summaries = [x for x in noisy if "repeated" in x]
        assert summaries, "no repeat summary"
        assert all(f"repeated {x['repeated']} times" in x["msg"] for x in summaries)
        # Per kind of line: at most the first of each window, plus its summaries.
        outage_s = 4 * 1.5 + WINDOW + 1 + 30
        per_kind = Counter(
            (x["logger"], x["msg"].split(" … repeated")[0][:40])
            for x in noisy
            if "repeated" not in x
        )
        assert max(per_kind.values()) <= outage_s / WINDOW + 1, per_kind
        assert sum(x["repeated"] for x in summaries) > len(noisy) - len(summaries)
