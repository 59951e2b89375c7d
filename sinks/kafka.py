"""KafkaSink: ships envelopes as Arrow IPC stream messages to a Kafka topic.

Wire format (read by ``ingest.kafka.KafkaSource``):

- one Kafka message = one Arrow IPC *stream* holding one record batch of MAC_SCHEMA
  (``kind=records``), LOSS_SCHEMA (``kind=loss``) or PROFILE_STATE_SCHEMA
  (``kind=profile_state``, ``parsers.envelope``); an envelope with several becomes one
  message each;
- key = the host (so one host's records stay ordered in one partition);
- headers: ``armorwatch.schema_version``, ``armorwatch.kind``, ``armorwatch.part``
  (``i/n`` when a batch was split), ``armorwatch.rows`` and every ``Envelope.meta`` item
  as ``armorwatch.meta.<key>`` (host, source, checkpoint description); the names,
  and the TLS/SASL settings both ends share, are in ``parsers.kafka_wire``;
- compression: Arrow IPC zstd buffers by default (``compression="arrow-zstd"``), chosen
  from ``bench/bench_e2e.py``; Kafka-level zstd via cramjam (``"kafka-zstd"``) and none
  are settings;
- a batch whose message would exceed ``max_message_bytes`` is split in halves (slices
  with compacted dictionaries) until every piece fits; one row that alone exceeds the
  limit is a TerminalSinkError, never a silent drop.

Delivery: ``send`` returns only after the broker acknowledged every message of the
envelope (``acks=all``). Broker down: ``send`` *blocks* and retries with exponential
backoff (recreating the producer) until delivered, or until ``delivery_timeout_s``
(then TransientSinkError). A blocked ``send`` stops the collector from reading, so the
log file itself is the spool: nothing is held in memory beyond the one envelope, and
the checkpoint does not move. Retries may deliver a message twice; the store removes
duplicates by ``parsers.schema.KEY_COLUMNS``.

Errors (``sinks.errors``)::

    SinkError
    ├── TransientSinkError   delivery_timeout_s passed while the broker was unreachable
    └── TerminalSinkError    one row larger than max_message_bytes, authorization or
                             authentication failure, invalid settings, missing secret
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from aiokafka import AIOKafkaProducer
from aiokafka import errors as kerr
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.helpers import create_ssl_context

from armorwatch.parsers import kafka_wire as wire
from armorwatch.parsers import schema as S
from armorwatch.parsers.envelope import Envelope
from armorwatch.parsers.kafka_wire import KafkaSecurity
from armorwatch.sinks.base import SinkBase
from armorwatch.sinks.errors import TerminalSinkError, TransientSinkError

log = logging.getLogger(__name__)

COMPRESSIONS = ("arrow-zstd", "arrow-lz4", "kafka-zstd", "none")
# Room for the Kafka record/batch framing, key and headers inside max_message_bytes.
_FRAMING_BYTES = 4096


def client_kwargs(sec: KafkaSecurity) -> dict[str, Any]:
    """aiokafka keyword arguments for ``sec`` (builds the SSL context, reads secrets);
    unusable settings or secrets are a TerminalSinkError."""
    try:
        return wire.client_kwargs(sec, create_ssl_context, Path.read_text, os.environ)
    except wire.KafkaSettingsError as e:
        raise TerminalSinkError(str(e)) from None


@dataclass(frozen=True)
class KafkaConfig:
    """Settings of the Kafka producer sink (collector side)."""

    bootstrap_servers: str = "localhost:9092"
    """Comma-separated host:port list of brokers."""
    topic: str = "armorwatch.records"
    """Topic the envelopes go to."""
    client_id: str = "armorwatch-collector"
    """Client id shown in broker logs and quotas."""
    enable_idempotence: bool = True
    """Idempotent producer (no duplicates from producer retries). Brokers without
    producer-id support (the Tansu test broker) need False; the store's key dedups then."""
    compression: str = "arrow-zstd"
    """arrow-zstd | arrow-lz4 (IPC buffer compression), kafka-zstd (cramjam) or none."""
    max_message_bytes: int = 1_000_000
    """Upper bound of one Kafka message (keep below the broker's message.max.bytes)."""
    linger_ms: int = 5
    """How long the producer waits to fill a request."""
    request_timeout_ms: int = 30_000
    """Time a produce request may take before it is retried."""
    delivery_timeout_s: float | None = None
    """Give up (TransientSinkError) after this long undelivered; None blocks until
    delivered, which keeps the data in the log file and stops reading (backpressure)."""
    retry_backoff_initial_s: float = 0.2
    """First wait after a failed delivery or connection."""
    retry_backoff_max_s: float = 30.0
    """Longest wait between reconnection attempts."""
    create_topic: bool = True
    """Create the topic at open when it is missing (skipped when not authorized)."""
    partitions: int = 6
    """Partitions of a created topic (processors scale up to this many)."""
    replication_factor: int = 1
    """Replicas of a created topic (3 in production)."""
    retention_ms: int | None = None
    """retention.ms of a created topic; None keeps the broker default."""
    security: KafkaSecurity = field(default_factory=KafkaSecurity)
    """TLS / SASL settings."""


