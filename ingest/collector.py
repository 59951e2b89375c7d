"""The collector: sources → parser → sink, with checkpoints that follow the acks.

Per source, a reader task pulls chunks from the source into a small bounded queue; a
processor parses them (one ``parsers.stream.Parser`` per segment) and batches the results
into envelopes (up to ``batch_records``, sent as soon as no more input is ready) on the
bounded envelope queue; one sender delivers the envelopes in order, then checkpoints.

Contract:

- **at least once**: a source's position is saved to the checkpoint only after the
  sink acknowledged (``send`` returned) every envelope holding data before it. The
  position is the parser's ``safe_offset``: the parser holds the first lines of an open
  event, so a crash re-reads them. kill -9 anywhere loses nothing; it duplicates at most
  the unacknowledged window, which the store removes by key;
- **backpressure**: every queue is bounded. A slow or failing sink blocks the sender,
  the full envelope queue blocks the processors, the full chunk queue blocks the
  readers, and a reader that does not read lets the file grow (``lag_bytes``). Nothing
  is dropped and memory stays bounded. A ``TransientSinkError`` is retried with capped
  exponential backoff; a ``TerminalSinkError`` stops the collector without advancing
  the checkpoint;
- **loss** the collector cannot prevent (rotated away unread, truncation, an unreadable
  file, a journal cursor gap, kernel ``lost=``/``callbacks suppressed``, journald
  suppression, parser rejects) becomes LOSS_SCHEMA rows in the envelope and counters. A
  rotated-away notice is held until the next record so its count is the audit-serial
  distance from the last delivered serial (kept in the position as ``_serial``);
- **rejects** go to the ``dead_letter`` callback (raw bytes kept) before the envelope
  that counted them is acknowledged;
- **de-duplication across sources**: when two sources are configured that carry the
  same events (audit.log and journald's audit transport on one host), a record whose
  (ts, serial) was already emitted by *another* source within the last
  ``dedup_window`` keys is dropped and counted (``dedup_dropped``). The store also
  removes duplicates by key (restarts, redelivery).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hashlib
import logging
import re
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from armorwatch.ingest.base import Chunk, LossNotice, Source
from armorwatch.ingest.checkpoint import CheckpointStore
from armorwatch.ingest.errors import CheckpointError
from armorwatch.parsers import schema as S
from armorwatch.parsers.delivery import DeliveryError, Sink
from armorwatch.parsers.envelope import Envelope
from armorwatch.parsers.records import MAX_KEEP
from armorwatch.parsers.result import HostInfo, ParseResult
from armorwatch.parsers.stream import Parser

log = logging.getLogger(__name__)

SERIAL_KEY = "_serial"
"""Key the collector adds to a source's position: the highest audit serial delivered."""
BOOT_KEY = "_boot"
"""Key the collector adds to a source's position: the boot id the parser stamps there
(audit.log has none: the parser derives one at each DAEMON_START, ``Parser.boot_id``)."""

STAMP_KEY = "_stamp"
"""Key the collector adds to a source's position: the last event time (epoch ms) written
before that position, which dates a later rejected line that carries none."""

DeadLetter = Callable[[pa.RecordBatch], Awaitable[None]]

# An event time in the log text: the audit stamp (audit log, kern.log, journald MESSAGE)
# or a journald export's realtime field (microseconds).
_STAMP_RE = re.compile(rb'audit\((\d{1,12})\.(\d{1,6}):|"__REALTIME_TIMESTAMP" ?: ?"(\d{1,20})"')
_STAMP_NEEDLES = (b"audit(", b'"__REALTIME_TIMESTAMP"')
"""Bytes searched back from a rejected line for the event time before it."""
_FILE_KEYS = ("path", "dev", "ino")
"""Keys of a file source's position that name the file (not where in it)."""
_HOLD_BYTES = 16 * 1024 * 1024
"""Most bytes kept to place rejected lines (an event open longer is placed by number)."""


