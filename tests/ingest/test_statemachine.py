"""Random write / rotate / truncate / delete / crash sequences against the collector."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from armorwatch.ingest.auditd_file import AuditdFileConfig, AuditdFileSource
from armorwatch.ingest.checkpoint import CheckpointStore
from armorwatch.ingest.collector import Collector, CollectorConfig
from armorwatch.parsers import schema as S
from tests.harness.replayer import Ledger, Replayer
from tests.ingest.test_collector import HOST, ListSink

CFG = CollectorConfig(idle_flush=0.01, checkpoint_interval=0.0)


class CollectorMachine(RuleBasedStateMachine):
    """The model: every serial written is delivered, except those a truncate or delete
    destroyed before any collector run could read them."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="aw-sm-"))
        self.replayer = Replayer(self.dir, Ledger(self.dir / "ledger"), num_logs=100)
        self.store = CheckpointStore(self.dir / "cp.json", fsync=False)  # speed; not tested here
        self.sink = ListSink()
        self.unread: set[int] = set()
        """Written since the last complete run: destroyed by a truncate or delete."""
        self.at_risk: set[int] = set()
        self.written: set[int] = set()

    def source(self) -> AuditdFileSource:
        cfg = AuditdFileConfig(
            path=self.replayer.log, poll_interval=0.005, rotate_wait=0.0, backfill=True
        )
        return AuditdFileSource(cfg)

    def delivered(self) -> set[int]:
        return {int(v) for v in self.sink.column(S.SERIAL) if v is not None}

    @rule(n=st.integers(1, 30))
    def write(self, n: int) -> None:
        new = set(self.replayer.write(n))
        self.written |= new
        self.unread |= new

    @rule(mode=st.sampled_from(["auditd", "create", "copytruncate"]))
    def rotate(self, mode: str) -> None:
        self.replayer.rotate(mode)

    @rule()
    def truncate(self) -> None:
        self.at_risk |= self.unread
        self.replayer.truncate()

    @rule()
    def delete(self) -> None:
        self.at_risk |= self.unread
        self.replayer.delete_and_recreate()

    @rule()
    def collect_once(self) -> None:
        """A complete run to the end of the data, then exit."""
        c = Collector([self.source()], self.sink, self.store, HOST, CFG)
        asyncio.run(c.run(follow=False))
        self.unread = set()
        assert set() == self.written - self.delivered() - self.at_risk

    @precondition(lambda self: bool(self.written))
    @rule(after=st.floats(0.0, 0.05))
    def crash(self, after: float) -> None:
        """A following collector stopped at a random point (only acked data is saved)."""

        async def run() -> None:
            c = Collector([self.source()], self.sink, self.store, HOST, CFG)
            task = asyncio.create_task(c.run(follow=True))
            await asyncio.sleep(after)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        asyncio.run(run())

    @invariant()
    def never_invents(self) -> None:
        assert set() == self.delivered() - self.written

    def teardown(self) -> None:
        self.replayer.close()
        self.replayer.ledger.close()
        shutil.rmtree(self.dir, ignore_errors=True)


CollectorMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestCollectorMachine = CollectorMachine.TestCase


class StaleWriterMachine(CollectorMachine):
    """The same model with a writer that lacks O_APPEND (NUL holes after truncation)."""

    def __init__(self) -> None:
        super().__init__()
        self.replayer.close()
        self.replayer = Replayer(
            self.dir, Ledger(self.dir / "ledger2"), num_logs=100, o_append=False
        )

    @invariant()
    def no_nul_delivered(self) -> None:
        assert all(b"\x00" not in (r or b"") for r in self.sink.column(S.RAW))  # type: ignore[operator]


StaleWriterMachine.TestCase.settings = CollectorMachine.TestCase.settings
TestStaleWriterMachine = StaleWriterMachine.TestCase
