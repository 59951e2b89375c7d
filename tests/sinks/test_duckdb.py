"""DuckDBSink: tables and views, de-duplication, group commit, migrations, errors."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from armorwatch.parsers import schema as S
from armorwatch.parsers.envelope import Envelope
from armorwatch.sinks.duckdb import (
    META_COLUMN_NAMES,
    VIEWS,
    DuckDBConfig,
    DuckDBSink,
    migrate,
    open_reader,
    sql_text,
)
from armorwatch.sinks.errors import TerminalSinkError, TransientSinkError
from armorwatch.sinks.store import open_store

T0 = dt.datetime(2025, 11, 23, 1, 0, 0, tzinfo=dt.UTC)


def denial(i: int, **over: Any) -> dict[str, Any]:
    """One AppArmor file denial row keyed by serial ``i``."""
    row: dict[str, Any] = {
        S.TS: T0 + dt.timedelta(seconds=i),
        S.SERIAL: i,
        S.ORDINAL: 0,
        S.HOST: "web-01",
        S.BOOT_ID: "b1",
        S.SOURCE: S.SOURCE_AUDITLOG,
        S.RECORD_TYPE: "AVC",
        S.ORIGIN: S.ORIGIN_KERNEL,
        S.LSM: S.LSM_APPARMOR,
        S.APPARMOR: S.AA_DENIED,
        S.OPERATION: "open",
        S.CLASS: "file",
        S.PROFILE: "/usr/sbin/nginx",
        S.NAME: f"/proc/{i}/status",
        S.REQUESTED_MASK: "r",
        S.DENIED_MASK: "r",
        S.RAW: f"type=AVC msg=audit({i}) denied".encode(),
    }
    row.update(over)
    return row


def batch(rows: list[Mapping[str, Any]]) -> pa.RecordBatch:
    """MAC_SCHEMA batch of ``rows``."""
    return S.batch_from_rows(rows)


def loss_batch(n: int = 1, count: int = 5) -> pa.RecordBatch:
    """LOSS_SCHEMA batch of ``n`` kernel_lost rows."""
    return S.batch_from_rows(
        [
            {
                S.TS: T0 + dt.timedelta(minutes=i),
                S.HOST: "web-01",
                S.SOURCE: S.SOURCE_AUDITLOG,
                S.KIND: S.LOSS_KERNEL_LOST,
                S.COUNT: count,
            }
            for i in range(n)
        ],
        S.LOSS_SCHEMA,
    )


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> Any:
    """First column of the first row."""
    row = con.execute(sql, params).fetchone()
    assert row is not None
    return row[0]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A DB path in a fresh directory."""
    return tmp_path / "store.duckdb"


@pytest.fixture
def reader(db: Path) -> Iterator[Any]:
    """Factory for a read-only connection opened after the sink closed."""
    opened: list[duckdb.DuckDBPyConnection] = []

    def make() -> duckdb.DuckDBPyConnection:
        con, _ = open_reader(db)
        opened.append(con)
        return con

    yield make
    for con in opened:
        con.close()


