"""sinks.store: store specs, the reader lock-down and time travel (`query --at`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from armorwatch.parsers.envelope import Envelope
from armorwatch.sinks.duckdb import DuckDBConfig, DuckDBSink, open_reader
from armorwatch.sinks.store import extension_directory, open_store, parse_at, parse_spec
from tests.sinks.test_duckdb import batch, denial


class TestSpecs:
    def test_a_path_is_the_embedded_store(self, tmp_path: Path) -> None:
        """A path names a SQLite catalog there and the data directory PATH.files/ beside it."""
        cfg = parse_spec(tmp_path / "a.duckdb")
        assert ("sqlite", tmp_path / "a.duckdb") == (cfg.kind, cfg.catalog_file)
        assert f"{tmp_path}/a.duckdb.files/" == cfg.data_path

    def test_a_url_is_a_postgresql_catalog_and_its_password_is_never_shown(self) -> None:
        """postgresql://user:pw@host:port/db?data_path=…&sslmode=… becomes libpq keywords;
        the label and repr carry no password; a URL that went through Path still parses."""
        url = "postgresql://aw:s3cret@db.example:5433/lake?data_path=/srv/lake&sslmode=require"
        for spec in (url, Path(url)):
            cfg = parse_spec(spec)
            assert "postgres" == cfg.kind
            assert "/srv/lake/" == cfg.data_path
            for word in ("host='db.example'", "port='5433'", "dbname='lake'", "user='aw'",
                         "password='s3cret'", "sslmode='require'"):  # fmt: skip
                assert word in cfg.catalog
            assert "s3cret" not in cfg.label and "s3cret" not in repr(cfg)

    def test_an_s3_data_path_is_passed_through(self) -> None:
        """An s3:// data path stays a URL."""
        cfg = parse_spec("postgresql://aw@h/lake?data_path=s3://bucket/lake")
        assert "s3://bucket/lake/" == cfg.data_path

    @pytest.mark.parametrize(
        "url", ["postgresql://aw@h/lake", "postgresql://aw@h/?data_path=/x", "postgresql:///lake"]
    )
    def test_an_incomplete_url_is_refused(self, url: str) -> None:
        """A URL without data_path, database or host is a ValueError naming what lacks."""
        with pytest.raises(ValueError, match=r"data_path|host"):
            parse_spec(url)


class TestReaders:
    async def test_reader_reads_the_lake_and_no_other_file(self, tmp_path: Path) -> None:
        """The lake's rows and Parquet files are readable; other files, writes, ATTACH and
        SET are refused."""
        db = tmp_path / "s.duckdb"
        async with DuckDBSink(DuckDBConfig(path=db, inline_rows=0)) as sink:
            await sink.send(Envelope(batch([denial(i) for i in range(3)])))
        outside = tmp_path / "outside.csv"
        outside.write_text("a\n1\n")
        # A loadable extension outside the extension directory (unsigned ones are allowed
        # at start-up, so only the lock-down keeps a reader from loading one).
        module = tmp_path / "postgres_scanner.duckdb_extension"
        module.symlink_to(
            extension_directory().rglob("postgres_scanner.duckdb_extension").__next__()
        )
        con, _ = open_reader(db)
        try:
            assert (3,) == con.execute("SELECT count(*) FROM denials").fetchone()
            for sql in (
                f"SELECT * FROM read_csv('{outside}')",
                f"COPY (SELECT 1) TO '{tmp_path / 'out.csv'}'",
                f"ATTACH '{tmp_path / 'other.db'}' AS other",
                "SET enable_external_access = true",
                f"LOAD '{module}'",
            ):
                with pytest.raises(duckdb.Error):
                    con.execute(sql)
        finally:
            con.close()
        assert not (tmp_path / "out.csv").exists() and not (tmp_path / "other.db").exists()


class TestTimeTravel:
    async def test_query_at_a_version_or_time_sees_the_store_as_it_was(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`query --at VERSION` and `--at TIME` read the rows committed up to then."""
        from armorwatch.cli import main

        db = tmp_path / "s.duckdb"
        async with DuckDBSink(DuckDBConfig(path=db)) as sink:
            await sink.send(Envelope(batch([denial(1)])))
        con = open_store(db, read_only=True)
        version, when = con.execute(
            "SELECT snapshot_id, snapshot_time FROM snapshots() ORDER BY snapshot_id DESC LIMIT 1"
        ).fetchone() or (None, None)
        con.close()
        async with DuckDBSink(DuckDBConfig(path=db)) as sink:
            await sink.send(Envelope(batch([denial(2), denial(3)])))
        count = "SELECT count(*) AS n FROM records"
        for argv in ([], ["--at", str(version)], ["--at", when.isoformat()]):
            assert 0 == main(["query", count, "--db", str(db), "--format", "csv", *argv])
        out = capsys.readouterr().out.split()
        assert ['"n"', "3", '"n"', "1", '"n"', "1"] == out
        assert 2 == main(["query", count, "--db", str(db), "--at", "yesterday"])

    def test_parse_at(self) -> None:
        """Digits are a version; an ISO time without zone is UTC."""
        assert 7 == parse_at("7")
        assert dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC) == parse_at("2026-01-02T03:04")


class TestUpkeep:
    async def test_upkeep_deletes_old_rows_and_merges_files(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`store upkeep --retention-days` deletes rows (and profile-state readings) older than
        that, merges the small files and removes unreferenced ones; the rest stays readable;
        a rerun deletes nothing."""
        from armorwatch.cli import main
        from armorwatch.parsers import schema as S

        db = tmp_path / "s.duckdb"
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        async with DuckDBSink(DuckDBConfig(path=db, inline_rows=0)) as sink:
            for i in range(4):  # four commits, four files; two of them a year old
                ts = now - dt.timedelta(days=400 if i < 2 else 1)
                await sink.send(Envelope(batch([denial(i, **{S.TS: ts})])))
            for days in (400, 1):  # profile-state readings age out like records
                reading = {S.TS: now - dt.timedelta(days=days), S.HOST: "web-01", S.BOOT_ID: "b",
                           S.NAMESPACE: "root", S.PROFILE: "p", S.MODE: "complain"}  # fmt: skip
                state = S.batch_from_rows([reading], S.PROFILE_STATE_SCHEMA)
                await sink.send(Envelope(profile_state=state))
        argv = ["store", "upkeep", "--db", str(db), "--retention-days", "30",
                "--snapshot-days", "0"]  # fmt: skip
        assert 0 == main(argv)
        out = capsys.readouterr().out
        assert "records: 2 rows deleted" in out and "profile_state: 1 rows deleted" in out
        before, after = (int(n) for n in out.split("data files: ")[1].split(" -> "))
        assert after < before
        con, _ = open_reader(db)
        try:
            assert [(2,), (3,)] == con.execute("SELECT serial FROM denials ORDER BY 1").fetchall()
        finally:
            con.close()
        assert 0 == main(argv)
        assert "records: 0 rows deleted" in capsys.readouterr().out
        assert 2 == main(["store", "upkeep", "--db", str(tmp_path / "missing.duckdb")])
        assert not (tmp_path / "missing.duckdb").exists()
