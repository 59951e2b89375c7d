"""``armorwatch process``: the processor half; Kafka consumer group → DuckDB.

Consumes the Arrow IPC batches the collectors (``armorwatch collect --kafka``) produce,
stores them in DuckDB and commits the Kafka offsets only after the DuckDB commit (see
``ingest.kafka``). Several processors with the same ``--group`` split the partitions;
DuckDB allows one writer per file, so each needs its own ``--db``.

Alerting: with a ``[process.alerts]`` table (``armorwatch.alerting.AlertingConfig``),
the alerting observer sees every stored batch (after the DuckDB commit, never before)
and hands notifications to the webhook sink's durable outbox. The assembly is
``armorwatch.assembly.daemons.process``; this module turns arguments into a
``[process]`` table and prints the outcome.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from pathlib import Path
from typing import Any

from aiokafka.errors import KafkaError

from armorwatch import logging as awlog
from armorwatch import metrics
from armorwatch.assembly import settings
from armorwatch.assembly.daemons import process
from armorwatch.assembly.settings import ProcessConfig
from armorwatch.commands import COMMANDS
from armorwatch.config import ConfigError
from armorwatch.ingest.errors import IngestError
from armorwatch.sinks.errors import SinkError


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


def load_config(args: argparse.Namespace) -> ProcessConfig:
    """The [process] table of --config (the whole file checked), overridden by flags."""
    config = settings.load(args.config).process
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
    return dataclasses.replace(
        config,
        kafka=dataclasses.replace(config.kafka, **kafka),
        store=dataclasses.replace(config.store, **store),
    )


def main(args: argparse.Namespace) -> int:
    """Run the processor; 2 for a bad config, 1 when the store or Kafka fails for good."""
    awlog.from_args(args)
    try:
        config = load_config(args)
        endpoint = metrics.from_args(args)
    except (ConfigError, OSError, metrics.MetricsError) as e:
        print(f"armorwatch process: {e}", file=sys.stderr)
        return 2
    try:
        source = asyncio.run(process(config, [], args.exit_when_idle, endpoint=endpoint))
    except (IngestError, SinkError, KafkaError) as e:
        print(f"armorwatch process: {e}", file=sys.stderr)
        return 1
    except ConfigError as e:  # the [process.alerts] rules file, read when alerting opens
        print(f"armorwatch process: {e}", file=sys.stderr)
        return 2
    finally:
        if endpoint is not None:
            endpoint.close()
    s = source.stats
    awlog.print_summary(
        args,
        f"armorwatch process: {s.messages} messages, {s.records} records and "
        f"{s.loss_rows} loss rows stored in {config.store.path}, {s.poison} dead-lettered",
        {
            "messages": s.messages,
            "records": s.records,
            "loss_rows": s.loss_rows,
            "dead_lettered": s.poison,
            "store": str(config.store.path),
        },
        stream=sys.stderr,
    )
    return 0