@dataclass(frozen=True)
class CollectorConfig:
    """Queues, batching, retries and de-duplication of one collector."""

    chunk_queue: int = 4
    """Chunks read ahead per source before its reader blocks."""
    envelope_queue: int = 4
    """Envelopes waiting for the sink before the processors block."""
    batch_records: int = 10_000
    """An envelope is sent once this many records wait, or as soon as no more input is
    ready (so a quiet source is delivered at once and catch-up gets large batches)."""
    idle_flush: float = 0.5
    """Seconds without new data after which open events are emitted (parser drain)."""
    checkpoint_interval: float = 1.0
    """Least seconds between checkpoint writes (each write fsyncs); 0 = after every ack."""
    retry_initial: float = 0.5
    """First wait after a transient sink error, in seconds; doubles up to retry_max."""
    retry_max: float = 30.0
    """Longest wait between retries of one envelope."""
    dedup_window: int = 50_000
    """Event keys (ts, serial) remembered to drop cross-source duplicates."""


@dataclass
class CollectorStats:
    """Counters of one collector (read by the metrics endpoint)."""

    chunks: int = 0
    bytes: int = 0
    envelopes: int = 0
    """Envelopes acknowledged by the sink."""
    records: int = 0
    """MAC records acknowledged."""
    loss_rows: int = 0
    """Loss rows acknowledged."""
    rejects: int = 0
    """Lines the parser rejected (sent to the dead letter)."""
    dedup_dropped: int = 0
    """Records dropped because another source already emitted their event."""
    send_retries: int = 0
    """Failed sends (sink or dead letter) that were retried."""
    checkpoints: int = 0
    checkpoint_errors: int = 0
    """Checkpoint writes that failed (disk full, permissions); retried after the next ack."""
    queue_depth: int = 0
    """Envelopes waiting for the sink, the one being sent included (current value)."""
    by_kind: dict[str, int] = field(default_factory=dict)
    """Loss counted by kind (sum of the rows' counts)."""


class CollectorError(Exception):
    """The collector stopped: a terminal sink error or a source that cannot run."""


@dataclass
class _Item:
    """One unit on the envelope queue: an envelope (or None) and the position after it."""

    source: str
    envelope: Envelope | None
    rejects: pa.RecordBatch | None
    position: dict[str, Any] | None


@dataclass
class _Acc:
    """Parse results waiting to become one envelope, with the newest position."""

    records: list[pa.RecordBatch] = field(default_factory=list)
    loss: list[pa.RecordBatch] = field(default_factory=list)
    rejects: list[pa.RecordBatch] = field(default_factory=list)
    position: dict[str, Any] | None = None
    rows: int = 0
    last_serial: int | None = None
    """Highest audit serial delivered from this source (kept in its position)."""
    gap: LossNotice | None = None
    """A rotated-away notice waiting for the next serial to bound its count."""
    gap_stamp: int | None = None
    """The event time before the held notice (``_Where.stamp_before``), its row's ts."""

    def empty(self) -> bool:
        return self.position is None and not (self.records or self.loss or self.rejects)


class _Dedup:
    """Remembers which source first emitted an event key, in a bounded window."""

    def __init__(self, window: int) -> None:
        self._seen: OrderedDict[tuple[Any, ...], str] = OrderedDict()
        self._window = window

    def filter(self, batch: pa.RecordBatch, source: str) -> tuple[pa.RecordBatch, int]:
        if batch.num_rows == 0:
            return batch, 0
        # (ts, serial): journald stamps the kernel's boot id, audit.log one derived from
        # DAEMON_START, so the boot id differs between the two copies of one event
        tss = batch.column(S.TS).cast(pa.int64()).to_pylist()
        serials = batch.column(S.SERIAL).to_pylist()
        keep: list[bool] = []
        for ts, serial in zip(tss, serials, strict=True):
            if serial is None:  # no audit id: nothing to match on
                keep.append(True)
                continue
            key = (ts, serial)
            first = self._seen.get(key)
            if first is None:
                self._seen[key] = source
                if len(self._seen) > self._window:
                    self._seen.popitem(last=False)
                keep.append(True)
            else:
                keep.append(first == source)
        dropped = keep.count(False)
        if not dropped:
            return batch, 0
        return batch.filter(pa.array(keep)), dropped


