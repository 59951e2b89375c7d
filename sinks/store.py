"""The one way into the armorwatch store: a DuckLake (SQL catalog + Parquet data files).

``open_store(spec, read_only=...)`` turns what ``--db`` / ``db = "…"`` / ``store.path``
name into a DuckDB connection with the lake attached as ``lake`` (and made the default
catalog), the macros and views defined, and, for readers, the file system locked down.
Every command and job that reads or writes the store opens it here.

Store specs (``parse_spec``):

- a path ``PATH`` (the default ``armorwatch.duckdb``): the embedded store of one host, a
  SQLite catalog file at ``PATH`` and the Parquet files under ``PATH.files/``;
- ``postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME?data_path=DIR_OR_URL``: a PostgreSQL
  catalog (several processors on several machines write into one lake) and a data path
  every one of them reaches (a shared directory, or an ``s3://`` URL passed through to
  DuckDB). ``data_path`` is required; other query keys are libpq keywords (sslmode, …).

Why a lake: readers open the catalog while the writer commits (snapshot isolation; no
copy of the store for readers), and the files are plain Parquet.

Macros and views are TEMP, created on each connection: DuckLake stores neither macros nor
column comments of views, and a view stored in the lake would still need the macros on
every connection. Tables, their column comments and ``meta`` live in the lake.

The extension binaries come from the ``duckdb-ext-*`` wheels (pinned with duckdb in
pyproject): autoinstall and autoload are off, so nothing is downloaded at run time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import re
import sqlite3
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

from armorwatch.parsers import schema as S
from armorwatch.parsers import sqlfile
from armorwatch.sinks.errors import TerminalSinkError, TransientSinkError

LAKE = "lake"
"""The name the lake is attached under (and the default catalog of every store connection)."""
META: str = "meta"
"""The lake's key/value table (schema_version, catalog)."""

_URL = re.compile(r"^(postgres|postgresql):/+", re.IGNORECASE)


class StoreNotFoundError(FileNotFoundError):
    """A reader named an embedded store whose catalog file does not exist."""


class LegacyStoreError(StoreNotFoundError):
    """The path names a single-file DuckDB store of an older armorwatch, not a lake (a
    StoreNotFoundError, so every reading command prints its one line; the writer turns
    it into a TerminalSinkError)."""


@dataclass(frozen=True)
class StoreConfig:
    """Where a store's catalog and data files are (``parse_spec`` builds it)."""

    kind: str
    """``sqlite`` (embedded, one host) or ``postgres`` (a fleet)."""
    catalog: str
    """DuckLake's catalog string after ``ducklake:`` (may hold a password: never print it)."""
    data_path: str
    """Directory or URL of the Parquet files (ends with '/')."""
    label: str
    """What to show in messages: the path, or the URL without its password."""
    catalog_file: Path | None = None
    """The SQLite catalog file of an embedded store; None for PostgreSQL."""

    def __repr__(self) -> str:  # the catalog string may hold a password
        return f"StoreConfig(kind={self.kind!r}, label={self.label!r})"


def parse_spec(spec: str | Path) -> StoreConfig:
    """The StoreConfig of a ``--db`` value: a path (embedded) or a postgresql:// URL.

    A URL that went through ``pathlib.Path`` (``postgresql:/host/db``) is accepted too:
    config values typed ``Path`` collapse the double slash.
    """
    text = str(spec)
    if _URL.match(text):
        return _parse_url(_URL.sub("postgresql://", text, count=1))
    path = Path(text).expanduser().absolute()
    return StoreConfig(
        kind="sqlite",
        catalog=f"sqlite:{path}",
        data_path=str(data_dir(path)) + "/",
        label=str(path),
        catalog_file=path,
    )


def data_dir(path: Path) -> Path:
    """The Parquet directory of the embedded store at ``path``: ``PATH.files`` beside it."""
    return path.with_name(path.name + ".files")


def _parse_url(url: str) -> StoreConfig:
    u = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(u.query, keep_blank_values=True)
    data = query.pop("data_path", [""])[-1]
    if not data:
        raise ValueError(f"store URL {_redact(u)}: data_path=DIR_OR_URL is required")
    if not u.hostname or not u.path.strip("/"):
        raise ValueError(f"store URL {_redact(u)}: needs a host and a database name")
    words = {"host": u.hostname, "dbname": urllib.parse.unquote(u.path.strip("/"))}
    if u.port:
        words["port"] = str(u.port)
    if u.username:
        words["user"] = urllib.parse.unquote(u.username)
    if u.password:
        words["password"] = urllib.parse.unquote(u.password)
    for key, values in query.items():
        if not re.fullmatch(r"[a-z_]+", key):
            raise ValueError(f"store URL {_redact(u)}: bad parameter name {key!r}")
        words[key] = values[-1]
    catalog = "postgres:" + " ".join(f"{k}={_libpq_quote(v)}" for k, v in words.items())
    if "://" not in data:
        data = str(Path(data).expanduser().absolute())
    return StoreConfig(
        kind="postgres",
        catalog=catalog,
        data_path=data.rstrip("/") + "/",
        label=_redact(u),
        catalog_file=None,
    )


