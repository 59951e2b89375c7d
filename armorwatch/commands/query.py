"""``armorwatch query``: run SQL or a saved query against the store, safely.

Safety: the store is opened READ_ONLY (``sinks.duckdb.open_reader``) with
``enable_external_access=false`` and ``lock_configuration=true``: a query cannot read
files (``read_csv('/etc/shadow')``), write files (``COPY ... TO``), ATTACH, INSTALL or
LOAD, or switch those settings back. On top of that only a single SELECT (or EXPLAIN)
statement is accepted, and ``--param`` values are always bound parameters (``$name``),
never pasted into the SQL. Output files (``-o``) are written by armorwatch itself.

Time parameters: a duration (``30m``, ``24h``, ``7d``, ``2w``) means "that long before the
anchor"; the anchor is the newest record's ``ts`` in the store (``--anchor latest``, the
default, so the bundled Nov 2025 samples answer "the last 24h" meaningfully) or the
current time (``--anchor now``). ISO timestamps (``2025-11-23T10:00:00Z``) are used as is.
"""

from __future__ import annotations

import argparse
import base64
import csv
import datetime as dt
import decimal
import difflib
import re
import sys
import textwrap
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from armorwatch import logging as awlog
from armorwatch.commands import COMMANDS, options
from armorwatch.jobs import window
from armorwatch.parsers import sanitize, sqlfile
from armorwatch.sinks.duckdb import StoreNotFoundError, open_reader
from armorwatch.sinks.store import parse_at

FORMATS = ("table", "csv", "json", "parquet")
PARAM_TYPES = ("timestamp", "integer", "text")
CELL_WIDTH = 60  # table cells are cut beyond this many characters unless --wide

_EXPLAIN = re.compile(r"\s*EXPLAIN\s+(?:(ANALY[SZ]E)\s+)?", re.IGNORECASE)


class UsageError(ValueError):
    """Bad arguments: unknown saved query or parameter, bad value (exit code 2)."""


SavedParam = sqlfile.Param
"""One parameter a saved query declares in its header (type: timestamp | integer | text)."""


@dataclass(frozen=True)
class SavedQuery:
    """A ``.sql`` file of armorwatch/queries with its parsed header."""

    name: str
    """Name used on the command line."""
    grain: str
    """What one output row is."""
    sql: str
    """The statement text (bound parameters only)."""
    params: tuple[SavedParam, ...] = field(default_factory=tuple)
    """Declared parameters."""


def saved_queries() -> dict[str, SavedQuery]:
    """Every saved query shipped in armorwatch/queries, by name."""
    out: dict[str, SavedQuery] = {}
    for f in sqlfile.read_all("armorwatch", "queries").values():
        for p in f.params:
            if p.type not in PARAM_TYPES:
                raise ValueError(f"saved query {f.name}: parameter type {p.type!r} unknown")
        out[f.name] = SavedQuery(name=f.name, grain=f.grain or "", sql=f.text, params=f.params)
    return out


def parse_duration(text: str) -> dt.timedelta | None:
    """``24h`` → timedelta(hours=24); None when ``text`` is not a duration."""
    try:
        return window.parse_duration(text)
    except window.WindowError:
        return None


def anchor_time(con: duckdb.DuckDBPyConnection, anchor: str) -> dt.datetime:
    """The time durations count back from: newest record ts ('latest') or now ('now')."""
    return window.window_end(con, anchor)


def to_timestamp(value: str, anchor: dt.datetime) -> dt.datetime:
    """A duration counted back from ``anchor``, or an ISO-8601 timestamp (UTC if naive)."""
    try:
        return window.since(value, anchor)
    except window.WindowError as e:
        raise UsageError(str(e)) from None