def _stamp_ms(m: re.Match[bytes]) -> int:
    if m.group(3) is not None:
        return int(m.group(3)) // 1000
    return int(m.group(1)) * 1000 + int(m.group(2).ljust(3, b"0")[:3])


def _last_stamp(data: bytes) -> int | None:
    """The last event time stamped in ``data`` (searched from its end, however far)."""
    end = len(data)
    while end > 0:
        at = max(data.rfind(n, 0, end) for n in _STAMP_NEEDLES)
        if at < 0:
            return None
        m = _STAMP_RE.match(data, at)
        if m is not None:
            return _stamp_ms(m)
        end = at  # "audit(" not followed by a time: look further back
    return None


def _stamps(data: bytes) -> tuple[list[int], list[int]]:
    """Where each event time stamp of ``data`` starts, and its time (epoch ms), in order:
    the index ``_Where.stamp_before`` searches, built once per chunk. No bound on how far
    back a stamp may be: a bound per chunk made the time depend on the read cuts (a long
    line without a stamp before a rejected line hid the one before it in one read, not in
    two)."""
    starts: list[int] = []
    times: list[int] = []
    for m in _STAMP_RE.finditer(data):
        starts.append(m.start())
        times.append(_stamp_ms(m))
    return starts, times


class _Where:
    """Where one source's rejected lines are, so that each one's loss row is the same
    whatever the read cuts and restarts: the stream offset of the line (found in the
    chunks read since the parser's safe offset, which hold every line an open event
    may still reject), the file it is in, and the event time written on or before it."""

    def __init__(self, stamp: int | None) -> None:
        self.chunks: deque[tuple[int, bytes]] = deque()
        """The segment's chunks (offset, data) from the parser's safe offset on."""
        self.held = 0
        """Bytes in ``chunks`` (at most ``_HOLD_BYTES``)."""
        self.before = stamp
        """The last event time before the oldest kept chunk (from the checkpoint first)."""
        self.next: dict[bytes, int] = {}
        """Per rejected line's bytes: the offset to search it from (its last place + 1),
        so equal lines are placed at successive occurrences."""
        self.file: dict[str, Any] = {}
        """The file the segment reads (path, dev, ino of the source's position); empty
        for a stream without file offsets (journalctl's output)."""
        self.unlocated = 0
        self.index: dict[int, dict[bytes, list[int]]] = {}
        """Line index of the kept chunks that had rejects, by chunk offset."""
        self.stamps: dict[int, tuple[list[int], list[int]]] = {}
        """Event time stamps of the kept chunks searched so far (``_stamps``), by offset."""

    def segment(self) -> None:
        """A new segment starts: offsets start again."""
        self.forget(None)
        self.file = {}

    def chunk(self, chunk: Chunk) -> None:
        if chunk.data:
            self.chunks.append((chunk.offset, chunk.data))
            self.held += len(chunk.data)
            while self.held > _HOLD_BYTES and len(self.chunks) > 1:
                self._drop()

    def _drop(self) -> None:
        off, data = self.chunks.popleft()
        self.index.pop(off, None)
        self.held -= len(data)
        got = self.stamps.pop(off, None)
        stamp = (got[1][-1] if got[1] else None) if got is not None else _last_stamp(data)
        if stamp is not None:
            self.before = stamp

    def _stamps(self, off: int, data: bytes) -> tuple[list[int], list[int]]:
        got = self.stamps.get(off)
        if got is None:
            got = self.stamps[off] = _stamps(data)
        return got

    def forget(self, safe: int | None) -> None:
        """Drop the chunks wholly before ``safe`` (None: all); nothing there is rejected
        any more."""
        while self.chunks and (safe is None or self.chunks[0][0] + len(self.chunks[0][1]) <= safe):
            self._drop()
        first = self.chunks[0][0] if self.chunks else None
        self.next = {} if first is None else {k: v for k, v in self.next.items() if v > first}

    def position(self, position: Mapping[str, Any]) -> None:
        """Learn the segment's file from a position the source gave."""
        if "ino" in position:
            self.file = {k: position[k] for k in _FILE_KEYS if k in position}

    def stamp_before(self, end: int) -> int | None:
        """The last event time stamped in the stream before offset ``end``."""
        for off, data in reversed(self.chunks):
            if end <= off:
                continue
            starts, times = self._stamps(off, data)
            i = bisect.bisect_left(starts, end - off)
            if i:
                return times[i - 1]
        return self.before

    def locate(self, raw: bytes) -> int | None:
        """Stream offset of the rejected line ``raw`` (a whole line, or the kept head of
        a too long one), None when not found."""
        if not raw:
            return None
        start = self.next.get(raw, 0)
        for off, data in self.chunks:
            if off + len(data) <= start:
                continue
            index = self.index.get(off)
            if index is None:
                index = self.index[off] = _line_index(data)
            starts = index.get(raw)
            if starts:
                i = bisect.bisect_left(starts, start - off)
                if i < len(starts):
                    self.next[raw] = off + starts[i] + 1
                    return off + starts[i]
        return None


