"""``KernLogSource``: tails kern.log / syslog / messages for kernel audit lines.

On hosts without auditd the kernel prints AppArmor records through printk
(``kernel: [uptime] audit: type=1400 audit(…): apparmor="DENIED" …``), and rsyslog
writes them to kern.log (Debian), syslog or messages. Rotation is logrotate's
(``create`` with a HUP, or ``copytruncate``), handled by ``ingest.tail``. Lines are
parsed with the ``syslog`` framing; the parser ignores unrelated syslog noise and turns
``callbacks suppressed`` / ``audit_lost=`` into loss rows.
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
class KernLogConfig(TailConfig):
    """Which syslog file carries kernel messages (TOML table ``[collect.kernlog]``)."""

    path: Path = Path("/var/log/kern.log")
    """kern.log (Debian/Ubuntu), /var/log/syslog, or /var/log/messages (RHEL)."""
    rotate_wait: float = 5.0
    """Seconds a rotated file is still read: rsyslog writes on until logrotate's HUP."""


class KernLogSource:
    """Follows a syslog file of kernel messages through logrotate rotation."""

    source = S.SOURCE_KERNLOG
    framing = "syslog"

    def __init__(self, config: KernLogConfig | None = None, name: str = "kernlog") -> None:
        self.config = config or KernLogConfig()
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