def bind_params(
    given: Mapping[str, str],
    declared: Sequence[SavedParam] | None,
    wanted: set[str],
    anchor: dt.datetime | None,
    get_anchor: Any,
) -> dict[str, Any]:
    """Typed values for the statement's parameters; UsageError on unknown or bad ones.

    Saved queries convert by their declared types and fill defaults. Ad-hoc SQL binds
    text, except durations, which become timestamps (``ts >= $since`` with since=24h).
    """
    unknown = sorted(set(given) - wanted)
    if unknown:
        raise UsageError(
            f"unknown parameter(s) {', '.join(unknown)}; the statement uses: "
            + (", ".join(sorted(wanted)) or "none")
        )
    out: dict[str, Any] = {}
    if declared is None:
        for name in wanted:
            if name not in given:
                raise UsageError(f"missing --param {name}=VALUE")
            text = given[name]
            out[name] = (
                to_timestamp(text, anchor or get_anchor())
                if parse_duration(text) is not None
                else text
            )
        return out
    optional: Mapping[str, str | None] = given
    for p in declared:
        if p.name not in wanted:
            continue
        value = optional.get(p.name, p.default)
        if value is None:
            out[p.name] = None
        elif p.type == "timestamp":
            out[p.name] = to_timestamp(value, anchor or get_anchor())
        elif p.type == "integer":
            try:
                out[p.name] = int(value)
            except ValueError as e:
                raise UsageError(f"--param {p.name} must be an integer, got {value!r}") from e
        else:
            out[p.name] = value
    missing = sorted(wanted - set(out))
    if missing:
        raise UsageError(f"saved query does not declare parameter(s) {', '.join(missing)}")
    return out


def _one_statement(sql: str) -> Any:
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as e:
        raise UsageError(f"SQL does not parse: {e}") from e
    if len(statements) != 1:
        raise UsageError(f"one statement expected, got {len(statements)}")
    return statements[0]


def check_statement(sql: str) -> tuple[str, set[str]]:
    """Accept one SELECT, or EXPLAIN [ANALYZE] of one SELECT; return the SQL to run and
    its named parameters.

    EXPLAIN ANALYZE executes its statement (``EXPLAIN ANALYZE CREATE TEMP TABLE`` would
    succeed on the read-only store), and DuckDB does not say what an EXPLAIN wraps. So
    the text after ``EXPLAIN [ANALYZE]`` must parse on its own as one SELECT, and what
    runs is that text as a subquery behind a prefix written here: whatever the user's
    prefix holds (comments, an option list), DuckDB explains a SELECT.
    """
    st = _one_statement(sql)
    if st.type == duckdb.StatementType.SELECT:  # type: ignore[attr-defined]  # 1.4.4 stubs
        return sql, set(st.named_parameters)
    if st.type != duckdb.StatementType.EXPLAIN:  # type: ignore[attr-defined]
        raise UsageError(f"only SELECT queries are allowed, not {st.type.name}")
    m = _EXPLAIN.match(sql)
    if m is None:
        raise UsageError("write EXPLAIN [ANALYZE] SELECT …, with no comment or option first")
    inner = sql[m.end() :].rstrip().rstrip(";")
    if _one_statement(inner).type != duckdb.StatementType.SELECT:  # type: ignore[attr-defined]
        raise UsageError("EXPLAIN is allowed of a SELECT only")
    # Parsed alone, inner has balanced parentheses, quotes and comments; the newline ends
    # a trailing -- comment.
    checked = f"EXPLAIN {'ANALYZE ' if m.group(1) else ''}SELECT * FROM (\n{inner}\n)"
    return checked, set(_one_statement(checked).named_parameters)


