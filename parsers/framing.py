"""Line framing of one byte stream: the one place that holds a partial line and bounds a
line that does not end.

``LineBuffer`` is used by every reader that cuts a stream into lines: ``Parser.feed``
(any chunking) and the file tailer (``ingest.tail``, which hands the parser whole lines
and needs line starts for its own checks). It keeps the partial last line and its stream
offset until the newline comes, and never more than ``MAX_LINE_BYTES`` of it. Past that
bound the two readers differ on purpose: the tailer cuts the line into pieces of its
own (``LineBuffer.cut``, ``line_pieces``: every byte still reaches the parser, and each
cut is counted), the parser keeps the ``overflow``'s head for its judgement and skips
the rest up to the next newline.

Also here: ``iter_lines``, the lines of a buffer with a USER_AVC's continuation lines
joined (libselinux/dbus write ``msg='…`` over several indented lines), and ``lines``, the
same as a list.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

MAX_LINE_BYTES: Final = 1 << 20
"""The most of one line held while it has not ended (and kept of a too-long line)."""
# continuation lines of one msg='…' are joined up to the kernel's message size
# (AUDIT_MESSAGE_TEXT_MAX)
MAX_CONTINUATION: Final = 8560


@dataclass
class LineBuffer:
    """The partial line of one stream between two reads, and where it starts."""

    held: bytes = b""
    """Bytes after the last newline seen: a line that has not ended."""
    at: int = 0
    """Stream offset of ``held[0]`` (with nothing held: of the next byte expected)."""
    skipping: bool = False
    """The rest of an ``overflow`` line is being skipped up to its newline."""

    @property
    def end(self) -> int:
        """Stream offset just after the held bytes."""
        return self.at + len(self.held)

    def take(self, data: bytes, offset: int) -> tuple[bytes, int]:
        """The complete lines of the held bytes + ``data`` (``offset``: its stream offset)
        and the stream offset of their first byte; the partial rest is held."""
        buf, base = (self.held + data, self.at) if self.held else (data, offset)
        cut = buf.rfind(b"\n") + 1
        self.held, self.at = buf[cut:], base + cut
        return buf[:cut], base

    def take_head(self, data: bytes, offset: int) -> tuple[bytes, int, int, int]:
        """``take`` without copying ``data``: (the held bytes + data's first line, the
        stream offset of that head, the ends of data's first and last complete lines).
        ``data`` must hold a newline."""
        first = data.find(b"\n") + 1
        end = data.rfind(b"\n") + 1
        head, base = self.held + data[:first], self.at if self.held else offset
        self.held, self.at = data[end:], offset + end
        return head, base, first, end

    def hold(self, data: bytes, offset: int) -> None:
        """Add ``data`` (without a newline) to the held line."""
        if not self.held:
            self.at = offset
        self.held += data

    def unread(self, prefix: bytes, at: int) -> None:
        """Hold ``prefix`` (stream offset ``at``, just before the held bytes) again: lines
        given out that must wait for what follows them."""
        self.held, self.at = prefix + self.held, at

    def take_all(self) -> tuple[bytes, int]:
        """End of stream: the held bytes (a line without its newline) and their offset."""
        held, at = self.held, self.at
        self.held, self.at = b"", at + len(held)
        return held, at

    def stale(self, offset: int) -> bytes:
        """The held bytes when ``offset`` does not continue them (a rotation, a seek): they
        can never complete, and are dropped."""
        if not self.held or offset == self.end:
            return b""
        held, self.held = self.held, b""
        return held

    def overflow(
        self, data: bytes, offset: int, limit: int = MAX_LINE_BYTES
    ) -> tuple[bytes, int] | None:
        """When the held line goes on past ``limit`` bytes in ``data`` without ending: its
        first ``limit`` bytes and its size so far. Nothing is held then, and ``skip``
        drops the rest of the line up to its newline, so memory stays bounded."""
        size = len(self.held) + len(data)
        if size <= limit or b"\n" in data:
            return None
        head = (self.held + data[:limit])[:limit]
        self.held, self.at, self.skipping = b"", offset + len(data), True
        return head, size

    def skip(self, data: bytes, offset: int) -> tuple[int, bytes, int]:
        """While ``skipping``: (bytes of ``data`` skipped, the data after the skipped
        line's newline, its stream offset); ``skipping`` ends at that newline."""
        nl = data.find(b"\n")
        if nl < 0:
            self.at = offset + len(data)
            return len(data), b"", self.at
        self.skipping = False
        self.held, self.at = b"", offset + nl + 1
        return nl, data[nl + 1 :], self.at

    def cut(self, limit: int) -> Iterator[tuple[bytes, int]]:
        """Pieces of ``limit`` bytes (and their offsets) cut off a held line that has
        reached ``limit`` without ending; the rest stays held."""
        while len(self.held) >= limit:
            piece, self.held = self.held[:limit], self.held[limit:]
            yield piece, self.at
            self.at += limit

    def iter_lines(self, buf: bytes, base: int, final: bool) -> Iterator[tuple[int, bytes]]:
        """(stream offset, line without its line end) of each line of ``buf`` (stream
        offset ``base``, just before the held bytes), a USER_AVC's continuation lines
        joined to it. A USER_AVC that may go on after ``buf`` is held again (``unread``)
        unless ``final``."""
        pos = 0
        n = len(buf)
        while pos < n:
            nl = buf.find(b"\n", pos)
            stop = n if nl < 0 else nl
            line = buf[pos:stop]
            nxt = n if nl < 0 else nl + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            # quotes counted once per line, and never more than the kernel's message size
            if b"msg='" in line:
                quotes = line.count(b"'")
                parts = [line]
                size = 0
                while quotes % 2 == 1:
                    if nxt >= n:
                        if not final:
                            self.unread(buf[pos:], base + pos)
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

    def lines(self, buf: bytes, base: int, final: bool) -> list[tuple[int, bytes]]:
        """``iter_lines`` as a list, cut at C speed when no line can continue (no line of
        ``buf`` after the first starts with a space or tab, and the last is not a
        USER_AVC that may go on after ``buf``)."""
        parts = buf.split(b"\n")
        if parts and not parts[-1]:
            parts.pop()  # buf ends with its newline
        last = parts[-1] if parts else b""
        if (
            b"\n " in buf
            or b"\n\t" in buf
            or (not final and b"msg='" in last and last.count(b"'") % 2 == 1)
        ):
            return list(self.iter_lines(buf, base, final))
        out = []
        pos = base
        for part in parts:
            out.append((pos, part[:-1] if part[-1:] == b"\r" else part))
            pos += len(part) + 1
        return out


def line_pieces(data: bytes, limit: int) -> list[tuple[int, int, bool]]:
    """(start, end, cut) of the pieces of ``data`` (complete lines): each run of lines of
    at most ``limit`` bytes (line end included) is one piece, and a longer line is cut
    into pieces of ``limit`` bytes (``cut``: the piece does not end its line)."""
    out: list[tuple[int, int, bool]] = []
    pos = run = 0
    n = len(data)
    while pos < n:
        nl = data.find(b"\n", pos, pos + limit + 1)
        if nl >= 0:
            pos = nl + 1
            continue
        if run < pos:
            out.append((run, pos, False))
        end = min(pos + limit, n)
        out.append((pos, end, True))
        pos = run = end
    if run < n:
        out.append((run, n, False))
    return out
