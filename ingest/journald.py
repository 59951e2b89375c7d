"""``JournaldSource``: follows the journal through ``journalctl -o json``.

The journal carries AppArmor records on its ``audit`` transport (when
``systemd-journald-audit.socket`` is active) and its ``kernel`` transport (printk, when
auditd is not running), and journald's own ``Suppressed N messages`` notices on the
``driver`` transport. Only these transports are read (journalctl matches on one field
are ORed).

Positions are journal cursors. The checkpoint holds the cursor of the last entry whose
records were acknowledged; on restart journalctl is started with ``--cursor C``
(inclusive, not ``--after-cursor``) so the first entry it prints can be *checked*:

- it is the entry C itself: skipped (already delivered), reading goes on after it;
- it is another entry: C is gone (vacuumed, or the journal was rotated away while the
  collector was stopped). That is a gap, reported as a ``journal_cursor_gap`` loss row
  whose count is the seqnum distance when both cursors share a seqnum id (an upper
  bound: the distance also counts other transports' entries), never a silent restart;
- journalctl refuses the cursor (malformed, or from another journal): the gap is
  reported and reading restarts from the oldest entry (duplicates, never loss).

``--file``/``--directory`` read journal files (tests, forensics on a copied journal);
``--follow`` works with ``--directory`` and the system journal, not with ``--file``.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from armorwatch.ingest.base import Chunk, Item, LossNotice
from armorwatch.ingest.errors import SourceError
from armorwatch.parsers import schema as S

log = logging.getLogger(__name__)

_CURSOR = re.compile(rb'"__CURSOR"\s*:\s*"([^"]*)"')


@dataclass(frozen=True)
class JournaldConfig:
    """How the journal is read (TOML table ``[collect.journald]``)."""

    journalctl: str = "journalctl"
    """The journalctl binary."""
    files: tuple[Path, ...] = ()
    """Read these journal files (``--file``) instead of the system journal; no follow."""
    directory: Path | None = None
    """Read the journal in this directory (``--directory``) instead of the system one."""
    transports: tuple[str, ...] = ("audit", "kernel", "driver")
    """``_TRANSPORT`` values read: audit records, printk, journald's own notices."""
    start_at: str = "head"
    """On first start (no cursor): ``head`` (all stored entries) or ``tail`` (new only)."""
    read_bytes: int = 256 * 1024
    """Largest chunk handed to the parser."""
    restart_wait: float = 1.0
    """Seconds before journalctl is started again after it exited while following."""

    def __post_init__(self) -> None:
        if self.start_at not in ("head", "tail"):
            raise ValueError(f"start_at must be 'head' or 'tail', not {self.start_at!r}")


@dataclass
class JournaldStats:
    """Counters of the journald source."""

    entries: int = 0
    bytes_read: int = 0
    starts: int = 0
    """journalctl processes started."""
    cursor_gaps: int = 0
    """Stored cursors that were gone or refused."""


