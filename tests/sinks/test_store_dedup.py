"""The windowed dedup pass (sinks.duckdb.dedup_recent, `store upkeep --dedup-window-s`):
two writers racing on one PostgreSQL catalog store redelivered rows twice; the pass
leaves every rid once and deletes nothing else."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from pathlib import Path

import pyarrow as pa
import pytest

from armorwatch.cli import main
from armorwatch.parsers import schema as S
from armorwatch.parsers.envelope import Envelope
from armorwatch.sinks.duckdb import DuckDBConfig, DuckDBSink, dedup_recent
from armorwatch.sinks.store import open_store
from tests.harness.postgres import Postgres
from tests.sinks.test_duckdb import T0, batch, denial

pytest.importorskip("duckdb_ext")

TABLES = ("records", "loss", "rejects")
ROWS = 200  # records per envelope


def lake_url(postgres: Postgres, data: Path) -> str:
    """A store URL on a fresh catalog database of the test server."""
    dbname = postgres.new_database().rsplit("dbname=", 1)[1]
    return f"postgresql://postgres@127.0.0.1:{postgres.port}/{dbname}?data_path={data}"


def envelope(i: int) -> Envelope:
    """Envelope ``i``: ROWS denials (serials i*ROWS…) and one loss row of its own."""
    loss = S.batch_from_rows(
        [
            {
                S.TS: T0 + dt.timedelta(minutes=i),
                S.HOST: "web-01",
                S.SOURCE: S.SOURCE_AUDITLOG,
                S.KIND: S.LOSS_KERNEL_LOST,
                S.COUNT: i + 1,
            }
        ],
        S.LOSS_SCHEMA,
    )
    return Envelope(batch([denial(i * ROWS + k) for k in range(ROWS)]), loss=loss)


def rejects(i: int) -> pa.RecordBatch:
    """One parser reject of envelope ``i``."""
    return S.batch_from_rows(
        [{S.SOURCE: S.SOURCE_AUDITLOG, S.HOST: "web-01", S.REASON: "bad", S.RAW: f"x{i}".encode()}],
        S.REJECT_SCHEMA,
    )


def content(spec: str | Path) -> dict[str, list[tuple[object, ...]]]:
    """Per table, the stored rows without the metadata a writer stamps (sorted)."""
    con = open_store(spec, read_only=True)
    try:
        out = {}
        for t in TABLES:
            rows = con.execute(f"SELECT * EXCLUDE (ingested_at, batch_id) FROM {t}").fetchall()
            out[t] = sorted(rows, key=repr)
        return out
    finally:
        con.close()


async def race(url: str, seed: int) -> set[int]:
    """Two writers (two DuckDB instances, as two processors) send random, overlapping sets
    of envelopes concurrently; the envelope indices sent."""
    rnd = random.Random(seed)
    shared = rnd.sample(range(12), 6)
    parts = [shared + rnd.sample(range(12, 18), 2), shared + rnd.sample(range(18, 24), 2)]
    cfg = DuckDBConfig(path=url, linger_s=0.05, max_delay_s=0.2)  # type: ignore[arg-type]
    sinks = [DuckDBSink(cfg), DuckDBSink(cfg)]
    for s in sinks:
        await s.open()
    try:

        async def write(sink: DuckDBSink, indices: list[int]) -> None:
            order = list(indices)
            rnd.shuffle(order)
            for a in range(0, len(order), 3):  # a few envelopes in flight, as a processor
                group = order[a : a + 3]
                await asyncio.gather(
                    *(sink.send(envelope(i)) for i in group),
                    *(sink.send_rejects(rejects(i)) for i in group),
                )

        await asyncio.gather(*(write(s, p) for s, p in zip(sinks, parts, strict=True)))
    finally:
        for s in sinks:
            await s.close()
    return set(parts[0]) | set(parts[1])


@pytest.mark.integration
@pytest.mark.timeout(180)
@pytest.mark.parametrize("seed", [1, 2])
async def test_racing_writers_leave_every_rid_once_after_the_pass(
    postgres: Postgres, tmp_path: Path, seed: int
) -> None:
    """Two writers commit overlapping batches at the same time (duplicates may pass the
    anti-join); `store upkeep --dedup-window-s` then leaves every rid exactly once, every
    distinct row still there, and nothing of a non-duplicate deleted; a rerun deletes 0."""
    url = lake_url(postgres, tmp_path / "lake")
    sent = await race(url, seed)
    before = content(url)
    assert len({r[0] for r in before["records"]}) == ROWS * len(sent)  # nothing lost
    assert 0 == main(["store", "upkeep", "--db", url, "--dedup-window-s", "600"])
    after = content(url)
    for t in TABLES:
        rids = [r[0] for r in after[t]]
        assert len(rids) == len(set(rids)), t  # every rid once
        assert sorted(set(before[t]), key=repr) == after[t], t  # each distinct row kept
    assert len(after["records"]) == ROWS * len(sent)
    assert len(after["loss"]) == len(after["rejects"]) == len(sent)
    con = open_store(url, read_only=False)
    try:
        assert dict.fromkeys(TABLES, 0) == dedup_recent(con, 600)
    finally:
        con.close()


async def test_the_pass_keeps_the_first_copy_and_leaves_rows_outside_the_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Copies committed in the window lose to the first copy (also one committed before the
    window); a duplicate pair wholly older than the window is left alone; the CLI says how
    many rows it deleted."""
    db = tmp_path / "s.duckdb"
    async with DuckDBSink(DuckDBConfig(path=db, inline_rows=0)) as sink:
        await sink.send(Envelope(batch([denial(i) for i in range(10)])))
    con = open_store(db, read_only=False)
    try:
        # What a racing writer leaves: copies of stored rows under its own batch id.
        copy = (
            "INSERT INTO records SELECT * REPLACE (ingested_at + to_seconds(?) AS ingested_at,"
            " batch_id + ? AS batch_id) FROM records WHERE serial BETWEEN ? AND ?"
        )
        con.execute("UPDATE records SET ingested_at = ingested_at - INTERVAL 1 DAY")
        con.execute(copy, [60, 100, 0, 2])  # a pair of 0-2 a day old: outside the window
        con.execute(copy, [86_400, 200, 5, 9])  # copies of 5-9 committed now
        con.execute(copy, [86_401, 300, 9, 9])  # two more copies of 9 (both above copied)
        first = dict(
            con.execute("SELECT serial, min(batch_id) FROM records GROUP BY serial").fetchall()
        )
    finally:
        con.close()
    assert 0 == main(["store", "upkeep", "--db", str(db), "--dedup-window-s", "600"])
    assert "records: 7 duplicate rows deleted" in capsys.readouterr().out
    con = open_store(db, read_only=True)
    try:
        rows = con.execute("SELECT serial, batch_id FROM records ORDER BY 1, 2").fetchall()
    finally:
        con.close()
    kept = [(s, b) for s, b in rows if s > 2]
    assert [(s, first[s]) for s in range(3, 10)] == kept  # the first copy stays
    assert 6 == sum(1 for s, _ in rows if s <= 2)  # the old pair is outside the window
