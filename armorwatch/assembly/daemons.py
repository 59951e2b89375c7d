"""The two long-running halves, built from their config tables.

``collect``: followed sources → parser → collector → the local DuckDB store through the
in-process transport, or Kafka; the checkpoint advances only after delivery was
acknowledged. ``process``: Kafka consumer group → DuckDB, offsets committed after the
DuckDB commit (``ingest.kafka``). Both show every acknowledged envelope to the same
observers (``observing``): alerting when the table has ``alerts``, and the metrics
endpoint's record counter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import AsyncIterator

import duckdb
import pyarrow as pa

from armorwatch import metrics, profile_state
from armorwatch.alerting import AlertingConfig, AlertingObserver, open_alerting
from armorwatch.assembly.settings import CollectConfig, ProcessConfig
from armorwatch.assembly.sources import follow_source
from armorwatch.config import ConfigError
from armorwatch.ingest.checkpoint import CheckpointStore
from armorwatch.ingest.collector import Collector, CollectorStats, DeadLetter
from armorwatch.ingest.detect import detect
from armorwatch.ingest.hostid import host_info
from armorwatch.ingest.kafka import KafkaSource
from armorwatch.ingest.kubernetes import AttributingSink, KubernetesEnricher
from armorwatch.parsers.delivery import Sink
from armorwatch.pipeline import InProcessTransport, ObservedSink, Observer
from armorwatch.sinks.deadletter import DeadLetterConfig, DeadLetterSink
from armorwatch.sinks.duckdb import DuckDBSink, ScheduledUpkeep
from armorwatch.sinks.kafka import KafkaSink

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "collect.checkpoint.json"


@contextlib.asynccontextmanager
async def observing(
    alerts: AlertingConfig | None,
    store: duckdb.DuckDBPyConnection | None,
    endpoint: metrics.MetricsServer | None,
) -> AsyncIterator[list[Observer]]:
    """The observers of acknowledged envelopes: alerting (if configured), then metrics.

    ``store`` seeds the known denial signatures, so a first start does not alert on all
    history (None when the records go to Kafka: nothing local to seed from).
    """
    alerting: AlertingObserver | None = None
    try:
        observers: list[Observer] = []
        if alerts is not None:
            alerting = await open_alerting(alerts, store=store)
            observers.append(alerting)
        if endpoint is not None:
            observers.append(endpoint.records.observe)
            if alerting is not None and alerting.sink is not None:
                endpoint.add("webhook", alerting.sink)
        yield observers
    finally:
        if alerting is not None:
            await alerting.close()


def source_names(config: CollectConfig) -> tuple[str, ...]:
    """The configured sources, or the one ``--detect`` finds authoritative on this host."""
    return config.sources or detect(audit_log=config.auditd.path).recommended


def sink_description(config: CollectConfig) -> str:
    """Where ``collect`` delivers, for its start line (no secrets: addresses only)."""
    if config.kafka is not None:
        return f"Kafka {config.kafka.bootstrap_servers} topic {config.kafka.topic}"
    return f"DuckDB {config.store.path}"


@contextlib.asynccontextmanager
async def _delivery(
    config: CollectConfig,
    endpoint: metrics.MetricsServer | None = None,
) -> AsyncIterator[tuple[Sink, duckdb.DuckDBPyConnection | None, DeadLetter]]:
    """Where envelopes and rejects go, and the store alerting seeds from (None for Kafka);
    the one place to add another transport. The sink's counters go to ``endpoint``."""
    dead_path = config.dead_letter or config.state_dir / "deadletter.jsonl"
    dead = DeadLetterSink(DeadLetterConfig(path=dead_path))
    async with dead:

        async def dead_letter(rejects: pa.RecordBatch) -> None:
            await dead.write(rejects)

        if config.kafka is not None:
            # Blocks while the broker is down: the log file is the spool (sinks.kafka).
            producer = KafkaSink(config.kafka)
            if endpoint is not None:
                endpoint.add("kafka_sink", producer, topic=config.kafka.topic)
            await producer.open()
            try:
                yield producer, None, dead_letter
            finally:
                await producer.close()
            return
        store = DuckDBSink(config.store)
        await store.open()
        if endpoint is not None:
            endpoint.add("store", store, path=str(config.store.path))
        async with InProcessTransport(store, config.transport) as channel:  # closes store
            yield channel, store.connection(), dead_letter


