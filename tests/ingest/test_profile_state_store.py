"""Profile-state readings: from a fake securityfs tree, through the transports, into the store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from aiokafka.structs import ConsumerRecord, TopicPartition

from armorwatch.cli import main
from armorwatch.ingest import kafka as ik
from armorwatch.parsers import kafka_wire as wire
from armorwatch.parsers import schema as S
from armorwatch.parsers.envelope import KIND_PROFILE_STATE, Envelope
from armorwatch.parsers.result import HostInfo
from armorwatch.profile_state import ProfileStatePoller
from armorwatch.sinks import kafka as sk
from armorwatch.sinks.duckdb import DuckDBConfig, DuckDBSink
from armorwatch.sinks.errors import TransientSinkError
from armorwatch.sinks.store import open_store
from tests.ingest.test_collector import SAMPLES

T0 = 1_764_000_000.0


def write_profiles(root: Path, text: str) -> Path:
    """A fake /sys/kernel/security/apparmor holding only the flat ``profiles`` file."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "profiles").write_text(text)
    return root


class FakeSink:
    """Keeps every envelope it is sent; fails the next ``fail`` sends."""

    def __init__(self, fail: int = 0) -> None:
        self.sent: list[Envelope] = []
        self.fail = fail

    async def send(self, envelope: Envelope) -> None:
        if self.fail:
            self.fail -= 1
            raise TransientSinkError("broker down")
        self.sent.append(envelope)

    async def close(self) -> None:
        pass


def rows(batch: pa.RecordBatch) -> list[tuple[Any, ...]]:
    d = batch.to_pydict()
    return list(
        zip(*(d[c] for c in (S.HOST, S.BOOT_ID, S.NAMESPACE, S.PROFILE, S.MODE)), strict=True)
    )


async def test_poller_sends_changed_and_due_readings_only(tmp_path: Path) -> None:
    """A reading is sent at first, when the set changes and after resend_s; not otherwise."""
    root = write_profiles(tmp_path / "aa", "web (complain)\n:lxd:/usr/bin/nginx (enforce)\n")
    now = [T0]
    sink = FakeSink()
    poller = ProfileStatePoller(
        root, clock=lambda: now[0], sink=sink, host=HostInfo("node-1", "m", "boot-1"), resend_s=600
    )
    assert poller.poll() and await poller.send_due()
    (env,) = sink.sent
    assert [KIND_PROFILE_STATE] == [k for k, _ in env.parts()]
    assert {"host": "node-1", "source": "securityfs"} == dict(env.meta)
    assert [
        ("node-1", "boot-1", "root", "web", "complain"),
        ("node-1", "boot-1", "lxd", "/usr/bin/nginx", "enforce"),
    ] == rows(env.profile_state)
    assert {T0 * 1000} == {t.timestamp() * 1000 for t in env.profile_state.column(S.TS).to_pylist()}
    now[0] += 60
    assert poller.poll() and not await poller.send_due()  # unchanged, not due
    write_profiles(root, "web (enforce)\n:lxd:/usr/bin/nginx (enforce)\n")
    now[0] += 60
    assert poller.poll() and await poller.send_due()  # changed: at once
    assert ("node-1", "boot-1", "root", "web", "enforce") == rows(sink.sent[-1].profile_state)[0]
    now[0] += 599
    assert poller.poll() and not await poller.send_due()
    now[0] += 1
    assert poller.poll() and await poller.send_due()  # unchanged, but due again
    assert (3, 0) == (poller.stats.readings_sent, poller.stats.send_errors)


async def test_failed_send_is_counted_and_retried_next_reading(tmp_path: Path) -> None:
    """A sink error does not raise: it is counted, and the next reading is sent."""
    root = write_profiles(tmp_path / "aa", "web (complain)\n")
    sink = FakeSink(fail=1)
    poller = ProfileStatePoller(root, sink=sink, host=HostInfo("n"))
    assert poller.poll() and not await poller.send_due()
    assert poller.poll() and await poller.send_due()
    assert (1, 1, 1) == (len(sink.sent), poller.stats.readings_sent, poller.stats.send_errors)


