"""The file-tailing core shared by the audit.log and kern.log sources.

A file is identified by device + inode + a fingerprint (SHA-256 of its first
``fingerprint_bytes``, or of all of it while it is shorter). The fingerprint catches
inode reuse and in-place rewrites that device + inode alone would miss (Filebeat's
inode-reuse bug reports), and it finds a file again after it was renamed, copied
(logrotate ``copytruncate``) or compressed (``.gz``).

What the tailer handles, polling the path every ``poll_interval``:

- rename rotation (auditd, logrotate ``create``): the renamed file is read to its end,
  and for ``rotate_wait`` more in case a writer still appends, before the new file;
  rotated files that appeared in between (fast rotation) are read too, oldest first;
- ``copytruncate`` and in-place truncation: the rest of the old content is read from the
  copy when one is found by fingerprint; the truncation is reported as a loss notice;
  NUL holes left by a stale writer (no O_APPEND) are skipped, never emitted;
- deletion: the open descriptor is drained, then the tailer waits for the path;
- partial last lines are held until their newline arrives (emitted at the very end of
  a rotated or deleted file only); a line longer than ``max_line_bytes`` is cut and
  counted, never a reason to stop reading the file;
- restart from a position: the file is searched among the live path and its rotated
  siblings (``path.1``, ``path.2.gz``, ...); the newer files are then read oldest first;
  when it is gone, the loss is reported (``rotated_away_unread``) and all remaining
  files are read;
- backfill on first start: rotated files oldest first, then the live file;
- an unreadable file (permissions) is reported once as ``source_blind`` and retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import logging
import os
import re
import stat
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.base import Chunk, Item, LossNotice
from ingest.progress import Bar, progress_bar
from parsers import schema as S

log = logging.getLogger(__name__)

_NUL_RUN = re.compile(rb"\x00+")
_SIBLING = re.compile(r"^\.(\d+)(\.gz)?$")


@dataclass(frozen=True)
class TailConfig:
    """How one log file (and its rotated siblings) is tailed."""

    path: Path = Path("/var/log/audit/audit.log")
    """The live log file; rotated siblings are ``path.N`` and ``path.N.gz``."""
    fingerprint_bytes: int = 1024
    """Leading bytes hashed into a file's identity (with device and inode)."""
    read_bytes: int = 256 * 1024
    """Largest read; also bounds one chunk and so one parser feed."""
    max_line_bytes: int = 1024 * 1024
    """A line longer than this is cut into pieces (counted in ``long_lines``)."""
    poll_interval: float = 0.25
    """Seconds between checks for new data, rotation and truncation."""
    rotate_wait: float = 1.0
    """Seconds a renamed or deleted file is still read after rotation was noticed."""
    backfill: bool = False
    """On first start (no checkpoint), read the rotated files oldest first."""
    start_at: str = "beginning"
    """On first start without backfill: ``beginning`` or ``end`` of the live file."""

    def __post_init__(self) -> None:
        if self.start_at not in ("beginning", "end"):
            raise ValueError(f"start_at must be 'beginning' or 'end', not {self.start_at!r}")
        if self.fingerprint_bytes < 1 or self.read_bytes < 1 or self.max_line_bytes < 1:
            raise ValueError("fingerprint_bytes, read_bytes and max_line_bytes must be > 0")


@dataclass(frozen=True)
class FileId:
    """Identity of a file: device, inode and a hash of its first ``fp_len`` bytes."""

    dev: int
    ino: int
    fp_len: int
    fp_sha256: str

    def to_json(self) -> dict[str, Any]:
        """The checkpoint form."""
        return {"dev": self.dev, "ino": self.ino, "fp_len": self.fp_len, "fp": self.fp_sha256}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> FileId:
        """Inverse of ``to_json``; raises KeyError/ValueError on a malformed position."""
        return cls(int(d["dev"]), int(d["ino"]), int(d["fp_len"]), str(d["fp"]))


