"""Parser inputs and outputs that other packages name: host identity, ParseResult and the
parser's counters."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from armorwatch.parsers.schema import LOSS_SCHEMA, MAC_SCHEMA, REJECT_SCHEMA, empty_batch


@dataclass(frozen=True)
class HostInfo:
    """Identity stamped on every record a collector reads (journald entries carry their own)."""

    host: str | None = None
    """Host name."""
    machine_id: str | None = None
    """/etc/machine-id."""
    boot_id: str | None = None
    """/proc/sys/kernel/random/boot_id; audit serials restart at each boot."""


@dataclass(frozen=True)
class ParseResult:
    """What one ``Parser.feed``/``flush`` call produced."""

    records: pa.RecordBatch = field(default_factory=lambda: empty_batch(MAC_SCHEMA))
    """MAC records, MAC_SCHEMA."""
    rejects: pa.RecordBatch = field(default_factory=lambda: empty_batch(REJECT_SCHEMA))
    """Malformed MAC-looking lines with raw bytes and a reason, REJECT_SCHEMA."""
    loss: pa.RecordBatch = field(default_factory=lambda: empty_batch(LOSS_SCHEMA))
    """Loss the input itself reports (kernel lost=, callbacks suppressed, journald
    'Suppressed N messages'), LOSS_SCHEMA."""
    lines: int = 0
    """Input lines consumed by this call."""
    safe_offset: int | None = None
    """Stream offset (as given to ``feed``) before which every line is fully accounted
    for in this or an earlier result. Lines after it are held to complete their event
    (SYSCALL/PROCTITLE come after the AVC); a checkpoint must not pass this offset."""


@dataclass
class ParserStats:
    """Counters of one Parser, read by the metrics endpoint at scrape time."""

    lines: int = 0
    records: int = 0
    rejects: int = 0
    loss_reports: int = 0
    events_timed_out: int = 0
    junk_lines: int = 0
    """Lines of binary data that are nothing else (reported as parse_reject loss)."""
