"""SQL jobs as files: ``jobs/sql/<name>.sql``, each headed by a comment block.

The header (grammar: ``parsers.sqlfile``) names the job, its grain and its parameters,
so a reader of the file alone knows what a row means and what must be bound::

    -- name: summary_by_profile
    -- grain: one row per (lsm, profile, class, decision)
    -- param since: timestamptz  -- inclusive lower bound of ts

Parameters are DuckDB named parameters (``$since``) bound at execution, never
formatted into the text. ``load`` checks that the header and the text agree: every
``$name`` used is declared and every declared one is used; a job must state its grain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import duckdb

from armorwatch.parsers import sqlfile


class SqlJobError(ValueError):
    """A job file is missing, has a bad header, or was run with the wrong parameters."""


@dataclass(frozen=True)
class SqlJob:
    """One parsed ``.sql`` job file."""

    name: str
    """From the header; equals the file stem."""
    grain: str
    """What one output row is."""
    parameters: tuple[str, ...]
    """Declared named parameters, bound as ``$name``."""
    text: str
    """What runs: the shared files it includes (parsers/sql), then the whole file."""

    def execute(
        self, con: duckdb.DuckDBPyConnection, params: Mapping[str, Any] | None = None
    ) -> duckdb.DuckDBPyConnection:
        """Run the job with exactly its declared parameters bound."""
        params = dict(params or {})
        if set(params) != set(self.parameters):
            raise SqlJobError(
                f"{self.name}: parameters {sorted(params)} given, "
                f"{sorted(self.parameters)} declared"
            )
        return con.execute(self.text, params) if params else con.execute(self.text)


@cache
def load(name: str, package: str = "armorwatch.jobs") -> SqlJob:
    """Read ``<package>/sql/<name>.sql`` and check its header against its text."""
    try:
        return _job(sqlfile.read(package, "sql", name))
    except sqlfile.SqlFileError as e:
        raise SqlJobError(str(e)) from None


def parse(name: str, text: str) -> SqlJob:
    """Build a SqlJob from a file's text, or raise SqlJobError naming what is wrong."""
    try:
        return _job(sqlfile.parse(name, text))
    except sqlfile.SqlFileError as e:
        raise SqlJobError(str(e)) from None


def _job(f: sqlfile.SqlFile) -> SqlJob:
    if f.grain is None:
        raise SqlJobError(f"{f.name}.sql: header lacks '-- grain:'")
    return SqlJob(
        name=f.name, grain=f.grain, parameters=tuple(p.name for p in f.params), text=f.text
    )
