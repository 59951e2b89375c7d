"""Streaming parser: byte chunks of any log framing → MAC records as Arrow.

``Parser(source, host, framing).feed(data, offset)`` takes whole or partial lines, holds
a trailing partial line until it is completed, groups the records of one audit event
(``audit(ts:serial)`` plus ``node=``/host) so that SYSCALL, CWD and PROCTITLE enrich the
MAC record with ``exe``, ``syscall``, ``uid``/``auid``, ``cwd`` and ``proctitle``, and
returns a ``ParseResult`` (records, rejects, loss, lines, safe_offset).

Event boundaries follow auditd's rules: an event ends at its EOE or PROCTITLE record, a
USER_AVC is a whole event by itself, and an event that has not ended once the stream has
moved 2 s past it (record time), or when more than ``MAX_PENDING`` events are open, is
emitted as it is. ``flush`` ends every open event; ``drain`` does the same but keeps a
held partial line (for collectors that go idle mid-stream).

Error tree (module ``parsers``): the parser never raises on input. Malformed MAC-looking
lines come back in ``ParseResult.rejects`` with their raw bytes and a reason; only
programming errors (wrong argument types, an offset that goes backwards) raise
``ValueError``/``TypeError``.
"""

from __future__ import annotations

import bisect
import heapq
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
import pyarrow as pa

from parsers import fast
from parsers import records as R
from parsers import schema as S
from parsers.result import HostInfo, ParseResult

FRAMINGS: Final = ("auto", "audit", "syslog", "journald")
ENGINES: Final = ("auto", "c", "python")
_AUDIT_STARTS: Final = (b"type=", b"node=", b"host=")
_NO_TS: Final = -(1 << 62)
WINDOW_MS: Final = 2000
MAX_PENDING: Final = 4096
# continuation lines of one msg='…' are joined up to the kernel's message size
# (AUDIT_MESSAGE_TEXT_MAX)
MAX_CONTINUATION: Final = 8560
MAX_CARRY_BYTES: Final = 32 << 20  # C engine: lines of open events kept for the next chunk


@dataclass
class ParserStats:
    """Counters of one Parser, read by the metrics endpoint at scrape time."""

    lines: int = 0
    records: int = 0
    rejects: int = 0
    loss_reports: int = 0
    events_timed_out: int = 0


@dataclass
class _Event:
    start: int
    ts: int | None
    macs: list[dict[str, Any]] = field(default_factory=list)
    enrich: dict[str, Any] = field(default_factory=dict)
    ended: bool = False
    """Its EOE/PROCTITLE arrived before its MAC record (reordered input)."""


@dataclass
class _Out:
    records: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    loss: list[dict[str, Any]] = field(default_factory=list)


