"""A DuckDBSink writer process for the crash and concurrency tests (not a test module).

Usage: python -m tests.sinks.duckdb_writer_proc DB ENVELOPE_ROWS ENVELOPES

Sends ENVELOPES envelopes of ENVELOPE_ROWS denials each, one after another, and prints
``acked <envelope index>`` after each send returned (the ack), flushed, so the parent
knows exactly which envelopes were acknowledged before it kills the process.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from pathlib import Path

import pyarrow as pa

from armorwatch.parsers import schema as S
from armorwatch.parsers.envelope import Envelope
from armorwatch.sinks.duckdb import DuckDBConfig, DuckDBSink

T0 = dt.datetime(2025, 11, 23, tzinfo=dt.UTC)


def envelope(index: int, rows: int) -> Envelope:
    """Envelope ``index``: serials index*rows .. index*rows+rows-1."""
    first = index * rows
    serials = pa.array(range(first, first + rows), pa.uint64())
    n = rows
    columns = {
        S.TS: pa.array(
            [T0 + dt.timedelta(milliseconds=int(s)) for s in serials.to_pylist()],
            pa.timestamp("ms", tz="UTC"),
        ),
        S.SERIAL: serials,
        S.ORDINAL: pa.array([0] * n, pa.uint16()),
        S.HOST: pa.array(["crash-host"] * n),
        S.BOOT_ID: pa.array(["boot"] * n),
        S.RECORD_TYPE: pa.array(["AVC"] * n),
        S.LSM: pa.array([S.LSM_APPARMOR] * n),
        S.APPARMOR: pa.array([S.AA_DENIED] * n),
        S.PROFILE: pa.array(["/usr/bin/crash"] * n),
        S.NAME: pa.array([f"/var/lib/x/{s}" for s in serials.to_pylist()]),
        S.RAW: pa.array([b"raw"] * n, pa.binary()),
    }
    arrays = [
        columns[f.name].cast(f.type) if f.name in columns else pa.nulls(n, f.type)
        for f in S.MAC_SCHEMA
    ]
    return Envelope(pa.RecordBatch.from_arrays(arrays, schema=S.MAC_SCHEMA))


async def main(db: Path, rows: int, count: int) -> None:
    """Send ``count`` envelopes sequentially, announcing each ack."""
    cfg = DuckDBConfig(path=db, linger_s=0.0)
    async with DuckDBSink(cfg) as sink:
        print("open", flush=True)
        for i in range(count):
            await sink.send(envelope(i, rows))
            print(f"acked {i}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