def _libpq_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _redact(u: urllib.parse.SplitResult) -> str:
    netloc = u.hostname or ""
    if u.port:
        netloc += f":{u.port}"
    if u.username:
        netloc = f"{u.username}@{netloc}"
    return urllib.parse.urlunsplit((u.scheme, netloc, u.path, u.query, ""))


def parse_at(text: str) -> int | dt.datetime:
    """A ``--at`` value: a snapshot version (digits) or an ISO-8601 time (UTC when
    naive); ValueError otherwise."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"--at {text!r}: give a snapshot version (a number) or an ISO time"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def writer_lock(cfg: StoreConfig) -> int | None:
    """Take the embedded store's writer lock (``flock`` on ``PATH.lock``); the descriptor
    to close to release it, None for a PostgreSQL catalog.

    One writer per embedded store: rid stays unique because one process commits one
    transaction at a time (sinks.duckdb). A second writer gets TransientSinkError.
    """
    if cfg.catalog_file is None:
        return None
    path = cfg.catalog_file.with_name(cfg.catalog_file.name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as e:
        os.close(fd)
        raise TransientSinkError(
            f"cannot open the store {cfg.label}: another writer holds it (lock {path})"
        ) from e
    return fd


def extension_directory() -> Path:
    """The ``extensions`` folder the duckdb-ext-* wheels install (a namespace package)."""
    import duckdb_ext  # the wheels' namespace package; no code of its own

    for root in duckdb_ext.__path__:
        candidate = Path(root) / "extensions"
        if candidate.is_dir():
            return candidate
    raise TerminalSinkError(
        "the DuckLake extension is not installed (pip install duckdb-ext-ducklake "
        "duckdb-ext-sqlite duckdb-ext-postgres, the versions pyproject pins)"
    )


def is_legacy_file(path: Path) -> bool:
    """Whether ``path`` is a single-file DuckDB database (magic ``DUCK`` at offset 8)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except (FileNotFoundError, IsADirectoryError):
        return False
    return head[8:12] == b"DUCK"


def legacy_message(path: Path | str) -> str:
    """The one-line error for an old DuckDB store at ``path``."""
    return (
        f"{path} is a single-file store of an older armorwatch, not a lake: move it aside "
        f"(mv {path} OLD) and copy it into a lake with `armorwatch store migrate OLD --db {path}`"
    )


