"""``JournalJsonFileSource``: reads a file of ``journalctl -o json`` entries.

For forensics and replays: a journal exported on another host, or entries shipped by
another tool, one JSON object per line. The file is tailed like kern.log (rotation and
truncation handled by ``ingest.tail``) and parsed with the ``journald`` framing, so
records keep the entry's own ``_HOSTNAME``, ``_BOOT_ID`` and ``_TRANSPORT``. Live
journals are read by ``ingest.journald.JournaldSource`` through journalctl instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.base import Item
from ingest.tail import FileTailer, TailConfig
from parsers import schema as S


@dataclass(frozen=True)
class JournalJsonFileConfig(TailConfig):
    """Which file of journal JSON entries to read (TOML table ``[collect.journal_json]``)."""

    path: Path = Path("journal.json")
    """A file written by ``journalctl -o json`` (one entry per line)."""


class JournalJsonFileSource:
    """Tails a file of ``journalctl -o json`` entries; same mechanics as kern.log."""

    source = S.SOURCE_JOURNALD
    framing = "journald"

    def __init__(
        self, config: JournalJsonFileConfig | None = None, name: str = "journal-json"
    ) -> None:
        self.config = config or JournalJsonFileConfig()
        self.name = name
        self._tail = FileTailer(self.config)
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
