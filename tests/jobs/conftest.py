"""Shared fixtures for job tests: DuckDB connections holding the store's tables.

``make_store(batches)`` returns a connection whose ``records`` table and ``denials`` /
``complain_events`` / ``profile_status`` views hold the given MAC_SCHEMA batches. It
writes through the real ``sinks.duckdb.DuckDBSink`` when that module exists and
otherwise creates the same names itself (so job tests run before the store lands).

``sample_store`` is such a connection filled from the bundled ``armorwatch/samples``
(audit.log of web-01, kern.log of web-02, journal.json of db-01), parsed with
``parsers.stream.parse_bytes``; it skips when the parser is not available yet.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from armorwatch.parsers import schema as S
from armorwatch.sinks.store import open_store

SAMPLES = Path(__file__).resolve().parents[2] / "armorwatch" / "samples"

# (file, source, host, framing) of the bundled samples; see armorwatch/samples/README.md.
SAMPLE_FILES: tuple[tuple[str, str, str, str], ...] = (
    ("audit.log", S.SOURCE_AUDITLOG, "web-01", "audit"),
    ("kern.log", S.SOURCE_KERNLOG, "web-02", "syslog"),
    ("journal.json", S.SOURCE_JOURNALD, "db-01", "journald"),
)

# Stand-in view definitions, used only while sinks/duckdb.py does not exist yet.
_FALLBACK_VIEWS = f"""
CREATE VIEW denials AS SELECT * FROM records
  WHERE ({S.LSM} = '{S.LSM_APPARMOR}' AND {S.APPARMOR} = '{S.AA_DENIED}')
     OR ({S.LSM} = '{S.LSM_SELINUX}' AND {S.SERESULT} = '{S.SE_DENIED}');
CREATE VIEW complain_events AS SELECT * FROM records
  WHERE {S.LSM} = '{S.LSM_APPARMOR}' AND {S.APPARMOR} = '{S.AA_ALLOWED}';
CREATE VIEW profile_status AS SELECT * FROM records
  WHERE {S.LSM} = '{S.LSM_APPARMOR}' AND {S.APPARMOR} = '{S.AA_STATUS}';
"""


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _store_with_sink(batches: list[pa.RecordBatch], path: Path) -> duckdb.DuckDBPyConnection:
    from armorwatch.parsers.envelope import Envelope

    mod = importlib.import_module("armorwatch.sinks.duckdb")
    sink = mod.DuckDBSink(mod.DuckDBConfig(path=path))

    async def write() -> None:
        await sink.open()
        for batch in batches:
            await sink.send(Envelope(records=batch, loss=S.empty_batch(S.LOSS_SCHEMA), meta={}))
        await sink.close()

    asyncio.run(write())
    return open_store(path, read_only=False)


def _store_fallback(batches: list[pa.RecordBatch]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    table = pa.Table.from_batches(batches, schema=S.MAC_SCHEMA)
    con.register("incoming", table)
    con.execute("CREATE TABLE records AS SELECT * FROM incoming")
    con.unregister("incoming")
    con.execute(_FALLBACK_VIEWS)
    return con


def build_store(batches: Iterable[pa.RecordBatch], tmp: Path) -> duckdb.DuckDBPyConnection:
    """A connection holding ``batches`` in the store's tables and views."""
    batches = [S.conform(b) for b in batches]
    if _has_module("armorwatch.sinks.duckdb"):
        try:
            return _store_with_sink(batches, tmp / "store.duckdb")
        except Exception as exc:  # the store is being built concurrently; say why we fell back
            pytest.fail(f"armorwatch.sinks.duckdb could not build the test store: {exc!r}")
    return _store_fallback(batches)


@pytest.fixture
def make_store(
    tmp_path: Path,
) -> Iterator[Callable[[Iterable[pa.RecordBatch]], duckdb.DuckDBPyConnection]]:
    """A factory: MAC_SCHEMA batches → a DuckDB connection with the store's tables."""
    opened: list[duckdb.DuckDBPyConnection] = []
    counter = iter(range(1_000_000))

    def make(batches: Iterable[pa.RecordBatch]) -> duckdb.DuckDBPyConnection:
        sub = tmp_path / f"store{next(counter)}"
        sub.mkdir()
        con = build_store(batches, sub)
        opened.append(con)
        return con

    yield make
    for con in opened:
        con.close()


@pytest.fixture
def make_rows_store(
    make_store: Callable[[Iterable[pa.RecordBatch]], duckdb.DuckDBPyConnection],
) -> Callable[[Iterable[Mapping[str, Any]]], duckdb.DuckDBPyConnection]:
    """A factory: dict rows keyed by schema column constants → a store connection."""

    def make(rows: Iterable[Mapping[str, Any]]) -> duckdb.DuckDBPyConnection:
        return make_store([S.batch_from_rows(rows)])

    return make


def sample_batches() -> list[pa.RecordBatch]:
    """The bundled samples parsed into MAC_SCHEMA batches (skips without the parser)."""
    if not _has_module("armorwatch.parsers.stream"):
        pytest.skip("parsers.stream is not available yet")
    from armorwatch.parsers.result import HostInfo

    stream = importlib.import_module("armorwatch.parsers.stream")
    out = []
    for file, source, host, framing in SAMPLE_FILES:
        result = stream.parse_bytes(
            (SAMPLES / file).read_bytes(), source, HostInfo(host=host), framing=framing
        )
        out.append(result.records)
    return out


@pytest.fixture
def sample_store(
    make_store: Callable[[Iterable[pa.RecordBatch]], duckdb.DuckDBPyConnection],
) -> duckdb.DuckDBPyConnection:
    """A store connection holding the bundled sample logs of the three hosts."""
    return make_store(sample_batches())