def open_store(
    spec: str | Path | StoreConfig,
    *,
    read_only: bool,
    threads: int | None = None,
    memory_limit: str | None = None,
    setup: Callable[[duckdb.DuckDBPyConnection], Any] | None = None,
    inline_rows: int = 0,
    at: int | dt.datetime | None = None,
    settings: Mapping[str, Any] | None = None,
) -> duckdb.DuckDBPyConnection:
    """A connection with the lake attached as ``lake`` (the default catalog), the macros
    and views of ``sinks/sql/views.sql`` defined (TEMP), and for readers, no file access
    beyond the lake and a locked configuration.

    Writers create an embedded store that does not exist yet; ``setup`` (the writer's
    ``sinks.duckdb.migrate``) runs before the views are defined, which need the tables.
    Readers of a missing store (or one without tables yet) get StoreNotFoundError. An
    old single-file DuckDB store raises LegacyStoreError; a catalog that cannot be
    reached, TransientSinkError (writers) or duckdb.IOException (readers).

    ``inline_rows`` (writers): an insert of at most this many rows goes into the catalog
    (DuckLake data inlining) instead of a Parquet file of its own, so small commits do
    not leave thousands of tiny files; readers read inlined rows like the others.

    ``at`` (readers): time travel, the store as it was at that snapshot version (an int,
    see ``SELECT * FROM snapshots()``) or at that time (``parse_at``).

    ``settings``: more DuckDB settings of the connection (``armorwatch report`` trades
    parallelism for memory: ``commands.report.READER_SETTINGS``); readers cannot change
    any once open.
    """
    cfg = spec if isinstance(spec, StoreConfig) else parse_spec(spec)
    if cfg.catalog_file is not None:
        if read_only and not cfg.catalog_file.is_file():
            raise StoreNotFoundError(f"no armorwatch store at {cfg.label}")
        if not read_only:
            cfg.catalog_file.parent.mkdir(parents=True, exist_ok=True)
            Path(cfg.data_path).mkdir(parents=True, exist_ok=True)
            if not cfg.catalog_file.exists():
                _wal(cfg.catalog_file)
    config: dict[str, Any] = {
        "extension_directory": str(extension_directory()),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        # DuckDB checks an extension's signature on every LOAD by hashing the whole file
        # (50 MB each: 0.2 s of every open, most of a reader's start). The files come
        # from the hash-pinned wheel in our lock, as trusted as duckdb's own module beside
        # them; readers then turn external access (LOAD included) off (lock_down).
        "allow_unsigned_extensions": True,
    }
    if threads is not None:
        config["threads"] = threads
    if memory_limit is not None:
        config["memory_limit"] = memory_limit
    config.update(settings or {})
    con = duckdb.connect(":memory:", config=config)
    try:
        con.execute("LOAD ducklake")
        con.execute("LOAD sqlite" if cfg.kind == "sqlite" else "LOAD postgres")
        # ATTACH takes no bound parameters: literals, quotes doubled.
        options = [f"DATA_PATH {_literal(cfg.data_path)}"]
        if read_only:
            options.append("READ_ONLY")
            if isinstance(at, dt.datetime):
                options.append(f"SNAPSHOT_TIME {_literal(at.isoformat())}")
            elif at is not None:
                options.append(f"SNAPSHOT_VERSION {int(at)}")
        elif inline_rows > 0:
            options.append(f"DATA_INLINING_ROW_LIMIT {int(inline_rows)}")
        try:
            con.execute(
                f"ATTACH {_literal('ducklake:' + cfg.catalog)} AS {LAKE} ({', '.join(options)})"
            )
        except duckdb.Error as e:
            # Only now: reading the file opens and closes a descriptor of it, which drops
            # the POSIX locks SQLite holds on it for other connections of this process.
            if cfg.catalog_file is not None and is_legacy_file(cfg.catalog_file):
                raise LegacyStoreError(legacy_message(cfg.label)) from e
            text = f"cannot open the store {cfg.label}: {_scrub(str(e), cfg)}"
            if read_only:  # the reading commands report duckdb errors
                raise duckdb.IOException(text) from e
            raise TransientSinkError(text) from e
        con.execute(f"USE {LAKE}")
        if setup is not None:
            setup(con)
        elif not _has_records(con):
            raise StoreNotFoundError(f"the store {cfg.label} holds no armorwatch tables yet")
        define_views(con, comments=read_only)
        if read_only:
            lock_down(con, cfg)
    except BaseException:
        con.close()
        raise
    return con


def _wal(catalog: Path) -> None:
    """Create the SQLite catalog in WAL mode (kept in the file): readers then never block
    the writer's commit (in the default rollback mode an open reader's query makes the
    commit fail with 'database is locked'). WAL needs the catalog on a local disk.

    Only for a new file: this is Python's own SQLite, and its closing the file would drop
    the POSIX locks the extension's SQLite holds on it in this process."""
    try:
        with contextlib.closing(sqlite3.connect(catalog)) as db:
            db.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as e:
        raise TransientSinkError(f"cannot open the catalog {catalog}: {e}") from e


def _has_records(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main'"
        " AND table_name = 'records'",
        [LAKE],
    ).fetchone()
    return bool(row and row[0])


