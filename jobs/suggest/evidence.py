"""Evidence summed over the stored event groups behind one suggestion."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Final

from armorwatch.jobs.suggest.model import Evidence
from armorwatch.parsers import sanitize

EXAMPLE_LIMIT: Final = 400
"""Characters of the example log line kept in comments and JSON."""


def iso_utc(t: dt.datetime | None) -> str | None:
    """ISO text of a store time; the SQL returns naive UTC timestamps, marked as UTC here."""
    if t is None:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).isoformat()


def record_key(k: dict[str, Any]) -> dict[str, Any]:
    """A sample record key (host, ts, serial) as JSON-able values."""
    return {"host": k["host"], "ts": iso_utc(k["ts"]), "serial": k["serial"]}


@dataclass
class EvidenceAcc:
    """Evidence while merging groups (rows of ``sql/suggest_events.sql`` and alike)."""

    events: int = 0
    hosts: set[str] = field(default_factory=set)
    processes: set[str] = field(default_factory=set)
    comms: set[str] = field(default_factory=set)
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    decisions: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    example: Any = None
    sample_keys: list[dict[str, Any]] = field(default_factory=list)

    def add(self, g: dict[str, Any]) -> None:
        """Sum one group in."""
        self.events += int(g["events"])
        self.hosts.update(h for h in g["hosts"] or [] if h)
        self.processes.update(g["processes"] or [])
        self.comms.update(c for c in g["comms"] or [] if c)
        f, la = g["first_seen"], g["last_seen"]
        if f is not None and (self.first is None or f < self.first):
            self.first = f
        if la is not None and (self.last is None or la >= self.last):
            self.last = la
            self.example = g["example"]
        self.decisions[g["decision"]] += int(g["events"])
        if len(self.sample_keys) < 5:
            self.sample_keys.extend(g["sample_keys"][: 5 - len(self.sample_keys)])

    def evidence(self) -> Evidence:
        """The sum, sanitised for display."""
        ex = self.example
        if isinstance(ex, bytes | bytearray):
            ex = bytes(ex).decode("utf-8", "replace")
        return Evidence(
            events=self.events,
            hosts=sorted(self.hosts),
            processes=len(self.processes),
            comms=sorted(sanitize.for_terminal(c) for c in self.comms),
            first_seen=iso_utc(self.first),
            last_seen=iso_utc(self.last),
            decisions={str(k): int(v) for k, v in self.decisions.items()},
            example=sanitize.for_terminal(sanitize.truncate(str(ex or ""), EXAMPLE_LIMIT)),
            sample_keys=[record_key(k) for k in self.sample_keys],
        )
