"""What every source hands the collector: chunks of whole lines and loss notices.

A source reads one logical stream that is cut into *segments*: one file, one run of a
file between truncations, one journalctl process. Offsets count bytes from the start of
their segment; the collector gives each segment its own parser and asks the source to
turn a parser's ``safe_offset`` into a checkpoint position (``Source.position``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Chunk:
    """Whole lines read from one segment of a source."""

    data: bytes
    """Complete lines (a final chunk may end without a newline)."""
    offset: int
    """Position of ``data[0]`` in its segment."""
    segment: int
    """Which segment; a new value means: flush the old parser, start a new one."""
    final: bool = False
    """No more data will come from this segment."""
    covers: int | None = None
    """Bytes of the segment this chunk stands for when that differs from ``len(data)``
    (a newline was added to a cut long line); checkpoints never pass ``end``."""

    @property
    def end(self) -> int:
        """Segment position just after this chunk."""
        return self.offset + (len(self.data) if self.covers is None else self.covers)


@dataclass(frozen=True)
class LossNotice:
    """Loss a source detected and could not prevent; becomes a LOSS_SCHEMA row."""

    kind: str
    """One of the schema's LOSS_* kinds."""
    count: int
    """How many (records, files: ``detail`` says which); an upper bound when the exact
    number is unknowable. For ``truncated``: bytes known destroyed unread, a lower bound
    unless measured (``ingest.tail.FileTailer._truncation``)."""
    detail: str
    """One sentence for the operator: what, where, why."""
    ts: int | None = None
    """A time from the source's data to date the loss by (epoch ms) when the stream read
    so far holds none: the unreadable file's mtime, the journal cursor's entry time. Never
    the wall clock: noticing the same loss again (a re-run, a restart) must make the same
    row, which the store keeps once."""


Item = Chunk | LossNotice


class Source(Protocol):
    """A collector input: a stream of chunks with restorable positions."""

    name: str
    """Key of this source in the checkpoint file."""
    source: str
    """The schema's SOURCE_* value stamped on its records."""
    framing: str
    """Parser framing: audit, syslog or journald."""
    kernel_tag: bool
    """Whether a syslog ``kernel:`` tag in this stream proves kernel origin (kern.log: yes;
    a general syslog file, where any user can ``logger -t kernel``: no)."""

    def restore(self, position: Mapping[str, Any] | None) -> None:
        """Start from a checkpointed position (None: first start)."""
        ...

    def items(self, follow: bool = True) -> AsyncIterator[Item]:
        """Chunks and loss notices; with ``follow=False`` stop at the current end."""
        ...

    def position(self, segment: int, safe_offset: int) -> dict[str, Any] | None:
        """The checkpoint position meaning: everything before ``safe_offset`` of
        ``segment`` is delivered. None when the segment is unknown."""
        ...

    async def aclose(self) -> None:
        """Stop reading and release files or processes."""
        ...
