"""The dead-letter file: parser rejects kept byte-exact, so bad input loses nothing.

``DeadLetterSink.write(rejects)`` appends the rows of a REJECT_SCHEMA batch to a JSON
lines file and returns after ``fsync``. One line per reject::

    {"ingested_at": "2025-11-23T10:00:00.123Z", "source": "kern.log", "host": "web-01",
     "reason": "unterminated quoted value", "raw_b64": "<exact bytes, base64>",
     "raw": "<the same bytes in visible form: escapes for controls and bidi characters>"}

``raw_b64`` is authoritative (``read_rejects`` turns the file back into a REJECT_SCHEMA
batch, e.g. to re-parse it after a parser fix or to load it into the store's
``rejects`` table); ``raw`` is for a human with ``grep``/``jq``: it never carries
terminal escape sequences.

The file is opened for each write (O_APPEND) and closed after the fsync, so an external
rotation (logrotate ``create``, not ``copytruncate``) needs no signal: the next write
creates a new file. Writes from one process are serialised by a lock.

Errors::

    SinkError (sinks.errors)
    ├── TransientSinkError   the write or fsync failed (disk full, permissions)
    └── TerminalSinkError    the batch is not REJECT_SCHEMA, write after close
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from armorwatch.parsers import sanitize
from armorwatch.parsers import schema as S
from armorwatch.sinks.base import SinkBase
from armorwatch.sinks.errors import TerminalSinkError, TransientSinkError

RAW_B64 = "raw_b64"
"""JSON key of the exact bytes (base64)."""
INGESTED_AT = "ingested_at"
"""JSON key of the time the line was written (UTC, RFC 3339)."""


@dataclass(frozen=True)
class DeadLetterConfig:
    """Settings of the dead-letter file."""

    path: Path = Path("armorwatch-deadletter.jsonl")
    """JSON lines file rejects are appended to; its directory is created when missing."""
    fsync: bool = True
    """fsync after each write, so a returned write survives a crash."""


@dataclass
class DeadLetterStats:
    """Counters of a DeadLetterSink, read by the metrics endpoint."""

    rows: int = 0
    """Rejected lines written."""
    bytes: int = 0
    """Bytes appended to the file."""
    writes: int = 0
    """Successful write calls."""
    errors: int = 0
    """Write calls that failed (their rows were not acknowledged)."""


class DeadLetterSink(SinkBase):
    """Appends parser rejects (REJECT_SCHEMA rows) to a JSON lines file."""

    def __init__(self, config: DeadLetterConfig | None = None) -> None:
        self.config = config or DeadLetterConfig()
        self.stats = DeadLetterStats()
        self._lock = threading.Lock()
        self._closed = False

    async def open(self) -> None:
        """Create the file's directory; idempotent."""
        if self._closed:
            raise TerminalSinkError("DeadLetterSink is closed")
        self.config.path.parent.mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        """Nothing is buffered: every write was already synced; idempotent."""
        self._closed = True

    async def write(self, rejects: pa.RecordBatch) -> int:
        """Append the rows of ``rejects``; returns the number written, after fsync."""
        return await asyncio.to_thread(self.write_sync, rejects)

    def write_sync(self, rejects: pa.RecordBatch) -> int:
        """Blocking ``write`` for threads and synchronous callers."""
        if self._closed:
            raise TerminalSinkError("write after close")
        if rejects.num_rows == 0:
            return 0
        try:
            batch = S.conform(rejects, S.REJECT_SCHEMA)
        except (ValueError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
            raise TerminalSinkError(f"not a REJECT_SCHEMA batch: {e}") from e
        data = encode(batch, dt.datetime.now(dt.UTC))
        path = self.config.path
        with self._lock:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
                try:
                    # A crash mid-write leaves a torn last line; end it so the next
                    # (acknowledged) line is not glued to it.
                    size = os.fstat(fd).st_size
                    if size and os.pread(fd, 1, size - 1) != b"\n":
                        data = b"\n" + data
                    view = memoryview(data)
                    while view:
                        n = os.write(fd, view)
                        view = view[n:]
                    if self.config.fsync:
                        os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as e:
                self.stats.errors += 1
                raise TransientSinkError(f"cannot append to {path}: {e}") from e
            self.stats.rows += batch.num_rows
            self.stats.bytes += len(data)
            self.stats.writes += 1
        return batch.num_rows


def encode(batch: pa.RecordBatch, now: dt.datetime) -> bytes:
    """JSON lines for the rows of a REJECT_SCHEMA batch."""
    stamp = now.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    lines = []
    for row in batch.to_pylist():
        raw: bytes | None = row.pop(S.RAW)
        obj: dict[str, Any] = {INGESTED_AT: stamp, **row}
        obj[RAW_B64] = None if raw is None else base64.b64encode(raw).decode("ascii")
        obj[S.RAW] = None if raw is None else sanitize.visible(raw)
        lines.append(orjson.dumps(obj))
    return b"\n".join(lines) + b"\n"


def iter_rejects(path: Path) -> Iterator[dict[str, Any]]:
    """The rows of a dead-letter file as REJECT_SCHEMA dicts (raw decoded from base64).

    A torn line (a crash mid-write before the fsync returned; the writer ends it before
    appending again) is skipped: its write was never acknowledged.
    """
    with path.open("rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                return
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            raw_b64 = obj.get(RAW_B64)
            yield {
                S.SOURCE: obj.get(S.SOURCE),
                S.HOST: obj.get(S.HOST),
                S.REASON: obj.get(S.REASON),
                S.RAW: None if raw_b64 is None else base64.b64decode(raw_b64),
            }


def read_rejects(path: Path) -> pa.RecordBatch:
    """A dead-letter file as one REJECT_SCHEMA batch (for re-parsing or the store)."""
    return S.batch_from_rows(list(iter_rejects(path)), S.REJECT_SCHEMA)
