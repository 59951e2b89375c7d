"""What flows between stages: one batch of MAC records plus the loss counted with it.

A source's collector builds an ``Envelope`` from a ``ParseResult``; every sink's
``send`` takes one. ``meta`` carries short strings (host, source, checkpoint text) that
transports copy into headers; it never carries secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow as pa

from parsers.schema import LOSS_SCHEMA, MAC_SCHEMA, empty_batch


@dataclass(frozen=True)
class Envelope:
    """One unit of delivery: MAC records, loss records and string metadata."""

    records: pa.RecordBatch = field(default_factory=lambda: empty_batch(MAC_SCHEMA))
    """Rows of MAC_SCHEMA."""
    loss: pa.RecordBatch = field(default_factory=lambda: empty_batch(LOSS_SCHEMA))
    """Rows of LOSS_SCHEMA (kernel lost=, rotated away unread, parser rejects, ...)."""
    meta: Mapping[str, str] = field(default_factory=dict)
    """Short strings for transport headers: host, source, checkpoint description."""

    @property
    def num_rows(self) -> int:
        """Records plus loss rows: zero means there is nothing to deliver."""
        return self.records.num_rows + self.loss.num_rows
