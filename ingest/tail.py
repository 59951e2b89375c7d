"""The file-tailing core shared by the audit.log and kern.log sources.

A file is identified by device + inode + a fingerprint (SHA-256 of its first
``fingerprint_bytes``, or of all of it while it is shorter). The fingerprint catches
inode reuse and in-place rewrites that device + inode alone would miss (Filebeat's
inode-reuse bug reports), and it finds a file again after it was renamed, copied
(logrotate ``copytruncate``) or compressed (``.gz``). A file that starts with a stale
writer's NUL hole is fingerprinted after the hole, and the hole's end is part of its
identity (``FileId.fp_at``): all such files start with NULs.

What the tailer handles, polling the path every ``poll_interval``:

- rename rotation (auditd, logrotate ``create``): the renamed file is read to its end,
  and for ``rotate_wait`` more in case a writer still appends, before the new file;
  rotated files that appeared in between (fast rotation) are read too, oldest first;
- ``copytruncate`` and in-place truncation: the rest of the old content is read from the
  copy when one is found by fingerprint; every truncation, noticed while following or at
  restart from a checkpoint, is one ``truncated`` loss notice whose ``count`` is the bytes
  known destroyed unread (see ``_truncation``); moving from a rotated file to a next
  one that starts with a stale writer's hole is one too (``_link_notice``); NUL holes
  left by a stale writer (no O_APPEND) are skipped, never emitted;
- deletion: the open descriptor is drained, then the tailer waits for the path;
- partial last lines are held until their newline arrives (emitted at the very end of
  a rotated or deleted file only); a line longer than ``max_line_bytes`` is cut and
  counted, never a reason to stop reading the file (the framing is
  ``parsers.framing``'s, as the parser's);
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
import errno
import gzip
import hashlib
import logging
import os
import re
import stat
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from armorwatch.ingest.base import Chunk, Item, LossNotice
from armorwatch.ingest.progress import Bar, progress_bar
from armorwatch.parsers import schema as S
from armorwatch.parsers.framing import MAX_LINE_BYTES, LineBuffer, line_pieces

log = logging.getLogger(__name__)

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
    max_line_bytes: int = MAX_LINE_BYTES
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
    """Identity of a file: device, inode and a hash of ``fp_len`` bytes from ``fp_at``."""

    dev: int
    ino: int
    fp_len: int
    fp_sha256: str
    fp_at: int = 0
    """Where the fingerprinted bytes start: 0, or the end of the NUL run a file truncated
    under a writer without O_APPEND starts with. Every such file (the live one and each
    copytruncate copy) starts with NULs, so a fingerprint of its first bytes would match
    all of them; the run's length (the size at the truncation) and the bytes after it
    tell them apart."""

    def to_json(self) -> dict[str, Any]:
        """The checkpoint form (``fp_at`` only when set: older checkpoints stay valid)."""
        d: dict[str, Any] = {
            "dev": self.dev,
            "ino": self.ino,
            "fp_len": self.fp_len,
            "fp": self.fp_sha256,
        }
        if self.fp_at:
            d["fp_at"] = self.fp_at
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> FileId:
        """Inverse of ``to_json``; raises KeyError/ValueError on a malformed position."""
        return cls(
            int(d["dev"]), int(d["ino"]), int(d["fp_len"]), str(d["fp"]), int(d.get("fp_at", 0))
        )


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
    """Bytes written to the tailed file (and newer files) but not read yet; recomputed
    on every scrape (``refresh_stats``), so it grows while delivery is blocked."""


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _stale_resume(fd: int) -> int | None:
    """Where a writer without O_APPEND went on after a truncation: the end of the NUL run
    the file starts with, i.e. the file's size when it was truncated. None when the file
    does not start with NUL or holds nothing but NULs (the writer has not written yet)."""
    if os.pread(fd, 1, 0) != b"\x00":
        return None
    try:
        pos = os.lseek(fd, 0, os.SEEK_DATA)  # skip the unallocated part of the hole at once
    except OSError as e:
        if e.errno == errno.ENXIO:  # no data at all: nothing written after the hole
            return None
        pos = 0  # SEEK_DATA unsupported: scan from the start
    while True:
        data = os.pread(fd, 65536, pos)
        if not data:
            return None
        rest = data.lstrip(b"\x00")
        if rest:
            return pos + len(data) - len(rest)
        pos += len(data)


def _gz_data_start(g: gzip.GzipFile) -> int | None:
    """``_stale_resume`` of a decompressed stream read from its start."""
    pos = 0
    while data := g.read(65536):
        if not pos and not data.startswith(b"\x00"):
            return None
        rest = data.lstrip(b"\x00")
        if rest:
            return pos + len(data) - len(rest)
        pos += len(data)
    return None


def _is_fid(read_at: Callable[[int, int], bytes], fid: FileId) -> bool:
    """The file ``read_at`` reads has ``fid``'s fingerprint at ``fid.fp_at``, after a NUL
    run ending exactly there when ``fp_at`` > 0 (reads in increasing offset order)."""
    at, n = fid.fp_at, fid.fp_len
    if at:
        if read_at(0, 1) != b"\x00":
            return False
        data = read_at(at - 1, n + 1)
        if data[:1] != b"\x00" or data[1:2] == b"\x00":
            return False  # the run ends elsewhere: another truncation's file
        data = data[1:]
    else:
        data = read_at(0, n)
    return len(data) == n and _sha(data) == fid.fp_sha256


def _path_is_fid(path: Path, gz: bool, fid: FileId) -> bool:
    """``_is_fid`` of a file by name (raises OSError, EOFError, BadGzipFile)."""
    if gz:
        with gzip.open(path, "rb") as g:

            def gz_read(pos: int, n: int) -> bytes:
                g.seek(pos)  # forward only here: no rewind of the stream
                return g.read(n)

            return _is_fid(gz_read, fid)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return _is_fid(lambda pos, n: os.pread(fd, n, pos), fid)
    finally:
        os.close(fd)


def _data_head(path: Path, gz: bool, n: int) -> bytes:
    """Up to ``n`` bytes from where ``path``'s data starts (after a leading NUL run)."""
    if gz:
        with gzip.open(path, "rb") as g:
            at = _gz_data_start(g) or 0
            g.seek(at)
            return g.read(n)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.pread(fd, n, _stale_resume(fd) or 0)
    finally:
        os.close(fd)


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
        self.lines = LineBuffer()
        """The partial line read after the last newline (``held``) and the segment
        position of the first byte not yet emitted (``at``, its start)."""
        self.fp = b""
        self.fp_at = 0
        """Where ``fp`` was taken (see ``FileId.fp_at``)."""
        self.quiet_since: float | None = None
        """When a rotation/deletion of this (live) file was first noticed."""
        self.live = False
        """This is the followed path (holes there mean truncation)."""
        self.in_hole = False
        """The last read ended inside a run of NUL bytes being skipped."""
        self.hole_seen = False
        """A NUL run started where a line should: truncated under a stale writer."""
        self.seen_size = 0
        """Largest size seen while the file still started with ``fp``: bytes up to here
        existed in this segment, so the ones never read are known lost if truncated."""

    def seek(self, offset: int) -> None:
        self.lines.at = offset
        if self.gzf is not None:
            self.gzf.seek(offset)

    def read(self, n: int) -> bytes:
        if self.gzf is not None:
            return self.gzf.read(n)
        assert self.fd is not None
        return os.pread(self.fd, n, self.lines.end)

    def size(self) -> int:
        if self.fd is None:
            return -1
        return os.fstat(self.fd).st_size

    def read_at(self, pos: int, n: int) -> bytes:
        """``n`` bytes at ``pos``, leaving the read position alone."""
        if self.fd is not None:
            return os.pread(self.fd, n, pos)
        with gzip.open(self.path, "rb") as g:
            g.seek(pos)
            return g.read(n)

    def _data_start(self) -> int | None:
        """Where the data starts: 0, or after a leading NUL run (None: only NULs yet)."""
        if self.fd is not None:
            if os.pread(self.fd, 1, 0) != b"\x00":
                return 0
            return _stale_resume(self.fd)
        with gzip.open(self.path, "rb") as g:
            if g.read(1) != b"\x00":
                return 0
            g.seek(0)
            return _gz_data_start(g)

    def refresh_fp(self) -> None:
        if len(self.fp) >= self._fp_bytes:
            return
        if not self.fp:
            # Fixed once data is seen: the first bytes after a stale writer's hole.
            at = self._data_start()
            if at is None:
                return  # nothing but NULs yet: no fingerprint
            self.fp_at = at
        self.fp = self.read_at(self.fp_at, self._fp_bytes)

    def fp_now(self) -> bytes:
        """The bytes at the fingerprint's place now (differ from ``fp`` once truncated)."""
        return self.read_at(self.fp_at, len(self.fp))

    def file_id(self) -> FileId:
        return FileId(self.dev, self.ino, len(self.fp), _sha(self.fp), self.fp_at)

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None
        if self.gzf is not None:
            with contextlib.suppress(OSError):
                self.gzf.close()
            self.gzf = None


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
        self._ct_links: set[tuple[int, int]] = set()
        """(dev, ino) of copytruncate copies whose link to the next file (a truncation)
        is still to be reported, found at restart (``_restart_truncations``)."""
        self._seg_links: dict[int, frozenset[tuple[int, int]]] = {}
        """``_ct_links`` as it was when each segment began (for its positions)."""
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
            self._ct_links = {(int(d), int(i)) for d, i in position.get("ct", ())}
        except (KeyError, ValueError, TypeError):
            log.warning("Position of %s is malformed; re-reading its files.", self.config.path)
            self._restore = None
            self._ct_links = set()

    def position(self, segment: int, safe_offset: int) -> dict[str, Any] | None:
        """Checkpoint form of ``safe_offset`` in ``segment``."""
        fid = self._segments.get(segment)
        if fid is None:
            return None
        pos: dict[str, Any] = {
            **fid.to_json(),
            "offset": safe_offset,
            "path": str(self.config.path),
            "t": round(time.time(), 3),
        }
        links = self._seg_links.get(segment)
        if links:
            # Copytruncate links not yet reported when this segment began: a restart
            # here reports them as it passes them (``_link_notice``).
            pos["ct"] = sorted([d, i] for d, i in links)
        return pos

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
            return _path_is_fid(path, gz, fid)
        except (OSError, EOFError, gzip.BadGzipFile):
            return False

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
        self._seg_links[f.segment] = frozenset(self._ct_links)
        # Keep only recent segments: positions are asked for shortly after reading.
        for old in [s for s in self._segments if s < self._segment - 64]:
            del self._segments[old]
            self._seg_links.pop(old, None)

    def _open(self, path: Path, gz: bool, offset: int) -> _Open:
        f = _Open(path, gz, 0, self.config.fingerprint_bytes)
        self.stats.files_opened += 1
        self._new_segment(f)
        if offset:
            f.seek(offset)
        return f

    def _chunks(self, f: _Open, data: bytes) -> list[Chunk]:
        """Append ``data`` to ``f``'s partial line and cut off the complete lines."""
        cfg = self.config
        out: list[Chunk] = []
        lines = f.lines
        if not lines.held and data.startswith(b"\x00"):
            if f.live and lines.at > 0 and not f.in_hole:
                # NUL where a line should start, after lines we read: the file was
                # truncated and a stale writer left a hole. Stop; the caller recovers.
                f.hole_seen = True
                return out
            # A stale writer's hole (copytruncate without O_APPEND): skip, never emit.
            stripped = data.lstrip(b"\x00")
            f.in_hole = not stripped
            skipped = len(data) - len(stripped)
            self.stats.nul_bytes_skipped += skipped
            lines.at += skipped
            data = stripped
        complete, start = lines.take(data, lines.end)
        if complete:
            for c in self._split_nul(complete, start, f.segment):
                out.extend(self._cut_long(c))
        for piece, at in lines.cut(cfg.max_line_bytes):
            self.stats.long_lines += 1
            out.append(Chunk(piece + b"\n", at, f.segment, covers=cfg.max_line_bytes))
        if len(f.fp) < cfg.fingerprint_bytes and out:
            f.refresh_fp()
            self._segments[f.segment] = f.file_id()
        return out

    def _cut_long(self, c: Chunk) -> list[Chunk]:
        """Cut lines longer than max_line_bytes into counted pieces of their own; runs of
        ordinary lines stay one chunk (fewer parser calls)."""
        limit = self.config.max_line_bytes
        if len(c.data) <= limit:
            return [c]
        out: list[Chunk] = []
        for start, end, cut in line_pieces(c.data, limit):
            piece = c.data[start:end]
            if cut:
                self.stats.long_lines += 1
                piece += b"\n"
            out.append(Chunk(piece, c.offset + start, c.segment, covers=end - start))
        return out

    def _split_nul(self, data: bytes, offset: int, segment: int) -> list[Chunk]:
        if b"\x00" not in data:
            return [Chunk(data, offset, segment)]
        # One chunk with every NUL turned into a newline: offsets stay exact, a line cut by
        # a hole ends where the hole starts, and the hole itself is empty lines. (A chunk
        # per NUL-separated fragment cost ~25 us each: 50 MB of random bytes ran at 8 MB/s.)
        self.stats.nul_bytes_skipped += data.count(b"\x00")
        return [Chunk(data.replace(b"\x00", b"\n"), offset, segment)]

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
        data, at = f.lines.take_all()
        return Chunk(data, at, f.segment, final=True)

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
                    self.stats.copies_recovered += 1
                    f.seek(offset)
                    self._restart_truncations(fid, f, path)
                    log.info(
                        "Resumed %s at offset %d (inode %d) in its copy %s (copytruncate "
                        "while stopped).", cfg.path, offset, fid.ino, path,
                    )  # fmt: skip
                    return f, 0, []
                if gz or (f.dev, f.ino) == (fid.dev, fid.ino) or self._matches_open(f, fid):
                    f.seek(offset)
                    if (f.dev, f.ino) != (fid.dev, fid.ino) and self._truncated_in_place(fid):
                        # Found in a copy while our inode, still the live file, no longer
                        # starts like it: copytruncate (the checkpoint was written after
                        # the copy was made, or the copy was compressed).
                        self.stats.copies_recovered += 1
                        self._restart_truncations(fid, f, path)
                    where = "" if path == cfg.path else f", now {path}"
                    log.info(
                        "Resumed %s at offset %d (inode %d%s).", cfg.path, offset, fid.ino, where
                    )
                    return f, 0, []
                f.close()
            stale = self._stale_truncation(fid, offset)
            if stale is not None:
                # Truncated in place under a writer without O_APPEND, no copy made since
                # the checkpoint: nothing older is unread, the live file is next.
                self.stats.truncations += 1
                return None, 0, [stale]
            self.stats.rotated_away += 1
            log.warning(
                "%s (inode %d) was rotated away before it was read past byte %d; reading "
                "the rotated files still present, then the live file.", cfg.path, fid.ino, offset,
            )  # fmt: skip
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
        then refilled or left with a stale writer's hole). The copy holds the rest.
        Data is compared after each file's leading NUL run (a stale writer's files all
        start with NULs), and the oldest such copy wins: the first copy made after the
        checkpoint is of our file (it matters when ``fid`` has no fingerprint yet, which
        every file matches)."""
        if not self._restore_t:
            return None
        window = 64 * 1024
        try:
            ours = _data_head(path, False, window)
        except OSError:
            return None
        for m, sib, gz in reversed(self.siblings()):
            if m <= index:
                continue
            try:
                st = sib.stat()
                if st.st_mtime < self._restore_t or (st.st_dev, st.st_ino) == (fid.dev, fid.ino):
                    continue
                if not self._matches(sib, gz, fid, strict=False):
                    continue
                theirs = _data_head(sib, gz, window)
            except (OSError, EOFError, gzip.BadGzipFile):
                continue
            if not gz and st.st_size <= offset:
                continue
            k = min(len(ours), len(theirs))
            if len(ours) < len(theirs) or ours[:k] != theirs[:k]:
                return sib, gz
        return None

    def _matches_open(self, f: _Open, fid: FileId) -> bool:
        return _is_fid(f.read_at, fid)

    # --- truncation loss -------------------------------------------------------------
    def _truncation(
        self, readable: int, resume: int | None, copy: Path | None, seen: int = 0
    ) -> LossNotice:
        """One truncation as a ``truncated`` notice whose ``count`` is the bytes known
        destroyed unread: from ``readable`` (read already, or still held by the copy) up
        to the largest size the old file is known to have had. That size is exact when a
        writer without O_APPEND went on at ``resume`` (its offset is the size at
        truncation); otherwise it is the largest size ``seen`` while following, and bytes
        written after that are lost unmeasured (a lower bound). The destroyed lines
        cannot be counted: their bytes are gone."""
        exact = resume is not None and resume >= max(readable, seen)
        known = resume if exact and resume is not None else max(readable, seen)
        lost = known - readable
        path = self.config.path
        how = (
            f"by copytruncate; the rest was read from {copy}"
            if copy is not None
            else "in place and no copy was found"
        )
        if exact:
            head = (
                "0 bytes lost, 0 lines"
                if lost == 0
                else f"{lost} bytes lost; number of lines unknown"
            )
            what = (
                f"bytes {readable}-{known} of the old file were never read"
                if lost
                else "every byte of the old file was read"
            )
            detail = (
                f"{head}: {path} was truncated at byte {known} {how}; {what} (measured: "
                "the writer, lacking O_APPEND, went on at that byte)."
            )
        else:
            head = (
                f"at least {lost} bytes lost; number of lines unknown"
                if lost
                else "0 bytes known lost; number of lines unknown"
            )
            seen_unread = f"bytes {readable}-{known} were seen but never read; " if lost else ""
            detail = (
                f"{head}: {path} was truncated {how}; {seen_unread}lines written after byte "
                f"{known} and before the truncation, if any, are lost too and cannot be measured."
            )
        log.log(
            logging.WARNING if lost else logging.INFO,
            "Truncation detected (%s): %s%d bytes lost.",
            "copytruncate" if copy is not None else "in place",
            "" if exact else "at least ",
            lost,
        )
        return LossNotice(S.LOSS_TRUNCATED, lost, detail)

    def _truncated_in_place(self, fid: FileId) -> bool:
        """The live path is still ``fid``'s inode but no longer starts with its bytes."""
        return self._live_is(fid) and not self._matches(self.config.path, False, fid, strict=True)

    def _live_resume(self, fid: FileId) -> int | None:
        """The stale writer's resume offset in the live file, if it is ``fid``'s inode."""
        try:
            fd = os.open(self.config.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != (fid.dev, fid.ino):
                return None
            return _stale_resume(fd)
        except OSError:
            return None
        finally:
            os.close(fd)

    def _restart_truncations(self, fid: FileId, f: _Open, copy: Path) -> None:
        """The copytruncates done while stopped: ours, whose ``copy`` (open as ``f``)
        holds the rest of our file, and, while the live file is still our inode, one per
        copy made after it (each a later truncation of that file). Each is reported as
        the reading moves from that copy to the next file (``_link_notice``): measured
        then, and ordered with the positions, so a kill -9 halfway through the chain
        neither drops nor repeats one."""
        newer: list[Path] = []
        if self._live_is(fid):
            for _n, path, _gz in self.siblings():  # newest first
                if path == copy:
                    break
                newer.append(path)
            else:
                newer = []
        self._ct_links.add((f.dev, f.ino))
        for path in newer:
            try:
                st = path.stat()
            except OSError:
                continue  # rotated on meanwhile: its link is still seen by its hole
            self._ct_links.add((st.st_dev, st.st_ino))
        self._seg_links[f.segment] = frozenset(self._ct_links)

    async def _link_notice(self, done: _Open, nxt: _Open, follow: bool) -> LossNotice | None:
        """The ``truncated`` notice of moving from the rotated file ``done`` (read to its
        end) to the next newer file ``nxt``, when that step is a truncation: a known
        copytruncate link (``_restart_truncations``), or ``nxt`` starting with a stale
        writer's NUL run, which ends at the old file's size when it was truncated, at or
        after the end of ``done`` (its copy). Bytes in between were destroyed unread.
        An empty live ``nxt`` is watched for its first write when following
        (``_await_resume``), until it comes unless the link is known: only a hole can
        tell a copy's link from a rename rotation's. Meanwhile ``nxt``'s start mark is
        held, so the checkpoint stays at the end of ``done`` and a restart decides anew."""
        known = (done.dev, done.ino) in self._ct_links
        self._ct_links.discard((done.dev, done.ino))
        hole: int | None
        if nxt.fd is not None:
            hole = await self._await_resume(nxt, follow and self._is_live(nxt), not known)
        else:
            try:
                hole = nxt._data_start() or None  # 0: no NUL run; None: only NULs
            except (OSError, EOFError, gzip.BadGzipFile):
                hole = None
        if hole is not None and hole < done.lines.at:
            hole = None  # not the continuation of ``done``'s writer
        if hole is None and not known:
            return None
        self.stats.truncations += 1
        return self._truncation(done.lines.at, hole, done.path)

    def _live_is(self, fid: FileId) -> bool:
        """The live path is ``fid``'s inode."""
        try:
            st = self.config.path.stat()
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == (fid.dev, fid.ino)

    def _stale_truncation(self, fid: FileId, offset: int) -> LossNotice | None:
        """At restart, our file is the live file truncated in place under a writer without
        O_APPEND (a NUL hole up to at least ``offset``) and no rotated file changed since
        the checkpoint: the loss is measurable. None when that cannot be shown (inode reuse,
        an O_APPEND writer): the caller reports the file as rotated away."""
        if not self._restore_t:
            return None
        resume = self._live_resume(fid)
        if resume is None or resume < offset:
            return None
        for _n, sib, _gz in self.siblings():
            try:
                if sib.stat().st_mtime >= self._restore_t:
                    return None  # a copy made since may hold part of it
            except OSError:
                continue
        return self._truncation(offset, resume, None)

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
        size = f.size()
        if size < f.lines.end:
            return "truncated"
        if f.fp and f.fp_now() != f.fp:
            return "truncated"
        if f.fp:
            # Taken before the head still matched: this size was our file's, so its
            # bytes are known to exist (and known lost if truncated before being read).
            f.seen_size = max(f.seen_size, size)
        try:
            st = os.stat(self.config.path)
        except FileNotFoundError:
            return "deleted"
        except OSError:
            return "same"
        if (st.st_dev, st.st_ino) != (f.dev, f.ino):
            return "rotated"
        return "same"

    async def _await_resume(self, f: _Open, follow: bool, patient: bool = False) -> int | None:
        """Where a writer without O_APPEND went on in the truncated live file ``f`` (the
        size at the truncation), waiting for its next write when following, up to
        ``max(rotate_wait, 20 polls)`` (``patient``: until it comes, the file is rotated
        or the tailer closed): right after a truncation the file is often still empty,
        and the loss could only be given as a lower bound. None: not measurable (an
        O_APPEND writer wrote from byte 0, or no write came)."""
        cfg = self.config
        deadline = time.monotonic() + max(cfg.rotate_wait, 20 * cfg.poll_interval)
        if patient:
            deadline = float("inf")
        while f.fd is not None:
            try:
                first = os.pread(f.fd, 1, 0)
                if first == b"\x00":
                    resume = _stale_resume(f.fd)
                    if resume is not None:
                        return resume
                elif first:
                    return None
            except OSError:
                return None
            if not follow or self._closed or time.monotonic() >= deadline or not self._is_live(f):
                return None
            await asyncio.sleep(cfg.poll_interval)
        return None

    async def _recover_copy(self, f: _Open, follow: bool = False) -> AsyncIterator[Item]:
        """After a truncation of ``f``: read the rest of its old content from a copy,
        then one ``truncated`` notice counting the bytes known lost (``_truncation``)."""
        self.stats.truncations += 1
        fid = f.file_id()
        read_end = f.lines.end
        copy = None
        if f.fp:
            for _n, path, gz in self.siblings():
                if self._matches(path, gz, fid, strict=False):
                    copy = (path, gz)
                    break
        if copy is not None:
            self.stats.copies_recovered += 1
            try:
                c = _Open(copy[0], copy[1], f.segment, self.config.fingerprint_bytes)
            except (OSError, EOFError, gzip.BadGzipFile):
                c = None
            if c is not None:
                c.fp, c.fp_at = f.fp, f.fp_at
                c.seek(f.lines.at)
                try:
                    async for chunk in self._drain(c):
                        yield chunk
                    yield self._final(c)
                finally:
                    c.close()
                resume = await self._await_resume(f, follow)
                yield self._truncation(max(read_end, c.lines.at), resume, copy[0], f.seen_size)
                return
        yield self._final(f)
        resume = await self._await_resume(f, follow)
        yield self._truncation(read_end, resume, None, f.seen_size)

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
            bar = progress_bar(max(0, total - first.lines.at), f"catch-up {cfg.path.name}", "B")
            yield Chunk(b"", first.lines.at, first.segment)
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
                        log.warning(
                            "Cannot read %s: %s; retrying every %s s.", cfg.path, e,
                            cfg.poll_interval,
                        )  # fmt: skip
                        yield LossNotice(
                            S.LOSS_SOURCE_BLIND,
                            1,
                            f"Cannot read {cfg.path}: {e}; retrying every {cfg.poll_interval} s.",
                            ts=_mtime_ms(cfg.path),
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
                yield Chunk(b"", self._cur.lines.at, self._cur.segment)
            f = self._cur
            try:
                async for c in self._drain(f):
                    if f.quiet_since is not None:  # still written after rotation: wait on
                        f.quiet_since = time.monotonic()
                    if bar is not None:
                        bar.update(c.end - c.offset)
                    yield c
            except (OSError, EOFError, gzip.BadGzipFile) as e:
                log.warning("Reading %s failed at byte %d: %s.", f.path, f.lines.at, e)
                yield LossNotice(
                    S.LOSS_ROTATED_AWAY,
                    1,
                    f"Reading {f.path} failed at byte {f.lines.at}: {e}; the rest of that "
                    "file is lost.",
                )
                f.lines.held = b""
                f.quiet_since = -1e9  # move on at once
            if self._is_live(f):
                f.live = True  # reached through the rotation chain or a restore
                if self._ct_links:  # the chain is done: links left were rotated off
                    self._ct_links.clear()
                    self._seg_links[f.segment] = frozenset()
                if bar is not None:
                    bar.close()
                    bar = None
                state = "truncated" if f.hole_seen else self._live_state(f)
                self.stats.lag_bytes = max(0, f.size() - f.lines.end)
                if state == "truncated":
                    async for item in self._recover_copy(f, follow):
                        yield item
                    f.lines.held = b""
                    f.fp, f.fp_at = b"", 0
                    f.seen_size = 0
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
                log.info(
                    "Rotation detected: %s (inode %d) read to byte %d; next %s.",
                    cfg.path, f.ino, f.lines.at, nxt.path if nxt is not None else "none yet",
                )  # fmt: skip
            else:
                self.stats.deletions += 1
                log.info(
                    "%s was deleted; read its inode %d to byte %d; waiting for the path.",
                    cfg.path, f.ino, f.lines.at,
                )  # fmt: skip
            notice = None
            if nxt is not None:
                notice = await self._link_notice(f, nxt, follow)
            self._ct_links.discard((f.dev, f.ino))
            f.close()
            if self._closed and nxt is not None:
                # Closed while waiting for ``nxt``'s first write: the checkpoint is still
                # at the end of ``f``, so the next start decides this step again.
                nxt.close()
                return
            self._cur = nxt
            if nxt is not None:
                self._seg_links[nxt.segment] = frozenset(self._ct_links)
                if notice is not None:
                    # Before the next file's start mark: a checkpoint past the mark
                    # comes after the notice is stored.
                    yield notice
                yield Chunk(b"", 0, nxt.segment)

    def current_lag(self) -> int | None:
        """Bytes not read yet: the rest of the open file, plus the live file when the open
        one is a rotated file; None when unknown (not started, gzip). Reads only (stat),
        so the metrics thread may call it while the reader is blocked."""
        f = self._cur
        if f is None or f.gz:
            return None
        read = f.lines.end
        try:
            live = os.stat(self.config.path)
        except OSError:
            live = None
        if live is not None and (live.st_dev, live.st_ino) == (f.dev, f.ino):
            return max(0, live.st_size - read)
        fd = f.fd
        if fd is None:
            return None
        try:
            size = os.fstat(fd).st_size
        except OSError:
            return None
        return max(0, size - read) + (live.st_size if live is not None else 0)

    def describe(self, position: Mapping[str, Any] | None) -> str:
        """Where a run with ``position`` starts, for the collector's start line."""
        cfg = self.config
        if position is None:
            how = (
                "backfill of the rotated files, oldest first"
                if cfg.backfill
                else f"start at the {cfg.start_at}"
            )
            return f"{cfg.path}: no checkpoint, {how}"
        try:
            return (
                f"{cfg.path}: checkpoint offset {int(position['offset'])} "
                f"(inode {int(position['ino'])})"
            )
        except (KeyError, ValueError, TypeError):
            return f"{cfg.path}: malformed checkpoint, re-reads its files"

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

    def describe(self, position: Mapping[str, Any] | None) -> str:
        """Path and where reading resumes (the collector's start line)."""
        return self._tail.describe(position)

    def refresh_stats(self) -> None:
        """Recompute ``stats.lag_bytes`` from the file size now (the metrics endpoint)."""
        lag = self._tail.current_lag()
        if lag is not None:
            self.stats.lag_bytes = lag

    async def aclose(self) -> None:
        """Close the open file."""
        await self._tail.aclose()


def _mtime_ms(path: Path) -> int | None:
    """When ``path`` was last written (epoch ms), None when even stat fails: a file that
    cannot be read can often still be stat'ed, and its mtime dates the data it holds."""
    try:
        return os.stat(path).st_mtime_ns // 1_000_000
    except OSError:
        return None
