"""``AuditdFileSource``: tails auditd's log (``/var/log/audit/audit.log``).

auditd rotates by renaming (``audit.log`` → ``audit.log.1`` …, ``num_logs``) and
creating a new file; the tailing core (``ingest.tail``) reads the rest of the renamed
file first, and on restart finds its file again among ``audit.log.N`` by inode and
fingerprint. Records are parsed with the ``audit`` framing (optional ``node=`` prefix).
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
class AuditdFileConfig(TailConfig):
    """Where auditd's log is and how it is tailed (TOML table ``[collect.auditd]``)."""

    path: Path = Path("/var/log/audit/audit.log")
    """auditd's log file (``log_file`` in auditd.conf)."""


class AuditdFileSource:
    """Follows audit.log through auditd and logrotate rotation (see ``ingest.tail``)."""

    source = S.SOURCE_AUDITLOG
    framing = "audit"

    def __init__(self, config: AuditdFileConfig | None = None, name: str = "auditd") -> None:
        self.config = config or AuditdFileConfig()
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