@dataclass
class TailStats:
    """Counters of one tailer (read by the metrics endpoint)."""

    bytes_read: int = 0
    files_opened: int = 0
    rotations: int = 0
    truncations: int = 0
    copies_recovered: int = 0
    deletions: int = 0
    rotated_away: int = 0
    nul_bytes_skipped: int = 0
    long_lines: int = 0
    blind: int = 0
    """Episodes in which the file could not be opened (permissions)."""
    lag_bytes: int = 0
    """Bytes of the current file not yet read, at the last check."""


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Open:
    """One open file being read: descriptor or gzip stream, and the read position."""

    def __init__(self, path: Path, gz: bool, segment: int, fp_bytes: int) -> None:
        self.path = path
        self.gz = gz
        self.segment = segment
        self._fp_bytes = fp_bytes
        self.fd: int | None = None
        self.gzf: gzip.GzipFile | None = None
        if gz:
            self.gzf = gzip.GzipFile(path, "rb")
            st = os.fstat(self.gzf.fileno())
        else:
            self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            st = os.fstat(self.fd)
        if stat.S_ISDIR(st.st_mode):
            self.close()
            raise IsADirectoryError(f"{path} is a directory")
        self.dev, self.ino = st.st_dev, st.st_ino
        self.offset = 0
        """Segment position of the first byte not yet emitted (start of ``pending``)."""
        self.pending = b""
        """Bytes read after the last newline: a partial line."""
        self.fp = b""
        self.quiet_since: float | None = None
        """When a rotation/deletion of this (live) file was first noticed."""
        self.live = False
        """This is the followed path (holes there mean truncation)."""
        self.in_hole = False
        """The last read ended inside a run of NUL bytes being skipped."""
        self.hole_seen = False
        """A NUL run started where a line should: truncated under a stale writer."""

    def seek(self, offset: int) -> None:
        self.offset = offset
        if self.gzf is not None:
            self.gzf.seek(offset)

    def read(self, n: int) -> bytes:
        if self.gzf is not None:
            return self.gzf.read(n)
        assert self.fd is not None
        return os.pread(self.fd, n, self.offset + len(self.pending))

    def size(self) -> int:
        if self.fd is None:
            return -1
        return os.fstat(self.fd).st_size

    def head(self, n: int) -> bytes:
        if self.fd is not None:
            return os.pread(self.fd, n, 0)
        with gzip.open(self.path, "rb") as g:
            return g.read(n)

    def refresh_fp(self) -> None:
        if len(self.fp) < self._fp_bytes:
            self.fp = self.head(self._fp_bytes)

    def file_id(self) -> FileId:
        return FileId(self.dev, self.ino, len(self.fp), _sha(self.fp))

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None
        if self.gzf is not None:
            with contextlib.suppress(OSError):
                self.gzf.close()
            self.gzf = None


def _head_of(path: Path, n: int, gz: bool) -> bytes:
    if gz:
        with gzip.open(path, "rb") as g:
            return g.read(n)
    with path.open("rb") as f:
        return f.read(n)