class TestTables:
    async def test_records_has_every_schema_column(self, db: Path, reader: Any) -> None:
        """records holds every MAC_SCHEMA column by the same name after the ingest metadata."""
        async with DuckDBSink(DuckDBConfig(path=db)):
            pass
        cols = [
            r[0]
            for r in reader()
            .execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = 'records'"
                " ORDER BY column_index"
            )
            .fetchall()
        ]
        assert list(META_COLUMN_NAMES) + list(S.COLUMNS) == cols

    async def test_loss_and_rejects_have_their_schemas(self, db: Path, reader: Any) -> None:
        """loss and rejects hold LOSS_SCHEMA and REJECT_SCHEMA columns after the metadata."""
        async with DuckDBSink(DuckDBConfig(path=db)):
            pass
        con = reader()
        for table, sch in (("loss", S.LOSS_SCHEMA), ("rejects", S.REJECT_SCHEMA)):
            cols = [
                r[0]
                for r in con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE table_name = ?"
                    " ORDER BY column_index",
                    [table],
                ).fetchall()
            ]
            assert list(META_COLUMN_NAMES) + sch.names == cols

    async def test_every_table_column_is_documented(self, db: Path, reader: Any) -> None:
        """Every column of records, loss and rejects carries a comment."""
        async with DuckDBSink(DuckDBConfig(path=db)):
            pass
        missing = (
            reader()
            .execute(
                "SELECT table_name, column_name FROM duckdb_columns()"
                " WHERE table_name IN ('records', 'loss', 'rejects')"
                " AND (comment IS NULL OR comment = '')"
            )
            .fetchall()
        )
        assert [] == missing

    async def test_column_comments_are_the_schema_descriptions(self, db: Path, reader: Any) -> None:
        """Each schema column's comment is its description in parsers.schema, typed once."""
        async with DuckDBSink(DuckDBConfig(path=db)):
            pass
        con = reader()
        for table, sch in (
            ("records", S.MAC_SCHEMA),
            ("loss", S.LOSS_SCHEMA),
            ("rejects", S.REJECT_SCHEMA),
        ):
            comments = dict(
                con.execute(
                    "SELECT column_name, comment FROM duckdb_columns() WHERE table_name = ?",
                    [table],
                ).fetchall()
            )
            assert S.descriptions(sch) == {n: comments[n] for n in sch.names}
        hand_written = sql_text("comments.sql")
        assert all(f".{n} IS" not in hand_written for n in S.COLUMNS), "typed twice"

    async def test_every_view_column_is_documented_in_the_catalog(
        self, db: Path, reader: Any
    ) -> None:
        """Every view column has a catalog comment: its own doc, else its table column's."""
        async with DuckDBSink(DuckDBConfig(path=db)):
            pass
        con = reader()
        rows = con.execute(
            "SELECT c.table_name, c.column_name, c.comment FROM duckdb_columns() c"
            " JOIN duckdb_views() v ON v.view_name = c.table_name AND NOT v.internal"
        ).fetchall()
        docs = {(t, c): text for t, c, text in rows}
        assert (set(VIEWS), []) == (
            {t for t, _ in docs},
            [key for key, text in docs.items() if not text],
        )
        assert docs[("new_denials", "first_seen")].startswith("first denial of this pattern")
        assert docs[("denials", "subject")].startswith("who was denied or allowed")
        assert docs[("denials", "ts")] == S.descriptions(S.MAC_SCHEMA)[S.TS]

    async def test_comments_are_rewritten_only_when_their_definition_changed(
        self, db: Path, reader: Any
    ) -> None:
        """A reopen keeps the lake's column comments; another version's stamp rewrites them."""
        async with DuckDBSink(DuckDBConfig(path=db)):
            pass
        con = open_store(db, read_only=False)
        con.execute("COMMENT ON COLUMN records.host IS 'an analyst note'")
        con.close()
        async with DuckDBSink(DuckDBConfig(path=db)):  # same version: nothing rewritten
            pass
        note = (
            "SELECT comment FROM duckdb_columns()"
            " WHERE table_name = 'records' AND column_name = 'host'"
        )
        assert "an analyst note" == scalar(reader(), note)
        con = open_store(db, read_only=False)
        con.execute("UPDATE meta SET value = 'an older armorwatch' WHERE key = 'catalog'")
        con.close()
        async with DuckDBSink(DuckDBConfig(path=db)):
            pass
        assert S.descriptions(S.MAC_SCHEMA)[S.HOST] == scalar(reader(), note)

    async def test_views_exist(self, db: Path, reader: Any) -> None:
        """Every documented view exists and can be queried on an empty store."""
        async with DuckDBSink(DuckDBConfig(path=db)):
            pass
        con = reader()
        assert [0] * len(VIEWS) == [scalar(con, f"SELECT count(*) FROM {v}") for v in VIEWS]

    async def test_rows_round_trip(self, db: Path, reader: Any) -> None:
        """Stored values equal the batch's, including raw bytes and list columns."""
        row = denial(1, **{S.PROFILE_STACK: ["a", "b"], S.RAW: b"\x00\xff\x1b[31m"})
        async with DuckDBSink(DuckDBConfig(path=db)) as sink:
            await sink.send(Envelope(batch([row])))
        got = (
            reader()
            .sql(f"SELECT {', '.join(S.COLUMNS)} FROM records")
            .to_arrow_table()
            .cast(pa.schema([pa.field(f.name, f.type) for f in S.MAC_SCHEMA]))
        )
        expected = pa.Table.from_batches([batch([row])]).replace_schema_metadata(None)
        assert expected.to_pylist() == got.to_pylist()


