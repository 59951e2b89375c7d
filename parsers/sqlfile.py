"""SQL files and their header: one grammar for the store (``sinks/sql``), the jobs
(``jobs/sql``), the saved queries (``armorwatch/queries``) and the macros they share
(``parsers/sql``).

A file's header is its leading run of ``--`` lines (a blank line ends it)::

    -- name: top-denials
    -- grain: one row per (lsm, profile, class, object) denied in the window
    -- param since: timestamp = 24h  -- only denials at or after this time
    -- param limit: integer = 50  -- rows to show
    -- include: derived

``name`` equals the file stem when given; ``grain`` says what one output row (or, for
DDL, what the file) is; each ``param`` declares a DuckDB named parameter (``$since``),
bound at execution and never formatted into the text, with its type, an optional
default (``null`` = none) and help; each ``include`` names a shared file of
``parsers/sql`` whose statements run before the file's own. Other comment lines are
prose. ``parse`` checks that the declared parameters are exactly the ones used.

The shared files live here, in ``parsers``, because the store (``sinks``) and the jobs
(``jobs``) both run them and neither may import the other; reading its own package data
keeps ``parsers`` free of other I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

_FIELD = re.compile(r"^--\s*(name|grain|include):\s*(.*?)\s*$")
_PARAM = re.compile(r"^--\s*param\s+(\w+)\s*:\s*([\w\[\]]+)\s*(?:=\s*(\S+))?\s*(?:--\s*(.*?))?\s*$")
_PARAM_USE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


class SqlFileError(ValueError):
    """A SQL file is missing or its header is malformed or disagrees with its text."""


@dataclass(frozen=True)
class Param:
    """One declared named parameter."""

    name: str
    """Bound as ``$name``."""
    type: str
    """As written: timestamp | integer | text for saved queries, a SQL type for jobs."""
    default: str | None = None
    """Default as written (``24h``, ``50``); None = null or no default."""
    help: str = ""
    """What it does."""


@dataclass(frozen=True)
class SqlFile:
    """One parsed SQL file."""

    name: str
    """The header's name, else the file stem."""
    grain: str | None
    """What one output row is; None when the header has no ``grain`` line."""
    params: tuple[Param, ...]
    """Declared parameters, in header order."""
    includes: tuple[str, ...]
    """Shared files of parsers/sql run first."""
    text: str
    """What to execute: the included files' text, then the file's own (header kept)."""
    source: str
    """The file's own text."""


def parse(stem: str, text: str) -> SqlFile:
    """Parse the header of ``<stem>.sql``; SqlFileError names what is wrong."""
    name, grain, params, includes = _header(stem, text)
    declared = [p.name for p in params]
    if len(set(declared)) != len(declared):
        raise SqlFileError(f"{stem}.sql: a parameter is declared twice: {declared}")
    body = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("--"))
    used = set(_PARAM_USE.findall(body))
    if used != set(declared):
        raise SqlFileError(f"{stem}.sql: uses {sorted(used)} but declares {sorted(declared)}")
    return SqlFile(
        name=name,
        grain=grain,
        params=params,
        includes=includes,
        text="".join(shared(i) + "\n" for i in includes) + text,
        source=text,
    )


def _header(stem: str, text: str) -> tuple[str, str | None, tuple[Param, ...], tuple[str, ...]]:
    """Name, grain, parameters and includes of a file's header."""
    fields: dict[str, str] = {}
    params: list[Param] = []
    includes: list[str] = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        if m := _FIELD.match(line):
            if m.group(1) == "include":
                includes.append(m.group(2))
            else:
                fields[m.group(1)] = m.group(2)
        elif m := _PARAM.match(line):
            default = None if m.group(3) == "null" else m.group(3)
            params.append(Param(m.group(1), m.group(2), default, m.group(4) or ""))
    name = fields.get("name", stem)
    if name != stem:
        raise SqlFileError(f"{stem}.sql: header names {name!r}")
    return name, fields.get("grain"), tuple(params), tuple(includes)


def _package_text(package: str, folder: str, stem: str) -> str:
    try:
        return resources.files(package).joinpath(folder, f"{stem}.sql").read_text("utf-8")
    except FileNotFoundError:
        raise SqlFileError(f"no SQL file {stem!r} in {package}/{folder}") from None


@cache
def read(package: str, folder: str, stem: str) -> SqlFile:
    """Read and parse ``<package>/<folder>/<stem>.sql`` (package data)."""
    return parse(stem, _package_text(package, folder, stem))


def read_all(package: str, folder: str) -> dict[str, SqlFile]:
    """Every ``.sql`` file of ``<package>/<folder>``, parsed, by name, in file-name order."""
    entries = resources.files(package).joinpath(folder).iterdir()
    stems = sorted(e.name.removesuffix(".sql") for e in entries if e.name.endswith(".sql"))
    return {stem: read(package, folder, stem) for stem in stems}


@cache
def shared(stem: str) -> str:
    """The text of the shared file ``parsers/sql/<stem>.sql``."""
    text = _package_text("armorwatch.parsers", "sql", stem)
    if _header(stem, text)[3]:
        raise SqlFileError(f"{stem}.sql: a shared file includes no other")
    return text