class Parser:
    """Incremental parser of one stream (one file, one journal cursor, one socket)."""

    def __init__(
        self,
        source: str,
        host: HostInfo = HostInfo(),
        framing: str = "auto",
        *,
        year: int | None = None,
        engine: str = "auto",
    ) -> None:
        """``year`` fills RFC 3164 timestamps (they carry none); default: this year (UTC).

        ``engine``: "python" = the pure-Python reference path; "auto" = the compiled
        scanner (``parsers._fastscan``) when it is built and the stream is audit.log-framed
        (framing "audit", or "auto" and the first line starts with type=/node=), else
        Python; "c" = like "auto" but an error when the scanner is not built.
        """
        if framing not in FRAMINGS:
            raise ValueError(f"framing must be one of {FRAMINGS}, not {framing!r}")
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
        if engine == "c" and not fast.available():
            raise ValueError("engine='c' but parsers._fastscan is not built")
        self._use_c: bool | None = None  # decided on the first line when None
        if engine == "python" or not fast.available() or framing in ("syslog", "journald"):
            self._use_c = False
        elif framing == "audit":
            self._use_c = True
        self._carry = b""
        self._safe = 0
        self._skip_to_newline = False
        self._carry_starts: list[int] = []
        self._carry_offsets: list[int] = []
        self.source = source
        self.host = host
        self.framing = framing
        self.year = year if year is not None else time.gmtime().tm_year
        # Without an explicit year, RFC 3164 dates take the year of the newest audit
        # timestamp seen (kern.log lines carry both), so an old log is not dated today.
        self._infer_year = year is None
        self.stats = ParserStats()
        self._held = b""
        self._held_at = 0
        self._next = 0  # stream offset just after the last byte seen
        self._started = False
        self._events: dict[tuple[Any, ...], _Event] = {}
        self._orphans: dict[tuple[Any, ...], tuple[int | None, dict[str, Any], bool]] = {}
        self._max_ts: int | None = None
        self._by_ts: list[tuple[int, int, tuple[Any, ...], _Event]] = []
        self._seq = 0

    # --- public API ------------------------------------------------------------------

    def feed(self, data: bytes, offset: int = 0) -> ParseResult:
        """Parse the complete lines of ``data`` (``offset`` = stream position of data[0])."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError("feed() takes bytes")
        data = bytes(data)
        if self._skip_to_newline:
            # the rest of a line already dead-lettered as too long
            nl = data.find(b"\n")
            self._next = offset + len(data)
            if nl < 0:
                self._held_at = offset + len(data)
                return self._result(_Out(), 0, None, self._held_at)
            data, offset = data[nl + 1 :], offset + nl + 1
            self._skip_to_newline = False
            self._held, self._held_at = b"", offset
        if b"\n" not in data and len(self._held) + len(data) > R.MAX_LINE:
            # a line without end (a zeroed region after a crash, a binary file): keep
            # its start as a reject and skip to the next newline instead of growing
            out = _Out()
            line = (self._held + data[: R.MAX_LINE])[: R.MAX_LINE]
            self._reject(out, line, R.R_TOO_LONG, self.host.host)
            self._held, self._held_at = b"", offset + len(data)
            self._skip_to_newline = True
            self._next = offset + len(data)
            return self._result(out, 0, None, self._held_at if not self._events else None)
        if self._use_c is None:
            first = (self._held + data).lstrip(b"\r\n")[:5]
            if len(first) < 5 and b"\n" not in data:
                pass  # decide once a line is there
            else:
                self._use_c = first in _AUDIT_STARTS
        if self._use_c:
            return self._feed_c(data, offset)
        out = _Out()
        if self._held and offset != self._held_at + len(self._held):
            # a discontinuity (rotation, seek): the held fragment can never complete
            self._reject(out, self._held, R.R_UNTERMINATED, None)
            self._held = b""
        if self._held:
            buf, base = self._held + data, self._held_at
        else:
            buf, base = data, offset
        end = buf.rfind(b"\n") + 1
        complete, self._held = buf[:end], buf[end:]
        self._held_at = base + end
        lines = self._run(complete, base, out, final=False)
        if self._held_more:
            # a multi-line USER_AVC waits for its continuation
            self._held = self._held_more + self._held
            self._held_at -= len(self._held_more)
            self._held_more = b""
        self._next = offset + len(data)
        return self._result(out, lines)

    def flush(self) -> ParseResult:
        """End of stream: parse a held partial line and emit every open event."""
        if self._use_c:
            out = _Out()
            held, at = self._held, self._held_at
            self._held = b""
            self._held_at = at + len(held)
            fast_batch, _safe, lines = self._scan_c(held, at, b"", 0, 0, 0, True, out)
            self._finish_all(out)
            return self._result(out, lines, fast_batch, self._held_at)
        out = _Out()
        held, at = self._held, self._held_at
        self._held = b""
        lines = self._run(held, at, out, final=True) if held else 0
        self._finish_all(out)
        self._held_at = at + len(held)
        return self._result(out, lines)

    def drain(self) -> ParseResult:
        """Emit every open event now (idle stream) but keep a held partial line."""
        if self._use_c:
            out = _Out()
            fast_batch, _safe, _ = self._scan_c(b"", self._held_at, b"", 0, 0, 0, True, out)
            self._finish_all(out)
            return self._result(out, 0, fast_batch, self._held_at)
        out = _Out()
        self._finish_all(out)
        return self._result(out, 0)

    # --- C engine -------------------------------------------------------------------

    def _feed_c(self, data: bytes, offset: int) -> ParseResult:
        out = _Out()
        if self._held and offset != self._held_at + len(self._held):
            self._reject(out, self._held, R.R_UNTERMINATED, None)
            self._held = b""
        self._next = offset + len(data)
        first = data.find(b"\n") + 1
        if first == 0:  # still no complete line
            if not self._held:
                self._held_at = offset
            self._held += data
            return self._result(out, 0, None, self._safe)
        end = data.rfind(b"\n") + 1
        forced = None
        if len(self._carry) > MAX_CARRY_BYTES:
            # too many events left open (records without SYSCALL/PROCTITLE at a high
            # rate): end them now rather than grow without bound
            self.stats.events_timed_out += len(self._carry_starts)
            forced, _, _ = self._scan_c(b"", self._held_at, b"", 0, 0, 0, True, out)
        # the line completed across the chunk boundary goes into the small head; the
        # chunk itself is scanned in place
        head_new = self._held + data[:first]
        head_base = self._held_at if self._held else offset
        self._held, self._held_at = data[end:], offset + end
        if b"msg='" in head_new and head_new.count(b"'") % 2 == 1:
            # a multi-line USER_AVC across the boundary: scan it as one piece
            fast_batch, safe, lines = self._scan_c(
                head_new + data[first:end], head_base, b"", 0, 0, 0, False, out
            )
        else:
            fast_batch, safe, lines = self._scan_c(
                head_new, head_base, data, first, end, offset, False, out
            )
        if forced is not None and forced.num_rows:
            fast_batch = _concat(forced, fast_batch)
        return self._result(out, lines, fast_batch, safe)

    def _scan_c(
        self,
        head_new: bytes,
        head_base: int,
        data: bytes,
        start: int,
        end: int,
        data_base: int,
        final: bool,
        out: _Out,
    ) -> tuple[pa.RecordBatch, int, int]:
        """Scan carried lines + ``head_new`` + ``data[start:end]``.

        ``head_base`` / ``data_base`` are the stream offsets of ``head_new[0]`` / ``data[0]``.
        Returns the fast rows, the safe offset and the number of new lines.
        """
        carry, starts, offs = self._carry, self._carry_starts, self._carry_offsets
        head = carry + head_new if carry else head_new
        ncarry, nhead = len(carry), len(head)

        def where(rel: int) -> int:
            if rel < ncarry:
                i = bisect.bisect_right(starts, rel) - 1
                return offs[i] + (rel - starts[i])
            if rel < nhead:
                return head_base + rel - ncarry
            return data_base + start + rel - nhead

        def get(rel: int, n: int) -> bytes:
            if rel < nhead:
                return head[rel : rel + n]
            return data[start + rel - nhead : start + rel - nhead + n]

        prev = self._max_ts if self._max_ts is not None else _NO_TS
        res = fast.scan(head, data, start, end, final, prev, WINDOW_MS)
        if res["max_ts"] != _NO_TS:
            self._max_ts = res["max_ts"]
        hold = res["hold_from"]
        if hold >= 0:
            # a USER_AVC whose msg='… may continue on the next line: wait for it
            self._held = get(hold, nhead + end - start - hold) + self._held
            self._held_at = where(hold)
        parts: list[bytes] = []
        new_starts: list[int] = []
        new_offs: list[int] = []
        pos = 0
        for s, n in res["carry"]:
            new_starts.append(pos)
            new_offs.append(where(s))
            parts.append(get(s, n) + b"\n")
            pos += n + 1
        self._carry, self._carry_starts, self._carry_offsets = b"".join(parts), new_starts, new_offs
        lines = res["lines"] - len(starts)
        self.stats.lines += lines

        slow_events: set[int] = set()
        slow_mac: dict[int, list[int]] = {}
        slow_rows: list[tuple[int, int, dict[str, Any]]] = []
        enrich = res["enrich"]
        for s, n, ev, mem in res["slow"]:
            line = get(s, n)
            if ev >= 0:
                slow_events.add(ev)
            if self.framing == "journald" or (self.framing == "auto" and line[:1] == b"{"):
                parsed, host = self._journal_parse(line, out)
            else:
                parsed, host = self._classify(line), self.host
            if parsed is None or parsed.kind is None or parsed.kind == R.AUX:
                continue
            if parsed.kind != R.MAC or ev < 0:
                # no audit header the scanner knows (another framing inside the stream):
                # the Python path's own grouping, as if the whole stream were Python's
                self._handle(parsed, line, where(s), out, host)
                continue
            row = parsed.cols
            row[S.TS] = parsed.ts
            row[S.SERIAL] = parsed.serial
            row[S.HOST] = parsed.node or host.host
            row[S.MACHINE_ID] = host.machine_id
            row[S.BOOT_ID] = host.boot_id
            row[S.SOURCE] = self.source
            row[S.RAW] = line
            row[S.ORDINAL] = 0
            if ev >= 0:
                for k, v in enrich.get(ev, {}).items():
                    if row.get(k) is None:
                        row[k] = v
                slow_mac.setdefault(ev, []).append(mem)
            slow_rows.append((ev, mem, row))
        batch, ordinals = fast.to_batch(
            res,
            source=self.source,
            host=self.host.host,
            machine_id=self.host.machine_id,
            boot_id=self.host.boot_id,
            slow_events=slow_events,
            slow_mac=slow_mac,
        )
        for ev, mem, row in slow_rows:
            if ev >= 0:
                row[S.ORDINAL] = ordinals.get((ev, mem), 0)
            self.stats.records += 1
            out.records.append(row)
        self.stats.records += batch.num_rows
        firsts = [where(s) for s in res["carry_first"]]
        firsts += [e.start for e in self._events.values()]
        safe = min(firsts) if firsts else self._held_at
        self._safe = safe
        return batch, safe, lines

    # --- line loop ----------------------------------------------------------------------

    _held_more: bytes = b""

    def _iter_lines(self, buf: bytes, base: int, final: bool) -> Iterator[tuple[int, bytes]]:
        pos = 0
        n = len(buf)
        while pos < n:
            nl = buf.find(b"\n", pos)
            stop = n if nl < 0 else nl
            line = buf[pos:stop]
            nxt = n if nl < 0 else nl + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            # a USER_AVC whose msg='…' continues on indented lines (libselinux/dbus bug);
            # quotes counted once per line, and never more than the kernel's message size
            if b"msg='" in line:
                quotes = line.count(b"'")
                parts = [line]
                size = 0
                while quotes % 2 == 1:
                    if nxt >= n:
                        if not final:
                            self._held_more = buf[pos:]
                            return
                        break
                    if buf[nxt : nxt + 1] not in (b" ", b"\t"):
                        break
                    nl2 = buf.find(b"\n", nxt)
                    stop2 = n if nl2 < 0 else nl2
                    if size + stop2 - nxt > MAX_CONTINUATION:
                        break
                    more = buf[nxt:stop2].rstrip(b"\r")
                    size += stop2 - nxt
                    quotes += more.count(b"'")
                    parts.append(more)
                    nxt = n if nl2 < 0 else nl2 + 1
                if len(parts) > 1:
                    line = b"\n".join(parts)
            yield base + pos, line
            pos = nxt

    def _run(self, buf: bytes, base: int, out: _Out, final: bool) -> int:
        count = 0
        for at, line in self._iter_lines(buf, base, final):
            count += 1
            if not line:
                continue
            if self.framing == "journald" or (self.framing == "auto" and line[:1] == b"{"):
                self._journal_line(line, at, out)
            else:
                self._handle(self._classify(line), line, at, out, self.host)
        self.stats.lines += count
        return count

    def _classify(self, line: bytes) -> R.Line:
        """``records.classify_line`` with this stream's year, learning it when not given."""
        parsed = R.classify_line(line, self.year)
        if self._infer_year and parsed.serial is not None and parsed.ts is not None:
            self.year = time.gmtime(parsed.ts // 1000).tm_year
        return parsed

    def _journal_line(self, line: bytes, at: int, out: _Out) -> None:
        parsed, host = self._journal_parse(line, out)
        if parsed is not None:
            self._handle(parsed, line, at, out, host)

    def _journal_parse(self, line: bytes, out: _Out) -> tuple[R.Line | None, HostInfo]:
        """One ``journalctl -o json`` entry as a Line, with the identity it carries."""
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            if b"apparmor=" in line or b"avc:" in line:
                self._reject(out, line, R.R_BAD_JSON, self.host.host)
            return None, self.host
        if not isinstance(entry, dict):
            return None, self.host
        msg = entry.get("MESSAGE")
        if isinstance(msg, list):  # journalctl renders non-UTF-8 messages as byte arrays
            try:
                msg_b = bytes(msg)
            except (ValueError, TypeError):
                return None, self.host
        elif isinstance(msg, str):
            msg_b = msg.encode("utf-8", "surrogateescape")
        else:
            return None, self.host
        host = HostInfo(
            host=_str(entry.get("_HOSTNAME")) or self.host.host,
            machine_id=_str(entry.get("_MACHINE_ID")) or self.host.machine_id,
            boot_id=_str(entry.get("_BOOT_ID")) or self.host.boot_id,
        )
        src_us = entry.get("_SOURCE_REALTIME_TIMESTAMP") or entry.get("__REALTIME_TIMESTAMP")
        ts = int(src_us) // 1000 if isinstance(src_us, str) and src_us.isdigit() else None
        transport = entry.get("_TRANSPORT")
        ident = entry.get("SYSLOG_IDENTIFIER")
        if ident == "systemd-journald" and transport in ("journal", "driver", None):
            sm = R._JOURNAL_SUPPRESSED.match(msg_b)
            if sm is not None:
                parsed = R.Line(
                    kind=R.LOSS,
                    reason=S.LOSS_JOURNALD_SUPPRESSED,
                    count=int(sm.group("n")),
                    detail=sm.group("what").decode("utf-8", "backslashreplace"),
                    ts=ts,
                )
                return parsed, host
            return None, host
        if transport == "audit":
            rtype = _str(entry.get("_AUDIT_TYPE_NAME"))
            if rtype is None:
                rtype = R.TYPE_NAMES.get(str(entry.get("_AUDIT_TYPE")), "UNKNOWN")
            serial_s = _str(entry.get("_AUDIT_ID"))
            serial = int(serial_s) if serial_s and serial_s.isdigit() else None
            body = msg_b
            if body.startswith(rtype.encode() + b" "):
                body = body[len(rtype) + 1 :]
            hm = R._AUDIT_HDR.match(body)
            if hm is not None:  # some journald versions keep the whole audit line
                parsed = R.classify_line(body, self.year, trusted_kernel=True)
            else:
                parsed = R.audit_record(rtype, body, ts, serial, None, True)
        else:
            parsed = R.classify_line(msg_b, self.year, trusted_kernel=transport == "kernel")
        if parsed.ts is None:
            parsed.ts = ts
        if parsed.node is None:
            parsed.node = host.host
        return parsed, host

    # --- grouping -----------------------------------------------------------------------

    def _stale(self, ts: int | None, max_before: int | None) -> bool:
        """Whether enrichment kept at record time ``ts`` is past the event window."""
        return ts is not None and max_before is not None and ts < max_before - WINDOW_MS

    def _handle(self, p: R.Line, raw: bytes, at: int, out: _Out, host: HostInfo) -> None:
        max_before = self._max_ts
        if p.ts is not None and (self._max_ts is None or p.ts > self._max_ts):
            self._max_ts = p.ts
            # events the clock has moved past are over before this line is looked up
            self._expire(out)
        if p.kind is None and p.serial is None:
            return
        if p.kind == R.REJECT:
            self._reject(out, raw, p.reason or "", p.node or host.host)
            return
        if p.kind == R.LOSS:
            self.stats.loss_reports += 1
            out.loss.append(
                {
                    S.TS: p.ts,
                    S.HOST: p.node or host.host,
                    S.BOOT_ID: host.boot_id,
                    S.SOURCE: self.source,
                    S.KIND: p.reason,
                    S.COUNT: p.count,
                    S.DETAIL: p.detail,
                }
            )
            return
        if p.kind == R.MAC:
            row = p.cols
            row[S.TS] = p.ts
            row[S.SERIAL] = p.serial
            row[S.HOST] = p.node or host.host
            row[S.MACHINE_ID] = host.machine_id
            row[S.BOOT_ID] = host.boot_id
            row[S.SOURCE] = self.source
            row[S.RAW] = raw
            if p.serial is None:
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
        self._expire(out)

    def _expire(self, out: _Out) -> None:
        if self._max_ts is None:
            return
        limit = self._max_ts - WINDOW_MS
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

    def _finish(self, key: tuple[Any, ...], out: _Out) -> None:
        ev = self._events.pop(key)
        for i, row in enumerate(ev.macs):
            row[S.ORDINAL] = i
            self._emit_row(row, ev.enrich, out)

    def _finish_all(self, out: _Out) -> None:
        for key in list(self._events):
            self._finish(key, out)
        self._by_ts.clear()
        self._orphans.clear()

    def _emit_row(self, row: dict[str, Any], enrich: dict[str, Any], out: _Out) -> None:
        for k, v in enrich.items():
            if row.get(k) is None:
                row[k] = v
        self.stats.records += 1
        out.records.append(row)

    def _reject(self, out: _Out, raw: bytes, reason: str, host: str | None) -> None:
        self.stats.rejects += 1
        out.rejects.append(
            {S.SOURCE: self.source, S.HOST: host or self.host.host, S.REASON: reason, S.RAW: raw}
        )

    def _result(
        self,
        out: _Out,
        lines: int,
        fast_batch: pa.RecordBatch | None = None,
        safe_offset: int | None = None,
    ) -> ParseResult:
        if safe_offset is not None:
            safe = safe_offset
        else:
            safe = min(ev.start for ev in self._events.values()) if self._events else self._held_at
        records = _batch(out.records, S.MAC_SCHEMA)
        if fast_batch is not None and fast_batch.num_rows:
            records = _concat(fast_batch, records)
        return ParseResult(
            records=records,
            rejects=_batch(out.rejects, S.REJECT_SCHEMA),
            loss=_batch(out.loss, S.LOSS_SCHEMA),
            lines=lines,
            safe_offset=safe,
        )


_EMPTY: Final = {
    id(sch): S.empty_batch(sch) for sch in (S.MAC_SCHEMA, S.REJECT_SCHEMA, S.LOSS_SCHEMA)
}


def _batch(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.RecordBatch:
    return S.batch_from_rows(rows, schema) if rows else _EMPTY[id(schema)]


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_bytes(
    data: bytes,
    source: str,
    host: HostInfo = HostInfo(),
    framing: str = "auto",
    *,
    year: int | None = None,
    engine: str = "auto",
) -> ParseResult:
    """Parse a whole buffer (feed + flush), concatenating the two results."""
    p = Parser(source, host, framing, year=year, engine=engine)
    a = p.feed(data, 0)
    b = p.flush()
    return ParseResult(
        records=_concat(a.records, b.records),
        rejects=_concat(a.rejects, b.rejects),
        loss=_concat(a.loss, b.loss),
        lines=a.lines + b.lines,
        safe_offset=b.safe_offset,
    )


def _concat(a: pa.RecordBatch, b: pa.RecordBatch) -> pa.RecordBatch:
    if b.num_rows == 0:
        return a
    if a.num_rows == 0:
        return b
    return pa.Table.from_batches([a, b]).combine_chunks().to_batches()[0]
