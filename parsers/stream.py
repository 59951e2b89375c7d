"""Streaming parser: byte chunks of any log framing → MAC records as Arrow.

``Parser(source, host, framing).feed(data, offset)`` takes whole or partial lines and
returns a ``ParseResult`` (records, rejects, loss, lines, safe_offset). It is the façade
over four parts: line framing (``parsers.framing``: the held partial line, the bound on
a line that does not end), the line engines (the compiled scanner ``parsers._fastscan``
via ``parsers.fast`` for audit.log and kernel-log lines, the reference classifier
``parsers.records`` for every line it hands back and for ``journalctl -o json`` entries,
with ``parsers.journald``), and
event grouping (``parsers.grouping``: SYSCALL, CWD and PROCTITLE enrich the MAC record).
``flush`` ends every open event; ``drain`` does the same but keeps a held partial line
(for collectors that go idle mid-stream).

Error tree (module ``parsers``): the parser never raises on input. Malformed MAC-looking
lines come back in ``ParseResult.rejects`` with their raw bytes and a reason; only
programming errors (wrong argument types, an offset that goes backwards) raise
``ValueError``/``TypeError``.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, Final

import pyarrow as pa

from armorwatch.parsers import fast
from armorwatch.parsers import records as R
from armorwatch.parsers import schema as S
from armorwatch.parsers.framing import LineBuffer
from armorwatch.parsers.grouping import WINDOW_MS, Grouper, Out, loss_row, reject_row, stamp
from armorwatch.parsers.journald import parse_entry
from armorwatch.parsers.result import HostInfo, ParseResult, ParserStats

# "dmesg" (dmesg, dmesg -T/-r, /dev/kmsg text) is read like "syslog": prefixes per line
FRAMINGS: Final = ("auto", "audit", "syslog", "dmesg", "journald")
ENGINES: Final = ("auto", "c", "python")
_NO_TS: Final = -(1 << 62)
MAX_CARRY_BYTES: Final = 32 << 20  # C engine: lines of open events kept for the next chunk
JUNK_REPORT_BYTES: Final = 1 << 20  # junk is reported at each MiB of the stream (and flush/drain)
# journald: a smaller chunk does not pay for the scanner's fixed cost per call (Arrow
# assembly; 4 KiB chunks took 3x the Python path's time), so it goes through Python
JOURNAL_MIN_SCAN = 64 << 10
# what a line needs for the classifier to see it (records.may_matter; "\n{" a JSON entry)
_KEYWORDS: Final = (b"audit", b"apparmor=", b"avc: ", b"APPARMOR", b"UNKNOWN[15", b"\n{")


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
        kernel_tag: bool = True,
        junk_report_bytes: int = JUNK_REPORT_BYTES,
    ) -> None:
        """``year`` fills RFC 3164 timestamps (they carry none); default: this year (UTC).

        ``kernel_tag``: whether a syslog ``kernel:`` tag proves a line came from the kernel
        (kern.log: yes; a general syslog file: no, see ``records.classify_line``).

        ``engine``: "python" = the pure-Python reference path; "auto" = the compiled
        scanner (``parsers._fastscan``) when it is built, else Python; "c" = like "auto"
        but an error when the scanner is not built. The scanner reads audit.log lines and
        the kernel's kern.log / syslog / dmesg / journalctl renderings of them,
        ``journalctl -o short``'s lines of journald's audit transport (``… audit[pid]: AVC
        …``: no audit id, the syslog date's time, an RFC 3164 date's year as ``year``
        says), and journald JSON entries of the audit and kernel transports turned into
        such lines (``fast.JournalLines``); it hands every other line to Python.

        ``junk_report_bytes``: junk is reported where the stream reaches each multiple of
        it (and at flush/drain); smaller in tests.
        """
        if framing not in FRAMINGS:
            raise ValueError(f"framing must be one of {FRAMINGS}, not {framing!r}")
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
        if engine == "c" and not fast.available():
            raise ValueError("engine='c' but parsers._fastscan is not built")
        self._use_c: bool | None = None  # decided on the first line when None
        if engine == "python" or not fast.available() or framing == "journald":
            self._use_c = False
        elif framing in ("audit", "syslog", "dmesg"):
            self._use_c = True
        # the scanner marks a kernel record behind a "kernel:" tag unverified when the
        # tag proves nothing in this stream (records.classify_line's kernel_tag)
        self._scan_flags = 0 if kernel_tag else fast.SCAN_UNTRUSTED_TAG
        # journald JSON through the scanner: each entry becomes one line it reads
        # (fast.JournalLines); the Python path judges what the scanner hands back
        self._scanner = engine != "python" and fast.available()
        self._journal: fast.JournalLines | None = None
        if framing == "journald" and self._scanner:
            self._journal = fast.JournalLines()
        self._carry = b""
        self._safe = 0
        self._skip_junk = False  # the over-long line being skipped is counted as junk
        self._junk_lines = 0  # junk counted and not yet reported
        self._junk_bytes = 0
        self._skip_bytes = 0  # of _junk_bytes, those of the junk line being skipped
        if junk_report_bytes < 1:
            raise ValueError("junk_report_bytes must be > 0")
        self._junk_every = junk_report_bytes
        self._carry_starts: list[int] = []
        self._carry_offsets: list[int] = []
        self.source = source
        self.host = host
        self.framing = framing
        self.kernel_tag = kernel_tag
        self.year = year if year is not None else time.gmtime().tm_year
        # Without an explicit year, RFC 3164 dates take the year of the newest audit
        # timestamp seen (kern.log lines carry both), so an old log is not dated today.
        self._infer_year = year is None
        self.stats = ParserStats()
        # feed: (its offset, the stream offset before it) while the scanner looks for a
        # DAEMON_START line, and where it found one
        self._find_daemon: tuple[int, int] | None = None
        self._daemon_at: int | None = None
        self._lines = LineBuffer()
        self._next = 0  # stream offset just after the last byte seen
        self._events = Grouper(source, self.stats)

    # --- public API ------------------------------------------------------------------

    @property
    def boot_id(self) -> str | None:
        """The boot id stamped on records now: the host's, or one derived from the last
        DAEMON_START line seen. A collector keeps it with its checkpoint (it holds at the
        latest ``safe_offset``) and passes it back on resume and to the next file's parser."""
        return self.host.boot_id

    def feed(self, data: bytes, offset: int = 0) -> ParseResult:
        """Parse the complete lines of ``data`` (``offset`` = stream position of data[0]).

        audit.log carries no boot id, and after a reboot (with the clock set back) the same
        ``audit(ts:serial)`` can come again. auditd writes DAEMON_START when it starts: at
        each such line the open events end and the records that follow get a boot id
        derived from that line's bytes, so the same stream always gets the same ids.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError("feed() takes bytes")
        data = bytes(data)
        # Junk is reported at fixed stream offsets (each multiple of JUNK_REPORT_BYTES)
        # and at flush/drain: ``data`` is parsed in pieces ending at those offsets, so
        # what a junk row counts and names is a property of the stream's bytes, never of
        # how it was cut into reads (the store de-duplicates loss rows by their content).
        # Where no junk can be reported at them, the pieces would change nothing: the
        # data goes whole (each piece costs a scanner call and its Arrow assembly).
        end = offset + len(data)
        pos = offset
        mark = (pos // self._junk_every + 1) * self._junk_every
        if mark >= end or not self._junk_possible(data):
            return self._feed_piece(data, offset)
        parts: list[ParseResult] = []
        while (mark := (pos // self._junk_every + 1) * self._junk_every) < end:
            parts.append(self._feed_piece(data[pos - offset : mark - offset], pos))
            pos = mark
        parts.append(self._feed_piece(data[pos - offset :], pos))
        return _merge(parts)

    def _junk_possible(self, data: bytes) -> bool:
        """Whether a junk row could be due at a mark ``data`` crosses: junk counted and not
        yet reported, a junk line being skipped, or a byte no log text has in the held
        line or in ``data`` (junk lines are those, ``records.is_binary``). The scanner
        judges journald entries after unescaping them, so those are always cut."""
        if self._junk_bytes or self._lines.skipping:
            return True
        if self._journal is not None or self._use_c is None:
            return True  # journald entries, or the framing is not known yet (first chunk)
        return fast.has_binary(self._lines.held) or fast.has_binary(data)

    def _feed_piece(self, data: bytes, offset: int) -> ParseResult:
        """``feed`` of one piece: at each DAEMON_START line the open events end and the
        records after it get that boot's id."""
        if self.framing == "journald":
            return self._feed(data, offset)
        lb = self._lines
        if self._use_c and not lb.skipping and (not lb.held or offset == lb.end):
            # the scanner finds the first DAEMON_START line itself (the chunk is not
            # searched here) and stops before it; from there on, as below
            self._find_daemon = (offset, self._next)
            self._daemon_at = None
            try:
                first = self._feed(data, offset)
            finally:
                self._find_daemon = None
            if self._daemon_at is None:
                return first
            rest, at = lb.take_all()  # (the scanner handed it back)
            return _merge([first, self._feed_boots(rest, at)])
        held = lb.held
        if _DAEMON_START not in data and not (held and _DAEMON_START in held + data[:64]):
            return self._feed(data, offset)
        return self._feed_boots(data, offset)

    def _feed_boots(self, data: bytes, offset: int) -> ParseResult:
        """``_feed`` of ``data`` cut at its DAEMON_START lines, where the boot changes."""
        lb = self._lines
        if b"\n" in lb.held and offset == lb.end:
            # whole lines held (a USER_AVC whose msg=' may go on): cut with them, so that a
            # DAEMON_START among them is found
            held, at = lb.take_all()
            data, offset = held + data, at
        parts: list[ParseResult] = []
        held = lb.held
        pos = 0
        for start, end in _daemon_starts(held, data):
            if start > pos:
                parts.append(self._feed(data[pos:start], offset + pos))
            line = (self._lines.held if start == 0 else b"") + data[start:end]
            parts.append(self.drain())  # the previous boot's events end here
            self.host = replace(self.host, boot_id=_boot_from(line))
            parts.append(self._feed(data[start:end], offset + start))
            pos = end
        if pos < len(data):
            parts.append(self._feed(data[pos:], offset + pos))
        return _merge(parts)

    def _feed(self, data: bytes, offset: int) -> ParseResult:
        lb = self._lines
        self._next = offset + len(data)
        if lb.skipping:
            # the rest of a line already dead-lettered as too long
            skipped, data, offset = lb.skip(data, offset)
            if self._skip_junk:
                self._junk_bytes += skipped
                self._skip_bytes += skipped
            if lb.skipping:
                return self._result(Out(), 0, None, lb.at)
        over = lb.overflow(data, offset, R.MAX_KEEP)
        if over is not None:
            # a line without end (a zeroed region after a crash, a binary file): judge its
            # first MAX_KEEP bytes as an over-cap line and skip to the next newline
            # instead of growing
            out = Out()
            self._skip_junk = self._over_cap(out, *over)
            self._skip_bytes = over[1] if self._skip_junk else 0
            return self._result(out, 0, None, lb.at if not self._events else None)
        if self._use_c is None:
            first = (lb.held + data).lstrip(b"\r\n")[:5]
            if len(first) < 5 and b"\n" not in data:
                pass  # decide once a line is there
            else:
                # any text framing to the scanner; a journald JSON stream too, entry by
                # entry (fast.JournalLines)
                self._use_c = not first.startswith(b"{")
                if not self._use_c and self._scanner:
                    self._journal = fast.JournalLines()
        if self._use_c is not None and self._nothing_here(data):
            return self._feed_nothing(data, offset)
        if self._use_c:
            return self._feed_c(data, offset)
        if self._journal_now(len(data)):
            return self._feed_journal(data, offset)
        out = Out()
        self._discontinuity(out, offset)
        complete, base = lb.take(data, offset)
        lines = self._run(complete, base, out, final=False)
        return self._result(out, lines)

    def flush(self) -> ParseResult:
        """End of stream: parse a held partial line and emit every open event."""
        out = Out()
        held, at = self._lines.take_all()
        if self._use_c:
            fast_batch, _safe, lines = self._scan_c(held, at, b"", 0, 0, 0, True, out)
            self._finish_all(out)
            return self._result(out, lines, fast_batch, self._lines.at)
        if self._journal is not None and self._journal.carry:
            fast_batch, lines = self._scan_journal(held, at, True, out)
            self._finish_all(out)
            return self._result(out, lines, fast_batch, self._lines.at)
        lines = self._run(held, at, out, final=True) if held else 0
        self._finish_all(out)
        return self._result(out, lines)

    def drain(self) -> ParseResult:
        """Emit every open event now (idle stream) but keep a held partial line."""
        out = Out()
        if self._use_c:
            fast_batch, _safe, _ = self._scan_c(b"", self._lines.at, b"", 0, 0, 0, True, out)
            self._finish_all(out)
            return self._result(out, 0, fast_batch, self._lines.at)
        if self._journal is not None and self._journal.carry:
            fast_batch, _ = self._scan_journal(b"", self._lines.at, True, out)
            self._finish_all(out)
            return self._result(out, 0, fast_batch, self._lines.at)
        self._finish_all(out)
        return self._result(out, 0)

    def _discontinuity(self, out: Out, offset: int) -> None:
        """A held fragment that ``offset`` does not continue (rotation, seek) can never
        complete: rejected."""
        stale = self._lines.stale(offset)
        if stale:
            self._reject(out, stale, R.R_UNTERMINATED, None)

    # --- C engine -------------------------------------------------------------------

    def _feed_c(self, data: bytes, offset: int) -> ParseResult:
        out = Out()
        self._discontinuity(out, offset)
        if b"\n" not in data:  # still no complete line
            self._lines.hold(data, offset)
            return self._result(out, 0, None, self._safe)
        forced = None
        if len(self._carry) > MAX_CARRY_BYTES:
            # too many events left open (records without SYSCALL/PROCTITLE at a high
            # rate): end them now rather than grow without bound
            self.stats.events_timed_out += len(self._carry_starts)
            forced, _, _ = self._scan_c(b"", self._lines.at, b"", 0, 0, 0, True, out)
        # the line completed across the chunk boundary goes into the small head; the
        # chunk itself is scanned in place
        head_new, head_base, first, end = self._lines.take_head(data, offset)
        if b"msg='" in head_new and (head_new.count(b"'") % 2 == 1 or head_new.count(b"\n") > 1):
            # a multi-line USER_AVC across the boundary, or a held one followed by another
            # (the scanner would hold that one at the head's end, the chunk after it
            # unread): scan it as one piece
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
        out: Out,
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
                if rel + n > nhead:  # (from the head on into data)
                    return head[rel:] + data[start : start + rel + n - nhead]
                return head[rel : rel + n]
            return data[start + rel - nhead : start + rel - nhead + n]

        events = self._events
        prev = events.max_ts if events.max_ts is not None else _NO_TS
        find = self._find_daemon if not final else None
        flags = self._scan_flags | (fast.SCAN_INFER_YEAR if self._infer_year else 0)
        res = fast.scan(
            head, data, start, end, final, prev, WINDOW_MS, flags,
            ncarry if find is not None else -1, ncarry, self.year,
        )  # fmt: skip
        self._junk(res["junk_bytes"], res["junk_lines"])  # lines it ignored: nothing but junk
        if res["max_ts"] != _NO_TS:
            events.max_ts = res["max_ts"]
        if res["daemon"] >= 0 and find is not None:
            # a DAEMON_START line: this chunk ends before it (feed goes on from there)
            at = self._daemon_at = where(res["daemon"])
            self._next = at if at > find[0] else find[1]
        hold = res["hold_from"]
        if hold >= 0:
            # a USER_AVC whose msg='… may continue on the next line: wait for it
            self._lines.unread(get(hold, nhead + end - start - hold), where(hold))
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

        batch = self._scan_rows(res, lambda s, n: (get(s, n), where(s)), True, out)
        self._learn_year(res["yr_ts"])
        firsts = [where(s) for s in res["carry_first"]]
        firsts += events.starts()
        safe = min(firsts) if firsts else self._lines.at
        self._safe = safe
        return batch, safe, lines

    # --- journald entries through the C engine ---------------------------------------

    def _journal_now(self, size: int) -> bool:
        """Whether a journald chunk of ``size`` bytes goes through the scanner: when it is
        big enough to pay for it, and never while the other engine has an event open
        (each engine groups only its own lines, so the stream changes engine only where
        no event spans the change)."""
        jl = self._journal
        if jl is None:
            return False
        if jl.carry:
            return True
        # (enrichment the Python path keeps for a record still to come counts as open)
        events = self._events
        return not events and not events._orphans and size >= JOURNAL_MIN_SCAN

    def _feed_journal(self, data: bytes, offset: int) -> ParseResult:
        out = Out()
        self._discontinuity(out, offset)
        forced = None
        assert self._journal is not None
        if len(self._journal.carry) > MAX_CARRY_BYTES:
            # as _feed_c: too many open events are ended rather than kept growing
            self.stats.events_timed_out += self._journal.carried
            forced, _ = self._scan_journal(b"", self._lines.at, True, out)
        if b"\n" in data:  # the chunk's lines are read where they are (not copied)
            head, hbase, first, end = self._lines.take_head(data, offset)
            fast_batch, lines = self._scan_journal(
                head, hbase, False, out, (data, first, end, offset)
            )
        else:
            complete, base = self._lines.take(data, offset)
            if not complete and forced is None:  # no new line: the open events stay open
                return self._result(out, 0, None, self._safe)
            fast_batch, lines = self._scan_journal(complete, base, False, out)
        if forced is not None and forced.num_rows:
            fast_batch = _concat(forced, fast_batch)
        return self._result(out, lines, fast_batch, self._safe)

    def _scan_journal(
        self,
        buf: bytes,
        base: int,
        final: bool,
        out: Out,
        more: tuple[bytes, int, int, int] | None = None,
    ) -> tuple[pa.RecordBatch, int]:
        """Scan the entries still open + the lines of ``buf`` (stream offset ``base``),
        each entry turned into a line the scanner reads (``fast.JournalLines``); the fast
        rows get their entry's host, machine, boot and canonical bytes. Returns the rows
        and the number of new lines. ``more``: (DATA, START, END, stream offset of
        DATA[0]), lines that follow ``buf``."""
        jl = self._journal
        assert jl is not None
        # lines as the Python path cuts them (USER_AVC continuations joined)
        scan_buf = jl.build_buf(buf, base, final, self.host, more) if buf else None
        if scan_buf is None:  # (a line that may continue a USER_AVC: cut in Python)
            if more is not None:
                buf += more[0][more[1] : more[2]]
            new = self._lines.lines(buf, base, final) if buf else []
            scan_buf = jl.build(new, self.host)
        events = self._events
        prev = events.max_ts if events.max_ts is not None else _NO_TS
        res = fast.scan(b"", scan_buf, 0, len(scan_buf), final, prev, WINDOW_MS, 0)
        self._junk(res["junk_bytes"], res["junk_lines"])
        if res["max_ts"] != _NO_TS:
            events.max_ts = res["max_ts"]
        lines = res["lines"] - jl.carried
        self.stats.lines += lines
        # no year learnt: the Python path reads no RFC 3164 date of a journal entry by it
        batch = self._scan_rows(res, lambda s, n: jl.source(scan_buf, s), False, out)
        batch = jl.stamp(batch)
        firsts = [jl.source(scan_buf, s)[1] for s in res["carry_first"]]
        jl.keep(scan_buf, res["carry"])
        firsts += events.starts()
        self._safe = min(firsts) if firsts else self._lines.at
        return batch, lines

    def _scan_rows(
        self,
        res: dict[str, Any],
        line_at: Callable[[int, int], tuple[bytes, int]],
        learn_year: bool,
        out: Out,
    ) -> pa.RecordBatch:
        """The scanner's rows as a batch, and its slow lines judged by the Python path.

        ``line_at(start, length)``: the input line of a scanned line and its stream offset.
        A slow line of an event the scanner grouped is stamped with that event's enrichment
        and ordinal; any other goes through the Python path's own grouping."""
        events = self._events
        slow_events: set[int] = set()
        slow_mac: dict[int, list[int]] = {}
        slow_rows: list[tuple[int, int, dict[str, Any]]] = []
        enrich = res["enrich"]
        for s, n, ev, mem, yr_ts in res["slow"]:
            line, at = line_at(s, n)
            if ev >= 0:
                slow_events.add(ev)
            if learn_year:
                self._learn_year(yr_ts)  # the audit times the scanner read before this line
            parsed, host = self._parse_line(line, out)
            if parsed is None or (ev >= 0 and (parsed.kind is None or parsed.kind == R.AUX)):
                continue  # (the scanner grouped the line's event and counted its time)
            if parsed.kind != R.MAC or ev < 0:
                # no audit header the scanner knows (another framing inside the stream):
                # the Python path's own grouping, as if the whole stream were Python's
                events.handle(parsed, line, at, out, host)
                continue
            row = stamp(parsed, line, host, self.source)
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
        return batch

    # --- line loop ----------------------------------------------------------------------

    def _run(self, buf: bytes, base: int, out: Out, final: bool) -> int:
        if self.framing != "journald" and b"msg='" not in buf:
            return self._run_plain(buf, base, out)
        count = 0
        for at, line in self._lines.iter_lines(buf, base, final):
            count += 1
            if not line:
                continue
            parsed, host = self._parse_line(line, out)
            if parsed is not None:
                self._events.handle(parsed, line, at, out, host)
        self.stats.lines += count
        return count

    def _run_plain(self, buf: bytes, base: int, out: Out) -> int:
        """``_run`` of lines without a USER_AVC continuation, as ``_run`` does it but fast on
        lines without a keyword: the keywords (``records.may_matter``, a JSON start) are
        found in the whole buffer at C speed, and only their lines reach the classifier;
        the others are junk when binary, else nothing (50 MB of random bytes: ~0.4 s CPU)."""
        starts: set[int] = {0} if buf[:1] == b"{" else set()
        for kw in _KEYWORDS:
            i = buf.find(kw)
            while i >= 0:
                starts.add(i + 1 if kw == b"\n{" else buf.rfind(b"\n", 0, i) + 1)
                i = buf.find(kw, i + 1)
        binary = R.is_binary(buf)
        parts = buf.split(b"\n")
        if not parts[-1]:
            parts.pop()  # buf ends with its newline (not at flush)
        pos = 0
        for raw in parts:
            at = pos
            pos += len(raw) + 1
            line = raw[:-1] if raw[-1:] == b"\r" else raw
            if at not in starts and len(line) <= R.MAX_LINE:
                if binary and line and R.is_binary(line):
                    self._junk(len(line))
                continue
            if not line:
                continue
            parsed, host = self._parse_line(line, out)
            if parsed is not None:
                self._events.handle(parsed, line, base + at, out, host)
        self.stats.lines += len(parts)
        return len(parts)

    def _nothing_here(self, data: bytes) -> bool:
        """Whether no line of ``data`` can be anything but junk or nothing, with no state
        that the lines could change (no held line, no open event): a collector cutting a
        file at NUL holes feeds many small pieces, and each should cost little.

        The keywords are those of ``records.may_matter`` and of the scanner's slow lines;
        a USER_AVC continuation and a journald entry take the full path."""
        return (
            len(data) <= 64 << 10  # a big chunk has its keyword or JSON line: full path
            and not self._lines.held
            and not self._carry
            and not (self._journal is not None and self._journal.carry)
            and not self._events
            and self.framing != "journald"
            and b"audit" not in data
            and b"apparmor=" not in data
            and b"avc: " not in data
            and b"APPARMOR" not in data
            and b"UNKNOWN[15" not in data
            and b"msg='" not in data
            and data[:1] != b"{"
            and b"\n{" not in data
        )

    def _feed_nothing(self, data: bytes, offset: int) -> ParseResult:
        """``feed`` of data without a record (``_nothing_here``): count lines and junk only.

        Gives what either engine gives on such data, without building anything."""
        out = Out()
        complete, _base = self._lines.take(data, offset)
        end = len(complete)
        lines = data.count(b"\n", 0, end)
        if end > R.MAX_LINE or R.is_binary(data[:end]):
            for line in data[: end - 1].split(b"\n") if end else ():
                line = line.removesuffix(b"\r")
                if len(line) > R.MAX_LINE:
                    self._over_cap(out, line, len(line))
                elif R.is_binary(line):
                    self._junk(len(line))
        self.stats.lines += lines
        if not self._use_c:
            return self._result(out, lines)
        if end:  # as _feed_c: no open event, so everything read is accounted for
            self._safe = self._lines.at
        return self._result(out, lines, None, self._safe)

    def _parse_line(self, line: bytes, out: Out) -> tuple[R.Line | None, HostInfo]:
        """One line of any framing as a Line (None: nothing to group), with the identity
        it carries. Lines over their framing's cap are rejected or counted here, and a line
        that is nothing and holds binary bytes is counted as junk (both engines call this)."""
        json = self.framing == "journald" or (self.framing == "auto" and line[:1] == b"{")
        if len(line) > (R.MAX_JSON_LINE if json else R.MAX_LINE):
            self._over_cap(out, line, len(line))
            return None, self.host
        if json:
            parsed, host = parse_entry(line, self.year, self.host)
            if parsed is None and R.is_binary(line):
                self._junk(len(line))
            return parsed, host
        if R.may_matter(line):  # most lines of other programs, and junk, skip the classifier
            parsed = self._classify(line)
            if parsed.kind is not None or parsed.serial is not None:
                return parsed, self.host
        if R.is_binary(line):
            self._junk(len(line))
        return None, self.host

    def _over_cap(self, out: Out, line: bytes, size: int) -> bool:
        """A line longer than its framing's cap (``size`` bytes, ``line`` at least its first
        MAX_KEEP): a reject keeping its first MAX_KEEP bytes when it looks like a record,
        else junk when binary, else nothing. True when it was counted as junk."""
        json = self.framing == "journald" or (self.framing == "auto" and line[:1] == b"{")
        reason = R.R_TOO_LONG_JSON if json else R.R_TOO_LONG
        head = line[: R.MAX_KEEP]
        if R.too_long(head, reason).kind == R.REJECT:
            self._reject(out, head, reason, self.host.host)
            return False
        if R.is_binary(head):
            self._junk(size)
            return True
        return False

    def _junk(self, nbytes: int, lines: int = 1) -> None:
        self.stats.junk_lines += lines
        self._junk_lines += lines
        self._junk_bytes += nbytes

    def _junk_loss(self, out: Out, now: bool) -> None:
        """Report the junk counted since the last report as one ``parse_reject`` loss row:
        at flush/drain (``now``) and where the stream reaches a multiple of
        ``junk_report_bytes`` (``feed`` parses up to each), so 50 MB of random bytes give
        some 50 rows, never a row (or a dead letter) per line. A row counts the junk lines
        that end before its offset, whatever the reads were: an over-long junk line being
        skipped there is left for the next row, as when it is read whole."""
        if not self._junk_bytes:
            return
        if now:
            at, lines, nbytes = self._next, self._junk_lines, self._junk_bytes
            held_lines = held_bytes = 0
        elif self._next % self._junk_every == 0:
            skipping = self._lines.skipping and self._skip_junk
            held_lines, held_bytes = (1, self._skip_bytes) if skipping else (0, 0)
            at = self._next
            lines, nbytes = self._junk_lines - held_lines, self._junk_bytes - held_bytes
            if not nbytes:
                return
        else:
            return
        # the offset makes the row distinct (the store de-duplicates loss rows)
        detail = (
            f"{lines} line(s), {nbytes} bytes of binary data "
            f"(control bytes no log text has) before byte {at} of the stream: "
            "not log records; counted, not kept in the dead letter"
        )
        out.loss.append(
            loss_row(
                self._events.max_ts,
                self.host.host,
                self.host.boot_id,
                self.source,
                S.LOSS_PARSE_REJECT,
                lines,
                detail,
            )
        )
        self._junk_lines, self._junk_bytes = held_lines, held_bytes

    def _learn_year(self, ts: int) -> None:
        """The year of RFC 3164 dates from an audit time the scanner read (``_NO_TS``:
        none), as ``_classify`` learns it from the lines it reads itself."""
        if self._infer_year and ts != _NO_TS:
            self.year = time.gmtime(ts // 1000).tm_year

    def _classify(self, line: bytes) -> R.Line:
        """``records.classify_line`` with this stream's year, learning it when not given."""
        parsed = R.classify_line(line, self.year, kernel_tag=self.kernel_tag)
        if self._infer_year and parsed.serial is not None and parsed.ts is not None:
            self.year = time.gmtime(parsed.ts // 1000).tm_year
        return parsed

    def _finish_all(self, out: Out) -> None:
        self._events.finish_all(out)
        self._junk_loss(out, True)  # flush/drain: the junk counted so far is reported

    def _reject(self, out: Out, raw: bytes, reason: str, host: str | None) -> None:
        self.stats.rejects += 1
        out.rejects.append(reject_row(self.source, host or self.host.host, reason, raw))

    def _result(
        self,
        out: Out,
        lines: int,
        fast_batch: pa.RecordBatch | None = None,
        safe_offset: int | None = None,
    ) -> ParseResult:
        if safe_offset is not None:
            safe = safe_offset
        else:
            safe = min(self._events.starts(), default=self._lines.at)
        self._junk_loss(out, False)
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


_DAEMON_START: Final = b"type=DAEMON_START msg=audit("


def _daemon_starts(held: bytes, data: bytes) -> Iterator[tuple[int, int]]:
    """(start, end) in ``data`` of each complete DAEMON_START line (start 0 when the line
    began in ``held``); a line not yet complete is left for the next feed."""
    first_nl = data.find(b"\n")
    if first_nl < 0:
        return
    if held and _is_daemon_start(held + data[: first_nl + 1]):
        yield 0, first_nl + 1
    pos = first_nl + 1 if held else 0
    while True:
        i = data.find(_DAEMON_START, pos)
        if i < 0:
            return
        start = data.rfind(b"\n", 0, i) + 1
        end = data.find(b"\n", i)
        if end < 0:
            return
        if start >= pos and _is_daemon_start(data[start : end + 1]):
            yield start, end + 1
        pos = end + 1


def _is_daemon_start(line: bytes) -> bool:
    """An auditd DAEMON_START line (``[node=H ]type=DAEMON_START msg=audit(…``)."""
    if line.startswith(b"node="):
        sp = line.find(b" ")
        line = line[sp + 1 :] if sp > 0 else b""
    return line.startswith(_DAEMON_START)


def _boot_from(line: bytes) -> str:
    """A boot id (32 hex digits, like /proc's without dashes) derived from a DAEMON_START line."""
    import hashlib  # here: OpenSSL's start-up is paid only by a stream that has one

    return hashlib.md5(line.rstrip(b"\r\n"), usedforsecurity=False).hexdigest()


def _merge(parts: list[ParseResult]) -> ParseResult:
    """One result of several consecutive ones (the last safe offset holds)."""
    if len(parts) == 1:
        return parts[0]
    return ParseResult(
        records=S.concat_batches((p.records for p in parts), S.MAC_SCHEMA),
        rejects=S.concat_batches((p.rejects for p in parts), S.REJECT_SCHEMA),
        loss=S.concat_batches((p.loss for p in parts), S.LOSS_SCHEMA),
        lines=sum(p.lines for p in parts),
        safe_offset=parts[-1].safe_offset,
    )


def _batch(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.RecordBatch:
    return S.batch_from_rows(rows, schema) if rows else S.empty_batch(schema)


def parse_bytes(
    data: bytes,
    source: str,
    host: HostInfo = HostInfo(),
    framing: str = "auto",
    *,
    year: int | None = None,
    engine: str = "auto",
    kernel_tag: bool = True,
) -> ParseResult:
    """Parse a whole buffer (feed + flush), concatenating the two results."""
    p = Parser(source, host, framing, year=year, engine=engine, kernel_tag=kernel_tag)
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
    return S.concat_batches((a, b), a.schema)