@dataclass
class KafkaSinkStats:
    """Counters read by the metrics endpoint."""

    envelopes: int = 0
    """Envelopes acknowledged by the broker."""
    messages: int = 0
    """Kafka messages acknowledged."""
    rows: int = 0
    """Records plus loss rows acknowledged."""
    bytes: int = 0
    """Message value bytes acknowledged (after Arrow compression)."""
    splits: int = 0
    """Batches split because their message would exceed max_message_bytes."""
    retries: int = 0
    """Delivery attempts that failed and were retried."""
    reconnects: int = 0
    """Producers recreated after a failure."""
    pending_messages: int = 0
    """Messages of the envelope being delivered not acknowledged yet (current value)."""
    connected: int = 0
    """1 when the last delivery attempt succeeded, 0 while the broker fails."""


@dataclass(frozen=True)
class Message:
    """One encoded Kafka message."""

    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    rows: int


def _ipc_options(compression: str) -> pa.ipc.IpcWriteOptions:
    codec = {"arrow-zstd": "zstd", "arrow-lz4": "lz4"}.get(compression)
    return pa.ipc.IpcWriteOptions(compression=codec)


def encode_batch(batch: pa.RecordBatch, options: pa.ipc.IpcWriteOptions) -> bytes:
    """One record batch as a complete Arrow IPC stream."""
    out = pa.BufferOutputStream()
    with pa.ipc.new_stream(out, batch.schema, options=options) as writer:
        writer.write_batch(batch)
    return out.getvalue().to_pybytes()


