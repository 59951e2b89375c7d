"""Profile-state readings through the real broker: stored by kind, an unknown kind dead-lettered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from armorwatch.parsers import kafka_wire as wire
from armorwatch.parsers import schema as S
from armorwatch.parsers.envelope import Envelope
from armorwatch.parsers.result import HostInfo
from armorwatch.profile_state import ProfileStatePoller
from armorwatch.sinks.kafka import KafkaSink, encode_envelope
from armorwatch.sinks.store import open_store
from tests.conftest import Broker
from tests.integration.test_kafka import (
    processor,
    records,
    sink_config,
    topic_name,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


async def test_reading_and_records_stored_by_kind_unknown_kind_dead_lettered(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    """A collector's reading (from a fake securityfs file) and records share the topic; the
    processor stores each in its table, and a message of a kind it does not know goes to the
    dead-letter file with the reason while the rest is stored."""
    root = tmp_path / "aa"
    root.mkdir()
    (root / "profiles").write_text("web (complain)\n:lxd:/usr/bin/nginx (enforce)\n")
    topic, db, dead = topic_name(), tmp_path / "aw.duckdb", tmp_path / "dead.jsonl"
    async with KafkaSink(sink_config(kafka_broker.bootstrap, topic)) as sink:
        poller = ProfileStatePoller(root, sink=sink, host=HostInfo("h1", None, "boot-1"))
        assert poller.poll() and await poller.send_due()
        await sink.send(Envelope(records=records(0, 5), meta={"host": "h1"}))
        reading = poller.reading_batch()
        assert reading is not None
        (msg,), _ = encode_envelope(Envelope(profile_state=reading), sink.config)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap)
    await producer.start()
    try:  # what a newer collector might send: a kind this processor does not know
        headers = [(k, v) for k, v in msg.headers if k != wire.HEADER_KIND]
        await producer.send_and_wait(
            topic, msg.value, key=b"h1", headers=[*headers, (wire.HEADER_KIND, b"profile_v2")]
        )
    finally:
        await producer.stop()
    async with processor(
        kafka_broker.bootstrap,
        topic,
        f"g-{topic}",
        db,
        dead_letter_topic=None,
        dead_letter_path=dead,
    ) as (src, store):
        await wait_for(
            lambda: src.stats.records >= 5 and src.stats.poison >= 1 and not src._offsets
        )
        await wait_for(lambda: store.stats.profile_state_rows >= 2)
    (line,) = dead.read_text().splitlines()
    assert "unknown kind 'profile_v2'" in json.loads(line)["reason"]
    con = open_store(db, read_only=True)
    try:
        got = con.execute(
            f"SELECT {S.HOST}, {S.NAMESPACE}, {S.PROFILE}, {S.MODE} FROM profile_state ORDER BY 3"
        ).fetchall()
        assert 5 == con.execute("SELECT count(*) FROM records").fetchone()[0]  # type: ignore[index]
    finally:
        con.close()
    assert [("h1", "lxd", "/usr/bin/nginx", "enforce"), ("h1", "root", "web", "complain")] == got
