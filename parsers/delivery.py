"""The delivery contract both halves share: what a sink offers and how it fails.

Declared here, below ``ingest`` and ``sinks`` (which may not import each other), so the
collector and the Kafka consumer deliver to exactly the interface the sinks implement.
A contract only: no I/O.

A sink is anything with ``send(envelope)`` and ``close()``:

- ``send`` returns only after the envelope is durably delivered (committed to DuckDB,
  acknowledged by the broker with the configured acks, accepted by the receiver or its
  persistent outbox). Its return IS the acknowledgement: callers advance checkpoints
  only after it returns. At least once: a retried envelope may arrive twice; stores
  remove duplicates by ``parsers.schema.KEY_COLUMNS``.
- ``send`` may block (backpressure); it never drops silently.
- ``send`` raises a ``DeliveryError`` (``sinks.errors`` holds the concrete ones): its
  ``retriable`` says whether the same envelope may be sent again (transient: broker
  down, timeout, 5xx, 429, lock busy) or never can succeed as configured (terminal:
  bad config, 4xx, schema mismatch). Callers retry only a retriable ``DeliveryError``.
- ``send`` may not be called after ``close``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # annotations only: the error classes need no pyarrow (store readers)
    from armorwatch.parsers.envelope import Envelope


class DeliveryError(Exception):
    """Base of every error a sink's ``send`` raises: transient or terminal."""

    retriable: bool = False
    """True: the same envelope may be retried (transient); False: it never can (terminal)."""
    retry_after: float | None = None
    """Seconds the far side asked us to wait before a retry, when it said so."""


@runtime_checkable
class Sink(Protocol):
    """Anything that takes envelopes and acknowledges them by returning."""

    async def send(self, envelope: Envelope) -> None:
        """Deliver durably, then return (the ack); raise a DeliveryError otherwise."""
        ...

    async def close(self) -> None:
        """Flush what is buffered and release resources."""
        ...


Observer = Callable[["Envelope"], Awaitable[None]]
"""Shown every envelope after a sink acknowledged it (alerting, metrics); its failure
never un-acknowledges the envelope."""
