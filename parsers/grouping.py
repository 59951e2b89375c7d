"""Event grouping: the records of one audit event (``audit(ts:serial)`` plus node/host and
boot) joined, so that SYSCALL, CWD, PATH and PROCTITLE enrich the MAC record with ``exe``,
``syscall``, ``uid``/``auid``, ``cwd`` and ``proctitle``.

Event boundaries follow auditd's rules: an event ends at its EOE or PROCTITLE record, a
USER_AVC is a whole event by itself, and an event that has not ended once the stream has
moved ``WINDOW_MS`` past it (record time), or when more than ``MAX_PENDING`` events are
open, is emitted as it is. Enrichment seen before its MAC record (auditd reorders) is
kept briefly as an orphan.

Also here, shared by both engines: the stamping of a MAC row with its identity
(``stamp``) and the shapes of loss and reject rows.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any, Final

from armorwatch.parsers import records as R
from armorwatch.parsers import schema as S
from armorwatch.parsers.result import HostInfo, ParserStats

WINDOW_MS: Final = 2000
MAX_PENDING: Final = 4096


@dataclass
class Out:
    """Rows gathered by one parser call, turned into Arrow at its end."""

    records: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    loss: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Event:
    start: int
    ts: int | None
    macs: list[dict[str, Any]] = field(default_factory=list)
    enrich: dict[str, Any] = field(default_factory=dict)
    ended: bool = False
    """Its EOE/PROCTITLE arrived before its MAC record (reordered input)."""


def stamp(p: R.Line, raw: bytes, host: HostInfo, source: str) -> dict[str, Any]:
    """The MAC row of ``p`` with its time, serial and identity (``ordinal`` is the
    grouping's); ``raw`` unless the line set its own (journald's canonical entry)."""
    row = p.cols
    row[S.TS] = p.ts
    row[S.SERIAL] = p.serial
    row[S.HOST] = p.node or host.host
    row[S.MACHINE_ID] = host.machine_id
    row[S.BOOT_ID] = host.boot_id
    row[S.SOURCE] = source
    row.setdefault(S.RAW, raw)
    return row


def loss_row(
    ts: int | None,
    host: str | None,
    boot_id: str | None,
    source: str,
    kind: str | None,
    count: int,
    detail: str | None,
) -> dict[str, Any]:
    """One LOSS_SCHEMA row."""
    return {
        S.TS: ts,
        S.HOST: host,
        S.BOOT_ID: boot_id,
        S.SOURCE: source,
        S.KIND: kind,
        S.COUNT: count,
        S.DETAIL: detail,
    }


def reject_row(source: str, host: str | None, reason: str, raw: bytes) -> dict[str, Any]:
    """One REJECT_SCHEMA row."""
    return {S.SOURCE: source, S.HOST: host, S.REASON: reason, S.RAW: raw}


class Grouper:
    """The open events of one stream; rows come out in ``Out`` as their events end."""

    def __init__(self, source: str, stats: ParserStats) -> None:
        self.source = source
        self.stats = stats
        self.max_ts: int | None = None
        """Newest record time seen: the clock events expire by."""
        self._events: dict[tuple[Any, ...], _Event] = {}
        self._orphans: dict[tuple[Any, ...], tuple[int | None, dict[str, Any], bool]] = {}
        self._by_ts: list[tuple[int, int, tuple[Any, ...], _Event]] = []
        self._seq = 0

    def __bool__(self) -> bool:
        """Whether an event is open."""
        return bool(self._events)

    def starts(self) -> list[int]:
        """Stream offsets of the first lines of the open events."""
        return [ev.start for ev in self._events.values()]

    def _stale(self, ts: int | None, max_before: int | None) -> bool:
        """Whether enrichment kept at record time ``ts`` is past the event window."""
        return ts is not None and max_before is not None and ts < max_before - WINDOW_MS

    def handle(self, p: R.Line, raw: bytes, at: int, out: Out, host: HostInfo) -> None:
        """Take one classified line (``raw``, at stream offset ``at``) of ``host``."""
        max_before = self.max_ts
        if p.ts is not None and (self.max_ts is None or p.ts > self.max_ts):
            self.max_ts = p.ts
            # events the clock has moved past are over before this line is looked up
            self.expire(out)
        if p.kind is None and p.serial is None:
            return
        if p.kind == R.REJECT:
            self.stats.rejects += 1
            out.rejects.append(reject_row(self.source, p.node or host.host, p.reason or "", raw))
            return
        if p.kind == R.LOSS:
            self.stats.loss_reports += 1
            out.loss.append(
                loss_row(
                    p.ts,
                    p.node or host.host,
                    host.boot_id,
                    self.source,
                    p.reason,
                    p.count,
                    p.detail,
                )
            )
            return
        if p.kind == R.MAC:
            row = stamp(p, raw, host, self.source)
            if p.serial is None or p.alone:  # no audit id, or no event to join (unproven)
                row[S.ORDINAL] = 0
                self._emit_row(row, {}, out)
            else:
                key = (row[S.HOST], host.boot_id, p.serial)
                ev = self._events.get(key)
                if ev is None:
                    ev = self._events[key] = _Event(start=at, ts=p.ts)
                    if p.ts is not None:
                        heapq.heappush(self._by_ts, (p.ts, self._seq, key, ev))
                        self._seq += 1
                    orphan = self._orphans.pop(key, None)
                    if orphan is not None and not self._stale(orphan[0], max_before):
                        ev.enrich.update(orphan[1])
                        ev.ended = orphan[2]
                ev.macs.append(row)
                if p.record_type in R.SINGLE_TYPES or ev.ended:
                    self._finish(key, out)
        elif p.serial is not None:
            key = (p.node or host.host, host.boot_id, p.serial)
            ev = self._events.get(key)
            done = p.record_type in ("EOE", "PROCTITLE")
            if ev is not None:
                for k, v in p.cols.items():
                    if v is not None:
                        ev.enrich.setdefault(k, v)
                if done:
                    self._finish(key, out)
            elif p.kind == R.AUX and done:
                # an event that ended without a MAC record: nothing to enrich
                self._orphans.pop(key, None)
            elif p.kind == R.AUX:
                # enrichment seen before its MAC record (reordered by auditd): keep briefly
                prev = self._orphans.get(key)
                if prev is not None and self._stale(prev[0], max_before):
                    prev = None
                merged = dict(prev[1]) if prev else {}
                for k, v in p.cols.items():
                    if v is not None:
                        merged.setdefault(k, v)
                self._orphans[key] = (p.ts, merged, done or bool(prev and prev[2]))
                if len(self._orphans) > MAX_PENDING:
                    self._orphans.pop(next(iter(self._orphans)))
        self.expire(out)

    def expire(self, out: Out) -> None:
        """End the events (and drop the orphans) the clock has moved past."""
        if self.max_ts is None:
            return
        limit = self.max_ts - WINDOW_MS
        # oldest record time first (a heap, so out-of-order times expire correctly)
        while self._by_ts and self._by_ts[0][0] < limit:
            _ts, _seq, key, ev = heapq.heappop(self._by_ts)
            if self._events.get(key) is ev:
                self.stats.events_timed_out += 1
                self._finish(key, out)
        while len(self._events) > MAX_PENDING:
            self.stats.events_timed_out += 1
            self._finish(next(iter(self._events)), out)
        while self._orphans:
            key, orphan = next(iter(self._orphans.items()))
            if orphan[0] is not None and orphan[0] < limit:
                del self._orphans[key]
            else:
                break

    def _finish(self, key: tuple[Any, ...], out: Out) -> None:
        ev = self._events.pop(key)
        for i, row in enumerate(ev.macs):
            row[S.ORDINAL] = i
            self._emit_row(row, ev.enrich, out)

    def finish_all(self, out: Out) -> None:
        """End every open event now."""
        for key in list(self._events):
            self._finish(key, out)
        self._by_ts.clear()
        self._orphans.clear()

    def _emit_row(self, row: dict[str, Any], enrich: dict[str, Any], out: Out) -> None:
        for k, v in enrich.items():
            if row.get(k) is None:
                row[k] = v
        self.stats.records += 1
        out.records.append(row)
