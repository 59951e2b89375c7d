"""Pipeline into the lake: file → Kafka → 1 and 2 ``armorwatch process`` → DuckLake.

``PYTHONPATH=. .venv/bin/python bench/bench_pipeline_lake.py [--lines N]`` (default
300,000 generated audit.log lines, ``bench/gen_auditlog.py``, cached in ``bench/.data/``).

One run, side by side, each scenario on a fresh topic (4 partitions) of one Tansu broker
(memory storage, started like the test fixture) and a fresh lake:

- ``sqlite, 1 processor``: the embedded lake (SQLite catalog file + ``PATH.files/``);
- ``postgresql, 1 processor`` and ``postgresql, 2 processors``: a PostgreSQL 15 catalog
  (``tests/harness/postgres.py``: a temp cluster run as nobody on a loopback port) and a
  local data directory; the two processors are one consumer group and split the
  partitions (the producer keys envelopes by host, 32 hosts).

The old single-file DuckDB store path no longer exists (``DuckDBSink`` writes only to a
lake), so it cannot run here; the issue's figure for it, measured on the old code by
``bench/bench_e2e.py``, was 55.9k records/s end to end (1M lines).

Per scenario: the processors (``python -m armorwatch.cli process --kafka … --db …
--exit-when-idle 15``, real subprocesses) start and join; when each has its partitions the
producer process starts (read → ``parsers.stream.Parser`` → ``KafkaSink``, acks=all,
envelopes of ≤ 2,000 records rotating over 32 host keys, 8 per partition) and this
process becomes the reader: it opens the lake read-only (``sinks.store.open_store``) and
runs a ``count(*)`` over ``records`` and a group-by over the profile in a loop (each a new
transaction: it sees the newest committed snapshot) until the count reaches the
producer's records. ``--prefill`` (drain mode) runs the producer to the end first and
starts the clock when the first processor gets partitions: the processors alone.

Reported: records/s end to end (producer start → the reader sees every record); the CPU
seconds each process spent in that window (``/proc/PID/stat``: processors, broker,
the PostgreSQL server with its backends; the producer's own ``getrusage``; imports and
joining excluded) and their sum over the wall time, i.e. how many of the 2 cores the
pipeline got; reader p50/p99 latency during ingest; bytes per stored record of the data
files (next to the old file's 290 B) and the catalog's size.

FIGURES (2026-12-03, one run per table, the 2-core machine shared with 5 other agents'
jobs; "cores" = CPU seconds of all the pipeline's processes over the wall time)

End to end (the producer beside the processors), 300,000 lines -> 90,568 records, load
average 7.8 before, 7.6 after:

    scenario                  wall s  records/s  count p50/p99 ms  group-by p50/p99 ms  cores
    sqlite, 1 processor         9.64      9,400          43 / 162             40 / 215   0.28
    postgresql, 1 processor     8.91     10,166           28 / 77             45 / 126   0.36
    postgresql, 2 processors    6.83     13,269           35 / 95             41 / 215   0.45

End to end, 1,000,000 lines -> 301,697 records, load 7.3 -> 10.8 (a second run at load
5.5 -> 6.0 gave 15,421 / 19,412 / 15,825 records/s, 2 vs 1 processors 0.82x):

    sqlite, 1 processor        17.34     17,399          33 / 224             32 / 186   0.50
    postgresql, 1 processor    21.54     14,004          38 / 229             48 / 185   0.46
    postgresql, 2 processors   19.58     15,405          57 / 347             84 / 568   0.51

Drain of a filled topic (``--prefill``: the processors alone, from the first partition
assignment), 1M lines, load 5.1 -> 4.3 (a second run at load 3.3 -> 5.4 gave 35,116 /
42,231 / 34,042 records/s, 0.81x):

    sqlite, 1 processor         8.88     33,960           16 / 55              17 / 77   0.79
    postgresql, 1 processor     8.68     34,773           16 / 68              25 / 68   0.78
    postgresql, 2 processors    7.66     39,392           20 / 89             36 / 251   0.93

2 processors vs 1 (PostgreSQL catalog): 1.31x, 1.10x, 0.82x end to end; 1.13x, 0.81x
draining. Bytes per record: 108-110 B of Parquet data files in every lake (the old
single-file store: 290 B), plus the catalog: 0.2 MB (SQLite) or 8.2-8.5 MB (PostgreSQL,
nearly all of it that database's own baseline). The old single-file store's processor
path is gone, so it has no row here.

Why the aims (2 processors >= 1.7x one; >= 150k AppArmor records/s) are not met here:

- CPU per record: processor 15-25 us (19-25 in 14 of the 15 scenarios; two processors
  split the work evenly, 3.4 + 3.5 s, but do not lower it, and cost 1.7x one's in one
  run), producer 7-13 us (read + parse + encode + produce), broker <= 1 us, PostgreSQL
  ~1 us. So one core stores at most ~45k records/s (the drains reached 34-42k/s with
  0.66-0.79 cores), and the whole pipeline on 2 cores tops out near ~60k/s. 150k/s on 2
  cores needs <= 13 us per record for producer + processor together; the processor
  alone is ~1.7x that.
- The pipeline never got the 2 cores: 0.28-0.59 of them end to end at load average
  5.5-10.8, 0.66-0.93 draining at 3.3-5.4. A second processor can only add what the
  scheduler hands out, and the ratio moved from 0.81x to 1.31x between runs with the
  load: this box cannot show a 2-processor speed-up; processors on separate machines
  (what the PostgreSQL catalog is for) add their own cores at the same per-record cost.
- Both processors opening a NEW PostgreSQL lake at the same moment race to create the
  catalog tables; the loser logs "Failed to initialize DuckLake ... retrying" and opens
  it on the retry (seen in every 2-processor run; nothing lost).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import gen_auditlog  # noqa: E402

from armorwatch.parsers import schema as S  # noqa: E402
from armorwatch.parsers.envelope import Envelope  # noqa: E402
from armorwatch.parsers.result import HostInfo  # noqa: E402
from armorwatch.parsers.stream import Parser  # noqa: E402
from armorwatch.sinks.kafka import KafkaConfig, KafkaSink  # noqa: E402
from armorwatch.sinks.store import StoreNotFoundError, open_store  # noqa: E402

CHUNK = 8 << 20
PARTITIONS = 4


def balanced_hosts(per_partition: int = 8) -> list[str]:
    """Host names whose keys fill every partition equally (Kafka's murmur2 partitioner):
    with 32 arbitrary names, 22 landed on partitions 0 and 2, and the round-robin
    assignor gave both to one of the two processors."""
    from aiokafka.partitioner import murmur2

    slots: dict[int, list[str]] = {p: [] for p in range(PARTITIONS)}
    i = 0
    while any(len(v) < per_partition for v in slots.values()):
        name = f"bench-host{i}"
        part = (murmur2(name.encode()) & 0x7FFFFFFF) % PARTITIONS
        if len(slots[part]) < per_partition:
            slots[part].append(name)
        i += 1
    return [h for group in zip(*slots.values(), strict=True) for h in group]


HOSTS = balanced_hosts()
SLICE = 2_000
OLD_FILE_BYTES_PER_RECORD = 290


def sink_config(bootstrap: str, topic: str) -> KafkaConfig:
    """Producer settings for the Tansu broker (it has no producer ids)."""
    return KafkaConfig(
        bootstrap_servers=bootstrap,
        topic=topic,
        enable_idempotence=False,
        partitions=PARTITIONS,
    )


def _cpu_s(pid: int) -> float:
    """utime+stime+cutime+cstime of a live process (its reaped children included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


# --- producer (its own process) ------------------------------------------------------
async def producer(path: Path, bootstrap: str, topic: str) -> dict[str, Any]:
    """Collector half: read → parse → KafkaSink, envelopes keyed by rotating hosts."""
    parser = Parser(S.SOURCE_AUDITLOG, HostInfo("bench-host", "bench-m", "bench-b"))
    records = 0
    n = 0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = ru.ru_utime + ru.ru_stime  # imports excluded
    t0 = time.perf_counter()
    async with KafkaSink(sink_config(bootstrap, topic)) as sink:
        with path.open("rb") as f:
            offset = 0
            while True:
                data = f.read(CHUNK)
                result = parser.feed(data, offset) if data else parser.flush()
                batch = result.records
                for start in range(0, batch.num_rows, SLICE):
                    part = batch.slice(start, SLICE)
                    host = HOSTS[n % len(HOSTS)]
                    n += 1
                    await sink.send(Envelope(records=part, meta={"host": host}))
                records += batch.num_rows
                offset += len(data)
                if not data:
                    break
    ru = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter() - t0
    cpu = ru.ru_utime + ru.ru_stime - cpu0
    return {"records": records, "envelopes": n, "cpu_s": cpu, "wall_s": wall}


# --- processors ----------------------------------------------------------------------
@dataclass
class Processor:
    proc: subprocess.Popen[str]
    assigned: threading.Event = field(default_factory=threading.Event)
    assigned_at: float = 0.0
    cpu_at_assign: float = 0.0
    log: list[str] = field(default_factory=list)

    def watch(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)
            if "Assigned partitions" in line and "[]" not in line and not self.assigned.is_set():
                self.assigned_at = time.perf_counter()
                self.cpu_at_assign = _cpu_s(self.proc.pid)  # imports and start-up excluded
                self.assigned.set()


def start_processors(n: int, bootstrap: str, topic: str, db: str) -> list[Processor]:
    cmd = [
        sys.executable, "-m", "armorwatch.cli", "process", "--kafka", bootstrap,
        "--topic", topic, "--group", f"g-{topic}", "--db", db, "--exit-when-idle", "15",
        "--log-format", "plain",
    ]  # fmt: skip
    out = []
    for _ in range(n):
        p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)  # fmt: skip
        proc = Processor(p)
        threading.Thread(target=proc.watch, daemon=True).start()
        out.append(proc)
    return out


def exited(p: subprocess.Popen[Any]) -> bool:
    """Whether ``p`` ended, without reaping it (``reap`` takes its rusage later)."""
    return os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def reap(p: subprocess.Popen[Any], timeout: float = 120.0) -> float:
    """Wait for ``p``; its CPU seconds (user + system, children included)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            return float(ru.ru_utime + ru.ru_stime)
        time.sleep(0.1)
    p.kill()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return float(ru.ru_utime + ru.ru_stime)


# --- one scenario --------------------------------------------------------------------
def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def scenario(
    name: str,
    n_proc: int,
    db: str,
    path: Path,
    bootstrap: str,
    broker_pid: int,
    pg: Any | None,
    prefill: bool = False,
) -> dict[str, Any]:
    topic = f"bench-lake-{uuid.uuid4().hex[:8]}"

    async def create() -> None:  # the topic exists before the group subscribes
        async with KafkaSink(sink_config(bootstrap, topic)) as sink:
            await sink._connect()

    asyncio.run(create())
    me = [sys.executable, str(Path(__file__).resolve()), "--role", "producer"]
    me += ["--bootstrap", bootstrap, "--topic", topic, "--file", str(path)]
    expected: int | None = None
    produced: dict[str, Any] = {}
    prod: subprocess.Popen[str] | None = None
    if prefill:  # drain mode: the topic holds every record before a processor starts
        fill = subprocess.run(me, capture_output=True, text=True, check=True)
        produced = json.loads(fill.stdout.strip().splitlines()[-1])
        expected = produced["records"]
    procs = start_processors(n_proc, bootstrap, topic, db)
    pg_cpu0 = _cpu_s(pg.process.pid) if pg else 0.0
    broker_cpu0 = _cpu_s(broker_pid)
    if prefill:  # the clock starts when the first processor has partitions
        while not any(p.assigned.is_set() for p in procs):
            if all(exited(p.proc) for p in procs):
                raise RuntimeError(f"{name}: processors exited: {procs[0].log[-5:]}")
            time.sleep(0.01)
        t0 = min(p.assigned_at for p in procs if p.assigned.is_set())
    for p in procs:
        if not p.assigned.wait(120):
            raise RuntimeError(f"{name}: a processor got no partitions: {''.join(p.log)[-2000:]}")
    if prefill:
        proc_cpu0 = [p.cpu_at_assign for p in procs]
    else:
        time.sleep(2.0)  # let the last rebalance settle before the clock starts
        pg_cpu0 = _cpu_s(pg.process.pid) if pg else 0.0
        broker_cpu0 = _cpu_s(broker_pid)
        proc_cpu0 = [_cpu_s(p.proc.pid) for p in procs]  # start-up and join excluded
        t0 = time.perf_counter()
        prod = subprocess.Popen(me, stdout=subprocess.PIPE, text=True)
    # The reader: this process, read-only, while the processors write (the first
    # processor creates an embedded lake when it opens it).
    deadline = time.monotonic() + 60
    while True:
        try:
            con = open_store(db, read_only=True)
            break
        except StoreNotFoundError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    counts: list[float] = []
    groups: list[float] = []
    proc_cpu: list[float] = []
    stored = 0
    t_done = None
    try:
        while time.perf_counter() - t0 < 600:
            a = time.perf_counter()
            stored = int(con.execute("SELECT count(*) FROM records").fetchone()[0])  # type: ignore[index]
            b = time.perf_counter()
            con.execute(
                f"SELECT {S.PROFILE}, count(*) FROM records GROUP BY ALL ORDER BY 2 DESC LIMIT 10"
            ).fetchall()
            c = time.perf_counter()
            if expected is not None and stored >= expected:
                t_done = b
                proc_cpu = [_cpu_s(p.proc.pid) - c0 for p, c0 in zip(procs, proc_cpu0, strict=True)]
                break
            counts.append(b - a)
            groups.append(c - b)
            if all(exited(p.proc) for p in procs):  # a failure: say why
                logs = "".join(line for p in procs for line in p.log[-5:])
                raise RuntimeError(f"{name}: processors gone at {stored} records: {logs}")
            if expected is None and prod is not None and prod.poll() is not None:
                assert prod.stdout is not None
                produced = json.loads(prod.stdout.read().strip().splitlines()[-1])
                expected = produced["records"]
            time.sleep(0.1)
    finally:
        con.close()
    if t_done is None:
        raise RuntimeError(f"{name}: {stored} of {expected} records after 600 s")
    wall = t_done - t0
    pg_cpu = (_cpu_s(pg.process.pid) - pg_cpu0) if pg else 0.0
    broker_cpu = _cpu_s(broker_pid) - broker_cpu0
    prod_cpu = produced["cpu_s"]
    for p in procs:
        reap(p.proc)
        if p.proc.returncode != 0:
            raise RuntimeError(f"{name}: processor exit {p.proc.returncode}: {p.log[-5:]}")
    return {
        "name": name,
        "processors": n_proc,
        "records": expected,
        "wall_s": wall,
        "records_per_s": (expected or 0) / wall,
        "producer_cpu_s": prod_cpu,
        "processor_cpu_s": proc_cpu,
        "processor_warnings": [
            [ln for ln in p.log if "WARNING" in ln or "ERROR" in ln] for p in procs
        ],
        "postgres_cpu_s": pg_cpu,
        "broker_cpu_s": broker_cpu,
        "prefill": prefill,
        "producer_wall_s": produced["wall_s"],
        "envelopes": produced["envelopes"],
        "reader_queries": len(counts),
        "count_p50_ms": 1000 * pct(counts, 0.5),
        "count_p99_ms": 1000 * pct(counts, 0.99),
        "group_p50_ms": 1000 * pct(groups, 0.5),
        "group_p99_ms": 1000 * pct(groups, 0.99),
    }


def pg_catalog_bytes(pg: Any, dbname: str) -> int:
    out = subprocess.run(
        [str(pg.bindir / "psql"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres",
         "-d", dbname, "-tAc", "SELECT pg_database_size(current_database())"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return int(out.stdout.strip())


def report(rows: list[dict[str, Any]], what: str, load0: float, load1: float) -> str:
    """The Markdown tables and ratios of one run."""
    out = [
        f"## file → Kafka → armorwatch process → DuckLake ({what}, "
        f"{rows[0]['records']:,} records, {os.cpu_count()} cores, load average "
        f"{load0:.1f} before, {load1:.1f} after)\n",
        "| scenario | wall (s) | records/s | producer wall (s) | reader count p50/p99 ms "
        "| group-by p50/p99 ms | data B/record | catalog MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['name']} | {r['wall_s']:.2f} | {r['records_per_s']:,.0f} | "
            f"{r['producer_wall_s']:.2f} | {r['count_p50_ms']:.0f} / {r['count_p99_ms']:.0f} | "
            f"{r['group_p50_ms']:.0f} / {r['group_p99_ms']:.0f} | "
            f"{r['data_bytes'] / r['records']:.0f} | {r['catalog_bytes'] / 1e6:.1f} |"
        )
    out += [
        "\nCPU seconds while the clock ran (until all records were visible):\n",
        "| scenario | producer | processors | broker | postgres | all / wall (cores) "
        "| processor µs/record |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        procs = r["processor_cpu_s"]
        producer = 0.0 if r["prefill"] else r["producer_cpu_s"]  # before the clock: not in it
        total = producer + sum(procs) + r["broker_cpu_s"] + r["postgres_cpu_s"]
        out.append(
            f"| {r['name']} | {r['producer_cpu_s']:.1f} | "
            f"{' + '.join(f'{c:.1f}' for c in procs)} | {r['broker_cpu_s']:.1f} | "
            f"{r['postgres_cpu_s']:.1f} | {total / r['wall_s']:.2f} | "
            f"{1e6 * sum(procs) / r['records']:.1f} |"
        )
    ratio = rows[2]["records_per_s"] / rows[1]["records_per_s"]
    out.append(f"\n2 processors / 1 processor (PostgreSQL catalog): {ratio:.2f}x")
    out.append(
        f"old single-file store: {OLD_FILE_BYTES_PER_RECORD} B/record (README); "
        "its processor path no longer exists"
    )
    for r in rows:
        for w in r["processor_warnings"]:
            out += [f"  {r['name']} (log): {line.strip()[:200]}" for line in w[:3]]
    up = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    out.append(f"uptime: {up}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--lines", type=int, default=300_000, help="generated lines (300k)")
    ap.add_argument("--json", type=Path, help="also write the raw numbers here")
    ap.add_argument(
        "--prefill",
        action="store_true",
        help="drain mode: fill the topic first, then time the processors alone "
        "(from the first partition assignment to the last record visible)",
    )
    ap.add_argument("--role", choices=("producer",), help=argparse.SUPPRESS)
    ap.add_argument("--bootstrap", help=argparse.SUPPRESS)
    ap.add_argument("--topic", help=argparse.SUPPRESS)
    ap.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.role:
        print(json.dumps(asyncio.run(producer(args.file, args.bootstrap, args.topic))))
        return 0

    from tests.conftest import start_broker
    from tests.harness.postgres import start_postgres

    path, _ = gen_auditlog.ensure(args.lines)
    load_before = os.getloadavg()
    broker = start_broker()
    pg = start_postgres()
    tmp = Path(tempfile.mkdtemp(prefix="bench-lake-", dir=HERE / ".data"))
    bpid = broker.process.pid
    rows: list[dict[str, Any]] = []
    try:
        sqlite_db = tmp / "lake.duckdb"
        r = scenario(
            "sqlite, 1 processor", 1, str(sqlite_db), path, broker.bootstrap, bpid, None,
            args.prefill,
        )  # fmt: skip
        r["data_bytes"] = du(Path(f"{sqlite_db}.files"))
        r["catalog_bytes"] = du(sqlite_db)
        rows.append(r)
        for n in (1, 2):
            dbname = pg.new_database().rsplit("dbname=", 1)[1]
            data = tmp / f"pg-{n}"
            url = f"postgresql://postgres@127.0.0.1:{pg.port}/{dbname}?data_path={data}"
            name = f"postgresql, {n} processor{'s' * (n > 1)}"
            r = scenario(name, n, url, path, broker.bootstrap, bpid, pg, args.prefill)
            r["data_bytes"] = du(data)
            r["catalog_bytes"] = pg_catalog_bytes(pg, dbname)
            rows.append(r)
    finally:
        pg.stop()
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    load_after = os.getloadavg()
    mode = "drain of a filled topic" if args.prefill else "end to end"
    print(report(rows, f"{args.lines:,} lines, {mode}", load_before[0], load_after[0]))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
