"""``armorwatch query``: saved queries, parameters, output formats and the read-only guard."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from armorwatch.cli import main
from armorwatch.commands import query as Q
from armorwatch.parsers import schema as S
from armorwatch.parsers.envelope import Envelope
from armorwatch.parsers.stream import parse_bytes
from armorwatch.sinks.duckdb import DuckDBConfig, DuckDBSink
from tests.sinks.test_duckdb import batch, denial

SAMPLES = Path(__file__).resolve().parents[2] / "armorwatch" / "samples"
HOSTILE_NAME = "/tmp/\x1b]0;owned\x07\u202egpj.exe"


def build_store(path: Path) -> None:
    """A store with the bundled samples plus one denial with a hostile file name."""

    async def fill() -> None:
        async with DuckDBSink(DuckDBConfig(path=path)) as sink:
            for name, source in (
                ("audit.log", S.SOURCE_AUDITLOG),
                ("kern.log", S.SOURCE_KERNLOG),
                ("journal.json", S.SOURCE_JOURNALD),
            ):
                result = parse_bytes((SAMPLES / name).read_bytes(), source)
                await sink.send(Envelope(result.records, result.loss))
            await sink.send(Envelope(batch([denial(1, **{S.NAME: HOSTILE_NAME})])))

    asyncio.run(fill())


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A filled store shared by the module's read-only tests."""
    path = tmp_path_factory.mktemp("query") / "armorwatch.duckdb"
    build_store(path)
    return path


def digest(path: Path) -> str:
    """sha256 of a file, to prove a query changed nothing."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the CLI; return (exit code, stdout, stderr)."""
    code = main(["query", *argv])
    out, err = capsys.readouterr()
    return code, out, err