def define_views(con: duckdb.DuckDBPyConnection, *, comments: bool = True) -> None:
    """The TEMP macros (rid, derived columns) and views on ``con`` (sinks/sql), each view
    column with its catalog comment (its own doc, else its table column's).

    ``comments=False`` for connections nobody browses (the writer's, in-process jobs'):
    on a writable lake each of the ~230 COMMENT statements is a lake transaction, about a
    second of every writer open on a busy machine."""
    con.execute(sqlfile.read("armorwatch.sinks", "sql", "macros").text)
    con.execute(sqlfile.read("armorwatch.sinks", "sql", "views").text)
    if not comments:
        return
    docs = view_column_docs()
    rows = con.execute(
        "SELECT c.table_name, c.column_name, t.comment FROM duckdb_columns() c"
        " JOIN duckdb_views() v ON v.view_name = c.table_name"
        "  AND v.database_name = c.database_name AND v.schema_name = c.schema_name"
        " LEFT JOIN duckdb_columns() t ON t.database_name = ? AND t.schema_name = 'main'"
        "  AND t.table_name = 'records' AND t.column_name = c.column_name"
        " WHERE c.database_name = 'temp' AND NOT v.internal"
        " ORDER BY c.table_name, c.column_index",
        [LAKE],
    ).fetchall()
    for view, column, table_doc in rows:
        text = docs.get((view, column)) or table_doc
        if text:
            con.execute(f"COMMENT ON COLUMN {_quote(view)}.{_quote(column)} IS {_literal(text)}")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quote(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


# A select-list line of views.sql, `expr [AS name],  -- text`, and a field line of the
# derived-columns struct in parsers/sql/derived.sql, `'name': expr,  -- text`.
_VIEW_COLUMN = re.compile(r"^\s+(?:.*\sAS\s+)?(\w+),?\s+--\s+(.+?)\s*$", re.IGNORECASE)
_DERIVED_FIELD = re.compile(r"^\s+'(\w+)':.*\s--\s+(.+?)\s*$")
_VIEW_START = re.compile(r"^CREATE OR REPLACE TEMP VIEW (\w+) AS$")


@cache
def view_column_docs() -> dict[tuple[str, str], str]:
    """(view, column) -> the comment its definition carries: the select-list lines of
    views.sql, and the derived columns' fields in parsers/sql/derived.sql for the views
    that unnest them. Columns a view takes with ``*`` are documented by their table."""
    lines = sqlfile.shared("derived").splitlines()
    derived = {m[1]: m[2] for ln in lines if (m := _DERIVED_FIELD.match(ln))}
    docs: dict[tuple[str, str], str] = {}
    view = None
    for line in sqlfile.read("armorwatch.sinks", "sql", "views").text.splitlines():
        if m := _VIEW_START.match(line):
            view = m[1]
        elif view and line.startswith("FROM "):  # the select list is over
            view = None
        elif view and "aw_derived_columns(" in line:
            docs.update({(view, col): text for col, text in derived.items()})
        elif view and (m := _VIEW_COLUMN.match(line)):
            docs[(view, m[1])] = m[2]
    return docs


def lock_down(con: duckdb.DuckDBPyConnection, cfg: StoreConfig) -> None:
    """No file access but the lake's own files, no extension loading, nothing SET back.

    DuckLake reads its Parquet files through DuckDB's file system: the data path stays
    readable (``allowed_directories``). The SQLite catalog is opened by SQLite itself.
    """
    con.execute("SET allowed_directories = ?", [[cfg.data_path]])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def _scrub(text: str, cfg: StoreConfig) -> str:
    """``text`` without the catalog string (which may hold a password)."""
    return text.replace(cfg.catalog, cfg.label)


def stored_schema_version(con: duckdb.DuckDBPyConnection) -> int | None:
    """The schema_version recorded in ``meta`` of the current catalog (the lake, or an old
    single-file store), or None for one without armorwatch tables."""
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND schema_name = 'main'"
        " AND database_name = current_database()",
        [META],
    ).fetchone()
    if not exists or not exists[0]:
        return None
    rows = con.execute(f"SELECT value FROM {META} WHERE key = 'schema_version'").fetchall()
    return int(rows[0][0]) if rows else None


def open_reader(
    path: Path, at: int | dt.datetime | None = None, settings: Mapping[str, Any] | None = None
) -> tuple[duckdb.DuckDBPyConnection, Path]:
    """A locked-down READ_ONLY connection to the store ``path`` names, and ``path``.

    ``sinks.store.open_store(path, read_only=True)``: it reads the lake while a writer
    writes (each query sees the snapshots committed before it started), cannot touch
    files outside the lake (read_csv, COPY TO, ATTACH, INSTALL/LOAD) or change that
    (``lock_configuration``). Raises StoreNotFoundError when an embedded store does not
    exist, LegacyStoreError for an old single-file store. ``at``: the store as it was at
    that snapshot version or time (``sinks.store.parse_at``). ``settings``: more DuckDB
    settings (``open_store``).
    """
    con = open_store(path, read_only=True, at=at, settings=settings)
    try:
        version = stored_schema_version(con)
    except BaseException:
        con.close()
        raise
    if version is not None and version != S.SCHEMA_VERSION:
        con.close()
        raise TerminalSinkError(
            f"the store {path} has schema v{version}; this armorwatch reads "
            f"v{S.SCHEMA_VERSION} (open it once with a writer of this version to upgrade it)"
        )
    return con, path
