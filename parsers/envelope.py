"""What flows between stages: one batch of MAC records plus the loss counted with it, or
a profile-state reading.

A source's collector builds an ``Envelope`` from a ``ParseResult``; the profile-state
poller (``armorwatch.profile_state``) builds one holding only ``profile_state``. Every
sink's ``send`` takes one. ``parts()`` names each non-empty batch by its kind
(``KIND_*``), the marker transports carry (Kafka's ``armorwatch.kind`` header) so a
processor tells the schemas apart and refuses a kind it does not know. ``meta`` carries
short strings (host, source, checkpoint text) that transports copy into headers; it
never carries secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import pyarrow as pa

from armorwatch.parsers.schema import LOSS_SCHEMA, MAC_SCHEMA, PROFILE_STATE_SCHEMA, empty_batch

# The kinds of batch an envelope carries, written once (the wire's kind header values).
KIND_RECORDS: Final = "records"
KIND_LOSS: Final = "loss"
KIND_PROFILE_STATE: Final = "profile_state"
KIND_SCHEMAS: Final[Mapping[str, pa.Schema]] = {
    KIND_RECORDS: MAC_SCHEMA,
    KIND_LOSS: LOSS_SCHEMA,
    KIND_PROFILE_STATE: PROFILE_STATE_SCHEMA,
}


@dataclass(frozen=True)
class Envelope:
    """One unit of delivery: MAC records, loss records, a profile-state reading, metadata."""

    records: pa.RecordBatch = field(default_factory=lambda: empty_batch(MAC_SCHEMA))
    """Rows of MAC_SCHEMA."""
    loss: pa.RecordBatch = field(default_factory=lambda: empty_batch(LOSS_SCHEMA))
    """Rows of LOSS_SCHEMA (kernel lost=, rotated away unread, parser rejects, ...)."""
    meta: Mapping[str, str] = field(default_factory=dict)
    """Short strings for transport headers: host, source, checkpoint description."""
    profile_state: pa.RecordBatch = field(default_factory=lambda: empty_batch(PROFILE_STATE_SCHEMA))
    """Rows of PROFILE_STATE_SCHEMA: the profiles the collector read loaded (securityfs)."""

    @property
    def num_rows(self) -> int:
        """Records, loss and profile-state rows: zero means there is nothing to deliver."""
        return self.records.num_rows + self.loss.num_rows + self.profile_state.num_rows

    def parts(self) -> tuple[tuple[str, pa.RecordBatch], ...]:
        """``(kind, batch)`` of each non-empty batch, records first."""
        every = (
            (KIND_RECORDS, self.records),
            (KIND_LOSS, self.loss),
            (KIND_PROFILE_STATE, self.profile_state),
        )
        return tuple((k, b) for k, b in every if b.num_rows)
