"""Collector catch-up throughput, side by side in one run, against the parser alone.

Reliability row A2: after a stop, the collector must catch up through the rotated files
at >= 20k lines/s. The realistic audit.log of ``bench/gen_auditlog.py`` (default 1M
lines) is split at line boundaries into ``audit.log.3 .2 .1`` and ``audit.log``; then,
each in its own process (the clock starts after imports), interleaved over ``--runs``:

* **anchor: parser alone**: ``parsers.stream.Parser.feed`` over the same four files in
  256 KiB chunks, plus ``flush`` (the ceiling the collector can reach);
* **collect → null sink**: ``ingest.Collector`` with ``AuditdFileSource`` (backfill on,
  ``follow=False``), checkpointing after every ack, into a sink that acks at once;
* **collect → DuckDB**: the same into ``DuckDBSink`` through ``InProcessTransport``,
  which is what ``armorwatch collect`` runs.

Prints a Markdown table (median seconds, lines/s, ratio to the anchor).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import gen_auditlog  # noqa: E402

ROWS = ("parser", "null", "duckdb")
LABELS = {
    "parser": "anchor: parser alone",
    "null": "collect → null sink",
    "duckdb": "collect → DuckDB",
}


def split(src: Path, into: Path, parts: int = 4) -> None:
    """Write ``src`` as audit.log.(parts-1) … audit.log.1, audit.log (oldest first)."""
    data = src.read_bytes()
    cuts = [0]
    for i in range(1, parts):
        cuts.append(data.index(b"\n", len(data) * i // parts) + 1)
    cuts.append(len(data))
    names = [f"audit.log.{n}" for n in range(parts - 1, 0, -1)] + ["audit.log"]
    for name, a, b in zip(names, cuts, cuts[1:], strict=False):
        (into / name).write_bytes(data[a:b])


def child(kind: str, logdir: Path, work: Path) -> dict[str, float]:
    """Run one measurement in this process; returns seconds and records."""
    from armorwatch.ingest.auditd_file import AuditdFileConfig, AuditdFileSource
    from armorwatch.ingest.checkpoint import CheckpointStore
    from armorwatch.ingest.collector import Collector
    from armorwatch.parsers import schema as S
    from armorwatch.parsers.result import HostInfo
    from armorwatch.parsers.stream import Parser

    host = HostInfo("bench", "0" * 32, "1" * 32)
    if kind == "parser":
        names = ["audit.log.3", "audit.log.2", "audit.log.1", "audit.log"]
        start = time.perf_counter()
        records = 0
        for name in names:
            p = Parser(S.SOURCE_AUDITLOG, host, "audit")
            with (logdir / name).open("rb") as f:
                off = 0
                while chunk := f.read(256 * 1024):
                    cut = chunk.rfind(b"\n") + 1
                    if cut < len(chunk):
                        f.seek(off + cut)
                        chunk = chunk[:cut]
                    records += p.feed(chunk, off).records.num_rows
                    off += len(chunk)
            records += p.flush().records.num_rows
        return {"seconds": time.perf_counter() - start, "records": records}

    class NullSink:
        records = 0

        async def send(self, envelope: object) -> None:
            NullSink.records += envelope.records.num_rows  # type: ignore[attr-defined]

        async def close(self) -> None:
            return None

    async def run() -> int:
        src = AuditdFileSource(AuditdFileConfig(path=logdir / "audit.log", backfill=True))
        store = CheckpointStore(work / "cp.json")
        if kind == "null":
            c = Collector([src], NullSink(), store, host)
            await c.run(follow=False)
            return c.stats.records
        from armorwatch.pipeline import InProcessTransport
        from armorwatch.sinks.duckdb import DuckDBConfig, DuckDBSink

        db = DuckDBSink(DuckDBConfig(path=work / "bench.duckdb"))
        await db.open()
        async with InProcessTransport(db) as channel:
            c = Collector([src], channel, store, host)
            await c.run(follow=False)
        return c.stats.records

    start = time.perf_counter()
    records = asyncio.run(run())
    return {"seconds": time.perf_counter() - start, "records": records}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines (default 1M)")
    ap.add_argument("--runs", type=int, default=3, help="rounds (default 3)")
    ap.add_argument("--child", nargs=3, metavar=("KIND", "LOGDIR", "WORK"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        kind, logdir, work = args.child
        print(json.dumps(child(kind, Path(logdir), Path(work))))
        return 0
    path, stats = gen_auditlog.ensure(args.lines)
    results: dict[str, list[float]] = {k: [] for k in ROWS}
    records: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="aw-bench-collect-") as tmp:
        logdir = Path(tmp) / "log"
        logdir.mkdir()
        split(path, logdir)
        for _ in range(args.runs):
            for kind in ROWS:
                work = Path(tmp) / f"work-{kind}"
                work.mkdir(exist_ok=True)
                for f in work.iterdir():
                    f.unlink()
                out = subprocess.run(
                    [sys.executable, __file__, "--child", kind, str(logdir), str(work)],
                    check=True,
                    capture_output=True,
                    text=True,
                    env={**os.environ, "PYTHONPATH": str(ROOT)},
                ).stdout
                r = json.loads(out.strip().splitlines()[-1])
                results[kind].append(r["seconds"])
                records[kind] = int(r["records"])
    anchor = statistics.median(results["parser"])
    print(
        f"{stats.lines:,} lines ({stats.bytes / 2**20:.0f} MiB) in 4 files, median of "
        f"{args.runs}, {os.cpu_count()} CPUs\n"
    )
    print("| row | seconds | lines/s | MAC records | time vs anchor |")
    print("|---|---|---|---|---|")
    for kind in ROWS:
        sec = statistics.median(results[kind])
        print(
            f"| {LABELS[kind]} | {sec:.2f} | {stats.lines / sec:,.0f} | {records[kind]:,} | "
            f"{sec / anchor:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
