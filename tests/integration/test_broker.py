"""The broker fixture is real: Arrow IPC through Tansu with aiokafka and a consumer group."""

from __future__ import annotations

import asyncio
import uuid

import pyarrow as pa
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from armorwatch.parsers import schema as S
from tests.conftest import Broker

pytestmark = pytest.mark.integration


class TestBroker:
    async def test_arrow_ipc_roundtrip_through_consumer_group(self, kafka_broker: Broker) -> None:
        """A MAC_SCHEMA batch produced as one IPC message comes back equal via a group."""
        assert kafka_broker.alive()
        topic = f"t-{uuid.uuid4().hex[:8]}"
        batch = S.batch_from_rows(
            [
                {S.HOST: "h1", S.SERIAL: 7, S.APPARMOR: "DENIED", S.PROFILE: "/usr/bin/x",
                 S.RAW: b"type=AVC msg=audit(1.000:7): apparmor=\"DENIED\""},
            ]
        )
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as w:
            w.write_batch(batch)
        payload = sink.getvalue().to_pybytes()

        producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(topic, payload, key=b"h1")
        finally:
            await producer.stop()

        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_broker.bootstrap,
            group_id=f"g-{topic}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            msg = await asyncio.wait_for(consumer.getone(), timeout=30)
            await consumer.commit()
        finally:
            await consumer.stop()
        got = pa.ipc.open_stream(pa.py_buffer(msg.value)).read_next_batch()
        assert batch.equals(got)
        assert S.SCHEMA_VERSION == S.schema_version(got.schema)
