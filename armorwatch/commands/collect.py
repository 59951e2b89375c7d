"""``armorwatch collect``: the per-host collector daemon.

Reads the configured sources (default: the one ``--detect`` finds authoritative),
parses them and delivers the records; the checkpoint in ``state_dir`` advances only
after delivery was acknowledged. By default the records go to a local DuckDB file
through the in-process transport; ``_make_sink`` is the one place that chooses where
they go.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow as pa

from armorwatch import logging as awlog
from armorwatch import metrics
from armorwatch.commands import COMMANDS
from armorwatch.config import ConfigError, from_mapping, load_toml
from armorwatch.pipeline import InProcessConfig, InProcessTransport, ObservedSink
from ingest.auditd_file import AuditdFileConfig, AuditdFileSource
from ingest.base import Source
from ingest.checkpoint import CheckpointStore
from ingest.collector import Collector, CollectorConfig, CollectorError, DeadLetter, Delivery
from ingest.detect import AUDITD, JOURNALD, KERNLOG, describe, detect
from ingest.errors import IngestError
from ingest.hostid import host_info
from ingest.journald import JournaldConfig, JournaldSource
from ingest.kernlog import KernLogConfig, KernLogSource
from parsers import schema as S
from sinks.deadletter import DeadLetterConfig, DeadLetterSink
from sinks.duckdb import DuckDBConfig, DuckDBSink
from sinks.kafka import KafkaConfig, KafkaSink

SOURCE_NAMES = (AUDITD, KERNLOG, JOURNALD)
CHECKPOINT_FILE = "collect.checkpoint.json"


@dataclass(frozen=True)
class CollectConfig:
    """What ``armorwatch collect`` reads and where it delivers (TOML table ``[collect]``)."""

    sources: tuple[str, ...] = ()
    """Sources to read: auditd, kernlog, journald. Empty: the authoritative one (--detect)."""
    state_dir: Path = Path("/var/lib/armorwatch")
    """Checkpoint and dead-letter directory."""
    db: Path = Path("armorwatch.duckdb")
    """The local DuckDB file records are stored in (default sink)."""
    dead_letter: Path | None = None
    """Dead-letter file for rejected lines; default ``<state_dir>/deadletter.jsonl``."""
    host: str | None = None
    """Host name stamped on records; default: the kernel's host name."""
    auditd: AuditdFileConfig = field(default_factory=AuditdFileConfig)
    """audit.log tailing."""
    kernlog: KernLogConfig = field(default_factory=KernLogConfig)
    """kern.log / syslog tailing."""
    journald: JournaldConfig = field(default_factory=JournaldConfig)
    """journalctl following."""
    collector: CollectorConfig = field(default_factory=CollectorConfig)
    """Queues, batching, retries, de-duplication."""
    transport: InProcessConfig = field(default_factory=InProcessConfig)
    """The in-process transport to the local store."""
    kafka: KafkaConfig | None = None
    """Ship to Kafka (``[collect.kafka]`` or --kafka) instead of the local DuckDB file."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``collect``."""
    p = sub.add_parser(
        "collect",
        help=COMMANDS["collect"],
        description=(
            "Tail audit.log / kern.log through rotation, follow journald by cursor, parse "
            "the records and store them (default: a local DuckDB file). The checkpoint "
            "advances only after the store acknowledged: kill -9 at any time loses nothing. "
            "Without configured sources, the authoritative one on this host is read (see "
            "--detect)."
        ),
    )
    p.add_argument("--config", type=Path, help="TOML file with a [collect] table")
    p.add_argument(
        "--detect",
        action="store_true",
        help="report which source carries AppArmor records on this host, then exit",
    )
    p.add_argument(
        "--once", action="store_true", help="read what is there now, deliver it, then exit"
    )
    p.add_argument(
        "--source",
        action="append",
        choices=SOURCE_NAMES,
        help="read this source (repeatable); overrides the config's sources",
    )
    p.add_argument("--state-dir", type=Path, help="checkpoint directory (/var/lib/armorwatch)")
    p.add_argument("--db", type=Path, help="DuckDB file of the default sink")
    p.add_argument(
        "--host",
        help="host name stamped on records (default: the kernel's; in a pod, the node's name)",
    )
    p.add_argument(
        "--kafka",
        metavar="BOOTSTRAP",
        help="send to Kafka at host:port[,host:port...] instead of DuckDB (see `process`)",
    )
    metrics.add_arguments(p)
    awlog.add_arguments(p)
    p.set_defaults(func=main)


