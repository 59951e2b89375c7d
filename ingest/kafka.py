"""KafkaSource: the processor half; consumes Arrow IPC messages and stores them.

Reads the wire format written by ``sinks.kafka.KafkaSink`` (one Arrow IPC stream per
message, MAC_SCHEMA ``records``, LOSS_SCHEMA ``loss`` or PROFILE_STATE_SCHEMA
``profile_state``, told apart by the ``armorwatch.kind`` header) in a consumer group, decodes
zero-copy (``pa.ipc.open_stream`` over the message buffer), gathers up to
``max_batch_rows`` rows into one Envelope and hands it to a sink (DuckDB).

Offsets: committed to Kafka only *after* the sink's ``send`` returned (the DuckDB
transaction committed). A crash between the two redelivers that batch; the store drops
the duplicates by ``parsers.schema.KEY_COLUMNS``. (Storing offsets inside the DuckDB
transaction and seeking on start would avoid the redelivery, but ties the offsets to
one DuckDB file and one sink; commit-after-store + key dedup keeps any sink usable.)

Rebalances: before partitions are revoked, what was gathered is stored and committed;
messages fetched for partitions no longer owned are not stored (their new owner reads
them from the committed offset). Nothing is lost either way; at worst a batch is stored
twice and deduplicated.

Poison messages (not an Arrow IPC stream, unknown schema version, a kind this version
does not know, columns not those of its kind) go to
the dead-letter topic and/or file with their raw bytes, are counted in ``stats.poison``,
and their offsets are committed with the batch; the consumer keeps going.

Errors: ``ingest.errors.SourceError`` for an unusable configuration; a sink's
``parsers.delivery.DeliveryError`` is retried with backoff while ``retriable`` is true
and re-raised otherwise (as is any other error), without committing. The wire's header
names and the TLS/SASL settings are ``parsers.kafka_wire``'s, shared with the sink.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka import errors as kerr
from aiokafka.helpers import create_ssl_context
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata, TopicPartition

from armorwatch.ingest.errors import SourceError
from armorwatch.parsers import kafka_wire as wire
from armorwatch.parsers import schema as S
from armorwatch.parsers.delivery import DeliveryError, Observer, Sink
from armorwatch.parsers.envelope import KIND_SCHEMAS, Envelope
from armorwatch.parsers.kafka_wire import KafkaSecurity

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KafkaSourceConfig:
    """Settings of the Kafka consumer (processor side)."""

    bootstrap_servers: str = "localhost:9092"
    """Comma-separated host:port list of brokers."""
    topics: tuple[str, ...] = ("armorwatch.records",)
    """Topics to consume."""
    group_id: str = "armorwatch-processor"
    """Consumer group; processors sharing it split the partitions."""
    client_id: str = "armorwatch-processor"
    """Client id shown in broker logs and quotas."""
    auto_offset_reset: str = "earliest"
    """Where a group without committed offsets starts: earliest or latest."""
    max_batch_rows: int = 122_880
    """Rows gathered into one store transaction (DuckDB inserts are fastest near its
    row-group size of 122,880)."""
    max_batch_wait_s: float = 1.0
    """Longest a gathered row waits before it is stored anyway."""
    fetch_max_records: int = 500
    """Messages returned by one fetch."""
    max_partition_fetch_bytes: int = 4 * 1024 * 1024
    """Bytes fetched per partition per request (above the largest message)."""
    session_timeout_ms: int = 10_000
    """The group drops a member silent this long."""
    heartbeat_interval_ms: int = 3_000
    """Heartbeat period (well below session_timeout_ms)."""
    dead_letter_topic: str | None = "armorwatch.dead-letter"
    """Topic poison messages are copied to (raw bytes and headers); None: file only."""
    dead_letter_path: Path | None = None
    """JSON-lines file poison messages are appended to (base64 value); None: topic only."""
    commit_timeout_s: float = 10.0
    """Give up an offset commit after this long (the batch is then redelivered)."""
    close_timeout_s: float = 5.0
    """On shutdown, leave the group for at most this long (a lost broker cannot hold
    SIGTERM past systemd's or Kubernetes' grace period)."""
    store_retry_initial_s: float = 0.5
    """First wait after a transient store failure."""
    store_retry_max_s: float = 30.0
    """Longest wait between store retries."""
    security: KafkaSecurity = field(default_factory=KafkaSecurity)
    """TLS / SASL settings."""


@dataclass
class KafkaSourceStats:
    """Counters read by the metrics endpoint."""

    messages: int = 0
    """Messages consumed (stored, dead-lettered or skipped as foreign)."""
    records: int = 0
    """MAC records stored."""
    loss_rows: int = 0
    """Loss rows stored."""
    batches: int = 0
    """Store transactions (sink sends) completed."""
    commits: int = 0
    """Offset commits after a store."""
    commit_failures: int = 0
    """Commits refused after a rebalance (the batch is redelivered and deduplicated)."""
    poison: int = 0
    """Messages dead-lettered: undecodable, unknown schema version or wrong columns."""
    store_retries: int = 0
    """Transient store failures retried."""
    rebalances: int = 0
    """Partition revocations handled."""
    observer_errors: int = 0
    """Observer calls that raised after their batch was stored."""
    lag_messages: dict[str, int] = field(default_factory=dict)
    """Consumer lag per assigned ``topic/partition``: highwater minus position (messages
    on the broker not consumed yet); replaced as a whole after every fetch."""


class PoisonMessage(ValueError):
    """A message that is not a usable armorwatch Arrow IPC batch."""


def decode(value: bytes, kind: str | None = None) -> pa.RecordBatch:
    """The one record batch of an IPC stream message, zero-copy over ``value``.

    Raises PoisonMessage when it is not one batch of our version with the schema of
    ``kind`` (the message's kind header), or of any known kind when it has none.
    """
    if kind is not None and kind not in KIND_SCHEMAS:
        # A newer collector's kind: refused by name, before any decoding.
        raise PoisonMessage(
            f"unknown kind {kind[:64]!r}: this processor reads {', '.join(KIND_SCHEMAS)}"
        )
    try:
        reader = pa.ipc.open_stream(pa.py_buffer(value))
        batches = list(reader)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as e:
        raise PoisonMessage(f"not an Arrow IPC stream: {e}") from None
    schema = reader.schema
    version = S.schema_version(schema)
    if version != S.SCHEMA_VERSION:
        raise PoisonMessage(f"schema version {version}, expected {S.SCHEMA_VERSION}")
    if kind is not None and not schema.equals(KIND_SCHEMAS[kind]):
        raise PoisonMessage(f"columns differ from those of kind {kind!r}")
    if kind is None and not any(schema.equals(s) for s in KIND_SCHEMAS.values()):
        raise PoisonMessage("columns differ from every known kind's schema")
    if len(batches) != 1:
        raise PoisonMessage(f"{len(batches)} batches in one message, expected 1")
    return batches[0]


def _headers(msg: ConsumerRecord[Any, Any]) -> dict[str, bytes]:
    return {k: v for k, v in (msg.headers or ())}


class _Listener(ConsumerRebalanceListener):
    def __init__(self, source: KafkaSource) -> None:
        self._source = source

    async def on_partitions_revoked(self, revoked: Any) -> None:
        if revoked:
            log.info("Revoked partitions: %s.", sorted(f"{t.topic}/{t.partition}" for t in revoked))
        await self._source._on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        # Idleness counts from the assignment: joining a group can take seconds.
        self._source._last_message_at = time.monotonic()
        log.info("Assigned partitions: %s.", sorted(f"{t.topic}/{t.partition}" for t in assigned))


class KafkaSource:
    """Consumes armorwatch batches from Kafka and stores them; commits after the store."""

    def __init__(
        self,
        config: KafkaSourceConfig,
        sink: Sink,
        observers: Sequence[Observer] = (),
    ) -> None:
        if config.dead_letter_topic is None and config.dead_letter_path is None:
            raise SourceError("set dead_letter_topic or dead_letter_path: poison is kept")
        self.config = config
        self.stats = KafkaSourceStats()
        self._sink = sink
        self._observers = tuple(observers)
        self._consumer: AIOKafkaConsumer | None = None
        self._unstored: dict[TopicPartition, int] = {}
        """Per partition, the oldest offset taken but not yet stored: where the lag starts."""
        self._stored: dict[TopicPartition, int] = {}
        """Per partition, the next offset after what was stored and committed."""
        self._dlq: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._records: list[pa.RecordBatch] = []
        self._loss: list[pa.RecordBatch] = []
        self._profile_state: list[pa.RecordBatch] = []
        self._offsets: dict[TopicPartition, int] = {}
        self._rows = 0
        self._first_at: float | None = None
        self._last_message_at = time.monotonic()
        self._hosts: set[str] = set()

    async def start(self, stop: asyncio.Event | None = None) -> None:
        """Join the group; while no broker answers, retry with backoff until ``stop`` is
        set (then return without a consumer)."""
        c = self.config
        try:
            security = wire.client_kwargs(
                c.security, create_ssl_context, Path.read_text, os.environ
            )
        except wire.KafkaSettingsError as e:
            raise SourceError(str(e)) from None
        delay = c.store_retry_initial_s
        while True:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=c.bootstrap_servers,
                group_id=c.group_id,
                client_id=c.client_id,
                enable_auto_commit=False,
                auto_offset_reset=c.auto_offset_reset,
                max_partition_fetch_bytes=c.max_partition_fetch_bytes,
                session_timeout_ms=c.session_timeout_ms,
                heartbeat_interval_ms=c.heartbeat_interval_ms,
                **security,
            )
            dlq = None
            if c.dead_letter_topic is not None:
                dlq = AIOKafkaProducer(
                    bootstrap_servers=c.bootstrap_servers,
                    client_id=c.client_id + "-dlq",
                    acks="all",
                    max_request_size=c.max_partition_fetch_bytes + 65536,
                    max_batch_size=c.max_partition_fetch_bytes,
                    **security,
                )
            try:
                await consumer.start()
                if dlq is not None:
                    await dlq.start()
                break
            except kerr.KafkaConnectionError as e:
                for client in (consumer, dlq):
                    if client is not None:
                        with contextlib.suppress(Exception):
                            await client.stop()
                log.warning(
                    "Kafka is not reachable (%s); retrying in %.1f s.",
                    e,
                    delay,
                    extra={"_ratelimit": True},
                )
                if stop is None:
                    await asyncio.sleep(delay)
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), delay)
                    if stop.is_set():
                        log.info("Stopped before Kafka answered.")
                        return
                delay = min(delay * 2, c.store_retry_max_s)
        consumer.subscribe(list(c.topics), listener=_Listener(self))
        log.info(
            "Consuming %s from %s as group %s.",
            ", ".join(c.topics),
            c.bootstrap_servers,
            c.group_id,
        )
        self._consumer = consumer
        self._dlq = dlq

    async def __aenter__(self) -> KafkaSource:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def idle_s(self) -> float:
        """Seconds since the last message arrived."""
        return time.monotonic() - self._last_message_at

    async def run(
        self, stop: asyncio.Event | None = None, exit_when_idle_s: float | None = None
    ) -> None:
        """Consume until ``stop`` is set (or nothing arrived for ``exit_when_idle_s``
        after partitions were assigned)."""
        stop = stop or asyncio.Event()
        if self._consumer is None:
            await self.start(stop)
        consumer = self._consumer
        if consumer is None:  # stopped while no broker answered
            return
        c = self.config
        while not stop.is_set():
            data = await consumer.getmany(
                timeout_ms=int(min(c.max_batch_wait_s, 0.5) * 1000),
                max_records=c.fetch_max_records,
            )
            async with self._lock:
                owned = consumer.assignment()
                for tp, msgs in data.items():
                    if tp not in owned:  # revoked while we waited for the lock
                        continue
                    for msg in msgs:
                        await self._take(tp, msg)
                        if self._rows >= c.max_batch_rows:  # bound one transaction
                            await self._flush()
                due = self._first_at is not None and (
                    time.monotonic() - self._first_at >= c.max_batch_wait_s
                )
                if self._rows >= c.max_batch_rows or (self._offsets and (due or not data)):
                    await self._flush()
            if (
                exit_when_idle_s is not None
                and not self._offsets
                and consumer.assignment()
                and self.idle_s >= exit_when_idle_s
            ):
                break
        async with self._lock:
            await self._flush()

    def refresh_stats(self) -> None:
        """``stats.lag_messages`` (the metrics endpoint calls this at scrape time, so the
        consume loop does no metrics work): highwater minus the oldest offset not yet
        stored (taken messages waiting for a blocked store are lag too), for each assigned
        partition whose highwater and position are both known."""
        consumer = self._consumer
        if consumer is None:
            return
        lag: dict[str, int] = {}
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            base = self._unstored.get(tp, self._stored.get(tp))
            if high is not None and base is not None:
                lag[f"{tp.topic}/{tp.partition}"] = max(0, high - base)
        self.stats.lag_messages = lag

    async def _take(self, tp: TopicPartition, msg: ConsumerRecord[Any, Any]) -> None:
        self.stats.messages += 1
        self._last_message_at = time.monotonic()
        if self._first_at is None:
            self._first_at = self._last_message_at
        self._offsets[tp] = msg.offset + 1
        self._unstored.setdefault(tp, msg.offset)
        try:
            if msg.value is None:
                raise PoisonMessage("empty message")
            version = _headers(msg).get(wire.HEADER_SCHEMA_VERSION)
            if version is not None and version != str(S.SCHEMA_VERSION).encode():
                # Cheap reject before decoding; decode checks the IPC metadata as well.
                raise PoisonMessage(f"schema version header {version!r}")
            header = _headers(msg).get(wire.HEADER_KIND)
            kind = header.decode(errors="replace") if header is not None else None
            batch = decode(msg.value, kind)
        except PoisonMessage as e:
            await self._dead_letter(msg, str(e))
            return
        if batch.schema.equals(S.MAC_SCHEMA):
            self._records.append(batch)
        elif batch.schema.equals(S.LOSS_SCHEMA):
            self._loss.append(batch)
        else:
            self._profile_state.append(batch)
        self._rows += batch.num_rows
        host = _headers(msg).get(wire.HEADER_META_PREFIX + "host")
        if host:
            self._hosts.add(host.decode(errors="replace"))

    async def _dead_letter(self, msg: ConsumerRecord[Any, Any], reason: str) -> None:
        self.stats.poison += 1
        log.warning(
            "Dead-lettered message %s/%d@%d: %s.", msg.topic, msg.partition, msg.offset, reason
        )
        c = self.config
        if self._dlq is not None and c.dead_letter_topic is not None:
            headers = [*(msg.headers or ()), (wire.HEADER_REASON, reason.encode())]
            await self._dlq.send_and_wait(
                c.dead_letter_topic, value=msg.value, key=msg.key, headers=headers
            )
        if c.dead_letter_path is not None:
            line = {
                "topic": msg.topic,
                "partition": msg.partition,
                "offset": msg.offset,
                "reason": reason,
                "headers": {k: base64.b64encode(v).decode() for k, v in (msg.headers or ())},
                "value_b64": base64.b64encode(msg.value or b"").decode(),
            }
            c.dead_letter_path.parent.mkdir(parents=True, exist_ok=True)
            # fsync before the offset can be committed past this message
            with c.dead_letter_path.open("a") as f:
                f.write(json.dumps(line) + "\n")
                f.flush()
                os.fsync(f.fileno())

    async def _flush(self) -> None:
        """Store what was gathered in one sink send, then commit the offsets."""
        if not self._offsets:
            return
        records = pa.concat_batches(self._records) if self._records else S.empty_batch(S.MAC_SCHEMA)
        loss = pa.concat_batches(self._loss) if self._loss else S.empty_batch(S.LOSS_SCHEMA)
        state = (
            pa.concat_batches(self._profile_state)
            if self._profile_state
            else S.empty_batch(S.PROFILE_STATE_SCHEMA)
        )
        meta = {"hosts": ",".join(sorted(self._hosts))[:1024]} if self._hosts else {}
        envelope = Envelope(records=records, loss=loss, meta=meta, profile_state=state)
        if envelope.num_rows:
            await self._store(envelope)
        offsets = dict(self._offsets)
        self._records, self._loss, self._offsets = [], [], {}
        self._profile_state = []
        self._rows, self._first_at, self._hosts = 0, None, set()
        await self._commit(offsets)
        self._stored.update(offsets)
        for tp in offsets:
            self._unstored.pop(tp, None)
        if envelope.num_rows:
            self.stats.records += records.num_rows
            self.stats.loss_rows += loss.num_rows
            self.stats.batches += 1
            for observe in self._observers:
                try:
                    await observe(envelope)
                except Exception:
                    self.stats.observer_errors += 1
                    log.exception("An observer failed on a stored batch.")

    async def _store(self, envelope: Envelope) -> None:
        delay = self.config.store_retry_initial_s
        while True:
            try:
                await self._sink.send(envelope)
                return
            except DeliveryError as e:
                if not e.retriable:
                    raise
                self.stats.store_retries += 1
                wait = max(delay, e.retry_after or 0.0)
                log.warning(
                    "Store failed (%s); retrying in %.1f s.", e, wait, extra={"_ratelimit": True}
                )
                await asyncio.sleep(wait)
                delay = min(delay * 2, self.config.store_retry_max_s)

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        consumer = self._consumer
        assert consumer is not None
        commit = consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
        try:
            # aiokafka retries retriable commit errors forever; bound it so a lost
            # broker cannot wedge the loop (and the rebalance callback behind it).
            await asyncio.wait_for(commit, self.config.commit_timeout_s)
            self.stats.commits += 1
        except (kerr.CommitFailedError, kerr.IllegalStateError, TimeoutError) as e:
            # Stored but not committed: redelivered later, and the store's key dedups.
            self.stats.commit_failures += 1
            log.warning(
                "Offset commit failed (%s); the batch may be redelivered.", type(e).__name__
            )

    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        if not revoked:  # the first join revokes nothing
            return
        self.stats.rebalances += 1
        async with self._lock:
            await self._flush()
        for tp in revoked:  # another consumer moves them on now: our figure would go stale
            self._stored.pop(tp, None)

    async def close(self) -> None:
        """Store and commit what was gathered, then leave the group."""
        consumer, self._consumer = self._consumer, None
        try:
            if consumer is not None:
                try:
                    async with self._lock:
                        self._consumer = consumer
                        await self._flush()
                        self._consumer = None
                finally:
                    await self._stop_client(consumer, "consumer")
        finally:  # the dead-letter producer stops whatever happened above
            dlq, self._dlq = self._dlq, None
            if dlq is not None:
                await self._stop_client(dlq, "dead-letter producer")

    async def _stop_client(self, client: AIOKafkaConsumer | AIOKafkaProducer, what: str) -> None:
        """Stop an aiokafka client within ``close_timeout_s``. With the broker gone, its
        stop waits on retries, or raises the CancelledError of its own cancelled fetch
        task (aiokafka's ``Fetcher.close``); neither may turn a SIGTERM into a traceback.
        What was stored stays stored; an offset not committed is redelivered."""
        task = asyncio.current_task()
        try:
            await asyncio.wait_for(client.stop(), self.config.close_timeout_s)
        except TimeoutError:
            log.warning(
                "Kafka %s did not stop within %.1f s (broker unreachable); leaving it.",
                what,
                self.config.close_timeout_s,
            )
        except asyncio.CancelledError:
            if task is not None and task.cancelling():
                raise  # we are being cancelled, not only the client's own task
            log.warning("Kafka %s stopped with its fetch task cancelled.", what)
        except kerr.KafkaError as e:
            log.warning("Kafka %s did not stop cleanly (%s).", what, type(e).__name__)
