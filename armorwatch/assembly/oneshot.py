"""The one-shot run (``armorwatch run``): files read once → parser → in-process
transport → DuckDB.

The collector daemon follows files forever and checkpoints; a one-shot run reads each
input from its start to its end once. Re-running is harmless: the store removes
duplicates by ``parsers.schema.KEY_COLUMNS``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pyarrow as pa

from armorwatch.assembly.settings import FileInput, RunConfig
from armorwatch.assembly.sources import file_source
from armorwatch.ingest.base import Chunk, Item, Source
from armorwatch.ingest.collector import Collector, CollectorStats
from armorwatch.ingest.hostid import host_info
from armorwatch.ingest.progress import progress_bar
from armorwatch.parsers.result import HostInfo
from armorwatch.pipeline import InProcessTransport
from armorwatch.sinks.deadletter import DeadLetterConfig, DeadLetterSink
from armorwatch.sinks.duckdb import DuckDBSink, DuckDBStats


class InputError(OSError):
    """An input file cannot be read."""


def sample_inputs() -> tuple[FileInput, ...]:
    """The bundled sample logs (package data), in a stable order."""
    root = resources.files("armorwatch").joinpath("samples")
    # local-audit.log has no node=: its records get the host `run` runs on (or --host).
    names = ("audit.log", "kern.log", "journal.json", "local-audit.log")
    return tuple(FileInput(path=Path(str(root.joinpath(n)))) for n in names)


@dataclass(frozen=True)
class RunOutcome:
    """What one run read and what the store made of it."""

    inputs: tuple[FileInput, ...]
    """The files read (the bundled samples when the config named none)."""
    collected: CollectorStats
    """The collector's counters: bytes, records acknowledged, rejects, loss by kind."""
    stored: DuckDBStats
    """The store's counters: records newly inserted and duplicates skipped."""
    host: str
    """The host name given to records whose framing names none."""


def default_host(host: str | None = None) -> str:
    """``host`` if given, else this machine's host name (``ingest.hostid``)."""
    name = host or host_info().host
    if not name:
        raise InputError("this machine has no host name: give one with --host NAME")
    return name


class _Progressing:
    """A source that moves a progress bar by the bytes of each chunk it hands the
    collector (bounded queues keep parsing and storing a few chunks behind), on a
    terminal only (``ingest.progress``): run tells a person where a long file is."""

    def __init__(self, inner: Source, size: int, label: str, line: int) -> None:
        self._inner = inner
        self._bar = progress_bar(size, label, "B", position=line)
        self.name, self.source = inner.name, inner.source
        self.framing, self.kernel_tag = inner.framing, inner.kernel_tag

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)  # describe, refresh_stats, stats

    def restore(self, position: Mapping[str, Any] | None) -> None:
        self._inner.restore(position)

    def position(self, segment: int, safe_offset: int) -> dict[str, Any] | None:
        return self._inner.position(segment, safe_offset)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def items(self, follow: bool = True) -> AsyncIterator[Item]:
        try:
            async for item in self._inner.items(follow):
                if isinstance(item, Chunk):
                    self._bar.update(item.end - item.offset)
                yield item
        finally:
            self._bar.close()


async def run_once(config: RunConfig) -> RunOutcome:
    """Read every input once through the collector into the configured store.

    No checkpoint is kept (each run reads the files whole; the store's key removes what
    an earlier run stored). Each record keeps the host its framing names (``node=``, the
    syslog host, ``_HOSTNAME``); one that names none (an audit.log written with auditd's
    ``name_format = NONE``) gets ``config.host`` (default: this machine's name), never
    NULL. Only the name is stamped: machine-id and boot_id of this machine would be
    wrong for a file copied from elsewhere or written before the last boot.
    """
    inputs = config.inputs or sample_inputs()
    name = default_host(config.host)
    for item in inputs:
        if not item.path.is_file() or not os.access(item.path, os.R_OK):
            raise InputError(f"cannot read {item.path}")
    sources: list[Source] = [
        _Progressing(
            file_source(item.kind, item.path, f"input{i}"),
            item.path.stat().st_size,
            f"run {item.path.name}",
            i,
        )
        for i, item in enumerate(inputs)
    ]
    store = DuckDBSink(config.store)
    await store.open()
    rejected = DeadLetterSink(DeadLetterConfig(path=config.dead_letter))

    async def keep(rejects: pa.RecordBatch) -> None:
        await rejected.write(rejects)
        await store.send_rejects(rejects)

    async with rejected, InProcessTransport(store, config.transport) as channel:  # closes store
        collector = Collector(
            sources, channel, None, HostInfo(host=name), dead_letter=keep, dedup=False
        )
        await collector.run(follow=False)
    return RunOutcome(inputs=inputs, collected=collector.stats, stored=store.stats, host=name)
