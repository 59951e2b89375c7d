"""Errors raised by sinks. Every one is transient (retry may succeed) or terminal.

    parsers.delivery.DeliveryError   the contract's base, caught by ingest too
    └── SinkError
        ├── TransientSinkError   retriable = True   broker down, timeout, 5xx, 429, lock busy
        └── TerminalSinkError    retriable = False  bad config, 4xx, schema mismatch, 410 Gone
"""

from __future__ import annotations

from armorwatch.parsers.delivery import DeliveryError


class SinkError(DeliveryError):
    """Base of all sink errors."""


class TransientSinkError(SinkError):
    """Delivery failed for now; the same envelope may be retried."""

    retriable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TerminalSinkError(SinkError):
    """Delivery can never succeed as configured; retrying the same envelope is useless."""

    retriable = False