class TestDedup:
    async def test_replay_is_stored_once(self, db: Path, reader: Any) -> None:
        """Sending the same envelope three times stores its rows once."""
        env = Envelope(batch([denial(i) for i in range(10)]), loss_batch(2))
        async with DuckDBSink(DuckDBConfig(path=db)) as sink:
            for _ in range(3):
                await sink.send(env)
            stats = sink.stats
        con = reader()
        assert 10 == scalar(con, "SELECT count(*) FROM records")
        assert 2 == scalar(con, "SELECT count(*) FROM loss")
        assert (30, 10, 20) == (stats.rows_received, stats.rows_inserted, stats.duplicates)

    async def test_replay_with_different_boundaries(self, db: Path, reader: Any) -> None:
        """A replay split differently (overlapping batches) still counts each record once."""
        rows = [denial(i) for i in range(20)]
        async with DuckDBSink(DuckDBConfig(path=db)) as sink:
            await sink.send(Envelope(batch(rows[:12])))
            await sink.send(Envelope(batch(rows[5:])))
            await sink.send(Envelope(batch(rows[3:9] + rows[3:9])))
        assert 20 == scalar(reader(), "SELECT count(*) FROM denials")

    async def test_replay_across_reopen(self, db: Path, reader: Any) -> None:
        """Rows replayed after the writer restarted are not stored again."""
        env = Envelope(batch([denial(i) for i in range(5)]))
        for _ in range(2):
            async with DuckDBSink(DuckDBConfig(path=db)) as sink:
                await sink.send(env)
        assert 5 == scalar(reader(), "SELECT count(*) FROM records")

    async def test_key_parts_distinguish_records(self, db: Path, reader: Any) -> None:
        """Records differing in any key part (boot, host, raw, type, ts) are all kept."""
        rows = [
            denial(1),
            denial(1, **{S.BOOT_ID: "b2"}),  # same ts:serial after a reboot (E2)
            denial(1, **{S.HOST: "web-02"}),
            denial(1, **{S.RAW: b"another record of the same event"}),
            denial(1, **{S.RECORD_TYPE: "APPARMOR_DENIED"}),
            denial(1, **{S.TS: T0}),
        ]
        async with DuckDBSink(DuckDBConfig(path=db)) as sink:
            await sink.send(Envelope(batch(rows)))
        assert 6 == scalar(reader(), "SELECT count(*) FROM records")

    async def test_ordinal_is_not_part_of_the_key(self, db: Path, reader: Any) -> None:
        """The same record bytes grouped at another position in its event are one record."""
        rows = [denial(1), denial(1, **{S.ORDINAL: 1})]
        async with DuckDBSink(DuckDBConfig(path=db)) as sink:
            await sink.send(Envelope(batch(rows)))
        assert 1 == scalar(reader(), "SELECT count(*) FROM records")

    async def test_null_key_parts_are_equal_to_null_only(self, db: Path, reader: Any) -> None:
        """A null key part equals null (deduplicated) but differs from an empty string."""
        rows = [
            denial(1, **{S.BOOT_ID: None}),
            denial(1, **{S.BOOT_ID: None}),
            denial(1, **{S.BOOT_ID: ""}),
            denial(1, **{S.HOST: None, S.BOOT_ID: "x"}),
            denial(1, **{S.HOST: "x", S.BOOT_ID: None}),
        ]
        async with DuckDBSink(DuckDBConfig(path=db)) as sink:
            await sink.send(Envelope(batch(rows)))
        assert 4 == scalar(reader(), "SELECT count(*) FROM records")

    async def test_null_serial_falls_back_to_raw(self, db: Path, reader: Any) -> None:
        """Without a serial, records are the same only when their raw bytes are."""
        rows = [
            denial(0, **{S.SERIAL: None, S.TS: T0, S.RAW: b"dbus line a"}),
            denial(0, **{S.SERIAL: None, S.TS: T0, S.RAW: b"dbus line a"}),
            denial(0, **{S.SERIAL: None, S.TS: T0, S.RAW: b"dbus line b"}),
        ]
        async with DuckDBSink(DuckDBConfig(path=db)) as sink:
            await sink.send(Envelope(batch(rows)))
            await sink.send(Envelope(batch(rows)))
        assert 2 == scalar(reader(), "SELECT count(*) FROM records")

    async def test_null_ts_rows_dedup_across_batches(self, db: Path, reader: Any) -> None:
        """Rows without ts are matched against stored rows without ts on replay."""
        rows = [denial(i, **{S.TS: None}) for i in range(3)] + [denial(7)]
        async with DuckDBSink(DuckDBConfig(path=db)) as sink:
            await sink.send(Envelope(batch(rows)))
            await sink.send(Envelope(batch(rows[1:])))
        con = reader()
        assert 4 == scalar(con, "SELECT count(*) FROM records")
        assert 4 == scalar(con, "SELECT count(DISTINCT rid) FROM records")

    async def test_duplicates_within_and_across_one_commit(self, db: Path, reader: Any) -> None:
        """Concurrent envelopes with the same rows, committed together, store each once."""
        env = Envelope(batch([denial(i) for i in range(6)] * 2))
        cfg = DuckDBConfig(path=db, linger_s=0.2, max_delay_s=5.0)
        async with DuckDBSink(cfg) as sink:
            await asyncio.gather(*(sink.send(env) for _ in range(4)))
            assert (1, 6, 42) == (
                sink.stats.commits,
                sink.stats.rows_inserted,
                sink.stats.duplicates,
            )
        assert 6 == scalar(reader(), "SELECT count(DISTINCT rid) FROM records")