def load_config(args: argparse.Namespace) -> CollectConfig:
    """The [collect] table of --config (other tables are other commands'), then flags."""
    config = CollectConfig()
    if args.config is not None:
        data = load_toml(args.config)
        config = from_mapping(CollectConfig, data.get("collect", {}), "collect.")
    for name in config.sources:
        if name not in SOURCE_NAMES:
            raise ConfigError(f"collect.sources: unknown source {name!r}; use {SOURCE_NAMES}")
    if args.source:
        config = replace(config, sources=tuple(dict.fromkeys(args.source)))
    if args.state_dir is not None:
        config = replace(config, state_dir=args.state_dir)
    if args.db is not None:
        config = replace(config, db=args.db)
    if args.host:
        config = replace(config, host=args.host)
    if getattr(args, "kafka", None):
        kafka = replace(config.kafka or KafkaConfig(), bootstrap_servers=args.kafka)
        config = replace(config, kafka=kafka)
    return config


def build_sources(config: CollectConfig, names: tuple[str, ...]) -> list[Source]:
    """The source objects for ``names``."""
    out: list[Source] = []
    for name in names:
        if name == AUDITD:
            out.append(AuditdFileSource(config.auditd))
        elif name == KERNLOG:
            out.append(KernLogSource(config.kernlog))
        elif name == JOURNALD:
            out.append(JournaldSource(config.journald))
    return out


@contextlib.asynccontextmanager
async def _make_sink(
    args: argparse.Namespace, config: CollectConfig
) -> AsyncIterator[tuple[Delivery, DeadLetter]]:
    """Where envelopes and rejects go; the one place to add another transport."""
    dead_path = config.dead_letter or config.state_dir / "deadletter.jsonl"
    dead = DeadLetterSink(DeadLetterConfig(path=dead_path))
    async with dead:

        async def dead_letter(rejects: pa.RecordBatch) -> None:
            await dead.write(rejects)

        if config.kafka is not None:
            # Blocks while the broker is down: the log file is the spool (sinks.kafka).
            producer = KafkaSink(config.kafka)
            await producer.open()
            try:
                yield producer, dead_letter
            finally:
                await producer.close()
            return
        store = DuckDBSink(DuckDBConfig(path=config.db))
        await store.open()
        async with InProcessTransport(store, config.transport) as channel:  # closes store
            yield channel, dead_letter


async def _collect(
    args: argparse.Namespace,
    config: CollectConfig,
    names: tuple[str, ...],
    endpoint: metrics.MetricsServer | None = None,
) -> str:
    sources = build_sources(config, names)
    store = CheckpointStore(config.state_dir / CHECKPOINT_FILE)
    async with _make_sink(args, config) as (sink, dead_letter):
        if endpoint is not None:
            # Counted after the sink acknowledged, like every observer.
            sink = ObservedSink(sink, [endpoint.records.observe])
        collector = Collector(
            sources,
            sink,
            store,
            host_info(config.host),
            config.collector,
            dead_letter=dead_letter,
        )
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
            await collector.run(follow=not args.once)
        s = collector.stats
        losses = (
            ", ".join(
                # A truncated row counts bytes, not lines (ingest/tail.py).
                f"{k}={v} bytes" if k == S.LOSS_TRUNCATED else f"{k}={v}"
                for k, v in sorted(s.by_kind.items())
            )
            or "none"
        )
        return (
            f"collected {s.records} MAC records in {s.envelopes} envelopes from "
            f"{', '.join(names)}; rejected lines {s.rejects}; loss: {losses}"
        )


def main(args: argparse.Namespace) -> int:
    """Collect until stopped (or once); 1 when delivery failed, 2 for config/I-O errors."""
    awlog.from_args(args)
    try:
        config = load_config(args)
    except (ConfigError, OSError, ValueError) as e:
        print(f"armorwatch collect: {e}", file=sys.stderr)
        return 2
    if args.detect:
        found = detect(audit_log=config.auditd.path)
        print(describe(found))
        return 0
    names = config.sources or detect(audit_log=config.auditd.path).recommended
    try:
        endpoint = metrics.from_args(args)
    except metrics.MetricsError as e:
        print(f"armorwatch collect: {e}", file=sys.stderr)
        return 2
    try:
        summary = asyncio.run(_collect(args, config, names, endpoint))
    except (CollectorError, IngestError) as e:
        print(f"armorwatch collect: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"armorwatch collect: {e}", file=sys.stderr)
        return 2
    finally:
        if endpoint is not None:
            endpoint.close()
    print(summary)
    return 0