def _compact(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Re-encode dictionary columns of a slice so it carries only its own values."""
    arrays = []
    for col, fld in zip(batch.columns, batch.schema, strict=True):
        if pa.types.is_dictionary(fld.type):
            col = pc.dictionary_encode(col.dictionary_decode()).cast(fld.type)
        arrays.append(col)
    return pa.RecordBatch.from_arrays(arrays, schema=batch.schema)


def split_encode(
    batch: pa.RecordBatch, limit: int, options: pa.ipc.IpcWriteOptions
) -> Iterator[tuple[pa.RecordBatch, bytes]]:
    """Encode ``batch``, halving it until every piece's payload is at most ``limit``."""
    data = encode_batch(batch, options)
    if len(data) <= limit:
        yield batch, data
        return
    if batch.num_rows <= 1:
        raise TerminalSinkError(
            f"one row encodes to {len(data)} bytes, more than max_message_bytes allows "
            f"({limit} after framing); raise max_message_bytes and the broker's limit"
        )
    half = batch.num_rows // 2
    yield from split_encode(_compact(batch.slice(0, half)), limit, options)
    yield from split_encode(_compact(batch.slice(half)), limit, options)


def _host_key(envelope: Envelope) -> bytes | None:
    host = envelope.meta.get("host")
    if host is None and envelope.records.num_rows:
        first = envelope.records.column(S.HOST)[0].as_py()
        host = first if isinstance(first, str) else None
    return host.encode() if host else None


def encode_envelope(envelope: Envelope, config: KafkaConfig) -> tuple[list[Message], int]:
    """The messages carrying ``envelope``, and how many batches were split."""
    options = _ipc_options(config.compression)
    key = _host_key(envelope)
    limit = config.max_message_bytes - _FRAMING_BYTES - len(key or b"")
    meta = tuple(
        (wire.HEADER_META_PREFIX + k, v.encode()[:1024]) for k, v in sorted(envelope.meta.items())
    )
    messages: list[Message] = []
    splits = 0
    for kind, batch in envelope.parts():  # records, loss, profile_state (the kind header)
        pieces = list(split_encode(batch, limit, options))
        splits += len(pieces) > 1
        for i, (piece, data) in enumerate(pieces):
            headers = (
                (wire.HEADER_SCHEMA_VERSION, str(S.SCHEMA_VERSION).encode()),
                (wire.HEADER_KIND, kind.encode()),
                (wire.HEADER_PART, f"{i + 1}/{len(pieces)}".encode()),
                (wire.HEADER_ROWS, str(piece.num_rows).encode()),
                *meta,
            )
            messages.append(Message(key, data, headers, piece.num_rows))
    return messages, splits


# Errors after which retrying the same request cannot help: fail closed, loudly.
_TERMINAL = (
    kerr.TopicAuthorizationFailedError,
    kerr.ClusterAuthorizationFailedError,
    kerr.GroupAuthorizationFailedError,
    kerr.TransactionalIdAuthorizationFailed,
    kerr.MessageSizeTooLargeError,
    kerr.RecordListTooLargeError,
    kerr.InvalidTopicError,
    kerr.UnsupportedVersionError,
    kerr.UnsupportedSaslMechanismError,
    kerr.SaslAuthenticationFailed,
    kerr.AuthenticationFailedError,
)


class KafkaSink(SinkBase):
    """Sends envelopes to Kafka; ``send`` returns once the broker acknowledged them."""

    def __init__(self, config: KafkaConfig) -> None:
        if config.compression not in COMPRESSIONS:
            raise TerminalSinkError(f"compression must be one of {COMPRESSIONS}")
        if config.max_message_bytes <= 2 * _FRAMING_BYTES:
            raise TerminalSinkError("max_message_bytes is too small")
        self.config = config
        self.stats = KafkaSinkStats()
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._topic_checked = False
        self._closed = False

    def _producer_kwargs(self) -> dict[str, Any]:
        c = self.config
        return {
            "bootstrap_servers": c.bootstrap_servers,
            "client_id": c.client_id,
            "acks": "all",
            "enable_idempotence": c.enable_idempotence,
            "compression_type": "zstd" if c.compression == "kafka-zstd" else None,
            "max_batch_size": c.max_message_bytes,
            "max_request_size": c.max_message_bytes + _FRAMING_BYTES,
            "linger_ms": c.linger_ms,
            "request_timeout_ms": c.request_timeout_ms,
            "retry_backoff_ms": int(c.retry_backoff_initial_s * 1000),
            **client_kwargs(c.security),
        }

    async def open(self) -> None:
        """Connect once; a broker that is down now is retried by ``send``."""
        try:
            await self._connect()
        except (kerr.KafkaError, OSError) as e:
            log.warning("Kafka is not reachable yet (%s); send will retry.", type(e).__name__)
        else:
            self.stats.connected = 1
            log.info(
                "Connected to Kafka %s, topic %s.", self.config.bootstrap_servers, self.config.topic
            )

    async def _connect(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        if not self._topic_checked and self.config.create_topic:
            await self._ensure_topic()
        producer = AIOKafkaProducer(**self._producer_kwargs())
        try:
            await producer.start()
        except BaseException as e:
            with contextlib.suppress(Exception):
                await producer.stop()
            if self.config.enable_idempotence and isinstance(e, kerr.UnknownError):
                # aiokafka's InitProducerId got an error code it does not know: a
                # broker without producer ids (Tansu). Retrying cannot help.
                raise TerminalSinkError(
                    "the broker refused a producer id (InitProducerId); set "
                    "enable_idempotence = false for brokers without idempotence support"
                ) from e
            raise
        self._producer = producer
        return producer

    async def _ensure_topic(self) -> None:
        c = self.config
        admin = AIOKafkaAdminClient(
            bootstrap_servers=c.bootstrap_servers,
            client_id=c.client_id,
            request_timeout_ms=c.request_timeout_ms,
            **client_kwargs(c.security),
        )
        await admin.start()
        try:
            configs = {} if c.retention_ms is None else {"retention.ms": str(c.retention_ms)}
            topic = NewTopic(c.topic, c.partitions, c.replication_factor, topic_configs=configs)
            try:
                await admin.create_topics([topic])
                log.info("Created topic %s with %d partitions.", c.topic, c.partitions)
            except kerr.TopicAlreadyExistsError:
                pass
            except (kerr.TopicAuthorizationFailedError, kerr.ClusterAuthorizationFailedError):
                log.info("Not allowed to create topic %s; assuming it exists.", c.topic)
        finally:
            await admin.close()
        self._topic_checked = True

    async def _drop_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()

    async def send(self, envelope: Envelope) -> None:
        """Deliver every message of ``envelope`` with acks=all, then return (the ack)."""
        if self._closed:
            raise TerminalSinkError("send after close")
        if envelope.num_rows == 0:
            return
        messages, splits = encode_envelope(envelope, self.config)
        async with self._lock:  # one envelope at a time keeps per-host order on retries
            await self._deliver(messages)
        self.stats.splits += splits
        self.stats.envelopes += 1

    async def _deliver(self, messages: list[Message]) -> None:
        c = self.config
        pending = messages
        delay = c.retry_backoff_initial_s
        started = time.monotonic()
        failures = 0
        while pending:
            self.stats.pending_messages = len(pending)
            try:
                producer = await self._connect()
                futures = [
                    await producer.send(c.topic, value=m.value, key=m.key, headers=list(m.headers))
                    for m in pending
                ]
                results = await asyncio.gather(*futures, return_exceptions=True)
            except _TERMINAL as e:
                raise TerminalSinkError(f"Kafka refused delivery: {e!r}") from e
            except (kerr.KafkaError, OSError) as e:
                results = [e] * len(pending)
            failed = []
            for m, r in zip(pending, results, strict=True):
                if isinstance(r, BaseException):
                    if isinstance(r, _TERMINAL):
                        raise TerminalSinkError(f"Kafka refused delivery: {r!r}") from r
                    if not isinstance(r, kerr.KafkaError | OSError):
                        raise r
                    failed.append((m, r))
                else:
                    self.stats.messages += 1
                    self.stats.rows += m.rows
                    self.stats.bytes += len(m.value)
            if not failed:
                self.stats.pending_messages = 0
                self.stats.connected = 1
                if failures:
                    log.info(
                        "Kafka delivery resumed after %.1f s and %d failed attempt(s).",
                        time.monotonic() - started,
                        failures,
                    )
                return
            pending = [m for m, _ in failed]
            failures += 1
            self.stats.connected = 0
            self.stats.retries += 1
            waited = time.monotonic() - started
            if c.delivery_timeout_s is not None and waited >= c.delivery_timeout_s:
                raise TransientSinkError(
                    f"{len(pending)} Kafka message(s) undelivered after {waited:.0f} s: "
                    f"{type(failed[0][1]).__name__}"
                )
            log.warning(
                "Kafka delivery failed (%s); %d message(s) retried in %.1f s.",
                type(failed[0][1]).__name__,
                len(pending),
                delay,
                extra={"_ratelimit": True},  # one line a minute while the broker is down
            )
            # A fresh producer after a failure: clean metadata and connections, and no
            # half-failed idempotence sequence state.
            await self._drop_producer()
            self._topic_checked = False  # a rebuilt cluster may have lost the topic
            self.stats.reconnects += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, c.retry_backoff_max_s)

    async def close(self) -> None:
        """Stop the producer (every ``send`` that returned was already acknowledged)."""
        self._closed = True
        async with self._lock:
            await self._drop_producer()
