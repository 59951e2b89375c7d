"""The shared delivery contract: sinks implement it, ingest retries by it alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from armorwatch.ingest.auditd_file import AuditdFileConfig, AuditdFileSource
from armorwatch.ingest.collector import Collector, CollectorConfig, CollectorError
from armorwatch.parsers.delivery import DeliveryError, Sink
from armorwatch.parsers.envelope import Envelope
from armorwatch.parsers.result import HostInfo
from armorwatch.sinks.duckdb import DuckDBSink
from armorwatch.sinks.errors import SinkError, TerminalSinkError, TransientSinkError
from armorwatch.sinks.kafka import KafkaSink

SAMPLES = Path(__file__).resolve().parents[2] / "armorwatch" / "samples"
HOST = HostInfo("h1", "m" * 32, "b" * 32)
FAST = CollectorConfig(idle_flush=0.05, checkpoint_interval=0.0, retry_initial=0.01)


class FlakySink:
    """A fake sink that raises the given errors before it starts acknowledging."""

    def __init__(self, fail: list[Exception]) -> None:
        self.fail = fail
        self.rows = 0

    async def send(self, envelope: Envelope) -> None:
        if self.fail:
            raise self.fail.pop(0)
        self.rows += envelope.records.num_rows

    async def close(self) -> None:
        pass


class Busy(DeliveryError):
    """A transient delivery error from outside ``sinks`` (say, an in-process transport)."""

    retriable = True


class Lookalike(Exception):
    """Says ``retriable`` but is no DeliveryError: not part of the contract."""

    retriable = True


def collector(tmp_path: Path, sink: FlakySink) -> Collector:
    log = tmp_path / "audit.log"
    shutil.copy(SAMPLES / "audit.log", log)
    source = AuditdFileSource(AuditdFileConfig(path=log, poll_interval=0.01))
    return Collector([source], sink, None, HOST, FAST)


class TestContract:
    def test_sink_errors_are_delivery_errors(self) -> None:
        """Transient sink errors are retriable with their wait; terminal ones are not."""
        transient = TransientSinkError("429", retry_after=7.0)
        assert isinstance(transient, SinkError) and isinstance(transient, DeliveryError)
        assert (True, 7.0) == (transient.retriable, transient.retry_after)
        terminal = TerminalSinkError("410")
        assert isinstance(terminal, DeliveryError)
        assert (False, None) == (terminal.retriable, terminal.retry_after)

    @pytest.mark.parametrize("cls", [DuckDBSink, KafkaSink])
    def test_envelope_sinks_implement_the_contract(self, cls: type) -> None:
        """Every envelope sink offers the contract's send and close."""
        assert issubclass(cls, Sink)


class TestCollectorRetriesByContract:
    async def test_any_retriable_delivery_error_is_retried(self, tmp_path: Path) -> None:
        """A retriable DeliveryError that is no SinkError is retried, then delivered."""
        sink = FlakySink([Busy("queue full")])
        c = collector(tmp_path, sink)
        await c.run(follow=False)
        assert 1 == c.stats.send_retries
        assert 74 == sink.rows

    async def test_a_retriable_attribute_alone_is_terminal(self, tmp_path: Path) -> None:
        """An error outside the contract stops the collector even if it says retriable."""
        with pytest.raises(CollectorError):
            await collector(tmp_path, FlakySink([Lookalike("?")])).run(follow=False)