class TestGroupCommit:
    async def test_concurrent_sends_share_one_transaction(self, db: Path, reader: Any) -> None:
        """Envelopes sent concurrently are committed together in one transaction."""
        cfg = DuckDBConfig(path=db, linger_s=0.2, max_delay_s=5.0)
        async with DuckDBSink(cfg) as sink:
            await asyncio.gather(*(sink.send(Envelope(batch([denial(i)]))) for i in range(8)))
            assert 1 == sink.stats.commits
        assert 1 == scalar(reader(), "SELECT count(DISTINCT batch_id) FROM records")

    async def test_batch_rows_triggers_commit(self, db: Path) -> None:
        """Reaching batch_rows commits without waiting for the time bounds."""
        cfg = DuckDBConfig(path=db, batch_rows=3, linger_s=30.0, max_delay_s=30.0)
        async with DuckDBSink(cfg) as sink:
            await asyncio.wait_for(sink.send(Envelope(batch([denial(i) for i in range(3)]))), 10)
            assert 1 == sink.stats.commits

    async def test_lone_sender_acked_by_linger(self, db: Path) -> None:
        """A sequential sender is acknowledged per envelope without reaching batch_rows."""
        cfg = DuckDBConfig(path=db, batch_rows=10**9, linger_s=0.01, max_delay_s=30.0)
        async with DuckDBSink(cfg) as sink:
            for i in range(3):
                await asyncio.wait_for(sink.send(Envelope(batch([denial(i)]))), 10)
            assert 3 == sink.stats.commits

    async def test_max_pending_rows_bounds_a_group(self, db: Path) -> None:
        """Beyond max_pending_rows, send waits for the running commit (backpressure)."""
        cfg = DuckDBConfig(path=db, max_pending_rows=2, linger_s=0.05, max_delay_s=5.0)
        async with DuckDBSink(cfg) as sink:
            await asyncio.gather(*(sink.send(Envelope(batch([denial(i)]))) for i in range(6)))
            assert (3, 6) == (sink.stats.commits, sink.stats.rows_inserted)

    async def test_bad_envelope_fails_alone(self, db: Path, reader: Any) -> None:
        """An envelope of the wrong schema raises TerminalSinkError and others still commit."""
        bad = pa.RecordBatch.from_pylist([{"x": 1}])
        async with DuckDBSink(DuckDBConfig(path=db)) as sink:
            with pytest.raises(TerminalSinkError):
                await sink.send(Envelope(bad))
            await sink.send(Envelope(batch([denial(1)])))
        assert 1 == scalar(reader(), "SELECT count(*) FROM records")

    async def test_concurrent_first_sends_open_once(self, db: Path, reader: Any) -> None:
        """Sends racing on an unopened sink open it once and all commit."""
        sink = DuckDBSink(DuckDBConfig(path=db, linger_s=0.1))
        await asyncio.gather(*(sink.send(Envelope(batch([denial(i)]))) for i in range(5)))
        await sink.close()
        assert (1, 5) == (sink.stats.commits, sink.stats.rows_inserted)

    async def test_failed_commit_fails_every_waiter_and_recovers(self, db: Path) -> None:
        """A failing transaction raises TransientSinkError to its whole group; later sends work."""
        files = db.with_name(db.name + ".files")  # the lake's data directory
        # No inlining: every insert writes a Parquet file, which a file in place of the
        # data directory makes fail (root ignores permissions; ENOTDIR it does not).
        async with DuckDBSink(DuckDBConfig(path=db, linger_s=0.1, inline_rows=0)) as sink:
            files.rename(files.with_name("away"))
            files.write_text("not a directory")
            results = await asyncio.gather(
                *(sink.send(Envelope(batch([denial(i)]))) for i in range(3)),
                return_exceptions=True,
            )
            assert [TransientSinkError] * 3 == [type(r) for r in results]
            files.unlink()
            files.with_name("away").rename(files)
            await sink.send(Envelope(batch([denial(9)])))
            assert (1, 1, 1) == (
                sink.stats.commit_errors,
                sink.stats.commits,
                sink.stats.rows_inserted,
            )

    async def test_send_after_close_raises(self, db: Path) -> None:
        """send after close is refused with TerminalSinkError."""
        sink = DuckDBSink(DuckDBConfig(path=db))
        await sink.open()
        await sink.close()
        with pytest.raises(TerminalSinkError):
            await sink.send(Envelope(batch([denial(1)])))

    async def test_empty_envelope_is_acked_without_commit(self, db: Path) -> None:
        """An envelope without rows returns at once and commits nothing."""
        async with DuckDBSink(DuckDBConfig(path=db)) as sink:
            await sink.send(Envelope())
            assert 0 == sink.stats.commits

    async def test_rejects_are_stored_once(self, db: Path, reader: Any) -> None:
        """send_rejects stores REJECT_SCHEMA rows in rejects, replays once."""
        rej = S.batch_from_rows(
            [{S.SOURCE: S.SOURCE_KERNLOG, S.HOST: "h", S.REASON: "bad", S.RAW: b"\xffx"}],
            S.REJECT_SCHEMA,
        )
        async with DuckDBSink(DuckDBConfig(path=db)) as sink:
            await sink.send_rejects(rej)
            await sink.send_rejects(rej)
        assert [(b"\xffx", "bad")] == reader().execute("SELECT raw, reason FROM rejects").fetchall()