def store_rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = open_store(db, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_collect_once_stores_the_reading_in_profile_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`collect --once` with [collect.profile_state] stores the host's reading in-process:
    the table holds it, profile_modes shows each profile's latest mode and reading time."""
    log = tmp_path / "audit.log"
    shutil.copy(SAMPLES / "audit.log", log)
    root = write_profiles(tmp_path / "aa", "web (complain)\n/usr/sbin/cupsd (enforce)\n")
    cfg = tmp_path / "armorwatch.toml"
    cfg.write_text(
        f'[collect]\nsources = ["auditd"]\nhost = "node-1"\n[collect.auditd]\npath = "{log}"\n'
        f'[collect.profile_state]\ninterval_s = 3600\nroot = "{root}"\n'
    )
    db = tmp_path / "x.duckdb"
    argv = ["collect", "--config", str(cfg), "--once", "--state-dir", str(tmp_path / "s")]
    assert 0 == main([*argv, "--db", str(db)])
    assert "collected 74 MAC records" in capsys.readouterr().out
    assert [
        ("node-1", "root", "/usr/sbin/cupsd", "enforce"),
        ("node-1", "root", "web", "complain"),
    ] == (
        store_rows(db, "SELECT host, namespace, profile, mode FROM profile_state ORDER BY profile")
    )
    write_profiles(root, "web (enforce)\n")  # web enforced, cupsd unloaded
    assert 0 == main([*argv, "--db", str(db)])
    modes = store_rows(
        db,
        "SELECT profile, mode, loaded, read_at = host_read_at FROM profile_modes ORDER BY profile",
    )
    assert [("/usr/sbin/cupsd", "enforce", False, False), ("web", "enforce", True, True)] == modes
    assert [(3,)] == store_rows(db, "SELECT count(*) FROM profile_state")


async def test_store_keeps_a_redelivered_reading_once(tmp_path: Path) -> None:
    """The same reading sent twice (at-least-once redelivery) is stored once."""
    poller = ProfileStatePoller(
        write_profiles(tmp_path / "aa", "a (complain)\nb (enforce)\n"),
        clock=lambda: T0,
        host=HostInfo("h"),
    )
    assert poller.poll()
    batch = poller.reading_batch()
    assert batch is not None
    db = tmp_path / "s.duckdb"
    async with DuckDBSink(DuckDBConfig(path=db)) as sink:
        await sink.send(Envelope(profile_state=batch))
        await sink.send(Envelope(profile_state=batch))
        assert 2 == sink.stats.profile_state_rows
    assert [(2,)] == store_rows(db, "SELECT count(*) FROM profile_state")


def _message(value: bytes, kind: bytes, offset: int = 0) -> ConsumerRecord[bytes, bytes]:
    headers = [
        (wire.HEADER_SCHEMA_VERSION, str(S.SCHEMA_VERSION).encode()),
        (wire.HEADER_KIND, kind),
        (wire.HEADER_META_PREFIX + "host", b"h"),
    ]
    return ConsumerRecord(
        "armorwatch.records", 0, offset, 0, 0, b"h", value, None, len(value), 0, headers
    )


async def test_kafka_carries_the_kind_and_refuses_an_unknown_one(tmp_path: Path) -> None:
    """The sink marks a reading kind=profile_state; the processor stores it, and dead-letters
    a kind it does not know (or a kind whose columns are not its own) with the reason."""
    poller = ProfileStatePoller(
        write_profiles(tmp_path / "aa", "a (complain)\n"), clock=lambda: T0, host=HostInfo("h")
    )
    assert poller.poll()
    batch = poller.reading_batch()
    assert batch is not None
    (msg,), _ = sk.encode_envelope(
        Envelope(profile_state=batch, meta={"host": "h"}), sk.KafkaConfig()
    )
    assert (wire.HEADER_KIND, b"profile_state") in msg.headers
    assert ik.decode(msg.value, "profile_state").equals(batch)
    with pytest.raises(ik.PoisonMessage, match="unknown kind 'profile_history'"):
        ik.decode(msg.value, "profile_history")
    with pytest.raises(ik.PoisonMessage, match="columns differ from those of kind 'records'"):
        ik.decode(msg.value, "records")

    dead = tmp_path / "dead.jsonl"
    stored = FakeSink()
    source = ik.KafkaSource(
        ik.KafkaSourceConfig(dead_letter_topic=None, dead_letter_path=dead), stored
    )
    tp = TopicPartition("armorwatch.records", 0)
    await source._take(tp, _message(msg.value, b"profile_state", 0))
    await source._take(tp, _message(msg.value, b"profile_history", 1))
    assert 1 == source.stats.poison
    (line,) = dead.read_text().splitlines()
    assert "unknown kind 'profile_history'" in json.loads(line)["reason"]
    assert [batch.num_rows] == [b.num_rows for b in source._profile_state]
    assert not source._records and not source._loss
