"""Durable collector positions: one small versioned JSON file per collector.

Writes are atomic: a temporary file in the same directory is written, fsynced, renamed
over the old one, and the directory is fsynced, so a crash leaves either the old or the
new checkpoint. A checkpoint that still cannot be parsed (a zero-byte file after a power
cut on a file system that reorders metadata, Filebeat #3537) is never trusted and never
skipped past: it is set aside as ``<name>.corrupt-<n>`` and the collector re-reads from
the oldest data it can find (duplicates, which the store removes by key, never loss).

Format (version 1)::

    {"version": 1, "sources": {"<source name>": {...source-specific position...}}}
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from armorwatch.ingest.errors import CheckpointError

log = logging.getLogger(__name__)

VERSION = 1
"""The checkpoint format written by this version."""


@dataclass
class CheckpointStats:
    """Counters of one checkpoint file."""

    saves: int = 0
    """Checkpoints written."""
    corrupt: int = 0
    """Unparseable checkpoints found and set aside (the sources re-read)."""


class CheckpointStore:
    """Load and atomically save the positions of a collector's sources."""

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.path = Path(path)
        self._fsync = fsync
        self.stats = CheckpointStats()

    def load(self) -> dict[str, dict[str, Any]]:
        """Positions by source name; empty when there is no usable checkpoint."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as e:
            raise CheckpointError(f"cannot read checkpoint {self.path}: {e}") from e
        try:
            doc = json.loads(raw)
            if not isinstance(doc, dict) or not isinstance(doc.get("version"), int):
                raise ValueError("not a versioned checkpoint object")
        except ValueError as e:
            self._set_aside(f"{type(e).__name__}: {e}")
            return {}
        version = doc["version"]
        if version > VERSION:
            raise CheckpointError(
                f"checkpoint {self.path} has format version {version}; this armorwatch "
                f"reads up to {VERSION}. Upgrade armorwatch or move the file away."
            )
        sources = doc.get("sources")
        if not isinstance(sources, dict):
            self._set_aside("no 'sources' object")
            return {}
        return {str(k): dict(v) for k, v in sources.items() if isinstance(v, dict)}

    def save(self, positions: Mapping[str, Mapping[str, Any]]) -> None:
        """Write all positions atomically (temp file + fsync + rename + dir fsync)."""
        doc = {"version": VERSION, "sources": {k: dict(v) for k, v in positions.items()}}
        data = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
        directory = self.path.parent
        tmp = directory / f".{self.path.name}.tmp"
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if self._fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            if self._fsync:
                dfd = os.open(directory, os.O_RDONLY)
                try:
                    os.fsync(dfd)
                finally:
                    os.close(dfd)
        except OSError as e:
            raise CheckpointError(f"cannot write checkpoint {self.path}: {e}") from e
        self.stats.saves += 1

    def _set_aside(self, why: str) -> None:
        self.stats.corrupt += 1
        n = 0
        while True:
            target = self.path.with_name(f"{self.path.name}.corrupt-{n}")
            if not target.exists():
                break
            n += 1
        with contextlib.suppress(OSError):
            os.replace(self.path, target)
        log.warning(
            "Checkpoint %s is unreadable (%s); it was moved to %s and the sources re-read "
            "from the oldest data still on disk.",
            self.path,
            why,
            target,
        )
