"""SQL jobs as files: ``jobs/sql/<name>.sql``, each headed by a comment block.

The header names the job, its grain and its parameters, so a reader of the file alone
knows what a row means and what must be bound::

    -- name: summary_by_profile
    -- grain: one row per (lsm, profile, class, decision)
    -- parameters: since (TIMESTAMP, inclusive lower bound of ts)

Parameters are DuckDB named parameters (``$since``) bound at execution, never
formatted into the text. ``load`` checks that the header and the text agree: every
``$name`` used is declared and every declared one is used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import duckdb

_HEADER = re.compile(r"^--\s*(name|grain|parameters):\s*(.*)$")
_PARAM_USE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_PARAM_DECL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")


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
    """The whole file, header included (comments are valid SQL)."""

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
def load(name: str, package: str = "jobs") -> SqlJob:
    """Read ``<package>/sql/<name>.sql`` and check its header against its text."""
    try:
        text = resources.files(package).joinpath("sql", f"{name}.sql").read_text("utf-8")
    except FileNotFoundError:
        raise SqlJobError(f"no SQL job {name!r} in {package}/sql") from None
    return parse(name, text)


def parse(name: str, text: str) -> SqlJob:
    """Build a SqlJob from a file's text, or raise SqlJobError naming what is wrong."""
    header: dict[str, str] = {}
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        m = _HEADER.match(line)
        if m:
            header[m.group(1)] = m.group(2).strip()
    for key in ("name", "grain", "parameters"):
        if key not in header:
            raise SqlJobError(f"{name}.sql: header lacks '-- {key}:'")
    if header["name"] != name:
        raise SqlJobError(f"{name}.sql: header names {header['name']!r}")
    declared = tuple(_PARAM_DECL.findall(header["parameters"]))
    body = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("--"))
    used = set(_PARAM_USE.findall(body))
    if used != set(declared):
        raise SqlJobError(f"{name}.sql: uses {sorted(used)} but declares {sorted(declared)}")
    return SqlJob(name=name, grain=header["grain"], parameters=declared, text=text)
