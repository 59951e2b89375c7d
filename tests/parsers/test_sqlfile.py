"""parsers.sqlfile: one header grammar and loader for every SQL file; the shared macros."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from armorwatch.parsers import sqlfile
from armorwatch.parsers.sqlfile import Param, SqlFileError

QUERY = """-- name: demo
-- grain: one row per n
-- param low: integer = 2  -- inclusive lower bound
-- param tag: text = null  -- a label
SELECT n, $tag AS tag FROM range(5) t(n) WHERE n >= $low
"""


class TestHeader:
    def test_fields_and_params_are_read(self) -> None:
        """Name, grain and each param's type, default and help come from the header."""
        f = sqlfile.parse("demo", QUERY)
        assert ("demo", "one row per n") == (f.name, f.grain)
        assert (
            Param("low", "integer", "2", "inclusive lower bound"),
            Param("tag", "text", None, "a label"),
        ) == f.params

    def test_older_parameters_line_declares_nothing(self) -> None:
        """The retired one-line `-- parameters:` is prose now: its $names are undeclared."""
        with pytest.raises(SqlFileError, match="declare"):
            sqlfile.parse("job", "-- grain: g\n-- parameters: top (INTEGER; rows)\nSELECT $top\n")

    def test_name_defaults_to_the_stem_and_must_match_it(self) -> None:
        """A file without a name line is named by its stem; another name is an error."""
        assert "x" == sqlfile.parse("x", "SELECT 1\n").name
        with pytest.raises(SqlFileError, match="header names"):
            sqlfile.parse("other", QUERY)

    def test_declared_and_used_parameters_must_agree(self) -> None:
        """A $name used but not declared, or declared twice, is an error."""
        with pytest.raises(SqlFileError, match="declares"):
            sqlfile.parse("demo", QUERY.replace("-- param tag: text = null  -- a label\n", ""))
        with pytest.raises(SqlFileError, match="twice"):
            sqlfile.parse("demo", QUERY.replace("-- param tag:", "-- param low:"))

    def test_header_ends_at_the_first_other_line(self) -> None:
        """A `-- param` line after the statement began is prose, not a declaration."""
        with pytest.raises(SqlFileError, match="declares"):
            sqlfile.parse("d", "-- grain: g\n\n-- param x: integer\nSELECT $x\n")


class TestInclude:
    def test_included_file_runs_first(self) -> None:
        """`-- include: derived` puts the shared macros before the file's own statements."""
        f = sqlfile.parse("v", "-- include: derived\nSELECT aw_object_pattern('/proc/1/fd/2')\n")
        assert ("derived",) == f.includes
        assert f.text.startswith(sqlfile.shared("derived"))
        con = duckdb.connect()
        assert [("/proc/*/fd/*",)] == con.execute(f.text).fetchall()

    def test_missing_file_is_an_error(self) -> None:
        """An unknown include names the file it looked for."""
        with pytest.raises(SqlFileError, match="nope"):
            sqlfile.parse("v", "-- include: nope\nSELECT 1\n")

    @pytest.mark.parametrize(
        ("package", "folder"),
        [
            ("armorwatch.sinks", "sql"),
            ("armorwatch.jobs", "sql"),
            ("armorwatch", "queries"),
            ("armorwatch.parsers", "sql"),
        ],
    )
    def test_every_shipped_file_parses(self, package: str, folder: str) -> None:
        """Every SQL file of the three folders and the shared one has a valid header."""
        files = sqlfile.read_all(package, folder)
        assert files
        assert all(f.name == stem for stem, f in files.items())


def derive(row: dict[str, Any], selinux: bool = True) -> tuple[Any, ...]:
    """object_class, object and object_pattern of one record row, by the shared macros."""
    con = duckdb.connect()
    con.execute(sqlfile.shared("derived"))
    cols = ", ".join(f"${k}::VARCHAR AS {k}" for k in row)
    flag = "" if selinux else ", selinux := false"
    got = con.execute(
        f"WITH r AS (SELECT {cols}) SELECT aw_object_class(r{flag}), aw_object(r{flag}),"
        f" aw_object_pattern(aw_object(r{flag})) FROM r",
        row,
    ).fetchone()
    assert got is not None
    return tuple(got)


FIELDS = (
    "mediation_class",
    "class",
    "tclass",
    "capname",
    "signal",
    "peer",
    "name",
    "bus",
    "path",
    "interface",
    "member",
    "addr",
    "peer_addr",
    "family",
    "sock_type",
    "protocol",
    "name2",
    "tcontext",
)


def record(**over: Any) -> dict[str, Any]:
    """A row with every field the macros read, null unless given."""
    return {f: None for f in FIELDS} | over


class TestDerivedMacros:
    @pytest.mark.parametrize(
        ("row", "expected"),
        [
            (
                record(**{"class": "cap"}, capname="sys_admin", name="/x"),
                ("cap", "sys_admin", "sys_admin"),
            ),
            (
                record(mediation_class="signal", peer="unconfined"),
                ("signal", "? -> unconfined", "? -> unconfined"),
            ),
            (
                record(**{"class": "ptrace"}, name="/proc/7/mem"),
                ("ptrace", "/proc/7/mem", "/proc/*/mem"),
            ),
            (record(bus="system", name="a", member="m"), (None, "a m", "a m")),
            (record(**{"class": "unix"}, peer_addr="@x", name="/n"), ("unix", "@x", "@x")),
            (record(**{"class": "net"}, family="inet", protocol="6"), ("net", "inet 6", "inet 6")),
            (record(tclass="file", tcontext="etc_t"), ("file", "etc_t", "etc_t")),
            (
                record(mediation_class="file", name="/proc/12/34/x"),
                ("file", "/proc/12/34/x", "/proc/*/*/x"),
            ),
        ],
    )
    def test_object_by_class(self, row: dict[str, Any], expected: tuple[Any, ...]) -> None:
        """Each class names its object the way the views always have."""
        assert expected == derive(row)

    def test_complain_mode_ignores_selinux_fields(self) -> None:
        """selinux := false leaves tclass and tcontext out (complain mode is AppArmor's)."""
        assert (None, None, None) == derive(record(tclass="file", tcontext="etc_t"), selinux=False)
