"""`armorwatch collect`: counters scraped over HTTP (current while delivery is blocked),
and what it logs at INFO (start line, resume offset, rotation, truncation, summary)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import cast

import pytest

from armorwatch import metrics
from armorwatch.assembly.daemons import CHECKPOINT_FILE, collect
from armorwatch.cli import build_parser, main
from armorwatch.commands.collect import load_config, summary
from armorwatch.ingest.auditd_file import AuditdFileConfig, AuditdFileSource
from armorwatch.ingest.base import Chunk, Item
from armorwatch.ingest.checkpoint import CheckpointStore
from armorwatch.ingest.collector import Collector, CollectorConfig
from armorwatch.ingest.hostid import host_info
from armorwatch.ingest.journald import JournaldConfig, JournaldSource
from armorwatch.ingest.tail import FileTailer, TailConfig
from armorwatch.parsers.envelope import Envelope
from tests.armorwatch.test_metrics import scrape
from tests.harness.poll import until

SAMPLE = Path(__file__).resolve().parents[2] / "armorwatch" / "samples" / "audit.log"


@pytest.mark.integration
class TestCollectMetrics:
    async def test_once_run_is_scraped(self, tmp_path: Path) -> None:
        """After collecting the sample once, records, rejects and source lag are exposed."""
        cfg = tmp_path / "c.toml"
        cfg.write_text(f'[collect]\nsources = ["auditd"]\n[collect.auditd]\npath = "{SAMPLE}"\n')
        args = build_parser().parse_args(
            [
                *("collect", "--config", str(cfg), "--once", "--host", "node-7"),
                *("--state-dir", str(tmp_path / "st"), "--db", str(tmp_path / "c.duckdb")),
            ]
        )
        config = load_config(args)
        endpoint = metrics.MetricsServer("127.0.0.1:0")
        try:
            stats = await collect(config, config.sources, follow=False, endpoint=endpoint)
            got = scrape(endpoint)
        finally:
            endpoint.close()
        stored = sum(v for (name, _), v in got.items() if name == "armorwatch_records_total")
        assert "collected 74 MAC records" in summary(stats, config.sources)
        assert 74.0 == stored
        assert 1.0 == sum(v for (n, _), v in got.items() if n == "armorwatch_rejects_total")
        assert "node-7" == config.host


def avc(serial: int) -> bytes:
    """One AppArmor DENIED audit event with its own serial: AVC + EOE (about 260 bytes;
    the EOE ends the event, so the parser emits it without waiting for idleness)."""
    stamp = f"msg=audit(1763863657.{serial % 1000:03d}:{serial}):"
    return (
        f"type=AVC {stamp} "
        'apparmor="DENIED" operation="open" class="file" profile="/usr/sbin/nginx" '
        f'name="/etc/ssl/private/k{serial}.pem" pid=4242 comm="nginx" requested_mask="r" '
        f'denied_mask="r" fsuid=33 ouid=0\ntype=EOE {stamp} \n'
    ).encode()


class GateSink:
    """A sink that blocks every send until ``gate`` is set, like a broker that is down."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.calls = 0
        self.records = 0

    async def send(self, envelope: Envelope) -> None:
        """Wait for the gate, then count the records as delivered."""
        self.calls += 1
        await self.gate.wait()
        self.records += envelope.records.num_rows

    async def close(self) -> None:
        """Nothing to release."""




