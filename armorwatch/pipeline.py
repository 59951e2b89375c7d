"""Wiring: the in-process transport that joins the collector half to the processor half.

``InProcessTransport`` is what ``armorwatch run`` uses instead of Kafka. It is a sink
for the collector (``send``) and a consumer loop for the processor (``serve``):

- the queue between the halves is bounded; a full queue blocks ``send`` (backpressure);
- ``send`` returns only after the downstream sink's ``send`` returned, so the
  collector's acknowledgement means "stored", exactly as with Kafka + commit-after-store;
- a downstream error is raised to the ``send`` that carried the envelope (nothing is
  dropped silently), and the loop keeps serving the next envelope.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from armorwatch.parsers.delivery import Observer, Sink
from armorwatch.parsers.envelope import Envelope

log = logging.getLogger(__name__)


class ObservedSink:
    """A sink that shows every envelope to observers after the inner sink stored it.

    Observers (alert evaluation, the metrics record counter) see only what was
    acknowledged. An observer's failure must not un-acknowledge a stored envelope, so it
    is counted and logged apart and ``send`` still returns.
    """

    def __init__(self, sink: Sink, observers: Sequence[Observer] = ()) -> None:
        self.sink = sink
        self.observers = tuple(observers)
        self.observer_errors = 0
        """Observer calls that raised after their envelope was stored."""

    async def send(self, envelope: Envelope) -> None:
        """Deliver through the inner sink (the ack), then show the envelope to observers."""
        await self.sink.send(envelope)
        for observe in self.observers:
            try:
                await observe(envelope)
            except Exception:
                self.observer_errors += 1
                log.exception("An observer failed on a stored envelope.")

    async def close(self) -> None:
        """Close the inner sink."""
        await self.sink.close()


@dataclass(frozen=True)
class InProcessConfig:
    """Settings of the in-process transport."""

    queue_size: int = 8
    """Envelopes that may wait between the halves before ``send`` blocks."""


class TransportClosed(RuntimeError):
    """``send`` was called after the transport was closed."""


class InProcessTransport:
    """A bounded in-memory channel that acknowledges only after the sink stored."""

    def __init__(
        self,
        sink: Sink,
        config: InProcessConfig | None = None,
        observers: Sequence[Observer] = (),
    ) -> None:
        self._sink = ObservedSink(sink, observers)
        self._config = config or InProcessConfig()
        self._queue: asyncio.Queue[tuple[Envelope, asyncio.Future[None]] | None] = (
            asyncio.Queue(maxsize=self._config.queue_size)
        )
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.delivered = 0
        """Envelopes stored and acknowledged."""

    @property
    def observer_errors(self) -> int:
        """Observer calls that raised after their envelope was stored."""
        return self._sink.observer_errors

    @property
    def depth(self) -> int:
        """Envelopes waiting in the queue now."""
        return self._queue.qsize()

    async def __aenter__(self) -> InProcessTransport:
        self._task = asyncio.create_task(self._serve(), name="inprocess-transport")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def send(self, envelope: Envelope) -> None:
        """Hand one envelope to the processor half; return once it is stored (the ack)."""
        if self._closed:
            raise TransportClosed("send after close")
        if self._task is None:
            raise RuntimeError("use `async with InProcessTransport(...)` before send")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put((envelope, done))
        await done

    async def close(self) -> None:
        """Serve what is queued, then stop the loop and close the sink."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            await self._queue.put(None)
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._sink.close()

    async def _serve(self) -> None:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            envelope, done = item
            try:
                # Stored, then observed; an observer's failure is counted, not raised.
                await self._sink.send(envelope)
            except Exception as e:  # delivered to the sender, who decides to retry
                if not done.done():
                    done.set_exception(e)
                continue
            self.delivered += 1
            if not done.done():
                done.set_result(None)
