"""Rejected lines become loss rows made of what was lost: a replay stores each once."""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from armorwatch.ingest.auditd_file import AuditdFileConfig, AuditdFileSource
from armorwatch.ingest.base import Chunk, Item
from armorwatch.ingest.checkpoint import CheckpointStore
from armorwatch.ingest.collector import Collector, CollectorConfig
from armorwatch.parsers import schema as S
from armorwatch.parsers.envelope import Envelope
from armorwatch.parsers.result import HostInfo
from tests.harness.replayer import Ledger, Replayer

HOST = HostInfo("h1")
FAST = CollectorConfig(idle_flush=5.0, checkpoint_interval=0.0)


def record(i: int) -> bytes:
    """A whole AppArmor denial, as auditd writes it, with serial ``i``."""
    return (
        f'type=AVC msg=audit(1763874806.{i % 1000:03d}:{i}): apparmor="DENIED" operation="open" '
        f'class="file" profile="/usr/bin/evince" name="/etc/f{i}" pid={100 + i} comm="evince" '
        'requested_mask="r" denied_mask="r" fsuid=0 ouid=0'
    ).encode()


def truncated(i: int) -> bytes:
    """A record cut in a quoted value (dated: its own audit stamp)."""
    stamp = f"1763874807.{i % 1000:03d}:{i}"
    return f'type=AVC msg=audit({stamp}): apparmor="DENIED" operation="op'.encode()


UNDATED = b'type=AVC apparmor="DENIED" operation="open" profile="/x" name="/y'
"""A rejected line with no time of its own: dated by the line before it."""

LINE_KINDS = st.sampled_from(["record", "truncated", "undated"])


def stream(kinds: list[str]) -> bytes:
    """The file: a record first (so every line has a time on or before it), then ``kinds``."""
    lines = [record(1)]
    for i, kind in enumerate(kinds, start=2):
        lines.append({"record": record, "truncated": truncated}.get(kind, lambda _: UNDATED)(i))
    return b"".join(line + b"\n" for line in lines)


class CutSource:
    """A file source that hands the collector its whole lines in chunks cut at chosen
    line boundaries, and stops early at ``stop`` (a crash: the rest is read next run)."""

    name = "audit"
    source = S.SOURCE_AUDITLOG
    framing = "audit"
    kernel_tag = False

    def __init__(self, data: bytes, cuts: list[int], stop: int | None = None) -> None:
        self.data = data
        self.cuts = cuts
        self.stop = stop
        self.start = 0

    def restore(self, position: Mapping[str, Any] | None) -> None:
        self.start = int(position["offset"]) if position else 0

    async def items(self, follow: bool = True) -> AsyncIterator[Item]:
        ends = [i + 1 for i, b in enumerate(self.data) if b == 0x0A]
        end = len(self.data) if self.stop is None else self.stop
        bounds = sorted({e for e in ends if self.start < e <= end and (e in self.cuts)} | {end})
        at = self.start
        for b in bounds:
            if b > at:
                final = self.stop is None and b == len(self.data)
                yield Chunk(self.data[at:b], at, 0, final=final)
                at = b

    def position(self, segment: int, safe_offset: int) -> dict[str, Any] | None:
        return {"path": "/var/log/audit/audit.log", "dev": 1, "ino": 2, "offset": safe_offset}

    async def aclose(self) -> None:
        return None


class LossSink:
    """Keeps the loss rows it acknowledged, keyed as the store keys them (all columns)."""

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []

    async def send(self, envelope: Envelope) -> None:
        self.rows += [tuple(r.values()) for r in envelope.loss.to_pylist()]

    async def close(self) -> None:
        return None


