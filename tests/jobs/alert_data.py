"""Rows and stores for the alert tests: denials, complain events, STATUS and loss rows."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from armorwatch.parsers import schema as S
from armorwatch.parsers.envelope import Envelope
from armorwatch.sinks.store import open_store

T0 = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)
_serial = itertools.count(1)


def at(seconds: float) -> datetime:
    """T0 plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


def record(
    t: float,
    host: str = "web-01",
    profile: str = "/usr/sbin/nginx",
    class_: str = "file",
    name: str | None = "/srv/www/index.html",
    apparmor: str = S.AA_DENIED,
    **extra: Any,
) -> dict[str, Any]:
    """One AppArmor record row at T0+t with a unique audit serial."""
    row: dict[str, Any] = {
        S.TS: at(t),
        S.SERIAL: next(_serial),
        S.ORDINAL: 0,
        S.HOST: host,
        S.BOOT_ID: "boot-1",
        S.SOURCE: S.SOURCE_AUDITLOG,
        S.RECORD_TYPE: "AVC",
        S.ORIGIN: S.ORIGIN_KERNEL,
        S.LSM: S.LSM_APPARMOR,
        S.APPARMOR: apparmor,
        S.OPERATION: "open",
        S.CLASS: class_,
        S.PROFILE: profile,
        S.NAME: name,
        S.COMM: "nginx",
    }
    row.update(extra)
    return row


def status(t: float, operation: str, profile_name: str, host: str = "web-01") -> dict[str, Any]:
    """An AppArmor STATUS record (profile_load / profile_replace / profile_remove)."""
    return record(
        t,
        host=host,
        profile="unconfined",
        class_=None,  # type: ignore[arg-type]
        name=profile_name,
        apparmor=S.AA_STATUS,
        **{S.OPERATION: operation, S.COMM: "apparmor_parser"},
    )


def loss(t: float, kind: str, count: int, host: str = "web-01") -> dict[str, Any]:
    """One LOSS_SCHEMA row."""
    return {
        S.TS: at(t),
        S.HOST: host,
        S.BOOT_ID: "boot-1",
        S.SOURCE: S.SOURCE_AUDITLOG,
        S.KIND: kind,
        S.COUNT: count,
        S.DETAIL: "test",
    }


def store(
    tmp: Path, rows: Iterable[Mapping[str, Any]], loss_rows: Iterable[Mapping[str, Any]] = ()
) -> duckdb.DuckDBPyConnection:
    """A DuckDB store written by the real DuckDBSink, opened for reading."""
    from armorwatch.sinks.duckdb import DuckDBConfig, DuckDBSink

    path = tmp / "store.duckdb"
    env = Envelope(
        records=S.batch_from_rows(rows), loss=S.batch_from_rows(loss_rows, S.LOSS_SCHEMA)
    )

    async def write() -> None:
        async with DuckDBSink(DuckDBConfig(path=path)) as sink:
            assert isinstance(sink, DuckDBSink)
            await sink.send(env)

    asyncio.run(write())
    return open_store(path, read_only=False)