class TestSavedQueries:
    def test_every_saved_query_runs(self, store: Path) -> None:
        """Each shipped saved query runs with its defaults over the samples."""
        for name in Q.saved_queries():
            Q.execute(store, name, {"since": "30d"} if name != "loss" else {})

    def test_saved_queries_are_documented(self) -> None:
        """Every saved query has a name, a grain and a help text per parameter."""
        for q in Q.saved_queries().values():
            assert (True, True) == (bool(q.name), bool(q.grain))
            assert [] == [p.name for p in q.params if not p.help]

    def test_list(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--list names every saved query."""
        code, out, _ = run(capsys, "--list")
        assert 0 == code
        assert [] == [n for n in Q.saved_queries() if n not in out]

    def test_top_denials_since_relative_to_latest(self, store: Path) -> None:
        """since=24h counts back from the newest record, so Nov 2025 samples still answer."""
        rows = Q.execute(store, "top-denials", {"since": "24h", "limit": "1"}).to_pylist()
        assert 1 == len(rows)
        assert "snap.chromium.chromium" == rows[0]["profile"]

    def test_anchor_now_finds_nothing_in_old_samples(self, store: Path) -> None:
        """--anchor now with since=1h excludes the Nov 2025 samples."""
        assert 0 == Q.execute(store, "top-denials", {"since": "1h"}, anchor="now").num_rows

    def test_host_filter(self, store: Path) -> None:
        """The host parameter keeps only that host's rows."""
        rows = Q.execute(store, "denials-by-host", {"since": "30d"}).to_pylist()
        assert {"web-01", "web-02", "db-01"} == {r["host"] for r in rows}
        top = Q.execute(store, "top-denials", {"since": "30d", "host": "db-01"}).to_pylist()
        assert {"/usr/lib/postgresql/15/bin/postgres"} == {r["profile"] for r in top}

    def test_unknown_param_is_usage_error(
        self, store: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An undeclared --param exits 2 and names the parameters the query takes."""
        code, _, err = run(capsys, "top-denials", "--db", str(store), "--param", "sincee=1h")
        assert 2 == code
        assert "sincee" in err

    def test_missing_store_is_usage_error(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A --db that does not exist exits 2 with a message, creating nothing."""
        code, _, err = run(capsys, "SELECT 1", "--db", str(tmp_path / "none.duckdb"))
        assert (2, []) == (code, list(tmp_path.iterdir()))
        assert "no armorwatch store" in err


class TestFormats:
    def test_table_escapes_hostile_strings(
        self, store: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A file name with ESC, BEL and a bidi override prints as visible escapes."""
        code, out, _ = run(
            capsys, "SELECT name FROM records WHERE name LIKE '%gpj.exe'", "--db", str(store)
        )
        assert 0 == code
        assert [] == [c for c in out if c in "\x1b\x07\u202e"]
        assert "\\x1b]0;owned\\x07\\u202egpj.exe" in out

    def test_table_is_aligned(self, store: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Header, rule and rows have their columns at the same offsets."""
        code, out, _ = run(capsys, "denials-by-host", "--db", str(store), "--param", "since=30d")
        lines = out.splitlines()
        assert 0 == code
        rule = lines[1]
        gaps = [i for i, c in enumerate(rule) if c == " "]
        assert [] == [
            (n, g)
            for n, line in enumerate(lines[:-1])
            for g in gaps
            if g < len(line) and line[g] != " "
        ]
        assert lines[2].split()[1].isdigit()
        assert lines[2].index(lines[2].split()[1]) + len(lines[2].split()[1]) == lines[0].index(
            "denials"
        ) + len("denials")
        assert "(3 rows)" == lines[-1]

    def test_json_is_exact_and_tty_safe(
        self, store: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """JSON lines decode to the exact stored string while the bytes hold no raw controls."""
        code, out, _ = run(
            capsys,
            "SELECT name, raw FROM records WHERE name LIKE '%gpj.exe'",
            "--db",
            str(store),
            "--format",
            "json",
        )
        assert 0 == code
        assert [] == [c for c in out.strip() if c in "\x1b\x07\u202e"]
        assert HOSTILE_NAME == json.loads(out)["name"]

    def test_csv(self, store: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """CSV has a header and one line per row."""
        code, out, _ = run(
            capsys, "denials-by-host", "--db", str(store), "--param", "since=30d", "--format", "csv"
        )
        assert 0 == code
        assert '"host","denials","userspace","profiles","first_ts","last_ts"' == out.splitlines()[0]
        assert 4 == len(out.splitlines())

    def test_parquet_to_file(
        self, store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--format parquet -o writes a Parquet file with the result rows."""
        out_file = tmp_path / "top.parquet"
        code, _, _ = run(
            capsys,
            "top-denials",
            "--db",
            str(store),
            "--param",
            "since=30d",
            "--format",
            "parquet",
            "-o",
            str(out_file),
        )
        assert 0 == code
        assert (
            Q.execute(store, "top-denials", {"since": "30d"}).num_rows
            == pq.read_table(out_file).num_rows
        )


class TestInjection:
    """G5: every attempt errors or matches nothing, no file appears, the store is unchanged."""

    ATTEMPTS = (
        "SELECT * FROM read_csv('/etc/shadow')",
        "SELECT * FROM read_text('/etc/passwd')",
        "COPY (SELECT 1) TO '{tmp}/p.csv'",
        "COPY records TO '{tmp}/p.parquet' (FORMAT parquet)",
        "ATTACH '{tmp}/x.db' AS x",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "SELECT 1; DROP TABLE records",
        "DROP TABLE records",
        "DELETE FROM records",
        "CREATE TABLE evil AS SELECT 1",
        "EXPORT DATABASE '{tmp}/dump'",
        "PRAGMA enable_external_access",
        "CALL checkpoint()",
        # EXPLAIN ANALYZE executes what it explains; only a SELECT may follow it.
        "EXPLAIN ANALYZE CREATE TEMP TABLE evil AS SELECT 1",
        "EXPLAIN ANALYZE COPY (SELECT 1) TO '{tmp}/e.csv'",
        "EXPLAIN (ANALYZE) CREATE TEMP TABLE evil AS SELECT 1",
        "/* x */ EXPLAIN ANALYZE CREATE TEMP TABLE evil AS SELECT 1",
        'EXPLAIN /* /* */ ANALYZE SELECT 1 AS "*/ ANALYZE CREATE TEMP TABLE evil AS SELECT 1 --"',
        "SELECT * FROM denials WHERE host = '' OR 1=1; COPY (SELECT 1) TO '{tmp}/q'",
    )

    def test_hostile_statements_fail(
        self, store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Reading or writing files, ATTACH, INSTALL, DDL and stacked statements all fail."""
        before = digest(store)
        outcomes = []
        for sql in self.ATTEMPTS:
            code, out, _ = run(capsys, sql.format(tmp=tmp_path), "--db", str(store))
            outcomes.append((sql, code, out))
        assert [] == [(sql, code) for sql, code, _ in outcomes if code == 0]
        assert [] == list(tmp_path.iterdir())
        assert before == digest(store)

    def test_explain_of_a_select_still_works(
        self, store: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """EXPLAIN and EXPLAIN ANALYZE of one SELECT (with a bound parameter) succeed."""
        for sql in (
            "EXPLAIN SELECT count(*) FROM denials WHERE host = $h",
            "explain analyze SELECT count(*) FROM denials WHERE host = $h -- a comment\n;",
        ):
            code, out, err = run(capsys, sql, "--db", str(store), "--param", "h=web-01")
            assert (0, "") == (code, err)
            assert "plan" in out

    def test_read_only_guard_without_statement_check(self, store: Path, tmp_path: Path) -> None:
        """Even a SELECT calling file functions fails inside the locked reader connection."""
        import duckdb

        from armorwatch.sinks.duckdb import open_reader

        con, _ = open_reader(store)
        try:
            for sql in (
                "SELECT * FROM read_csv('/etc/passwd')",
                f"SELECT * FROM read_parquet('{tmp_path}/*.parquet')",
                "SELECT * FROM glob('/etc/*')",
            ):
                with pytest.raises(duckdb.Error):
                    con.execute(sql).fetchall()
        finally:
            con.close()

    def test_params_are_values_not_sql(
        self, store: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """SQL in --param values is compared as a literal string and matches nothing."""
        before = digest(store)
        for value in ("' OR 1=1 --", "x'; COPY (SELECT 1) TO '/tmp/p'; --", "web-01' --"):
            rows = Q.execute(store, "top-denials", {"since": "30d", "host": value}).num_rows
            assert 0 == rows
            code, out, _ = run(
                capsys,
                "SELECT count(*) AS n FROM denials WHERE host = $h",
                "--db",
                str(store),
                "--param",
                f"h={value}",
                "--format",
                "json",
            )
            assert (0, 0) == (code, json.loads(out)["n"])
        assert before == digest(store)

    def test_saved_query_name_is_not_a_path(
        self, store: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A path-like query name is not looked up on disk; it is refused as SQL."""
        for name in ("../../../etc/passwd", "/etc/shadow", "top-denials.sql"):
            code, out, _ = run(capsys, name, "--db", str(store))
            assert (2, "") == (code, out)

    def test_legitimate_filter_still_works(self, store: Path) -> None:
        """The same parameter with a real value returns that host's rows."""
        assert 0 < Q.execute(store, "top-denials", {"since": "30d", "host": "web-01"}).num_rows

    def test_bad_timestamp_param(self, store: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A since value that is neither a duration nor a timestamp exits 2."""
        code, _, err = run(
            capsys, "top-denials", "--db", str(store), "--param", "since=x'; DROP TABLE records; --"
        )
        assert 2 == code
        assert "duration" in err


class TestParams:
    def test_durations(self) -> None:
        """30m, 24h, 7d and 2w parse; other text does not."""
        assert [
            dt.timedelta(minutes=30),
            dt.timedelta(hours=24),
            dt.timedelta(days=7),
            dt.timedelta(weeks=2),
            None,
        ] == [Q.parse_duration(t) for t in ("30m", "24h", "7d", "2w", "24 hours ago")]

    def test_iso_timestamp(self) -> None:
        """An ISO timestamp is used as is, naive ones as UTC."""
        anchor = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
        assert dt.datetime(2025, 11, 23, 10, tzinfo=dt.UTC) == Q.to_timestamp(
            "2025-11-23T10:00:00", anchor
        )
        assert dt.datetime(2025, 11, 23, 10, tzinfo=dt.UTC) == Q.to_timestamp(
            "2025-11-23T10:00:00Z", anchor
        )


class TestHostFlag:
    @pytest.mark.parametrize(
        ("name", "host"),
        [
            ("top-denials", "web-01"),
            ("denials-by-host", "web-01"),
            ("complain-mode", "web-01"),
            ("loss", "web-02"),
            ("raw-lines", "db-01"),
        ],
    )
    def test_host_flag_keeps_one_host(
        self, store: Path, capsys: pytest.CaptureFixture[str], name: str, host: str
    ) -> None:
        """--host binds the host parameter of every windowed saved query that takes one."""
        code, out, err = run(
            capsys, name, "--db", str(store), "--host", host, "--param", "since=30d",
            "--format", "json",
        )  # fmt: skip
        assert 0 == code, err
        rows = [json.loads(line) for line in out.splitlines()]
        assert rows and all(r.get("host", host) == host for r in rows)
        _, other, _ = run(
            capsys, name, "--db", str(store), "--host", "no-such-host", "--param", "since=30d",
            "--format", "json",
        )  # fmt: skip
        assert "" == other

    def test_host_flag_on_sql_binds_dollar_host(
        self, store: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """In SQL, --host is $host."""
        sql = "SELECT count(*) AS n FROM denials WHERE host = $host"
        code, out, _ = run(capsys, sql, "--db", str(store), "--host", "db-01", "--format", "json")
        assert (0, 9) == (code, json.loads(out)["n"])

    def test_host_flag_on_a_query_without_host_is_an_error(
        self, store: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A saved query that takes no host refuses --host (exit 2) and lists what it takes."""
        code, _, err = run(capsys, "new-denials", "--db", str(store), "--host", "web-01")
        assert 2 == code
        assert "new-denials takes no host parameter (its parameters: limit, since, until)" in err