async def collect(data: bytes, runs: list[tuple[list[int], int | None]]) -> list[tuple[Any, ...]]:
    """The distinct parse_reject loss rows of consecutive runs over ``data`` sharing one
    checkpoint (each run: its cut points and where it stops)."""
    sink = LossSink()
    with tempfile.TemporaryDirectory() as tmp:
        cp = CheckpointStore(Path(tmp) / "cp.json")
        for cuts, stop in runs:
            await Collector([CutSource(data, cuts, stop)], sink, cp, HOST, FAST).run(follow=False)
    kind = S.LOSS_SCHEMA.names.index(S.KIND)
    return sorted({r for r in sink.rows if r[kind] == S.LOSS_PARSE_REJECT}, key=repr)


@st.composite
def scenario(draw: st.DrawFn) -> tuple[bytes, list[tuple[list[int], int | None]]]:
    kinds = draw(st.lists(LINE_KINDS, min_size=1, max_size=12))
    data = stream(kinds)
    ends = [i + 1 for i, b in enumerate(data) if b == 0x0A]
    cuts = st.lists(st.sampled_from(ends), max_size=6)
    stops = draw(st.lists(st.sampled_from(ends), max_size=3))
    runs: list[tuple[list[int], int | None]] = [(draw(cuts), s) for s in sorted(stops)]
    return data, [*runs, (draw(cuts), None)]


class TestRejectLossIdentity:
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(scenario())
    async def test_any_cut_and_restart_stores_each_reject_once(
        self, case: tuple[bytes, list[tuple[list[int], int | None]]]
    ) -> None:
        """Whatever the read cuts and restarts, each rejected line gives one loss row, the
        same as one uncut read gives, and identical lines at two places give two."""
        data, runs = case
        whole = await collect(data, [([], None)])
        assert whole == await collect(data, runs)
        expected = sum(1 for line in data.splitlines() if b"pid=" not in line)
        assert expected == len(whole)
        assert all(r[S.LOSS_SCHEMA.names.index(S.COUNT)] == 1 for r in whole)

    async def test_identical_lines_at_two_offsets_are_two_losses(self) -> None:
        """The same bytes rejected twice are two losses: the offset tells them apart."""
        data = stream(["undated", "undated"])
        rows = await collect(data, [([], None)])
        details = [r[S.LOSS_SCHEMA.names.index(S.DETAIL)] for r in rows]
        assert 2 == len(rows)
        assert 2 == len(Counter(details))
        assert all("of /var/log/audit/audit.log" in d for d in details)

    async def test_undated_reject_takes_the_time_before_it(self) -> None:
        """A rejected line without a time is dated by the last event time written before it."""
        data = stream(["undated"])
        (row,) = await collect(data, [([], None)])
        ts = row[S.LOSS_SCHEMA.names.index(S.TS)]
        assert 1763874806_001 == round(ts.timestamp() * 1000)


class TestRotationLossIdentity:
    async def test_restart_from_one_checkpoint_notices_the_same_loss(self, tmp_path: Path) -> None:
        """A file rotated away unread, noticed again by a restart from the same checkpoint
        (a crash before the checkpoint moved), gives the same loss row: stored once."""

        def source() -> AuditdFileSource:
            cfg = AuditdFileConfig(path=r.log, poll_interval=0.01, rotate_wait=0.02)
            return AuditdFileSource(cfg)

        r = Replayer(tmp_path, Ledger(tmp_path / "ledger"), num_logs=2)
        r.write(5)
        cp = CheckpointStore(tmp_path / "cp.json")
        fast = CollectorConfig(idle_flush=0.05, checkpoint_interval=0.0)
        await Collector([source()], LossSink(), cp, HOST, fast).run(follow=False)
        for _ in range(3):
            r.write(5)
            r.rotate("auditd")
        r.write(5)
        shutil.copy(cp.path, tmp_path / "cp.saved")
        rows = []
        for _ in range(2):
            shutil.copy(tmp_path / "cp.saved", cp.path)  # the checkpoint before the crash
            sink = LossSink()
            await Collector([source()], sink, cp, HOST, fast).run(follow=False)
            rows.append(sink.rows)
        kind = S.LOSS_SCHEMA.names.index(S.KIND)
        assert [S.LOSS_ROTATED_AWAY] == [row[kind] for row in rows[0]]
        assert rows[0] == rows[1]