async def ascrape(
    endpoint: metrics.MetricsServer,
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``scrape`` off the event loop (the pipeline keeps running meanwhile)."""
    return await asyncio.to_thread(scrape, endpoint)


@pytest.mark.integration
class TestBlockedSink:
    async def test_lag_and_queue_depth_grow_while_the_sink_is_down(self, tmp_path: Path) -> None:
        """With delivery blocked, lag_bytes follows the file and queue_depth is non-zero;
        once the sink returns, every line is delivered and the lag drops to 0."""
        log = tmp_path / "audit.log"
        log.write_bytes(b"".join(avc(i) for i in range(1, 11)))
        source = AuditdFileSource(AuditdFileConfig(path=log, poll_interval=0.05, read_bytes=4096))
        sink = GateSink()
        collector = Collector(
            [source], sink, CheckpointStore(tmp_path / "ck.json"), host_info("node-1"),
            CollectorConfig(chunk_queue=1, envelope_queue=1, idle_flush=0.1, batch_records=50),
        )  # fmt: skip
        endpoint = metrics.MetricsServer("127.0.0.1:0")
        endpoint.add("collector", collector)
        endpoint.add("source", source, name="auditd")
        lag_key = ("armorwatch_lag_bytes", (("component", "source"), ("name", "auditd")))
        depth_key = ("armorwatch_queue_depth", (("component", "collector"),))
        run = asyncio.create_task(collector.run(follow=True))
        try:
            await until(lambda: sink.calls >= 1, timeout=20.0)
            serial = 11
            lags = []
            for _ in range(2):
                with log.open("ab") as f:
                    for _ in range(1000):  # ~200 KB each time: far beyond what queues hold
                        f.write(avc(serial))
                        serial += 1
                await asyncio.sleep(0.5)
                got = await ascrape(endpoint)
                lags.append(got[lag_key])
                assert got[depth_key] >= 1
            assert 150_000 < lags[0] < lags[1]
            sink.gate.set()
            await until(lambda: sink.records == serial - 1, timeout=20.0)
            got = await ascrape(endpoint)
            assert 0.0 == got[lag_key]
        finally:
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run
            endpoint.close()


class TestCollectLogs:
    async def test_start_line_then_resumed_at_offset(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The first run names source, path, start and sink; the second says where it resumed."""
        log = tmp_path / "audit.log"
        log.write_bytes(b"".join(avc(i) for i in range(1, 21)))
        cfg = tmp_path / "c.toml"
        cfg.write_text(f'[collect]\nsources = ["auditd"]\n[collect.auditd]\npath = "{log}"\n')
        args = build_parser().parse_args(
            ["collect", "--config", str(cfg), "--once", "--state-dir", str(tmp_path / "st"),
             "--db", str(tmp_path / "c.duckdb")]
        )  # fmt: skip
        config = load_config(args)
        caplog.set_level(logging.INFO)
        await collect(config, config.sources, follow=False)
        first = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
        caplog.clear()
        await collect(config, config.sources, follow=False)
        second = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
        size, ino = log.stat().st_size, log.stat().st_ino
        assert (
            f"Collecting auditd ({log}: no checkpoint, start at the beginning) into DuckDB "
            f"{tmp_path / 'c.duckdb'}; checkpoint {tmp_path / 'st' / CHECKPOINT_FILE} (once)."
        ) in first
        assert f"Resumed {log} at offset {size} (inode {ino})." in second
        assert any(f"checkpoint offset {size} (inode {ino})" in m for m in second)

    async def test_rotation_and_truncation_are_one_line_each(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Following a file: a rename rotation and a copytruncate are logged once each."""
        log = tmp_path / "audit.log"
        log.write_bytes(b"".join(avc(i) for i in range(1, 6)))
        tailer = FileTailer(TailConfig(path=log, poll_interval=0.05, rotate_wait=0.1))
        caplog.set_level(logging.INFO)
        items = cast(AsyncGenerator[Item, None], tailer.items(follow=True))

        async def read_until(n_bytes: int) -> None:
            got = 0
            while got < n_bytes:
                item = await asyncio.wait_for(anext(items), 10)
                if isinstance(item, Chunk):
                    got += len(item.data)

        try:
            await read_until(log.stat().st_size)
            log.rename(tmp_path / "audit.log.1")
            log.write_bytes(avc(6))
            await read_until(len(avc(6)))
            with log.open("ab") as f:
                f.write(avc(7) + avc(8))
            await asyncio.sleep(0)  # not read yet: copied, then truncated under the tailer
            (tmp_path / "audit.log.1").rename(tmp_path / "audit.log.2")
            shutil.copy(log, tmp_path / "audit.log.1")
            os.truncate(log, 0)
            with log.open("ab") as f:
                f.write(avc(9))
            await read_until(len(avc(7) + avc(8) + avc(9)))
        finally:
            await items.aclose()
            await tailer.aclose()
        messages = [r.getMessage() for r in caplog.records if r.name == "armorwatch.ingest.tail"]
        rotations = [m for m in messages if m.startswith("Rotation detected")]
        truncations = [m for m in messages if m.startswith("Truncation detected")]
        assert 1 == len(rotations), messages
        assert f"{log}" in rotations[0]
        assert ["Truncation detected (copytruncate): at least 0 bytes lost."] == truncations

    def test_exit_summary_is_json_under_log_format_json(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`collect --once --log-format json`: JSON log lines on stderr, a JSON summary."""
        cfg = tmp_path / "c.toml"
        cfg.write_text(f'[collect]\nsources = ["auditd"]\n[collect.auditd]\npath = "{SAMPLE}"\n')
        state, db = str(tmp_path / "st"), str(tmp_path / "c.duckdb")
        argv = ["collect", "--config", str(cfg), "--once", "--log-format", "json",
                "--state-dir", state, "--db", db]  # fmt: skip
        try:
            assert 0 == main(argv)
        finally:
            logging.getLogger().handlers.clear()
        out, err = capsys.readouterr()
        summary_obj = json.loads(out)
        assert (74, ["auditd"]) == (summary_obj["records"], summary_obj["sources"])
        assert summary_obj["summary"].startswith("collected 74 MAC records")
        logs = [json.loads(x) for x in err.splitlines()]
        assert any(x["msg"].startswith("Collecting auditd (") for x in logs)

    def test_start_line_descriptions_of_journald(self) -> None:
        """The journald source names where it reads and whether it resumes at a cursor."""
        src = JournaldSource(JournaldConfig(directory=Path("/var/log/journal"), start_at="tail"))
        assert (
            "directory /var/log/journal: resumes after its checkpointed cursor",
            "directory /var/log/journal: no checkpoint, start at the tail",
        ) == (src.describe({"cursor": "s=ab;i=1"}), src.describe(None))