class FileTailer:
    """Follows one log path through rotation, truncation and deletion (see module doc)."""

    def __init__(self, config: TailConfig) -> None:
        self.config = config
        self.stats = TailStats()
        self._restore: tuple[FileId, int] | None = None
        self._restored = False
        self._restore_t = 0.0
        self._segment = 0
        self._segments: dict[int, FileId] = {}
        self._cur: _Open | None = None
        self._closed = False

    # --- positions -------------------------------------------------------------------
    def restore(self, position: Mapping[str, Any] | None) -> None:
        """Resume at a checkpointed position; a malformed one means re-read (never skip)."""
        self._restored = position is not None
        if position is None:
            return
        try:
            self._restore = (FileId.from_json(position), int(position["offset"]))
            self._restore_t = float(position.get("t", 0.0))
        except (KeyError, ValueError, TypeError):
            log.warning("Position of %s is malformed; re-reading its files.", self.config.path)
            self._restore = None

    def position(self, segment: int, safe_offset: int) -> dict[str, Any] | None:
        """Checkpoint form of ``safe_offset`` in ``segment``."""
        fid = self._segments.get(segment)
        if fid is None:
            return None
        return {
            **fid.to_json(),
            "offset": safe_offset,
            "path": str(self.config.path),
            "t": round(time.time(), 3),
        }

    # --- siblings --------------------------------------------------------------------
    def siblings(self) -> list[tuple[int, Path, bool]]:
        """Rotated files ``(N, path, gz)``, newest (N=1) first."""
        live = self.config.path
        out: list[tuple[int, Path, bool]] = []
        try:
            names = os.listdir(live.parent)
        except OSError:
            return out
        for name in names:
            if not name.startswith(live.name):
                continue
            m = _SIBLING.match(name[len(live.name) :])
            if m:
                out.append((int(m.group(1)), live.parent / name, m.group(2) is not None))
        out.sort(key=lambda t: (t[0], t[2]))
        return out

    def _matches(self, path: Path, gz: bool, fid: FileId, strict: bool) -> bool:
        try:
            if strict:
                if gz:
                    return False
                st = path.stat()
                if (st.st_dev, st.st_ino) != (fid.dev, fid.ino):
                    return False
            head = _head_of(path, fid.fp_len, gz)
        except (OSError, EOFError, gzip.BadGzipFile):
            return False
        return len(head) == fid.fp_len and _sha(head) == fid.fp_sha256

    def _find(self, fid: FileId, min_size: int) -> tuple[int, Path, bool] | None:
        """Where the file ``fid`` is now: index 0 is the live path, N is ``path.N``."""
        cands: list[tuple[int, Path, bool]] = [(0, self.config.path, False), *self.siblings()]
        for strict in (True, False):
            for n, path, gz in cands:
                if not self._matches(path, gz, fid, strict):
                    continue
                if not gz:
                    try:
                        if path.stat().st_size < min_size:
                            continue
                    except OSError:
                        continue
                return n, path, gz
        return None

    # --- reading ---------------------------------------------------------------------
    def _new_segment(self, f: _Open) -> None:
        self._segment += 1
        f.segment = self._segment
        f.refresh_fp()
        self._segments[f.segment] = f.file_id()
        # Keep only recent segments: positions are asked for shortly after reading.
        for old in [s for s in self._segments if s < self._segment - 64]:
            del self._segments[old]

    def _open(self, path: Path, gz: bool, offset: int) -> _Open:
        f = _Open(path, gz, 0, self.config.fingerprint_bytes)
        self.stats.files_opened += 1
        self._new_segment(f)
        if offset:
            f.seek(offset)
        return f

    def _chunks(self, f: _Open, data: bytes) -> list[Chunk]:
        """Append ``data`` to ``f``'s pending bytes and cut off the complete lines."""
        cfg = self.config
        out: list[Chunk] = []
        if not f.pending and data.startswith(b"\x00"):
            if f.live and f.offset > 0 and not f.in_hole:
                # NUL where a line should start, after lines we read: the file was
                # truncated and a stale writer left a hole. Stop; the caller recovers.
                f.hole_seen = True
                return out
            # A stale writer's hole (copytruncate without O_APPEND): skip, never emit.
            stripped = data.lstrip(b"\x00")
            f.in_hole = not stripped
            skipped = len(data) - len(stripped)
            self.stats.nul_bytes_skipped += skipped
            f.offset += skipped
            data = stripped
        buf = f.pending + data
        cut = buf.rfind(b"\n") + 1
        start = f.offset
        if cut:
            for c in self._split_nul(buf[:cut], start, f.segment):
                out.extend(self._cut_long(c))
            buf = buf[cut:]
            start += cut
        while len(buf) >= cfg.max_line_bytes:
            self.stats.long_lines += 1
            out.append(
                Chunk(
                    buf[: cfg.max_line_bytes] + b"\n", start, f.segment, covers=cfg.max_line_bytes
                )
            )
            buf = buf[cfg.max_line_bytes :]
            start += cfg.max_line_bytes
        f.pending = buf
        f.offset = start
        if len(f.fp) < cfg.fingerprint_bytes and out:
            f.refresh_fp()
            self._segments[f.segment] = f.file_id()
        return out

    def _cut_long(self, c: Chunk) -> list[Chunk]:
        """Cut lines longer than max_line_bytes into counted pieces of their own."""
        limit = self.config.max_line_bytes
        if len(c.data) <= limit:
            return [c]
        out: list[Chunk] = []
        data, pos = c.data, 0
        while pos < len(data):
            nl = data.find(b"\n", pos, pos + limit + 1)
            if nl >= 0:
                end = nl + 1
                piece = data[pos:end]
            else:
                self.stats.long_lines += 1
                end = min(pos + limit, len(data))
                piece = data[pos:end]
            out.append(
                Chunk(
                    piece if piece.endswith(b"\n") else piece + b"\n",
                    c.offset + pos,
                    c.segment,
                    covers=end - pos,
                )
            )
            pos = end
        # Merge runs of ordinary lines back into one chunk: fewer parser calls.
        merged: list[Chunk] = []
        for p in out:
            last = merged[-1] if merged else None
            if (
                last is not None
                and last.covers == len(last.data)
                and p.covers == len(p.data)
                and last.end == p.offset
            ):
                merged[-1] = Chunk(
                    last.data + p.data, last.offset, c.segment, covers=len(last.data) + len(p.data)
                )
            else:
                merged.append(p)
        return merged

    def _split_nul(self, data: bytes, offset: int, segment: int) -> list[Chunk]:
        if b"\x00" not in data:
            return [Chunk(data, offset, segment)]
        out: list[Chunk] = []
        pos = 0
        for m in _NUL_RUN.finditer(data):
            if m.start() > pos:
                piece = data[pos : m.start()]
                if piece.endswith(b"\n"):
                    out.append(Chunk(piece, offset + pos, segment))
                else:  # a line cut by a hole: a fragment of its own
                    out.append(Chunk(piece + b"\n", offset + pos, segment, covers=len(piece)))
            self.stats.nul_bytes_skipped += m.end() - m.start()
            pos = m.end()
        if pos < len(data):
            out.append(Chunk(data[pos:], offset + pos, segment))
        return out

    async def _drain(self, f: _Open) -> AsyncIterator[Chunk]:
        """Read ``f`` to its current end, yielding complete lines."""
        while not f.hole_seen:
            data = f.read(self.config.read_bytes)
            if not data:
                return
            self.stats.bytes_read += len(data)
            for c in self._chunks(f, data):
                yield c
            await asyncio.sleep(0)

    def _final(self, f: _Open) -> Chunk:
        """The end of a segment: its partial last line, if any, is emitted now."""
        data, f.pending = f.pending, b""
        c = Chunk(data, f.offset, f.segment, final=True)
        f.offset += len(data)
        return c

    def _ordered(self) -> list[tuple[int, Path, bool, os.stat_result]]:
        """The live file and its rotated siblings with their stats, newest first."""
        out: list[tuple[int, Path, bool, os.stat_result]] = []
        for n, path, gz in [(0, self.config.path, False), *self.siblings()]:
            try:
                out.append((n, path, gz, path.stat()))
            except OSError:
                continue
        return out

    def _open_verified(self, path: Path, gz: bool, st: os.stat_result, offset: int) -> _Open | None:
        """Open ``path`` if it is still the file ``st`` describes (no rename in between)."""
        try:
            f = self._open(path, gz, 0)
        except FileNotFoundError:
            return None
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            log.warning("Cannot open rotated file %s: %s.", path, e)
            return None
        if (f.dev, f.ino) != (st.st_dev, st.st_ino):
            f.close()
            self._segments.pop(f.segment, None)
            return None
        if offset:
            f.seek(offset)
        return f

    def _open_at(self, index_from_newest: int | None, offset: int = 0) -> _Open | None:
        """Open the file at an age position of ``_ordered`` (None = the oldest), retrying
        when a rotation renames files between listing and opening."""
        for _ in range(20):
            files = self._ordered()
            if not files:
                return None
            i = len(files) - 1 if index_from_newest is None else index_from_newest
            if i >= len(files):
                return None
            _n, path, gz, st = files[i]
            f = self._open_verified(path, gz, st, offset)
            if f is not None:
                return f
        return None

    def _age(self, f: _Open) -> int:
        """How many files (live included) are newer than or equal to ``f``, by identity."""
        files = self._ordered()
        for i, (_n, _p, _gz, st) in enumerate(files):
            if (st.st_dev, st.st_ino) == (f.dev, f.ino):
                return i + 1
        return len(files)

    def _next_newer(self, f: _Open) -> tuple[Path, bool, os.stat_result] | None:
        """The file written right after ``f``: found by identity, so renames in between
        (fast rotation) never make the tailer skip a file."""
        files = self._ordered()
        for i, (_n, _path, _gz, st) in enumerate(files):
            if (st.st_dev, st.st_ino) == (f.dev, f.ino):
                if i == 0:
                    return None
                _n2, path, gz, st2 = files[i - 1]
                return path, gz, st2
        # ``f`` is gone (deleted, or compressed under another inode): the oldest file
        # modified after it is next.
        try:
            ours = os.fstat(f.fd).st_mtime_ns if f.fd is not None else 0
        except OSError:
            ours = 0
        newer = [(path, gz, st) for _n, path, gz, st in files if st.st_mtime_ns >= ours]
        return newer[-1] if newer and ours else None

    def _start(self) -> tuple[_Open | None, int | None, list[LossNotice]]:
        """The first file to read (or None: the live file, at the returned offset)."""
        cfg = self.config
        if self._restore is not None:
            fid, offset = self._restore
            for _ in range(20):
                found = self._find(fid, offset)
                if found is None:
                    break
                n, path, gz = found
                copy = None if gz else self._copy_made_later(fid, offset, n, path)
                if copy is not None and copy[0] != path:
                    # A copy of our file appeared after the checkpoint: copytruncate
                    # while stopped (maybe rotated on since). The copy holds the rest.
                    path, gz = copy
                else:
                    copy = None
                try:
                    f = self._open(path, gz, 0)
                except (OSError, EOFError, gzip.BadGzipFile):
                    continue
                if copy is not None:
                    self.stats.truncations += 1
                    self.stats.copies_recovered += 1
                    f.seek(offset)
                    return f, 0, []
                if gz or (f.dev, f.ino) == (fid.dev, fid.ino) or self._matches_open(f, fid):
                    f.seek(offset)
                    return f, 0, []
                f.close()
            self.stats.rotated_away += 1
            notice = LossNotice(
                S.LOSS_ROTATED_AWAY,
                1,
                f"The file last read at byte {offset} of {cfg.path} (inode {fid.ino}) was "
                "rotated away or rewritten before it was read to its end; reading the "
                "rotated files still present, oldest first, then the live file.",
            )
            return self._open_at(None), 0, [notice]
        if self._restored or cfg.backfill:
            # First start with backfill, or a malformed position: everything, oldest first.
            return self._open_at(None), 0, []
        if cfg.start_at == "end":
            return None, None, []
        return None, 0, []

    def _copy_made_later(
        self, fid: FileId, offset: int, index: int, path: Path
    ) -> tuple[Path, bool] | None:
        """A copytruncate done while we were stopped: a rotated file older in name than
        ours (``index``), modified after the checkpoint, starting like our file and longer
        than ``offset``, while our file no longer starts like that copy (it was truncated,
        then refilled or left with a stale writer's hole). The copy holds the rest."""
        if not self._restore_t:
            return None
        window = 64 * 1024
        try:
            ours = _head_of(path, window, False)
        except OSError:
            return None
        for m, sib, gz in self.siblings():
            if m <= index:
                continue
            try:
                st = sib.stat()
                if st.st_mtime < self._restore_t or (st.st_dev, st.st_ino) == (fid.dev, fid.ino):
                    continue
                if not self._matches(sib, gz, fid, strict=False):
                    continue
                theirs = _head_of(sib, window, gz)
            except (OSError, EOFError, gzip.BadGzipFile):
                continue
            if not gz and st.st_size <= offset:
                continue
            k = min(len(ours), len(theirs))
            if len(ours) < len(theirs) or ours[:k] != theirs[:k]:
                return sib, gz
        return None

    def _matches_open(self, f: _Open, fid: FileId) -> bool:
        head = f.head(fid.fp_len)
        return len(head) == fid.fp_len and _sha(head) == fid.fp_sha256

    def _open_live(self, offset: int | None) -> _Open:
        f = self._open(self.config.path, False, 0)
        f.live = True
        if offset is None:
            # start_at=end: from after the last complete line.
            size = f.size()
            tail = os.pread(f.fd, min(size, 65536), max(0, size - 65536)) if f.fd else b""
            offset = size - (len(tail) - tail.rfind(b"\n") - 1) if b"\n" in tail else size
        elif offset > f.size():
            offset = 0
        f.seek(offset)
        return f

    def _live_state(self, f: _Open) -> str:
        """same | truncated | rotated | deleted, by comparing the path with our descriptor."""
        if f.size() < f.offset + len(f.pending):
            return "truncated"
        if f.fp and f.head(len(f.fp)) != f.fp:
            return "truncated"
        try:
            st = os.stat(self.config.path)
        except FileNotFoundError:
            return "deleted"
        except OSError:
            return "same"
        if (st.st_dev, st.st_ino) != (f.dev, f.ino):
            return "rotated"
        return "same"

    async def _recover_copy(self, f: _Open) -> AsyncIterator[Item]:
        """After a truncation of ``f``: read the rest of its old content from a copy."""
        self.stats.truncations += 1
        fid = FileId(f.dev, f.ino, len(f.fp), _sha(f.fp))
        copy = None
        if f.fp:
            for _n, path, gz in self.siblings():
                if self._matches(path, gz, fid, strict=False):
                    copy = (path, gz)
                    break
        detail = f"{self.config.path} was truncated after byte {f.offset + len(f.pending)}"
        if copy is not None:
            self.stats.copies_recovered += 1
            try:
                c = _Open(copy[0], copy[1], f.segment, self.config.fingerprint_bytes)
            except (OSError, EOFError, gzip.BadGzipFile):
                c = None
            if c is not None:
                c.fp = f.fp
                c.seek(f.offset)
                try:
                    async for chunk in self._drain(c):
                        yield chunk
                    yield self._final(c)
                finally:
                    c.close()
                yield LossNotice(
                    S.LOSS_TRUNCATED,
                    1,
                    f"{detail} (copytruncate); the rest was read from {copy[0]}. Lines "
                    "written between the copy and the truncation, if any, are lost.",
                )
                return
        yield self._final(f)
        yield LossNotice(
            S.LOSS_TRUNCATED,
            1,
            f"{detail} and no copy was found; lines appended after the last read and "
            "before the truncation, if any, are lost.",
        )

    def _is_live(self, f: _Open) -> bool:
        try:
            st = os.stat(self.config.path)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == (f.dev, f.ino) and not f.gz

    async def items(self, follow: bool = True) -> AsyncIterator[Item]:
        """Chunks of whole lines and loss notices; see the module docstring."""
        cfg = self.config
        first, live_offset, notices = self._start()
        for n in notices:
            yield n
        self._cur = first
        bar: Bar | None = None
        if first is not None:
            # Backfill or catch-up through rotated files: a bar on a terminal only.
            total = sum(st.st_size for _n, _p, _gz, st in self._ordered()[: self._age(first)])
            bar = progress_bar(max(0, total - first.offset), f"catch-up {cfg.path.name}", "B")
            yield Chunk(b"", first.offset, first.segment)
        blind = False
        while not self._closed:
            if self._cur is None:
                try:
                    self._cur = self._open_live(live_offset)
                except FileNotFoundError:
                    if not follow:
                        return
                    await asyncio.sleep(cfg.poll_interval)
                    continue
                except OSError as e:  # permissions, a directory in the way, ...
                    if not blind:
                        blind = True
                        self.stats.blind += 1
                        yield LossNotice(
                            S.LOSS_SOURCE_BLIND,
                            1,
                            f"Cannot read {cfg.path}: {e}; retrying every {cfg.poll_interval} s.",
                        )
                    if not follow:
                        return
                    await asyncio.sleep(cfg.poll_interval)
                    continue
                blind = False
                live_offset = 0
                # An empty chunk marks the segment's start: the collector can checkpoint
                # "this file, from here" before any data, so a crash right after a first
                # start still finds the file after it is rotated.
                yield Chunk(b"", self._cur.offset, self._cur.segment)
            f = self._cur
            try:
                async for c in self._drain(f):
                    if f.quiet_since is not None:  # still written after rotation: wait on
                        f.quiet_since = time.monotonic()
                    if bar is not None:
                        bar.update(c.end - c.offset)
                    yield c
            except (OSError, EOFError, gzip.BadGzipFile) as e:
                yield LossNotice(
                    S.LOSS_ROTATED_AWAY,
                    1,
                    f"Reading {f.path} failed at byte {f.offset}: {e}; the rest of that "
                    "file is lost.",
                )
                f.pending = b""
                f.quiet_since = -1e9  # move on at once
            if self._is_live(f):
                f.live = True  # reached through the rotation chain or a restore
                if bar is not None:
                    bar.close()
                    bar = None
                state = "truncated" if f.hole_seen else self._live_state(f)
                self.stats.lag_bytes = max(0, f.size() - f.offset - len(f.pending))
                if state == "truncated":
                    async for item in self._recover_copy(f):
                        yield item
                    f.pending = b""
                    f.fp = b""
                    f.hole_seen = f.in_hole = False
                    self._new_segment(f)
                    f.seek(0)
                    yield Chunk(b"", 0, f.segment)
                    continue
                if not follow:
                    return
                await asyncio.sleep(cfg.poll_interval)
                continue
            # Rotated away (or deleted): read on for rotate_wait in case a writer still
            # appends, unless the file has not been written for that long already.
            now = time.monotonic()
            if follow and f.quiet_since is None:
                f.quiet_since = now
                try:
                    idle = time.time() - os.fstat(f.fd).st_mtime if f.fd is not None else 1e9
                except OSError:
                    idle = 1e9
                if idle >= cfg.rotate_wait:
                    f.quiet_since = now - cfg.rotate_wait
            if follow and f.quiet_since is not None and now - f.quiet_since < cfg.rotate_wait:
                await asyncio.sleep(min(cfg.poll_interval, cfg.rotate_wait))
                continue
            yield self._final(f)
            nxt = None
            for _ in range(20):
                target = self._next_newer(f)
                if target is None:
                    break
                nxt = self._open_verified(*target, 0)
                if nxt is not None:
                    break
            if os.path.exists(cfg.path):
                self.stats.rotations += 1
            else:
                self.stats.deletions += 1
            f.close()
            self._cur = nxt
            if nxt is not None:
                yield Chunk(b"", 0, nxt.segment)

    async def aclose(self) -> None:
        """Stop following and close the open file."""
        self._closed = True
        if self._cur is not None:
            self._cur.close()
            self._cur = None


class TailedFileSource:
    """A ``Source`` over one tailed file: the shared body of the file sources.

    Subclasses set ``source`` (the schema's SOURCE_* value), ``framing`` (the parser's)
    and their config type; rotation, truncation and checkpoints are ``FileTailer``'s.
    """

    source: str
    framing: str

    def __init__(self, config: TailConfig, name: str) -> None:
        self.config = config
        self.name = name
        self._tail = FileTailer(config)
        self.stats = self._tail.stats

    def restore(self, position: Mapping[str, Any] | None) -> None:
        """Resume at a checkpointed position."""
        self._tail.restore(position)

    def items(self, follow: bool = True) -> AsyncIterator[Item]:
        """Chunks of whole lines and loss notices."""
        return self._tail.items(follow)

    def position(self, segment: int, safe_offset: int) -> dict[str, Any] | None:
        """Checkpoint form of a parser's safe offset."""
        return self._tail.position(segment, safe_offset)

    async def aclose(self) -> None:
        """Close the open file."""
        await self._tail.aclose()