def _cursor_fields(cursor: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in cursor.split(";"):
        k, sep, v = part.partition("=")
        if sep:
            out[k] = v
    return out


def _cursor_ms(cursor: str | None) -> int | None:
    """The realtime of a cursor's entry (its ``t=``, microseconds in hex) in epoch ms: the
    last event time known before a gap after it; None when the cursor has none."""
    try:
        return int(_cursor_fields(cursor or "")["t"], 16) // 1000
    except (KeyError, ValueError):
        return None


def _seqnum_gap(old: str, new: str) -> int | None:
    """Entries between two cursors of one seqnum id (None when not comparable)."""
    a, b = _cursor_fields(old), _cursor_fields(new)
    if a.get("s") is None or a.get("s") != b.get("s"):
        return None
    try:
        return max(0, int(b["i"], 16) - int(a["i"], 16) - 1)
    except (KeyError, ValueError):
        return None


class _Segment:
    """Line ends of one journalctl run and the cursor of the entry ending there."""

    def __init__(self, start_cursor: str | None) -> None:
        self.start_cursor = start_cursor
        self.ends: list[int] = []
        self.cursors: list[str] = []


class JournaldSource:
    """Follows journald's kernel and audit transports with a checked cursor."""

    source = S.SOURCE_JOURNALD
    framing = "journald"
    kernel_tag = True  # no syslog tags in this framing

    def __init__(self, config: JournaldConfig | None = None, name: str = "journald") -> None:
        self.config = config or JournaldConfig()
        self.name = name
        self.stats = JournaldStats()
        self._cursor: str | None = None
        self._segment = 0
        self._segments: dict[int, _Segment] = {}
        self._proc: asyncio.subprocess.Process | None = None
        self._closed = False

    def restore(self, position: Mapping[str, Any] | None) -> None:
        """Resume after the checkpointed cursor."""
        cursor = position.get("cursor") if position else None
        self._cursor = cursor if isinstance(cursor, str) and cursor else None

    def describe(self, position: Mapping[str, Any] | None) -> str:
        """Where a run with ``position`` starts, for the collector's start line."""
        cfg = self.config
        where = (
            f"files {', '.join(map(str, cfg.files))}"
            if cfg.files
            else f"directory {cfg.directory}"
            if cfg.directory is not None
            else "system journal"
        )
        cursor = position.get("cursor") if position else None
        if isinstance(cursor, str) and cursor:
            return f"{where}: resumes after its checkpointed cursor"
        return f"{where}: no checkpoint, start at the {cfg.start_at}"

    def position(self, segment: int, safe_offset: int) -> dict[str, Any] | None:
        """The cursor of the last entry that ends at or before ``safe_offset``."""
        seg = self._segments.get(segment)
        if seg is None:
            return None
        i = bisect.bisect_right(seg.ends, safe_offset)
        cursor = seg.cursors[i - 1] if i else seg.start_cursor
        # Positions are asked in increasing order: forget what lies before.
        if i > 1024:
            del seg.ends[: i - 1]
            del seg.cursors[: i - 1]
        return {"cursor": cursor} if cursor else None

    def command(self, cursor: str | None, follow: bool) -> list[str]:
        """The journalctl command line for one run."""
        cfg = self.config
        cmd = [cfg.journalctl, "--output=json", "--no-pager", "--quiet"]
        for f in cfg.files:
            cmd.append(f"--file={f}")
        if cfg.directory is not None:
            cmd.append(f"--directory={cfg.directory}")
        if cursor is not None:
            cmd.append(f"--cursor={cursor}")
        elif cfg.start_at == "tail":
            cmd.append("--lines=0")
        elif follow:
            cmd.append("--no-tail")
        if follow:
            cmd.append("--follow")
        cmd.extend(f"_TRANSPORT={t}" for t in cfg.transports)
        return cmd

    async def items(self, follow: bool = True) -> AsyncIterator[Item]:
        """Chunks of ``journalctl -o json`` lines and cursor-gap notices."""
        if follow and self.config.files:
            raise SourceError("journalctl cannot --follow --file; use directory= instead")
        wait = self.config.restart_wait
        while not self._closed:
            before = self.stats.entries
            async for item in self._run_once(follow):
                yield item
            if not follow or self._closed:
                return
            # journalctl ended while following: restart after the cursor, backing off
            # (up to a minute) while it keeps ending without output.
            wait = self.config.restart_wait if self.stats.entries > before else min(wait * 2, 60.0)
            await asyncio.sleep(wait)

    async def _run_once(self, follow: bool) -> AsyncIterator[Item]:
        cfg = self.config
        check = self._cursor
        cmd = self.command(check, follow)
        try:
            proc = await asyncio.create_subprocess_exec(
                *cmd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as e:
            raise SourceError(f"cannot run {cfg.journalctl}: {e}") from e
        self._proc = proc
        self.stats.starts += 1
        self._segment += 1
        seg_id = self._segment
        seg = _Segment(check)
        self._segments[seg_id] = seg
        for old in [s for s in self._segments if s < seg_id - 16]:
            del self._segments[old]
        assert proc.stdout is not None and proc.stderr is not None
        offset = 0  # bytes of this run's stdout handed on or skipped
        pending = b""
        checked = check is None
        try:
            while True:
                data = await proc.stdout.read(cfg.read_bytes)
                if not data:
                    break
                self.stats.bytes_read += len(data)
                buf = pending + data
                cut = buf.rfind(b"\n") + 1
                complete, pending = buf[:cut], buf[cut:]
                if not complete:
                    continue
                start = offset
                if not checked:
                    checked = True
                    nl = complete.find(b"\n") + 1
                    first = _CURSOR.search(complete, 0, nl)
                    got = first.group(1).decode("utf-8", "replace") if first else None
                    if got == check:
                        # The checkpointed entry itself: delivered before, skip it.
                        complete = complete[nl:]
                        start += nl
                        log.info("Resumed the journal after its checkpointed cursor.")
                    else:
                        assert check is not None
                        yield self._gap(check, got)
                for m in _CURSOR.finditer(complete):
                    end = complete.find(b"\n", m.end())
                    seg.ends.append(start + (end + 1 if end >= 0 else len(complete)))
                    seg.cursors.append(m.group(1).decode("utf-8", "replace"))
                    self._cursor = seg.cursors[-1]
                self.stats.entries += complete.count(b"\n")
                offset = start + len(complete)
                if complete:
                    yield Chunk(complete, start, seg_id)
            rc = await proc.wait()
            err = (await proc.stderr.read()).decode("utf-8", "replace").strip()
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                with contextlib.suppress(Exception):
                    await proc.wait()
            self._proc = None
        if rc != 0 and check is not None and not seg.ends and "cursor" in err.lower():
            # journalctl refused the cursor: report, then re-read from the oldest entry.
            log.warning(
                "journalctl refused the stored cursor (%s); re-reading from the oldest entry.", err
            )
            self.stats.cursor_gaps += 1
            self._cursor = None
            yield LossNotice(
                S.LOSS_JOURNAL_CURSOR_GAP,
                1,
                f"journalctl refused the stored cursor ({err}); the entries after it may "
                "be lost. Reading again from the oldest stored entry.",
                ts=_cursor_ms(check),
            )
            async for item in self._run_once(follow):
                yield item
            return
        if rc != 0:
            log.warning("journalctl exited with status %s: %s.", rc, err.rstrip("."))
            if not follow:
                raise SourceError(f"journalctl exited with status {rc}: {err}")

    def _gap(self, old: str, new: str | None) -> LossNotice:
        self.stats.cursor_gaps += 1
        n = _seqnum_gap(old, new) if new else None
        how = f"at most {n} entries" if n is not None else "an unknown number of entries"
        log.warning("The stored journal cursor is gone; %s were never read.", how)
        return LossNotice(
            S.LOSS_JOURNAL_CURSOR_GAP,
            n if n is not None else 1,
            f"The stored journal cursor is gone (vacuumed or rotated away while the "
            f"collector was stopped); {how} between it and the next stored entry were "
            "never read.",
            ts=_cursor_ms(old),
        )

    async def aclose(self) -> None:
        """Stop journalctl."""
        self._closed = True
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