class TestViews:
    async def test_denials_complain_and_status_split(self, db: Path, reader: Any) -> None:
        """denials, complain_events and profile_status select their records only."""
        rows = [
            denial(1),
            denial(2, **{S.APPARMOR: S.AA_ALLOWED}),
            denial(3, **{S.APPARMOR: S.AA_STATUS, S.OPERATION: "profile_load", S.NAME: "p"}),
            denial(
                4,
                **{
                    S.LSM: S.LSM_SELINUX,
                    S.APPARMOR: None,
                    S.PROFILE: None,
                    S.CLASS: None,
                    S.DENIED_MASK: None,
                    S.SERESULT: S.SE_DENIED,
                    S.SCONTEXT: "system_u:system_r:httpd_t:s0",
                    S.TCLASS: "file",
                    S.PERMS: ["read"],
                },
            ),
            denial(5, **{S.LSM: S.LSM_SELINUX, S.APPARMOR: None, S.SERESULT: S.SE_GRANTED}),
        ]
        async with DuckDBSink(DuckDBConfig(path=db)) as sink:
            await sink.send(Envelope(batch(rows)))
        con = reader()
        serials = con.execute("SELECT serial FROM denials ORDER BY 1").fetchall()
        assert [(1,), (4,)] == serials
        assert [2] == [r[0] for r in con.execute("SELECT serial FROM complain_events").fetchall()]
        assert [("profile_load", "p")] == con.execute(
            "SELECT operation, profile_name FROM profile_status"
        ).fetchall()
        assert ("system_u:system_r:httpd_t:s0", "file", "read") == con.execute(
            "SELECT profile, class, denied FROM top_denied_objects WHERE lsm = 'selinux'"
        ).fetchone()

    async def test_aggregate_views(self, db: Path, reader: Any) -> None:
        """denials_by_profile_hour counts per hour and new_denials groups numeric paths."""
        rows = [denial(i) for i in range(4)] + [denial(4000, **{S.HOST: "web-02"})]
        async with DuckDBSink(DuckDBConfig(path=db)) as sink:
            await sink.send(Envelope(batch(rows)))
        con = reader()
        t0 = int(T0.timestamp())
        assert [(t0, "web-01", 4), (t0 + 3600, "web-02", 1)] == con.execute(
            "SELECT epoch(hour)::BIGINT, host, denials FROM denials_by_profile_hour ORDER BY 1"
        ).fetchall()
        assert [("/proc/*/status", "web-01", 2, 5)] == con.execute(
            "SELECT object_pattern, first_host, hosts, denials FROM new_denials"
        ).fetchall()

    async def test_read_only_reader_runs_the_stored_macros(self, db: Path, reader: Any) -> None:
        """The views call persistent macros, so a READ_ONLY, locked-down reader derives too."""
        rows = [denial(1, **{S.CLASS: "cap", S.CAPNAME: "sys_admin"}), denial(2)]
        async with DuckDBSink(DuckDBConfig(path=db)) as sink:
            await sink.send(Envelope(batch(rows)))
        con = reader()
        assert [
            ("cap", "sys_admin", "sys_admin"),
            ("file", "/proc/2/status", "/proc/*/status"),
        ] == (
            con.execute(
                "SELECT class, object, object_pattern FROM denials ORDER BY serial"
            ).fetchall()
        )


