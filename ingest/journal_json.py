"""``JournalJsonFileSource``: reads a file of ``journalctl -o json`` entries.

For forensics and replays: a journal exported on another host, or entries shipped by
another tool, one JSON object per line. The file is tailed like kern.log (rotation and
truncation handled by ``ingest.tail``) and parsed with the ``journald`` framing, so
records keep the entry's own ``_HOSTNAME``, ``_BOOT_ID`` and ``_TRANSPORT``. Live
journals are read by ``ingest.journald.JournaldSource`` through journalctl instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from armorwatch.ingest.tail import TailConfig, TailedFileSource
from armorwatch.parsers import schema as S


@dataclass(frozen=True)
class JournalJsonFileConfig(TailConfig):
    """Which file of journal JSON entries to read (TOML table ``[collect.journal_json]``)."""

    path: Path = Path("journal.json")
    """A file written by ``journalctl -o json`` (one entry per line)."""


class JournalJsonFileSource(TailedFileSource):
    """Tails a file of ``journalctl -o json`` entries; same mechanics as kern.log."""

    source = S.SOURCE_JOURNALD
    framing = "journald"
    kernel_tag = True  # no syslog tags in this framing

    config: JournalJsonFileConfig

    def __init__(
        self, config: JournalJsonFileConfig | None = None, name: str = "journal-json"
    ) -> None:
        super().__init__(config or JournalJsonFileConfig(), name)
