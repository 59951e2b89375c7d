"""The in-process transport: ack after store, bounded queue, errors reach the sender."""

from __future__ import annotations

import asyncio

import pytest

from armorwatch.parsers import schema as S
from armorwatch.parsers.envelope import Envelope
from armorwatch.pipeline import InProcessConfig, InProcessTransport, TransportClosed
from armorwatch.sinks.errors import TransientSinkError


class FakeSink:
    """Stores envelopes in a list; can be gated, or told to fail the next sends."""

    def __init__(self) -> None:
        self.stored: list[Envelope] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_next = 0
        self.closed = False

    async def send(self, envelope: Envelope) -> None:
        await self.gate.wait()
        if self.fail_next:
            self.fail_next -= 1
            raise TransientSinkError("broker away")
        self.stored.append(envelope)

    async def close(self) -> None:
        self.closed = True


def envelope(serial: int) -> Envelope:
    return Envelope(records=S.batch_from_rows([{S.SERIAL: serial, S.HOST: "h"}]))


class TestInProcessTransport:
    async def test_send_returns_only_after_store(self) -> None:
        """A send that returned has its envelope already in the sink."""
        sink = FakeSink()
        async with InProcessTransport(sink) as t:
            for i in range(5):
                await t.send(envelope(i))
                assert i + 1 == len(sink.stored)
        assert [0, 1, 2, 3, 4] == [e.records.column(S.SERIAL)[0].as_py() for e in sink.stored]
        assert sink.closed

    async def test_full_queue_blocks_sender(self) -> None:
        """With the sink stalled, senders beyond the queue size wait instead of piling up."""
        sink = FakeSink()
        sink.gate.clear()
        async with InProcessTransport(sink, InProcessConfig(queue_size=2)) as t:
            tasks = [asyncio.create_task(t.send(envelope(i))) for i in range(6)]
            await asyncio.sleep(0.05)
            assert 2 == t.depth  # one is inside the stalled sink, two queued, rest blocked
            assert not any(task.done() for task in tasks)
            sink.gate.set()
            await asyncio.gather(*tasks)
        assert 6 == len(sink.stored)

    async def test_sink_error_reaches_the_sender_and_loop_survives(self) -> None:
        """A failed store raises in the sender; the next envelope is still served."""
        sink = FakeSink()
        sink.fail_next = 1
        async with InProcessTransport(sink) as t:
            with pytest.raises(TransientSinkError):
                await t.send(envelope(1))
            await t.send(envelope(2))
        assert [2] == [e.records.column(S.SERIAL)[0].as_py() for e in sink.stored]

    async def test_observer_failure_keeps_the_ack(self) -> None:
        """An observer that raises does not turn a stored envelope into a failed send."""

        async def broken(_: Envelope) -> None:
            raise RuntimeError("alert rule bug")

        sink = FakeSink()
        async with InProcessTransport(sink, observers=[broken]) as t:
            await t.send(envelope(1))
        assert 1 == t.observer_errors
        assert 1 == len(sink.stored)

    async def test_send_after_close_is_refused(self) -> None:
        """Closing is final: later sends raise instead of vanishing."""
        t = InProcessTransport(FakeSink())
        async with t:
            pass
        with pytest.raises(TransportClosed):
            await t.send(envelope(1))
