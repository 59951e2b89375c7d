"""What every sink builds on: the contract (``parsers.delivery.Sink``) and ``SinkBase``.

The contract (``send`` returns only after durable delivery, may block, never drops,
raises ``sinks.errors.TransientSinkError`` or ``TerminalSinkError``, not after
``close``) is declared once in ``parsers.delivery``, where ``ingest`` reads it too.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self


class SinkBase:
    """Convenience base: async context manager around ``open``/``close``."""

    async def open(self) -> None:
        """Connect / create resources; idempotent."""

    async def close(self) -> None:
        """Flush and release resources; idempotent."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
