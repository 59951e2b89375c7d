"""The PostgreSQL fixture serves as a DuckLake catalog: real server, real extensions.

Each DuckDB connection here is its own database instance (as separate processes are), so
what one commits reaches the other only through the PostgreSQL catalog and the data path.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.harness.postgres import Postgres, PostgresUnavailable, find_bindir

duckdb_ext = pytest.importorskip("duckdb_ext")  # the extension wheels (no download at run time)

pytestmark = pytest.mark.integration


def extension_directory() -> str:
    """The extension folder shipped by the duckdb-ext-* wheels."""
    return str(Path(next(iter(duckdb_ext.__path__))) / "extensions")


def lake(dsn: str, data: Path) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB with the lake (PostgreSQL catalog ``dsn``) attached as ``lake``."""
    con = duckdb.connect(
        config={
            "extension_directory": extension_directory(),
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
    )
    con.execute("LOAD ducklake; LOAD postgres")
    con.execute(f"ATTACH 'ducklake:postgres:{dsn}' AS lake (DATA_PATH '{data}/')")
    return con


class TestPostgresFixture:
    def test_server_runs_on_loopback_as_an_unprivileged_user(self, postgres: Postgres) -> None:
        """The server is up on 127.0.0.1 and its postmaster is not root."""
        assert postgres.alive()
        assert postgres.process is not None
        uid = Path(f"/proc/{postgres.process.pid}/status").read_text()
        real_uid = next(line.split()[1] for line in uid.splitlines() if line.startswith("Uid:"))
        assert "0" != real_uid
        assert f"port={postgres.port}" in postgres.dsn()

    def test_lake_round_trips_a_row_between_two_instances(
        self, postgres: Postgres, tmp_path: Path
    ) -> None:
        """A row one DuckDB instance commits to the lake is read back by another."""
        dsn = postgres.new_database()
        writer = lake(dsn, tmp_path)
        writer.execute("CREATE TABLE lake.t (rid UUID, host VARCHAR)")
        writer.execute("INSERT INTO lake.t VALUES ('00000000-0000-0000-0000-000000000001', 'h1')")
        reader = lake(dsn, tmp_path)
        assert [("h1",)] == reader.execute("SELECT host FROM lake.t").fetchall()
        # The catalog lives in PostgreSQL: the lake's tables are rows there.
        pg = duckdb.connect(config={"extension_directory": extension_directory()})
        pg.execute("LOAD postgres")
        pg.execute(f"ATTACH '{dsn}' AS pg (TYPE postgres, READ_ONLY)")
        tables = pg.execute("SELECT table_name FROM pg.public.ducklake_table").fetchall()
        assert [("t",)] == tables
        for con in (writer, reader, pg):
            con.close()

    def test_lake_survives_a_server_restart(self, postgres: Postgres, tmp_path: Path) -> None:
        """After restart() the same catalog is served on the same port, committed rows intact."""
        dsn = postgres.new_database()
        con = lake(dsn, tmp_path)
        con.execute("CREATE TABLE lake.t AS SELECT range AS n FROM range(10)")
        con.close()
        postgres.restart()
        assert postgres.alive()
        con = lake(dsn, tmp_path)
        assert (10, 45) == con.execute("SELECT count(*), sum(n) FROM lake.t").fetchone()
        con.close()

    def test_new_database_names_are_unique(self, postgres: Postgres) -> None:
        """Each new_database() call is a catalog of its own."""
        assert postgres.new_database() != postgres.new_database()


class TestFindBindir:
    def test_absent_binaries_are_postgres_unavailable(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """No PG_BINDIR, no Debian directory, no pg_ctl on PATH: the error the fixture skips on."""
        monkeypatch.delenv("PG_BINDIR", raising=False)
        monkeypatch.setenv("PATH", str(tmp_path))
        with pytest.raises(PostgresUnavailable, match="apt-get install postgresql"):
            find_bindir(debian_root=tmp_path / "none")

    def test_newest_debian_major_wins(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Of /usr/lib/postgresql/{9,15}/bin the newest major is used."""
        monkeypatch.delenv("PG_BINDIR", raising=False)
        for major in ("9", "15"):
            d = tmp_path / major / "bin"
            d.mkdir(parents=True)
            (d / "initdb").touch()
            (d / "postgres").touch()
        assert tmp_path / "15" / "bin" == find_bindir(debian_root=tmp_path)


def test_harness_runs_standalone_and_stops_on_enter() -> None:
    """`python -m tests.harness.postgres` prints a DSN, and stops the server on Enter."""
    try:
        find_bindir()
    except RuntimeError as e:
        pytest.skip(str(e))
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-m", "tests.harness.postgres"],
        input=b"\n",
        capture_output=True,
        cwd=root,
        timeout=60,
        check=True,
    )
    assert proc.stdout.startswith(b"host=127.0.0.1 port=")


async def test_sink_stores_a_raw_line_with_a_control_byte_in_a_postgres_lake(
    postgres: Postgres, tmp_path: Path
) -> None:
    """A record whose raw holds auditd's ENRICHED separator (0x1d) commits to a PostgreSQL lake."""
    from armorwatch.parsers import schema as S
    from armorwatch.parsers.envelope import Envelope
    from armorwatch.sinks.duckdb import DuckDBConfig, DuckDBSink
    from armorwatch.sinks.store import open_store

    dbname = postgres.new_database().rsplit("dbname=", 1)[1]
    url = f"postgresql://postgres@127.0.0.1:{postgres.port}/{dbname}?data_path={tmp_path}"
    raw = b'type=AVC msg=audit(1.0:1): apparmor="DENIED" fsuid=0\x1dFSUID="root"'
    batch = S.batch_from_rows(
        [{S.TS: 1_763_000_000_000, S.HOST: "h", S.SERIAL: 1, S.RECORD_TYPE: "AVC", S.RAW: raw}]
    )
    sink = DuckDBSink(DuckDBConfig(path=Path(url)))
    try:
        await sink.send(Envelope(records=batch, meta={"host": "h"}))
    finally:
        await sink.close()
    con = open_store(url, read_only=True)
    assert [(raw,)] == con.execute("SELECT raw FROM records").fetchall()
    con.close()
