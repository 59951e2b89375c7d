"""``armorwatch query``: every DuckDB type in every format, saved-query typos, real newlines
in errors, and the saved queries analysts asked for."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from armorwatch.cli import main
from tests.armorwatch.test_query import build_store

# (DuckDB expression, its text in table / CSV / JSON)
TYPES = {
    "interval": (
        "TIMESTAMP '2025-11-13 00:00:00.733' - TIMESTAMP '2025-11-05'",
        "8 days 00:00:00.733",
    ),
    "interval_ym": ("INTERVAL '1 year 2 months 3 days'", "1 year 2 months 3 days"),
    "decimal": ("1.50::DECIMAL(10,2)", "1.50"),
    "hugeint": (
        "170141183460469231731687303715884105727::HUGEINT",
        "170141183460469231731687303715884105727",
    ),
    "uuid": (
        "'a27d68a8-ef1d-43af-94e6-19fe3147cfda'::UUID",
        "a27d68a8-ef1d-43af-94e6-19fe3147cfda",
    ),
    "blob": ("'\\xAA\\x00'::BLOB", None),
    "list": ("[1, 2]", None),
    "list_of_intervals": ("[INTERVAL 1 DAY]", "[1 day]"),
    "struct": ("{'a': 1, 'b': 'x'}", None),
    "map": ("MAP {'k': 1}", None),
    "time": ("TIME '12:34:56'", "12:34:56"),
    "date": ("DATE '2025-11-05'", "2025-11-05"),
    "timestamp": ("TIMESTAMP '2025-11-05 01:02:03'", None),
    "timestamptz": ("TIMESTAMPTZ '2025-11-05 01:02:03+00'", None),
    "boolean": ("true", "true"),
    "null": ("NULL", None),
    "bit": ("'101'::BIT", "101"),
}
SQL = "SELECT " + ", ".join(f"{expr} AS {name}" for name, (expr, _) in TYPES.items())


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled samples in a store."""
    path = tmp_path_factory.mktemp("types") / "armorwatch.duckdb"
    build_store(path)
    return path


def query(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run `armorwatch query`; (exit code, stdout, stderr)."""
    code = main(["query", *argv])
    out, err = capsys.readouterr()
    return code, out, err


class TestEveryTypeInEveryFormat:
    def test_json_is_exact_and_parses(
        self, store: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--format json writes every type (INTERVAL, HUGEINT, MAP, BIT ...) as parseable JSON."""
        code, out, err = query(capsys, "--db", str(store), "--format", "json", SQL)
        assert (0, "") == (code, err)
        row = json.loads(out)
        assert "8 days 00:00:00.733" == row["interval"]
        assert "1 year 2 months 3 days" == row["interval_ym"]
        assert "170141183460469231731687303715884105727" == row["hugeint"]
        assert ([1, 2], {"a": 1, "b": "x"}, {"k": 1}) == (row["list"], row["struct"], row["map"])
        assert ("[1 day]", "101", None, True) == (
            row["list_of_intervals"],
            row["bit"],
            row["null"],
            row["boolean"],
        )
        assert "2025-11-05T01:02:03Z" == row["timestamptz"]

    def test_table_shows_duckdb_text(self, store: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """The table format shows DuckDB's text for each type, never a Python repr."""
        code, out, _ = query(capsys, "--db", str(store), "--wide", SQL)
        assert 0 == code
        for _, text in TYPES.values():
            if text:
                assert text in out, text
        assert "MonthDayNano" not in out and "('k', 1)" not in out and "{k: 1}" in out

    def test_csv(self, store: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """CSV has one cell per column with the same text as the table."""
        code, out, _ = query(capsys, "--db", str(store), "--format", "csv", SQL)
        assert 0 == code
        header, row = list(csv.reader(io.StringIO(out)))
        cells = dict(zip(header, row, strict=True))
        assert list(TYPES) == header
        for name, (_, text) in TYPES.items():
            if text:
                assert text == cells[name], name

    def test_parquet(self, store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Parquet takes every column (INTERVAL and BIT as their text)."""
        target = tmp_path / "out.parquet"
        code, _, err = query(
            capsys, "--db", str(store), "--format", "parquet", "-o", str(target), SQL
        )
        assert (0, "") == (code, err)
        row = pq.read_table(target).to_pylist()[0]
        assert ("8 days 00:00:00.733", "101") == (row["interval"], row["bit"])


class TestErrors:
    def test_typo_in_a_saved_query_name(
        self, store: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A mistyped saved-query name is a usage error that names the closest one."""
        code, _, err = query(capsys, "--db", str(store), "top-denails")
        assert 2 == code
        assert "did you mean top-denials?" in err

    def test_errors_keep_their_newlines(
        self, store: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """DuckDB's multi-line message prints as lines, not with a literal backslash-n."""
        code, _, err = query(capsys, "--db", str(store), "SELECT * FROM recordz")
        assert 1 == code
        assert "\\n" not in err and len(err.strip().splitlines()) >= 2


class TestSavedQueries:
    @pytest.mark.parametrize(
        ("name", "params"),
        [
            ("signatures", ["since=30d", "profile=/usr/sbin/nginx"]),
            ("new-denials", ["since=30d", "until=2030-01-01T00:00:00Z"]),
            ("top-denials", ["since=30d", "until=2030-01-01T00:00:00Z"]),
            ("denials-by-host", ["since=30d", "until=2030-01-01T00:00:00Z"]),
            ("denials-per-day", ["since=30d", "until=2030-01-01T00:00:00Z"]),
            ("raw-lines", ["since=30d", "profile=/usr/sbin/nginx", "forged=all"]),
            ("silent-hosts", ["silent_since=2030-01-01T00:00:00Z", "since=3650d"]),
        ],
    )
    def test_saved_queries_answer(
        self, store: Path, capsys: pytest.CaptureFixture[str], name: str, params: list[str]
    ) -> None:
        """The saved queries run with their parameters and answer (every host is silent in 2030)."""
        argv = [x for p in params for x in ("--param", p)]
        code, out, err = query(capsys, "--db", str(store), "--format", "json", name, *argv)
        assert (0, "") == (code, err)
        assert out.strip(), name
