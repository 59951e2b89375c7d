"""jobs.sqlfiles: SQL jobs are files whose header and text agree, run with bound parameters."""

from __future__ import annotations

from importlib import resources

import duckdb
import pytest

from armorwatch.jobs import sqlfiles

GOOD = """-- name: demo
-- grain: one row per n
-- param low: integer  -- inclusive lower bound
SELECT n FROM range(5) t(n) WHERE n >= $low
"""


class TestParse:
    def test_header_fields_are_read(self) -> None:
        """Name, grain and the declared parameter come from the header comment."""
        job = sqlfiles.parse("demo", GOOD)
        assert ("demo", "one row per n", ("low",)) == (job.name, job.grain, job.parameters)

    def test_undeclared_parameter_is_rejected(self) -> None:
        """A $name used in the text but missing from the header is an error."""
        with pytest.raises(sqlfiles.SqlJobError, match="declares"):
            sqlfiles.parse("demo", "\n".join(ln for ln in GOOD.split("\n") if "param" not in ln))

    def test_name_must_match_file(self) -> None:
        """A header naming another job is an error, so files cannot be swapped silently."""
        with pytest.raises(sqlfiles.SqlJobError, match="header names"):
            sqlfiles.parse("other", GOOD)

    def test_missing_header_is_rejected(self) -> None:
        """A file without the grain line is an error."""
        with pytest.raises(sqlfiles.SqlJobError, match="grain"):
            sqlfiles.parse("demo", GOOD.replace("-- grain: one row per n\n", ""))

    def test_included_macros_run_first(self) -> None:
        """A job that includes parsers/sql/derived.sql carries its macros before its text."""
        job = sqlfiles.load("alert_window_views")
        assert job.text.index("MACRO aw_object(") < job.text.index("-- name: alert_window_views")


class TestExecute:
    def test_parameters_are_bound_not_formatted(self) -> None:
        """A hostile parameter value is data: it filters nothing and runs nothing."""
        job = sqlfiles.parse("demo", GOOD)
        con = duckdb.connect()
        assert [(3,), (4,)] == job.execute(con, {"low": 3}).fetchall()
        with pytest.raises(duckdb.Error):
            job.execute(con, {"low": "0; CREATE TABLE pwned(x INT)"}).fetchall()
        tables = con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        assert [] == tables

    def test_wrong_parameters_are_refused(self) -> None:
        """Running a job with a parameter it does not declare is an error."""
        job = sqlfiles.parse("demo", GOOD)
        with pytest.raises(sqlfiles.SqlJobError):
            job.execute(duckdb.connect(), {"low": 1, "extra": 2})


class TestShippedJobs:
    def test_every_shipped_job_has_a_valid_header(self) -> None:
        """Each jobs/sql/*.sql file loads: its header declares exactly what it uses."""
        names = [
            p.name.removesuffix(".sql")
            for p in resources.files("armorwatch.jobs").joinpath("sql").iterdir()
            if p.name.endswith(".sql")
        ]
        assert names
        for name in names:
            assert name == sqlfiles.load(name).name