def _line_index(data: bytes) -> dict[bytes, list[int]]:
    """Where each line of a chunk starts, by its bytes (also without a trailing CR, and by
    its first MAX_KEEP bytes when longer: the head the parser keeps of a too long line).
    Built only for a chunk that had rejects, so placing many is linear, not quadratic."""
    index: dict[bytes, list[int]] = {}
    pos = 0
    for line in data.split(b"\n"):
        index.setdefault(line, []).append(pos)
        if line.endswith(b"\r"):
            index.setdefault(line[:-1], []).append(pos)
        if len(line) > MAX_KEEP:
            index.setdefault(line[:MAX_KEEP], []).append(pos)
        pos += len(line) + 1
    return index


class Collector:
    """Runs sources into one sink; see the module docstring for the contract."""

    def __init__(
        self,
        sources: Sequence[Source],
        sink: Sink,
        checkpoint: CheckpointStore | None,
        host: HostInfo,
        config: CollectorConfig | None = None,
        *,
        dead_letter: DeadLetter | None = None,
        dedup: bool | None = None,
        sink_name: str | None = None,
    ) -> None:
        names = [s.name for s in sources]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be unique: {names}")
        self.sources = tuple(sources)
        self.sink = sink
        self.checkpoint = checkpoint
        self.host = host
        self.config = config or CollectorConfig()
        self.stats = CollectorStats()
        self._dead_letter = dead_letter
        use_dedup = len(self.sources) > 1 if dedup is None else dedup
        self._dedup = _Dedup(self.config.dedup_window) if use_dedup else None
        self._positions: dict[str, dict[str, Any]] = {}
        self._dirty = False
        self._last_save = 0.0
        self._queue: asyncio.Queue[_Item | None] | None = None
        self._sending = 0
        self._sink_name = sink_name or type(sink).__name__
        """How the start line names the sink (``Kafka 10.0.0.5:9092 topic ...``)."""

    def refresh_stats(self) -> None:
        """Make ``stats.queue_depth`` current (called by the metrics endpoint's thread:
        it only reads the queue's length, so it moves while a send is blocked)."""
        q = self._queue
        self.stats.queue_depth = (q.qsize() if q is not None else 0) + self._sending

    # --- public ----------------------------------------------------------------------
    async def run(self, follow: bool = True) -> None:
        """Collect until cancelled (``follow``) or until every source is at its end."""
        if self.checkpoint is not None:
            self._positions = await asyncio.to_thread(self.checkpoint.load)
        for src in self.sources:
            src.restore(self._positions.get(src.name))
        log.info(
            "Collecting %s into %s%s (%s).",
            "; ".join(self._describe(src) for src in self.sources),
            self._sink_name,
            f"; checkpoint {self.checkpoint.path}" if self.checkpoint is not None else "",
            "following" if follow else "once",
        )
        self._queue = asyncio.Queue(maxsize=self.config.envelope_queue)
        sender = asyncio.create_task(self._send_loop(self._queue), name="collector-send")
        procs = [
            asyncio.create_task(self._process(src, self._queue, follow), name=f"collect-{src.name}")
            for src in self.sources
        ]
        done: asyncio.Future[Any] = asyncio.gather(*procs)
        try:
            waiting: set[asyncio.Future[Any]] = {done, sender}
            # The sender can fail (terminal sink error) while processors wait on a full
            # queue: wait for whichever ends first.
            finished, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if sender in finished:
                sender.result()  # raises the sender's error
                raise CollectorError("the sender stopped unexpectedly")
            done.result()
            await self._queue.put(None)
            await sender
        finally:
            for t in [*procs, sender, done]:
                # Cancel until it is done: a task may absorb one cancellation.
                while not t.done():
                    t.cancel()
                    await asyncio.wait({t}, timeout=1.0)
                if not t.cancelled():
                    with contextlib.suppress(BaseException):
                        t.result()
            await self._save(force=True)
            for src in self.sources:
                with contextlib.suppress(Exception):
                    await src.aclose()

    def _describe(self, src: Source) -> str:
        """One source for the start line: its own description (path, where it resumes)."""
        describe = getattr(src, "describe", None)
        position = self._positions.get(src.name)
        if callable(describe):
            return f"{src.name} ({describe(position)})"
        return f"{src.name} ({'from its checkpoint' if position else 'no checkpoint'})"

    # --- reading and parsing ---------------------------------------------------------
    async def _read(self, src: Source, q: asyncio.Queue[Any], follow: bool) -> None:
        try:
            async for item in src.items(follow):
                await q.put(item)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # handed to the processor, which raises it
            await q.put(e)
            return
        await q.put(None)

    async def _process(self, src: Source, out: asyncio.Queue[_Item | None], follow: bool) -> None:
        q: asyncio.Queue[Any] = asyncio.Queue(maxsize=self.config.chunk_queue)
        reader = asyncio.create_task(self._read(src, q, follow), name=f"read-{src.name}")
        parser: Parser | None = None
        seg = -1
        end = 0
        pending = False  # fed since the last drain/flush
        acc = _Acc()
        restored = self._positions.get(src.name) or {}
        if isinstance(restored.get(SERIAL_KEY), int):
            acc.last_serial = restored[SERIAL_KEY]
        # the boot id in force where the stream resumes; a new file continues it
        host = self.host
        if isinstance(restored.get(BOOT_KEY), str):
            host = replace(host, boot_id=restored[BOOT_KEY])
        stamp = restored.get(STAMP_KEY)
        where = _Where(stamp if isinstance(stamp, int) else None)
        try:
            while True:
                try:
                    # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a
                    # cancellation that races the get's completion.
                    async with asyncio.timeout(self.config.idle_flush):
                        item = await q.get()
                except TimeoutError:
                    if parser is not None and pending:
                        self._add(acc, src, seg, parser.drain(), end, parser.boot_id, where)
                        pending = False
                    self._release_gap(acc, src)
                    await self._flush(acc, src, out)
                    continue
                if item is None:
                    break
                if isinstance(item, Exception):
                    log.error("Source %s failed: %s", src.name, item)
                    raise CollectorError(f"source {src.name} failed: {item}") from item
                if isinstance(item, LossNotice) and item.kind == S.LOSS_ROTATED_AWAY:
                    # Held until the next record: the audit serial distance bounds the
                    # number of lost events from above.
                    self._release_gap(acc, src)
                    acc.gap, acc.gap_stamp = item, where.stamp_before(end)
                elif isinstance(item, LossNotice) and item.kind == S.LOSS_TRUNCATED:
                    # a file's bytes destroyed unread: dated like a rotation (_release_gap)
                    acc.loss.append(self._notice_loss(src, item, where.stamp_before(end)))
                    acc.rows += 1
                elif isinstance(item, LossNotice):
                    # source_blind, journal cursor gaps: dated by the data as they come
                    # (never when noticed), so noticing them again makes the same row
                    acc.loss.append(self._notice_loss(src, item, where.stamp_before(end)))
                    acc.rows += 1
                else:
                    chunk: Chunk = item
                    self.stats.chunks += 1
                    self.stats.bytes += len(chunk.data)
                    if chunk.segment != seg:
                        if parser is not None:
                            self._add(acc, src, seg, parser.flush(), end, parser.boot_id, where)
                            host = replace(host, boot_id=parser.boot_id)
                        parser = Parser(src.source, host, src.framing, kernel_tag=src.kernel_tag)
                        seg = chunk.segment
                        where.segment()
                    assert parser is not None
                    end = chunk.end
                    where.chunk(chunk)
                    res = parser.feed(chunk.data, chunk.offset)
                    self._add(acc, src, seg, res, end, parser.boot_id, where)
                    pending = True
                    if chunk.final:
                        self._add(acc, src, seg, parser.flush(), end, parser.boot_id, where)
                        host = replace(host, boot_id=parser.boot_id)
                        parser, seg, pending = None, -1, False
                # A segment-start mark (empty chunk) is checkpointed at once: a crash
                # before the first ack then still finds this file after a rotation.
                marker = isinstance(item, Chunk) and not item.data
                if q.empty() and not marker and acc.rows < self.config.batch_records:
                    await asyncio.sleep(0)  # let the reader run: is more input ready?
                if marker or acc.rows >= self.config.batch_records or q.empty():
                    await self._flush(acc, src, out)
            if parser is not None:
                # At the end of a --once run: emit open events, keep a held partial line
                # (its bytes stay after the checkpoint and are read again next time).
                self._add(acc, src, seg, parser.drain(), end, parser.boot_id, where)
            self._release_gap(acc, src)
            await self._flush(acc, src, out)
        finally:
            while not reader.done():
                reader.cancel()
                await asyncio.wait({reader}, timeout=1.0)

    def _add(
        self,
        acc: _Acc,
        src: Source,
        seg: int,
        res: ParseResult,
        end: int,
        boot_id: str | None = None,
        where: _Where | None = None,
    ) -> None:
        """Add one parse result to the batch being built (``boot_id``: the parser's now;
        ``where``: the source's reject locator, which dates and places rejected lines)."""
        if res.safe_offset is not None:
            safe = min(res.safe_offset, end)
            position = src.position(seg, safe)
            if position is not None:
                acc.position = position
                if boot_id is not None:
                    acc.position = {**position, BOOT_KEY: boot_id}
                if where is not None:
                    where.position(position)
                    stamp = where.stamp_before(safe)
                    if stamp is not None:
                        acc.position = {**acc.position, STAMP_KEY: stamp}
        records = res.records
        if records.num_rows:
            lo_hi = pc.min_max(records.column(S.SERIAL))
            lo, hi = lo_hi["min"].as_py(), lo_hi["max"].as_py()
            if lo is not None and acc.gap is not None:
                self._release_gap(acc, src, lo)
            if hi is not None and (acc.last_serial is None or hi > acc.last_serial):
                acc.last_serial = hi
        if acc.position is not None and acc.last_serial is not None:
            acc.position = {**acc.position, SERIAL_KEY: acc.last_serial}
        if self._dedup is not None and records.num_rows:
            records, dropped = self._dedup.filter(records, src.name)
            self.stats.dedup_dropped += dropped
        if records.num_rows:
            acc.records.append(records)
            acc.rows += records.num_rows
        if res.loss.num_rows:
            acc.loss.append(res.loss)
            acc.rows += res.loss.num_rows
        if res.rejects.num_rows:
            acc.rejects.append(res.rejects)
            acc.rows += res.rejects.num_rows
            rows = self._reject_loss(src, res.rejects, where or _Where(None), end, boot_id)
            acc.loss.append(S.batch_from_rows(rows, S.LOSS_SCHEMA))
        if where is not None and res.safe_offset is not None:
            where.forget(min(res.safe_offset, end))

    def _reject_loss(
        self, src: Source, rejects: pa.RecordBatch, where: _Where, end: int, boot_id: str | None
    ) -> list[dict[str, Any]]:
        """One ``parse_reject`` loss row per rejected line, made of what was lost, never of
        when it was counted: the file and byte offset of the line, a digest of its bytes,
        and the event time written on or before it. A replay of the same input (a re-run,
        a restart before the checkpoint, other read cuts) makes the same rows, which the
        store keeps once; two different lines never make the same row."""
        rows = []
        raws = rejects.column(S.RAW).to_pylist()
        hosts = rejects.column(S.HOST).to_pylist()
        reasons = rejects.column(S.REASON).to_pylist()
        for raw, host, reason in zip(raws, hosts, reasons, strict=True):
            raw = raw or b""
            at = where.locate(raw)
            ts = where.stamp_before(end if at is None else at + len(raw))
            digest = hashlib.sha256(raw).hexdigest()[:16]
            f = where.file
            if at is None:
                # not in the chunks kept (an event open past _HOLD_BYTES): numbered
                where.unlocated += 1
                place = f"(line not located, #{where.unlocated} of the run)"
            elif f:
                # the configured path, not the inode: a file copied or unpacked again is
                # the same input; with the bytes and the event time before the line, the
                # offset tells any two rejects apart (rotated files share the path)
                place = f"at byte {at} of {f.get('path')}"
            else:
                place = f"in the {src.source} stream"  # offsets restart with each journalctl
            # no event time in the stream before it: none (null), the same on every run
            # (the wall clock made a new row each time); the detail still places it
            rows.append(
                {
                    S.TS: ts,
                    S.HOST: host or self.host.host,
                    S.BOOT_ID: boot_id or self.host.boot_id,
                    S.SOURCE: src.source,
                    S.KIND: S.LOSS_PARSE_REJECT,
                    S.COUNT: 1,
                    S.DETAIL: f"1 line rejected by the parser ({reason}) {place}, sha256 "
                    f"{digest}; kept in the dead letter.",
                }
            )
        return rows

    def _release_gap(self, acc: _Acc, src: Source, next_serial: int | None = None) -> None:
        """Turn a held rotated-away notice into a loss row, bounded by serials if known."""
        gap = acc.gap
        if gap is None:
            return
        acc.gap = None
        last = acc.last_serial
        if next_serial is not None and last is not None and next_serial > last + 1:
            # Serials are per boot and shared by every audit event: the distance is an
            # upper bound of the events lost (a reboot in between makes it unusable).
            n = next_serial - last - 1
            gap = LossNotice(
                gap.kind,
                n,
                f"{gap.detail} Audit serials jump from {last} to {next_serial}: at most "
                f"{n} events were lost.",
            )
        # Dated by the event time before it, not when it was noticed: a restart from the
        # same checkpoint notices it again and must make the same row (stored once).
        acc.loss.append(self._notice_loss(src, gap, acc.gap_stamp))
        acc.rows += 1

    def _notice_loss(self, src: Source, notice: LossNotice, stamp: int | None) -> pa.RecordBatch:
        """The loss row of a source's notice (rotated away unread, truncated, source_blind,
        a journal cursor gap): ts is the last event time read before it (``stamp``), else
        the time the source took from its data (``notice.ts``), else none (null); never the
        wall clock. With the detail naming the file, offsets or cursor, noticing it again
        (a re-run, a restart from the same checkpoint) makes the same row: stored once."""
        row = self._loss_row(src, notice.kind, notice.count, notice.detail)
        row[S.TS] = stamp if stamp is not None else notice.ts
        return S.batch_from_rows([row], S.LOSS_SCHEMA)

    async def _flush(self, acc: _Acc, src: Source, out: asyncio.Queue[_Item | None]) -> None:
        """Put the batch on the envelope queue (blocks when full: backpressure)."""
        if acc.empty():
            return
        rejects = S.concat_batches(acc.rejects, S.REJECT_SCHEMA) if acc.rejects else None
        envelope = None
        if acc.records or acc.loss or rejects is not None:
            envelope = self._envelope(
                src,
                S.concat_batches(acc.records, S.MAC_SCHEMA),
                S.concat_batches(acc.loss, S.LOSS_SCHEMA),
            )
        item = _Item(src.name, envelope, rejects, acc.position)
        acc.records, acc.loss, acc.rejects = [], [], []
        acc.position, acc.rows = None, 0
        await out.put(item)

    def _loss_row(self, src: Source, kind: str, count: int, detail: str) -> dict[str, Any]:
        """A loss row of this source, undated (``_notice_loss`` dates it from the data)."""
        return {
            S.TS: None,
            S.HOST: self.host.host,
            S.BOOT_ID: self.host.boot_id,
            S.SOURCE: src.source,
            S.KIND: kind,
            S.COUNT: count,
            S.DETAIL: detail,
        }

    def _envelope(
        self,
        src: Source,
        records: pa.RecordBatch | None = None,
        loss: pa.RecordBatch | None = None,
    ) -> Envelope:
        # loss rows come dated by the data: parse_reject per line as the rejects come
        # (``_reject_loss``), the sources' notices as they come (``_notice_loss``)
        meta: Mapping[str, str | None] = {
            "host": self.host.host,
            "machine_id": self.host.machine_id,
            "boot_id": self.host.boot_id,
            "source": src.source,
            "collector_source": src.name,
        }
        return Envelope(
            records=records if records is not None else S.empty_batch(S.MAC_SCHEMA),
            loss=loss if loss is not None else S.empty_batch(S.LOSS_SCHEMA),
            meta={k: v for k, v in meta.items() if v},
        )

    # --- delivery and checkpoints ----------------------------------------------------
    async def _send_loop(self, q: asyncio.Queue[_Item | None]) -> None:
        while True:
            item = await q.get()
            if item is None:
                return
            self.stats.queue_depth = q.qsize() + 1
            self._sending = 1
            try:
                await self._deliver(item)
            finally:
                self._sending = 0
            self.stats.queue_depth = q.qsize()

    async def _deliver(self, item: _Item) -> None:
        """Dead letter, sink, then the checkpoint of one queue item."""
        if item.rejects is not None and self._dead_letter is not None:
            await self._retry(lambda r=item.rejects: self._dead_letter(r), "dead letter")  # type: ignore[misc]
            self.stats.rejects += item.rejects.num_rows
        if item.envelope is not None and item.envelope.num_rows:
            env = item.envelope
            await self._retry(lambda e=env: self.sink.send(e), "sink")  # type: ignore[misc]
            self.stats.envelopes += 1
            self.stats.records += env.records.num_rows
            self.stats.loss_rows += env.loss.num_rows
            if env.loss.num_rows:
                kinds = env.loss.column(S.KIND).to_pylist()
                counts = env.loss.column(S.COUNT).to_pylist()
                for k, c in zip(kinds, counts, strict=True):
                    self.stats.by_kind[k] = self.stats.by_kind.get(k, 0) + int(c or 0)
        if item.position is not None:
            self._positions[item.source] = item.position
            self._dirty = True
            await self._save()

    async def _retry(self, call: Callable[[], Awaitable[None]], what: str) -> None:
        delay = self.config.retry_initial
        while True:
            try:
                await call()
                return
            except asyncio.CancelledError:
                raise
            except Exception as e:
                if not isinstance(e, DeliveryError) or not e.retriable:
                    raise CollectorError(f"{what} failed terminally: {e}") from e
                self.stats.send_retries += 1
                wait = e.retry_after or delay
                log.warning(
                    # `what` in the template: the rate limit folds lines by template, and
                    # a dead-letter failure must not hide inside a sink outage's run.
                    f"Delivery to the {what} failed (%s); retrying in %.1f s.",
                    e,
                    wait,
                    extra={"_ratelimit": True},  # one line a minute while the sink is down
                )
                await asyncio.sleep(wait)
                delay = min(delay * 2, self.config.retry_max)

    async def _save(self, force: bool = False) -> None:
        if self.checkpoint is None or not self._dirty:
            return
        now = time.monotonic()
        if not force and now - self._last_save < self.config.checkpoint_interval:
            return
        positions = dict(self._positions)
        self._last_save = now
        try:
            await asyncio.to_thread(self.checkpoint.save, positions)
        except CheckpointError as e:
            # Delivery goes on: a stale checkpoint only means more duplicates after a
            # crash, never loss. Tried again after the next ack.
            self.stats.checkpoint_errors += 1
            log.warning("Cannot save the checkpoint (%s); delivery continues.", e)
            return
        self._dirty = False
        self.stats.checkpoints += 1