# --- rendering ----------------------------------------------------------------------
def interval_text(months: int, days: int, nanoseconds: int) -> str:
    """An INTERVAL as DuckDB prints it (and casts back): ``1 year 2 months 8 days 00:00:00.733``."""
    parts = []
    years, months = divmod(months, 12) if months >= 0 else (-(-months // 12), -(-months % 12))
    for n, unit in ((years, "year"), (months, "month"), (days, "day")):
        if n:
            parts.append(f"{n} {unit}{'s' if abs(n) != 1 else ''}")
    if nanoseconds or not parts:
        sign = "-" if nanoseconds < 0 else ""
        us = abs(nanoseconds) // 1000  # microseconds, as DuckDB keeps them
        secs, frac = divmod(us, 1_000_000)
        hh, rest = divmod(secs, 3600)
        mm, ss = divmod(rest, 60)
        text = f"{sign}{hh:02d}:{mm:02d}:{ss:02d}"
        if frac:
            text += f".{frac:06d}".rstrip("0")
        parts.append(text)
    return " ".join(parts)


def _duration_text(value: dt.timedelta) -> str:
    us = value // dt.timedelta(microseconds=1)
    return interval_text(0, 0, us * 1000)


def bit_text(value: bytes) -> str:
    """A DuckDB BIT as its digits: Arrow carries it as a padding-count byte, then the bits."""
    if not value:
        return ""
    bits = "".join(f"{b:08b}" for b in value[1:])
    return bits[value[0] :]


def _plain(value: Any) -> Any:
    """Values Arrow hands back that no output format knows, in their DuckDB text form;
    containers walked (a MAP comes back as a list of (key, value) pairs: a dict here)."""
    if isinstance(value, pa.MonthDayNano):
        return interval_text(value.months, value.days, value.nanoseconds)
    if isinstance(value, dt.timedelta):
        return _duration_text(value)
    if isinstance(value, list):
        pairs = value and all(isinstance(v, tuple) and len(v) == 2 for v in value)
        if pairs and all(isinstance(k, str) for k, _ in value):
            return {k: _plain(v) for k, v in value}
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _has_type(t: pa.DataType, pred: Any) -> bool:
    if pred(t):
        return True
    if isinstance(t, pa.MapType):
        return _has_type(t.key_type, pred) or _has_type(t.item_type, pred)
    return any(_has_type(t.field(i).type, pred) for i in range(t.num_fields))


def portable(table: pa.Table, duck_types: Sequence[str] = ()) -> pa.Table:
    """``table`` with every column every format can write: INTERVAL (anywhere in a
    column's type) and BIT become their DuckDB text, the rest is left exact."""

    def odd(t: pa.DataType) -> bool:
        return pa.types.is_interval(t) or pa.types.is_duration(t)

    for i, f in enumerate(table.schema):
        is_bit = i < len(duck_types) and duck_types[i] == "BIT"
        if not is_bit and not _has_type(f.type, odd):
            continue
        values = table.column(i).to_pylist()
        if is_bit:
            texts = [None if v is None else bit_text(v) for v in values]
        else:
            texts = [None if v is None else _text(_plain(v)) for v in values]
        table = table.set_column(i, pa.field(f.name, pa.string()), pa.array(texts, pa.string()))
    return table


def _text(value: Any) -> str:
    """Exact text of a converted value: strings as they are, containers as DuckDB prints them."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_text(v)}" for k, v in value.items()) + "}"
    return "NULL" if value is None else str(value)


def _cell(value: Any) -> str:
    """Human form of one value; every string goes through sanitize.for_terminal."""
    if value is None:
        return ""
    if isinstance(value, list) and value and all(isinstance(v, tuple) for v in value):
        value = _plain(value)  # a MAP
    if isinstance(value, bytes):
        return sanitize.for_terminal(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(sep=" ", timespec="milliseconds")
    if isinstance(value, list):
        return "[" + ", ".join(_cell(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_cell(k)}: {_cell(v)}" for k, v in value.items()) + "}"
    return sanitize.for_terminal(str(value))


def _numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def write_table(table: pa.Table, out: IO[str], wide: bool) -> None:
    """Aligned columns for humans: numbers right-aligned, long cells cut unless ``wide``."""
    names = [sanitize.for_terminal(n) for n in table.column_names]
    cols: list[list[str]] = []
    for column in table.columns:
        cells = [_cell(v) for v in column.to_pylist()]
        if not wide:
            cells = [sanitize.truncate(c, CELL_WIDTH) for c in cells]
        cols.append(cells)
    widths = [max([len(n)] + [len(c) for c in cells]) for n, cells in zip(names, cols, strict=True)]
    right = [_numeric(f.type) for f in table.schema]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out.write(line(names) + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for i in range(table.num_rows):
        out.write(line([c[i] for c in cols]) + "\n")
    out.write(f"({table.num_rows} row{'s' if table.num_rows != 1 else ''})\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, tuple):  # a MAP entry
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# Characters orjson emits raw that can reorder or hide text on a terminal: C1 controls,
# line/paragraph separators, bidi controls, zero-width and other format characters.
_JSON_INVISIBLE = re.compile(
    "[\u0080-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]"
)


def write_json(table: pa.Table, out: IO[bytes]) -> None:
    """JSON lines, one object per row: exact values (bytes as base64, times RFC 3339),
    with invisible characters written as \\uXXXX escapes (same value, safe on a TTY)."""
    for row in table.to_pylist():
        row = {k: _plain(v) for k, v in row.items()}
        text = orjson.dumps(row, default=_json_default, option=orjson.OPT_UTC_Z).decode()
        text = _JSON_INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
        out.write(text.encode() + b"\n")


# A spreadsheet reads a cell starting with one of these as a formula (OWASP "CSV Injection").
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_guard(text: str) -> str:
    """``text`` with a leading single quote when a spreadsheet would run it as a formula."""
    return "'" + text if text.startswith(CSV_FORMULA_START) else text


def _csv_cell(value: Any) -> Any:
    # Numbers stay numbers (-5 is no formula); every other value is text and guarded.
    if isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool):
        return value
    return csv_guard(_cell(value))


def write_csv(table: pa.Table, out: IO[str]) -> None:
    """CSV with a header; every value in its visible form (as in the table format), so
    no control or bidi character reaches a terminal or spreadsheet. Exact values: json.

    Guarded as OWASP recommends: a text cell starting with = + - @ TAB or CR gets a
    leading ``'``, and every text cell is quoted, so a separator inside a value (``;`` in
    a locale that splits on it) cannot start a new cell that begins with ``=``.
    """
    w = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    w.writerow([csv_guard(sanitize.visible(n)) for n in table.column_names])
    for row in table.to_pylist():
        w.writerow([_csv_cell(v) for v in row.values()])


# --- the command --------------------------------------------------------------------
def message(e: BaseException) -> str:
    """An error as lines on the terminal: DuckDB's own line breaks kept, each line sanitised
    (a literal \\n in the middle of a message reads as garbage)."""
    return "\n".join(sanitize.for_terminal(line) for line in str(e).splitlines())


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``armorwatch query``."""
    p = subparsers.add_parser(
        "query",
        help=COMMANDS["query"],
        description=textwrap.fill(
            "Run one SELECT statement, or a saved query by name, against the armorwatch "
            "DuckDB store, read-only with file access disabled. Values go in as bound "
            "parameters: --param since=24h is $since in the SQL. Durations (30m, 24h, 7d) "
            "count back from the newest record (--anchor latest) or from now. It reads the "
            "store while a writer writes (the rows committed before the query started)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Tables and views: records, denials, complain_events, profile_status, loss,\n"
        "rejects, denials_by_profile_hour, top_denied_objects, new_denials.\n"
        "Examples:\n"
        "  armorwatch query --list\n"
        "  armorwatch query top-denials --param since=7d\n"
        '  armorwatch query "SELECT host, count(*) FROM denials WHERE ts >= $since GROUP BY 1"'
        " --param since=24h --format csv",
    )
    p.add_argument("query", nargs="?", help="a saved query name (see --list) or one SQL SELECT")
    options.add_store(p)
    p.add_argument("--format", choices=FORMATS, default="table", help="output format")
    p.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="bind $NAME (repeatable)",
    )
    p.add_argument(
        "--anchor",
        choices=("latest", "now"),
        default="latest",
        help="durations count back from the newest record (latest) or the current time",
    )
    p.add_argument(
        "--host",
        metavar="NAME",
        help="only this host: binds $host (the saved queries that take a host, or SQL "
        "that uses $host; an error for one that takes none)",
    )
    p.add_argument(
        "--at",
        metavar="VERSION|TIME",
        help="time travel: read the store as it was at this snapshot version (see "
        "SELECT * FROM snapshots()) or ISO time (UTC when naive), e.g. when an alert fired",
    )
    p.add_argument("--list", action="store_true", help="list the saved queries and exit")
    p.add_argument("--wide", action="store_true", help="do not cut long table cells")
    awlog.add_arguments(p)
    p.set_defaults(func=run)


def _parse_params(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"\w+", name):
            raise UsageError(f"--param wants NAME=VALUE, got {item!r}")
        out[name] = value
    return out


def list_saved(out: IO[str]) -> None:
    """Print every saved query with its grain and parameters."""
    for q in saved_queries().values():
        out.write(f"{q.name}\n    {q.grain}\n")
        for p in q.params:
            default = "null" if p.default is None else p.default
            out.write(f"    --param {p.name}=<{p.type}> (default {default})  {p.help}\n")


def run(args: argparse.Namespace) -> int:
    """Entry point of ``armorwatch query``."""
    if args.list:
        list_saved(sys.stdout)
        return 0
    if not args.query:
        print("armorwatch query: give SQL or a saved query name (see --list)", file=sys.stderr)
        return 2
    try:
        table, _ = execute_from(
            args.db, args.query, _parse_params(args.param), args.anchor, args.at, host=args.host
        )
    except UsageError as e:
        print(f"armorwatch query: {e}", file=sys.stderr)
        return 2
    except StoreNotFoundError as e:
        print(f"armorwatch query: {e}", file=sys.stderr)
        return 2
    except duckdb.IOException as e:
        print(f"armorwatch query: cannot open {args.db}: {message(e)}", file=sys.stderr)
        return 2
    except duckdb.Error as e:
        print(f"armorwatch query: {message(e)}", file=sys.stderr)
        return 1
    try:
        emit(table, args.format, args.output, args.wide)
    except BrokenPipeError:
        raise  # the reader went away (| head): the CLI exits quietly
    except OSError as e:
        print(f"armorwatch query: cannot write output: {e}", file=sys.stderr)
        return 2
    return 0


def execute(db: Path, query: str, given: Mapping[str, str], anchor: str = "latest") -> pa.Table:
    """Run a saved query name or one SELECT against ``db`` read-only; the result as Arrow."""
    return execute_from(db, query, given, anchor)[0]


def execute_from(
    db: Path,
    query: str,
    given: Mapping[str, str],
    anchor: str = "latest",
    at: str | None = None,
    host: str | None = None,
) -> tuple[pa.Table, Path]:
    """``execute``, plus the store read (``db``).

    ``host`` (``--host``) binds the ``host`` parameter; UsageError when the query takes
    none or ``--param host=`` names another."""
    known = saved_queries()
    saved = known.get(query)
    if saved is None and re.fullmatch(r"[\w.-]+", query.strip()):
        # one word is no SQL statement: a saved query's name, mistyped
        close = difflib.get_close_matches(query.strip(), list(known), n=1, cutoff=0.5)
        hint = f"did you mean {close[0]}?" if close else "see --list"
        raise UsageError(f"no saved query {query.strip()!r}: {hint}")
    sql = saved.sql if saved else query
    sql, wanted = check_statement(sql)
    if host is not None:
        if "host" not in wanted:
            what = f"saved query {saved.name}" if saved else "this SQL (no $host in it)"
            takes = ", ".join(sorted(wanted)) or "none"
            raise UsageError(f"--host: {what} takes no host parameter (its parameters: {takes})")
        if given.get("host", host) != host:
            raise UsageError(f"--host {host} and --param host={given['host']} disagree")
        given = {**given, "host": host}
    try:
        when = None if at is None else parse_at(at)
    except ValueError as e:
        raise UsageError(str(e)) from e
    try:
        con, path = open_reader(db, at=when)
    except duckdb.IOException:
        raise  # a lock or a file that is no DuckDB store: run() explains it
    except duckdb.Error as e:  # e.g. a --db path DuckDB does not open as a file (x.json)
        raise UsageError(f"cannot open {db}: {sanitize.for_terminal(str(e))}") from e
    try:
        params = bind_params(
            given,
            saved.params if saved else None,
            wanted,
            None,
            lambda: anchor_time(con, anchor),
        )
        rel = con.sql(sql, params=params or None)
        return portable(rel.to_arrow_table(), [str(t) for t in rel.types]), path
    finally:
        con.close()


def emit(table: pa.Table, fmt: str, output: Path | None, wide: bool) -> None:
    """Write ``table`` in ``fmt`` to ``output`` or stdout."""
    if fmt == "parquet":
        if output is None and sys.stdout.isatty():
            raise OSError("parquet output needs -o FILE (or a pipe)")
        target: Any = str(output) if output else sys.stdout.buffer
        pq.write_table(table, target, compression="zstd")
        return
    if fmt == "json":
        if output:
            with output.open("wb") as fb:
                write_json(table, fb)
        else:
            write_json(table, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        return
    writer = write_csv if fmt == "csv" else lambda t, o: write_table(t, o, wide)
    if output:
        with output.open("w", encoding="utf-8", newline="") as f:
            writer(table, f)
    else:
        writer(table, sys.stdout)