@contextlib.asynccontextmanager
async def attribution(
    config: CollectConfig, endpoint: metrics.MetricsServer | None
) -> AsyncIterator[KubernetesEnricher | None]:
    """The pod attribution of ``[collect.kubernetes]``, or None when the table is absent."""
    k = config.kubernetes
    if k is None:
        yield None
        return
    try:
        url = k.url()
    except ValueError as e:
        raise ConfigError(str(e)) from None
    # Records of this node carry the collector's host, or the kernel's name via node=.
    hosts = (host_info(config.host).host, socket.gethostname())
    async with KubernetesEnricher(k, hosts=hosts) as enricher:
        log.info("Attributing records to pods: kubelet %s, /proc at %s.", url, k.proc_root)
        if endpoint is not None:
            endpoint.add("kubernetes", enricher)
        yield enricher


async def collect(
    config: CollectConfig,
    names: tuple[str, ...],
    *,
    follow: bool = True,
    endpoint: metrics.MetricsServer | None = None,
) -> CollectorStats:
    """Read the sources ``names`` until SIGTERM/SIGINT (or, without ``follow``, to the
    end of what is there) and deliver them; returns the collector's counters."""
    sources = [follow_source(n, config.source_settings(n)) for n in names]
    checkpoints = CheckpointStore(config.state_dir / CHECKPOINT_FILE)
    async with (
        _delivery(config, endpoint) as (sink, store, dead_letter),
        observing(config.alerts, store, endpoint) as observers,
        # The readings go straight to the transport: no attribution or record observers.
        profile_state.polling(endpoint, config.profile_state, sink, host_info(config.host)),
        attribution(config, endpoint) as enricher,
    ):
        if observers:
            # Observed after the sink acknowledged: alerts and counts see only what is kept.
            sink = ObservedSink(sink, observers)
        if enricher is not None:
            # Outermost: the store, Kafka and the observers all get the attributed records.
            sink = AttributingSink(sink, enricher)
        collector = Collector(
            sources, sink, checkpoints, host_info(config.host), config.collector,
            dead_letter=dead_letter, sink_name=sink_description(config),
        )  # fmt: skip
        if endpoint is not None:
            endpoint.add("collector", collector)
            for src in sources:
                endpoint.add("source", src, name=src.name)
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        if task is not None:
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, task.cancel)
        # A signal cancels the run; the collector saved what was acknowledged.
        with contextlib.suppress(asyncio.CancelledError):
            await collector.run(follow=follow)
    return collector.stats


async def process(
    config: ProcessConfig,
    observers: list[Observer],
    exit_when_idle_s: float | None = None,
    stop: asyncio.Event | None = None,
    endpoint: metrics.MetricsServer | None = None,
) -> KafkaSource:
    """Consume until stopped (SIGTERM/SIGINT, ``stop`` or idle); returns the source."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        # Not possible outside the main thread (tests run it in a task): stop= instead.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    sink = DuckDBSink(config.store)
    await sink.open()
    k = config.kafka
    log.info(
        "Processing %s from Kafka %s (group %s) into DuckDB %s; poison to %s.",
        ", ".join(k.topics), k.bootstrap_servers, k.group_id, config.store.path,
        " and ".join(str(x) for x in (k.dead_letter_topic, k.dead_letter_path) if x),
    )  # fmt: skip
    try:
        async with observing(config.alerts, sink.connection(), endpoint) as more:
            source = KafkaSource(config.kafka, sink, [*observers, *more])
            if endpoint is not None:
                endpoint.add("store", sink, path=str(config.store.path))
                endpoint.add("kafka_source", source)
            # Retention, dedup and compaction beside ingest: on their own connection, or
            # the writer's own between commits on an embedded store (SQLite catalog).
            upkeep = ScheduledUpkeep(config.store.path, config.upkeep, sink=sink)
            if endpoint is not None:
                endpoint.add("store_upkeep", upkeep)
            done = asyncio.Event()
            upkeeping = asyncio.create_task(upkeep.run(done), name="store-upkeep")
            try:
                try:  # run() joins the group itself, giving up when stopped
                    await source.run(stop, exit_when_idle_s)
                finally:
                    await source.close()
            finally:
                done.set()
                await upkeeping
    finally:
        await sink.close()
    return source
