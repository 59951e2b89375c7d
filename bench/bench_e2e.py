"""End-to-end throughput through Kafka: file → parser → KafkaSink → broker → KafkaSource → DuckDB.

``.venv/bin/python bench/bench_e2e.py [--lines N] [--runs R]`` on the generated realistic
audit.log (``bench/gen_auditlog.py``, cached in ``bench/.data/``), against a real
Kafka-protocol broker (Tansu, memory storage, started like the test fixture).

Measured in one run, side by side:

1. **anchor: parse only** — ``Parser.feed`` over 8 MiB chunks in one process;
2. **compression** — the parsed batches produced (acks=all) with each codec: Arrow IPC
   zstd / lz4 buffers, Kafka-level zstd (cramjam), none; bytes on the wire, produce time,
   and the consumer's decode time (``pa.ipc.open_stream`` + schema checks);
3. **end to end** — a producer process (read → parse → KafkaSink) and a consumer process
   (KafkaSource → DuckDBSink, commit after store) running together, as a collector and
   a processor would on this 2-core machine. Wall time runs from the producer's first
   read to the consumer's last offset commit. Each process reports the seconds it spent
   per stage; the share of a stage is its seconds over the process's busy seconds.

Records/s = MAC records ÷ seconds. Output: Markdown tables (stdout); ``--json`` for raw
numbers. Medians over ``--runs``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import cramjam  # noqa: E402
import gen_auditlog  # noqa: E402
import pyarrow as pa  # noqa: E402

import armorwatch.ingest.kafka as ik  # noqa: E402
from armorwatch.ingest.kafka import KafkaSource, KafkaSourceConfig, decode  # noqa: E402
from armorwatch.parsers import schema as S  # noqa: E402
from armorwatch.parsers.envelope import Envelope  # noqa: E402
from armorwatch.parsers.result import HostInfo  # noqa: E402
from armorwatch.parsers.stream import Parser  # noqa: E402
from armorwatch.sinks.duckdb import DuckDBConfig, DuckDBSink  # noqa: E402
from armorwatch.sinks.kafka import KafkaConfig, KafkaSink, encode_envelope  # noqa: E402

CHUNK = 8 << 20
HOST = HostInfo("bench-host", "bench-machine", "bench-boot")
CODECS = ("arrow-zstd", "arrow-lz4", "kafka-zstd", "none")


def _chunks(path: Path) -> Any:
    with path.open("rb") as f:
        offset = 0
        while data := f.read(CHUNK):
            yield data, offset
            offset += len(data)


def parse_file(path: Path) -> tuple[list[pa.RecordBatch], float]:
    """Every record batch of the file and the seconds the parse took."""
    parser = Parser(S.SOURCE_AUDITLOG, HOST, framing="audit")
    out = []
    t0 = time.perf_counter()
    for data, offset in _chunks(path):
        r = parser.feed(data, offset)
        if r.records.num_rows:
            out.append(r.records)
    r = parser.flush()
    if r.records.num_rows:
        out.append(r.records)
    return out, time.perf_counter() - t0


def sink_config(bootstrap: str, topic: str, compression: str = "arrow-zstd") -> KafkaConfig:
    """Producer settings for the Tansu broker (it has no producer ids)."""
    return KafkaConfig(
        bootstrap_servers=bootstrap,
        topic=topic,
        enable_idempotence=False,
        compression=compression,
        partitions=1,
    )


async def store_only(batches: list[pa.RecordBatch], db: Path) -> float:
    """Seconds DuckDBSink takes to store the batches in ~122,880-row envelopes (no Kafka)."""
    groups: list[list[pa.RecordBatch]] = [[]]
    for b in batches:
        if sum(x.num_rows for x in groups[-1]) >= 122_880:
            groups.append([])
        groups[-1].append(b)
    duck = DuckDBSink(DuckDBConfig(path=db))
    await duck.open()
    t0 = time.perf_counter()
    for g in groups:
        await duck.send(Envelope(records=pa.concat_batches(g)))
    seconds = time.perf_counter() - t0
    await duck.close()
    db.unlink(missing_ok=True)
    return seconds


# --- compression -----------------------------------------------------------------
async def compression_row(
    bootstrap: str, batches: list[pa.RecordBatch], codec: str
) -> dict[str, Any]:
    """Produce every batch with ``codec``; bytes, produce seconds, decode seconds."""
    config = sink_config(bootstrap, f"bench-c-{uuid.uuid4().hex[:8]}", codec)
    async with KafkaSink(config) as sink:
        await sink.send(Envelope(records=batches[0]))  # connect + topic outside the clock
        sink.stats.bytes = 0
        t0 = time.perf_counter()
        for b in batches:
            await sink.send(Envelope(records=b, meta={"host": "bench-host"}))
        produce_s = time.perf_counter() - t0
        wire = sink.stats.bytes
    values = [m.value for b in batches for m in encode_envelope(Envelope(records=b), config)[0]]
    if codec == "kafka-zstd":  # aiokafka compresses after our count: size it the same way
        wire = sum(len(cramjam.zstd.compress(v)) for v in values)
    t0 = time.perf_counter()
    rows = sum(decode(v).num_rows for v in values)
    decode_s = time.perf_counter() - t0
    assert rows == sum(b.num_rows for b in batches)
    return {"codec": codec, "bytes": wire, "produce_s": produce_s, "decode_s": decode_s}


# --- end to end: the two processes ----------------------------------------------------
async def producer(path: Path, bootstrap: str, topic: str) -> dict[str, Any]:
    """Collector half: read → parse → KafkaSink; seconds per stage."""
    parser = Parser(S.SOURCE_AUDITLOG, HOST, framing="audit")
    stages = {"read": 0.0, "parse": 0.0, "encode+produce (acks=all)": 0.0}
    records = 0
    async with KafkaSink(sink_config(bootstrap, topic)) as sink:
        start = time.time()
        t_busy = time.perf_counter()
        with path.open("rb") as f:
            offset = 0
            while True:
                t0 = time.perf_counter()
                data = f.read(CHUNK)
                t1 = time.perf_counter()
                stages["read"] += t1 - t0
                result = parser.feed(data, offset) if data else parser.flush()
                t2 = time.perf_counter()
                stages["parse"] += t2 - t1
                if result.records.num_rows or result.loss.num_rows:
                    await sink.send(
                        Envelope(
                            records=result.records, loss=result.loss, meta={"host": "bench-host"}
                        )
                    )
                stages["encode+produce (acks=all)"] += time.perf_counter() - t2
                records += result.records.num_rows
                offset += len(data)
                if not data:
                    break
        busy = time.perf_counter() - t_busy
    return {
        "start": start,
        "records": records,
        "stages": stages,
        "busy": busy,
        "bytes": sink.stats.bytes,
        "messages": sink.stats.messages,
    }


class TimedSink:
    """Wraps DuckDBSink.send to count the seconds spent storing."""

    def __init__(self, inner: DuckDBSink) -> None:
        self.inner = inner
        self.seconds = 0.0

    async def send(self, envelope: Envelope) -> None:
        t0 = time.perf_counter()
        await self.inner.send(envelope)
        self.seconds += time.perf_counter() - t0

    async def close(self) -> None:
        await self.inner.close()


async def consumer(bootstrap: str, topic: str, db: Path, expected: int) -> dict[str, Any]:
    """Processor half: KafkaSource → DuckDB until ``expected`` records are stored."""
    duck = DuckDBSink(DuckDBConfig(path=db))
    await duck.open()
    timed = TimedSink(duck)
    config = KafkaSourceConfig(
        bootstrap_servers=bootstrap, topics=(topic,), group_id=f"g-{topic}", max_batch_wait_s=0.5
    )
    source = KafkaSource(config, timed)
    # Time the decode and the offset commit where KafkaSource calls them.
    spent = {"decode": 0.0, "commit": 0.0}

    def timed_decode(value: bytes) -> pa.RecordBatch:
        t0 = time.perf_counter()
        try:
            return decode(value)
        finally:
            spent["decode"] += time.perf_counter() - t0

    ik.decode = timed_decode  # type: ignore[assignment]
    commit = source._commit

    async def timed_commit(offsets: Any) -> None:
        t0 = time.perf_counter()
        await commit(offsets)
        spent["commit"] += time.perf_counter() - t0

    source._commit = timed_commit  # type: ignore[method-assign]
    stop = asyncio.Event()
    await source.start()
    running = asyncio.create_task(source.run(stop))
    assert source._consumer is not None
    while not source._consumer.assignment():  # joined: the clock may start
        await asyncio.sleep(0.05)
    print("ready", flush=True)
    t_first: float | None = None
    done_at = 0.0
    while source.stats.records < expected:
        if t_first is None and source.stats.messages:
            t_first = time.perf_counter()
        await asyncio.sleep(0.005)
    done_at = time.time()
    busy = time.perf_counter() - (t_first or done_at)
    stop.set()
    await running
    await source.close()
    await duck.close()
    rest = busy - timed.seconds - spent["decode"] - spent["commit"]
    return {
        "done": done_at,
        "records": source.stats.records,
        "busy": busy,
        "stages": {
            "fetch (incl. waiting for the producer)": max(rest, 0.0),
            "decode (IPC, zero-copy)": spent["decode"],
            "DuckDB store (commit)": timed.seconds,
            "offset commit": spent["commit"],
        },
        "duplicates": duck.stats.duplicates,
        "commits": source.stats.commits,
    }


def _child(args: argparse.Namespace) -> int:
    if args.role == "producer":
        out = asyncio.run(producer(args.file, args.bootstrap, args.topic))
    else:
        out = asyncio.run(consumer(args.bootstrap, args.topic, args.db, args.expected))
    print(json.dumps(out), flush=True)
    return 0


def end_to_end(path: Path, bootstrap: str, expected: int, tmp: Path) -> dict[str, Any]:
    """One e2e run with the two halves in two processes."""
    topic = f"bench-e2e-{uuid.uuid4().hex[:8]}"
    db = tmp / f"{topic}.duckdb"

    async def create() -> None:  # so the consumer can join before the clock starts
        async with KafkaSink(sink_config(bootstrap, topic)) as sink:
            await sink._connect()

    asyncio.run(create())
    me = [sys.executable, str(Path(__file__).resolve())]
    common = ["--bootstrap", bootstrap, "--topic", topic]
    cons = subprocess.Popen(
        [*me, "--role", "consumer", *common, "--db", str(db), "--expected", str(expected)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert cons.stdout is not None
    assert "ready" == cons.stdout.readline().strip()
    prod = subprocess.run(
        [*me, "--role", "producer", *common, "--file", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    p = json.loads(prod.stdout.strip().splitlines()[-1])
    c = json.loads(cons.stdout.read().strip().splitlines()[-1])
    cons.wait()
    db.unlink(missing_ok=True)
    return {"wall": c["done"] - p["start"], "producer": p, "consumer": c}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--lines", type=int, default=1_000_000, help="generated lines (default 1M)")
    ap.add_argument("--runs", type=int, default=3, help="end-to-end runs (median)")
    ap.add_argument("--json", type=Path, help="also write the raw numbers here")
    ap.add_argument("--role", choices=("producer", "consumer"), help=argparse.SUPPRESS)
    ap.add_argument("--bootstrap", help=argparse.SUPPRESS)
    ap.add_argument("--topic", help=argparse.SUPPRESS)
    ap.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--expected", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.role:
        return _child(args)

    from tests.conftest import start_broker

    path, _ = gen_auditlog.ensure(args.lines)
    size = path.stat().st_size
    batches, parse_s = parse_file(path)
    expected = sum(b.num_rows for b in batches)
    tmp = HERE / ".data" / "e2e"
    tmp.mkdir(parents=True, exist_ok=True)
    store_s = asyncio.run(store_only(batches, tmp / "store-only.duckdb"))
    broker = start_broker()
    try:
        comp = [asyncio.run(compression_row(broker.bootstrap, batches, c)) for c in CODECS]
        runs = [end_to_end(path, broker.bootstrap, expected, tmp) for _ in range(args.runs)]
    finally:
        broker.stop()

    wall = statistics.median(r["wall"] for r in runs)
    median_run = sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]
    print(
        f"## End to end through Kafka ({args.lines:,} lines, {size / 1e6:.0f} MB, "
        f"{expected:,} MAC records, {os.cpu_count()} cores, {args.runs} runs)\n"
    )
    print("| path | time (s) | MAC records/s | MB/s of log | ratio to parse only |")
    print("|---|---|---|---|---|")
    print(
        f"| anchor: parse only, 1 process | {parse_s:.2f} | {expected / parse_s:,.0f} | "
        f"{size / 1e6 / parse_s:.0f} | 1.00 |"
    )
    print(
        f"| anchor: DuckDBSink alone, same batches, 1 process | {store_s:.2f} | "
        f"{expected / store_s:,.0f} | {size / 1e6 / store_s:.0f} | {parse_s / store_s:.2f} |"
    )
    print(
        f"| file → parse → Kafka → DuckDB (2 processes, median) | {wall:.2f} | "
        f"{expected / wall:,.0f} | {size / 1e6 / wall:.0f} | {parse_s / wall:.2f} |"
    )
    print("\n### Share of time per stage (median run)\n")
    print("| process | stage | seconds | share of the process's busy time |")
    print("|---|---|---|---|")
    for role in ("producer", "consumer"):
        part = median_run[role]
        for stage, sec in part["stages"].items():
            print(f"| {role} | {stage} | {sec:.2f} | {sec / part['busy']:.0%} |")
    print(
        f"\nconsumer: {median_run['consumer']['commits']} commits, "
        f"{median_run['consumer']['duplicates']} duplicates; producer: "
        f"{median_run['producer']['messages']} messages, "
        f"{median_run['producer']['bytes'] / 1e6:.1f} MB on the wire"
    )
    print("\n### Compression (all parsed batches, produce with acks=all; decode in the consumer)\n")
    print("| codec | MB on the wire | produce (s) | decode (s) | records/s produce |")
    print("|---|---|---|---|---|")
    for row in comp:
        print(
            f"| {row['codec']} | {row['bytes'] / 1e6:.1f} | {row['produce_s']:.2f} | "
            f"{row['decode_s']:.2f} | {expected / row['produce_s']:,.0f} |"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "parse_s": parse_s,
                    "store_s": store_s,
                    "records": expected,
                    "bytes": size,
                    "compression": comp,
                    "runs": runs,
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
