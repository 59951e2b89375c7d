"""``armorwatch process``: the processor half; Kafka consumer group → DuckDB.

Consumes the Arrow IPC batches the collectors (``armorwatch collect --kafka``) produce,
stores them in DuckDB and commits the Kafka offsets only after the DuckDB commit (see
``ingest.kafka``). Several processors with the same ``--group`` split the partitions;
DuckDB allows one writer per file, so each needs its own ``--db``.

Alerting: with a ``[process.alerts]`` table (``armorwatch.alerting.AlertingConfig``),
the alerting observer sees every stored batch (after the DuckDB commit, never before)
and hands notifications to the webhook sink's durable outbox.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.errors import KafkaError

from armorwatch import logging as awlog
from armorwatch import metrics
from armorwatch.alerting import AlertingConfig, AlertingObserver, open_alerting
from armorwatch.commands import COMMANDS
from armorwatch.config import ConfigError, from_mapping, load_toml
from ingest.errors import IngestError
from ingest.kafka import KafkaSource, KafkaSourceConfig, Observer
from sinks.duckdb import DuckDBConfig, DuckDBSink
from sinks.errors import SinkError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessConfig:
    """What ``armorwatch process`` consumes and where it stores (TOML table ``[process]``)."""

    kafka: KafkaSourceConfig = field(default_factory=KafkaSourceConfig)
    """Consumer settings (``[process.kafka]``, TLS/SASL under ``[process.kafka.security]``)."""
    store: DuckDBConfig = field(default_factory=DuckDBConfig)
    """DuckDB store settings (``[process.store]``)."""
    alerts: AlertingConfig | None = None
    """Continuous alerting on each stored batch (``[process.alerts]``); None: off."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``process``."""
    p = sub.add_parser(
        "process",
        help=COMMANDS["process"],
        description=(
            "Join a Kafka consumer group, decode the Arrow IPC batches that "
            "`armorwatch collect --kafka` produces and store them in DuckDB. Offsets are "
            "committed only after the DuckDB commit; duplicates from redelivery are "
            "removed by the record key. Poison messages go to a dead-letter topic/file."
        ),
    )
    p.add_argument(
        "--kafka", metavar="BOOTSTRAP", help="bootstrap servers, host:port[,host:port...]"
    )
    p.add_argument("--topic", action="append", help="topic to consume (repeatable)")
    p.add_argument("--group", help="consumer group id (default armorwatch-processor)")
    p.add_argument("--db", type=Path, help="DuckDB file (default ./armorwatch.duckdb)")
    p.add_argument("--config", type=Path, help="TOML file with a [process] table")
    p.add_argument(
        "--dead-letter-file", type=Path, help="also append poison messages to this JSON-lines file"
    )
    p.add_argument(
        "--exit-when-idle",
        type=float,
        metavar="SECONDS",
        help="stop after no message arrived for SECONDS (default: run until SIGTERM)",
    )
    metrics.add_arguments(p)
    awlog.add_arguments(p)
    p.set_defaults(func=main)


def load_config(args: argparse.Namespace) -> tuple[ProcessConfig, dict[str, Any]]:
    """The [process] table of --config (if any) overridden by flags, and the whole file."""
    data: dict[str, Any] = {}
    config = ProcessConfig()
    if args.config is not None:
        data = load_toml(args.config)
        # One file may configure several commands; anything else is a typo.
        unknown = sorted(set(data) - set(COMMANDS))
        if unknown:
            raise ConfigError(f"unknown table(s) {', '.join(unknown)} in {args.config}")
        config = from_mapping(ProcessConfig, data.get("process", {}), "process.")
    kafka: dict[str, Any] = {}
    if args.kafka:
        kafka["bootstrap_servers"] = args.kafka
    if args.topic:
        kafka["topics"] = tuple(args.topic)
    if args.group:
        kafka["group_id"] = args.group
    if args.dead_letter_file is not None:
        kafka["dead_letter_path"] = args.dead_letter_file
    store = {"path": args.db} if args.db is not None else {}
    config = dataclasses.replace(
        config,
        kafka=dataclasses.replace(config.kafka, **kafka),
        store=dataclasses.replace(config.store, **store),
    )
    return config, data


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
    alerting: AlertingObserver | None = None
    try:
        if config.alerts is not None:
            # Seeded from the store so a first start does not alert on all history.
            alerting = await open_alerting(config.alerts, store=sink.connection())
            observers = [*observers, alerting]
        if endpoint is not None:
            observers = [*observers, endpoint.records.observe]
        source = KafkaSource(config.kafka, sink, observers)
        if endpoint is not None:
            endpoint.add("store", sink, path=str(config.store.path))
            endpoint.add("kafka_source", source)
            if alerting is not None and alerting.sink is not None:
                endpoint.add("webhook", alerting.sink)
        async with source:
            await source.run(stop, exit_when_idle_s)
    finally:
        if alerting is not None:
            await alerting.close()
        await sink.close()
    return source


def main(args: argparse.Namespace) -> int:
    """Run the processor; 2 for a bad config, 1 when the store or Kafka fails for good."""
    awlog.from_args(args)
    try:
        config, _ = load_config(args)
        endpoint = metrics.from_args(args)
    except (ConfigError, OSError, metrics.MetricsError) as e:
        print(f"armorwatch process: {e}", file=sys.stderr)
        return 2
    try:
        source = asyncio.run(process(config, [], args.exit_when_idle, endpoint=endpoint))
    except (IngestError, SinkError, KafkaError) as e:
        print(f"armorwatch process: {e}", file=sys.stderr)
        return 1
    finally:
        if endpoint is not None:
            endpoint.close()
    s = source.stats
    print(
        f"armorwatch process: {s.messages} messages, {s.records} records and "
        f"{s.loss_rows} loss rows stored in {config.store.path}, {s.poison} dead-lettered",
        file=sys.stderr,
    )
    return 0
