"""``KernLogSource``: tails kern.log / syslog / messages for kernel audit lines.

On hosts without auditd the kernel prints AppArmor records through printk
(``kernel: [uptime] audit: type=1400 audit(…): apparmor="DENIED" …``), and rsyslog
writes them to kern.log (Debian), syslog or messages. Rotation is logrotate's
(``create`` with a HUP, or ``copytruncate``), handled by ``ingest.tail``. Lines are
parsed with the ``syslog`` framing; the parser ignores unrelated syslog noise and turns
``callbacks suppressed`` / ``audit_lost=`` into loss rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from armorwatch.ingest.tail import TailConfig, TailedFileSource
from armorwatch.parsers import schema as S


@dataclass(frozen=True)
class KernLogConfig(TailConfig):
    """Which syslog file carries kernel messages (TOML table ``[collect.kernlog]``)."""

    path: Path = Path("/var/log/kern.log")
    """kern.log (Debian/Ubuntu), /var/log/syslog, or /var/log/messages (RHEL)."""
    rotate_wait: float = 5.0
    """Seconds a rotated file is still read: rsyslog writes on until logrotate's HUP."""
    kernel_only: bool | None = None
    """Whether only the kernel writes ``kernel:`` lines into this file. kern.log: yes
    (glibc turns a user program's LOG_KERN into LOG_USER, so rsyslog's kern.* filter keeps
    user programs out). /var/log/syslog and messages: no, any local user can
    ``logger -t kernel``; their records get origin ``unverified`` and drive no alert,
    report section or rule. None (default): true when the file name starts with "kern"."""


class KernLogSource(TailedFileSource):
    """Follows a syslog file of kernel messages through logrotate rotation."""

    source = S.SOURCE_KERNLOG
    framing = "syslog"

    config: KernLogConfig

    def __init__(self, config: KernLogConfig | None = None, name: str = "kernlog") -> None:
        super().__init__(config or KernLogConfig(), name)
        only = self.config.kernel_only
        self.kernel_tag = only if only is not None else self.config.path.name.startswith("kern")
