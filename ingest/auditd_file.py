"""``AuditdFileSource``: tails auditd's log (``/var/log/audit/audit.log``).

auditd rotates by renaming (``audit.log`` → ``audit.log.1`` …, ``num_logs``) and
creating a new file; the tailing core (``ingest.tail``) reads the rest of the renamed
file first, and on restart finds its file again among ``audit.log.N`` by inode and
fingerprint. Records are parsed with the ``audit`` framing (optional ``node=`` prefix).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from armorwatch.ingest.tail import TailConfig, TailedFileSource
from armorwatch.parsers import schema as S


@dataclass(frozen=True)
class AuditdFileConfig(TailConfig):
    """Where auditd's log is and how it is tailed (TOML table ``[collect.auditd]``)."""

    path: Path = Path("/var/log/audit/audit.log")
    """auditd's log file (``log_file`` in auditd.conf)."""


class AuditdFileSource(TailedFileSource):
    """Follows audit.log through auditd and logrotate rotation (see ``ingest.tail``)."""

    source = S.SOURCE_AUDITLOG
    framing = "audit"
    kernel_tag = True  # no syslog tags in this framing

    config: AuditdFileConfig

    def __init__(self, config: AuditdFileConfig | None = None, name: str = "auditd") -> None:
        super().__init__(config or AuditdFileConfig(), name)