def make_legacy(lake: Path, old: Path, version: int = S.SCHEMA_VERSION) -> None:
    """Write the single-file store an older armorwatch left: the lake's tables copied
    into a DuckDB file ``old``; version 2 without ``suspect`` and with rids by ordinal,
    version 0 without ``proctitle`` either."""
    con = open_store(lake, read_only=False)
    try:
        con.execute(f"ATTACH '{old}' AS legacy")
        for table in ("meta", "records", "loss", "rejects"):
            con.execute(f"CREATE TABLE legacy.main.{table} AS FROM lake.main.{table}")
        if version <= 2:
            con.execute(f"ALTER TABLE legacy.main.records DROP COLUMN {S.SUSPECT}")
            con.execute(
                "UPDATE legacy.main.records SET rid = CAST(md5(concat(serial, ordinal)) AS UUID)"
            )
        if version == 0:
            con.execute(f"ALTER TABLE legacy.main.records DROP COLUMN {S.PROCTITLE}")
        con.execute(
            "UPDATE legacy.main.meta SET value = ? WHERE key = 'schema_version'", [str(version)]
        )
        con.execute("DETACH legacy")
    finally:
        con.close()


class TestMigrations:
    async def test_older_lake_gains_missing_columns(self, db: Path, reader: Any) -> None:
        """A lake of an older schema version keeps its rows and gains the columns it lacks."""
        async with DuckDBSink(DuckDBConfig(path=db)) as sink:
            await sink.send(Envelope(batch([denial(1)])))
        con = open_store(db, read_only=False)
        con.execute(f"ALTER TABLE records DROP COLUMN {S.PROCTITLE}")
        con.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
        con.close()
        async with DuckDBSink(DuckDBConfig(path=db)) as sink:
            await sink.send(Envelope(batch([denial(2, **{S.PROCTITLE: "nginx: worker"})])))
        con = reader()
        assert str(S.SCHEMA_VERSION) == scalar(
            con, "SELECT value FROM meta WHERE key = 'schema_version'"
        )
        assert [(1, None), (2, "nginx: worker")] == con.execute(
            f"SELECT serial, {S.PROCTITLE} FROM records ORDER BY serial"
        ).fetchall()

    async def test_store_migrate_copies_a_v2_file_once(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`store migrate` copies a v2 file (rids recomputed), a second run stores nothing,
        and a replay of its records into the lake adds nothing."""
        from armorwatch.cli import main

        async with DuckDBSink(DuckDBConfig(path=tmp_path / "src")) as sink:
            await sink.send(Envelope(batch([denial(1), denial(2)]), loss_batch(2)))
        old, new = tmp_path / "old.duckdb", tmp_path / "new.duckdb"
        make_legacy(tmp_path / "src", old, version=2)
        assert 0 == main(["store", "migrate", str(old), "--db", str(new)])
        first = capsys.readouterr().out
        assert "records: 2 rows read, 2 stored" in first
        assert "loss: 2 rows read, 2 stored" in first
        assert 0 == main(["store", "migrate", str(old), "--db", str(new)])
        assert "records: 2 rows read, 0 stored" in capsys.readouterr().out
        async with DuckDBSink(DuckDBConfig(path=new)) as sink:
            await sink.send(Envelope(batch([denial(1), denial(2), denial(3)]), loss_batch(2)))
        con, _ = open_reader(new)
        try:
            assert 3 == scalar(con, "SELECT count(*) FROM records")
            assert 2 == scalar(con, "SELECT count(*) FROM loss")
            suspects = con.execute(f"SELECT {S.SUSPECT} FROM records").fetchall()
            assert [(None,)] * 3 == suspects
        finally:
            con.close()

    async def test_store_migrate_fills_columns_a_v0_file_lacks(self, tmp_path: Path) -> None:
        """A v0 file's rows arrive with NULL in the columns its version did not have."""
        from armorwatch.cli import main

        async with DuckDBSink(DuckDBConfig(path=tmp_path / "src")) as sink:
            await sink.send(Envelope(batch([denial(1, **{S.PROCTITLE: "gone"})])))
        old, new = tmp_path / "old.duckdb", tmp_path / "new.duckdb"
        make_legacy(tmp_path / "src", old, version=0)
        assert 0 == main(["store", "migrate", str(old), "--db", str(new)])
        con, _ = open_reader(new)
        try:
            got = con.execute(f"SELECT serial, {S.PROCTITLE} FROM records").fetchall()
            assert [(1, None)] == got
        finally:
            con.close()

    async def test_an_old_file_gets_a_one_line_error_naming_migrate(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Readers and the writer refuse an old single-file store with one line saying
        how to migrate it."""
        from armorwatch.cli import main

        async with DuckDBSink(DuckDBConfig(path=tmp_path / "src")) as sink:
            await sink.send(Envelope(batch([denial(1)])))
        old = tmp_path / "armorwatch.duckdb"
        make_legacy(tmp_path / "src", old)
        assert 2 == main(["query", "SELECT 1", "--db", str(old)])
        err = capsys.readouterr().err.strip()
        assert 1 == len(err.splitlines())
        assert "armorwatch store migrate" in err
        with pytest.raises(TerminalSinkError, match="store migrate"):
            await DuckDBSink(DuckDBConfig(path=old)).open()

    async def test_newer_lake_is_refused(self, db: Path, tmp_path: Path) -> None:
        """A store written by a newer schema version is refused with TerminalSinkError,
        by the writer and by `store migrate`."""
        async with DuckDBSink(DuckDBConfig(path=db)):
            pass
        con = open_store(db, read_only=False)
        con.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(S.SCHEMA_VERSION + 1)]
        )
        con.close()
        with pytest.raises(TerminalSinkError):
            async with DuckDBSink(DuckDBConfig(path=db)):
                pass
        async with DuckDBSink(DuckDBConfig(path=tmp_path / "src")):
            pass
        old = tmp_path / "old.duckdb"
        make_legacy(tmp_path / "src", old, version=S.SCHEMA_VERSION + 1)
        from armorwatch.sinks.duckdb import copy_legacy

        with pytest.raises(TerminalSinkError, match="newer"):
            copy_legacy(old, tmp_path / "new.duckdb")

    def test_migrate_is_idempotent(self) -> None:
        """migrate on an up-to-date DB reports the current version and changes nothing."""
        con = duckdb.connect()
        assert 0 == migrate(con)
        assert S.SCHEMA_VERSION == migrate(con)

    async def test_second_writer_fails_fast(self, db: Path) -> None:
        """A second writer of an embedded store another writer holds gets TransientSinkError."""
        async with DuckDBSink(DuckDBConfig(path=db)):
            with pytest.raises(TransientSinkError, match="another writer"):
                await DuckDBSink(DuckDBConfig(path=db)).open()
        async with DuckDBSink(DuckDBConfig(path=db)):  # released on close
            pass

