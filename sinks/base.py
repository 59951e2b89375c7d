"""The sink contract.

A sink is an async context manager with ``send(envelope)``. Contract:

- ``send`` returns only after the envelope is durably delivered (committed to DuckDB,
  acknowledged by the broker with the configured acks, accepted by the receiver or its
  persistent outbox). Its return IS the acknowledgement: callers advance checkpoints
  only after it returns. At least once: a retried envelope may arrive twice; stores
  remove duplicates by ``parsers.schema.KEY_COLUMNS``.
- ``send`` may block (backpressure); it never drops silently.
- ``send`` raises ``sinks.errors.TransientSinkError`` or ``TerminalSinkError``.
- ``send`` may not be called after ``close``.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, runtime_checkable

from parsers.envelope import Envelope


@runtime_checkable
class Sink(Protocol):
    """Anything that takes envelopes and acknowledges them by returning."""

    async def send(self, envelope: Envelope) -> None:
        """Deliver durably, then return (the ack); raise a SinkError otherwise."""
        ...

    async def close(self) -> None:
        """Flush what is buffered and release resources."""
        ...


class SinkBase:
    """Convenience base: async context manager around ``open``/``close``."""

    async def open(self) -> None:
        """Connect / create resources; idempotent."""

    async def close(self) -> None:
        """Flush and release resources; idempotent."""

    async def __aenter__(self) -> SinkBase:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
