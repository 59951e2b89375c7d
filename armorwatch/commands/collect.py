"""``armorwatch collect``: the per-host collector daemon.

Reads the configured sources (default: the one ``--detect`` finds authoritative),
parses them and delivers the records; the checkpoint in ``state_dir`` advances only
after delivery was acknowledged. The assembly is ``armorwatch.assembly.daemons.collect``;
this module turns arguments into a ``[collect]`` table and prints the outcome.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from pathlib import Path

from armorwatch import logging as awlog
from armorwatch import metrics
from armorwatch.assembly import daemons, settings, sources
from armorwatch.assembly.settings import CollectConfig
from armorwatch.commands import COMMANDS
from armorwatch.config import ConfigError
from armorwatch.ingest.collector import CollectorError, CollectorStats
from armorwatch.ingest.detect import describe, detect
from armorwatch.ingest.errors import IngestError
from armorwatch.parsers import sanitize
from armorwatch.parsers import schema as S
from armorwatch.sinks.errors import SinkError
from armorwatch.sinks.kafka import KafkaConfig


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
        choices=sources.FOLLOWED_WORDS,
        help="read this source (repeatable; audit and syslog are aliases of auditd and "
        "kernlog); overrides the config's sources",
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
    """The [collect] table of --config (the whole file checked), then flags."""
    config = settings.load(args.config).collect
    if args.source:
        config = replace(config, sources=tuple(args.source))
    if args.state_dir is not None:
        config = replace(config, state_dir=args.state_dir)
    if args.db is not None:
        config = replace(config, store=replace(config.store, path=args.db))
    if args.host:
        config = replace(config, host=args.host)
    if args.kafka:
        kafka = replace(config.kafka or KafkaConfig(), bootstrap_servers=args.kafka)
        config = replace(config, kafka=kafka)
    return config


def summary(stats: CollectorStats, names: tuple[str, ...]) -> str:
    """One line: records, envelopes, rejects and loss by kind."""
    losses = (
        ", ".join(
            # A truncated row counts bytes, not lines (ingest/tail.py).
            f"{k}={v} bytes" if k == S.LOSS_TRUNCATED else f"{k}={v}"
            for k, v in sorted(stats.by_kind.items())
        )
        or "none"
    )
    return (
        f"collected {stats.records} MAC records in {stats.envelopes} envelopes from "
        f"{', '.join(names)}; rejected lines {stats.rejects}; loss: {losses}"
    )


def summary_fields(stats: CollectorStats, names: tuple[str, ...]) -> dict[str, object]:
    """The summary's figures, for the JSON form (``--log-format json``)."""
    return {
        "sources": list(names),
        "records": stats.records,
        "envelopes": stats.envelopes,
        "rejected_lines": stats.rejects,
        "loss": dict(sorted(stats.by_kind.items())),
        "send_retries": stats.send_retries,
    }


def main(args: argparse.Namespace) -> int:
    """Collect until stopped (or once); 1 when delivery failed, 2 for config/I-O errors."""
    awlog.from_args(args)
    try:
        config = load_config(args)
    except (ConfigError, OSError, ValueError) as e:
        print(f"armorwatch collect: {e}", file=sys.stderr)
        return 2
    if args.detect:
        print(describe(detect(audit_log=config.auditd.path)))
        return 0
    names = daemons.source_names(config)
    try:
        endpoint = metrics.from_args(args)
    except metrics.MetricsError as e:
        print(f"armorwatch collect: {e}", file=sys.stderr)
        return 2
    try:
        stats = asyncio.run(daemons.collect(config, names, follow=not args.once, endpoint=endpoint))
    except (CollectorError, IngestError, SinkError) as e:
        # SinkError: the store locked by another writer or newer than this version, a
        # Kafka sink that cannot start (a missing SASL secret): a failure, not a bug.
        print(f"armorwatch collect: {sanitize.for_terminal(str(e))}", file=sys.stderr)
        return 1
    except (ConfigError, OSError) as e:  # ConfigError: [collect.alerts] rules
        print(f"armorwatch collect: {e}", file=sys.stderr)
        return 2
    finally:
        if endpoint is not None:
            endpoint.close()
    awlog.print_summary(args, summary(stats, names), summary_fields(stats, names))
    return 0
