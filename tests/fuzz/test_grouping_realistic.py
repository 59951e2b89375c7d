"""Event grouping on realistic interleaving: each MAC record gets its own event's context.

The benchmark file puts SYSCALL/CWD/PATH/PROCTITLE after about half of the AppArmor
records and now and then lets a single-record userspace event land between a MAC record
and its SYSCALL, as on a busy host. Every MAC record must carry exactly the ``exe``,
``syscall``, ``uid``, ``cwd`` and ``proctitle`` of the records sharing its serial, and
none when its event has no such records, whatever the chunk size.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

from armorwatch.parsers import schema as S
from armorwatch.parsers.stream import Parser

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import gen_auditlog  # noqa: E402

SERIAL = re.compile(rb"msg=audit\(\d+\.\d+:(\d+)\): ")
KV = re.compile(rb'(\w+)=("[^"]*"|\S+)')


def value(raw: bytes) -> str:
    """A kernel-encoded untrusted string as text (quoted, or hex)."""
    if raw.startswith(b'"'):
        return raw[1:-1].decode()
    return bytes.fromhex(raw.decode()).decode("utf-8", "backslashreplace")


def expected_context(data: bytes) -> dict[int, dict[str, Any]]:
    """serial -> the enrichment its SYSCALL / CWD / PROCTITLE lines carry."""
    ctx: dict[int, dict[str, Any]] = {}
    for line in data.split(b"\n"):
        kind = line[5 : line.find(b" ")]
        if kind not in (b"SYSCALL", b"CWD", b"PROCTITLE"):
            continue
        m = SERIAL.search(line)
        assert m is not None
        body, _, enriched = line[m.end() :].partition(b"\x1d")
        kv = dict(KV.findall(body))
        c = ctx.setdefault(int(m.group(1)), {})
        if kind == b"SYSCALL":
            c[S.EXE] = value(kv[b"exe"])
            c[S.UID] = int(kv[b"uid"])
            c[S.SYSCALL] = dict(KV.findall(enriched))[b"SYSCALL"].decode()
        elif kind == b"CWD":
            c[S.CWD] = value(kv[b"cwd"])
        else:
            c[S.PROCTITLE] = value(kv[b"proctitle"]).replace("\x00", " ")
    return ctx


@pytest.fixture(scope="module")
def bench_log(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """20k generated audit.log lines."""
    path = tmp_path_factory.mktemp("gen") / "audit.log"
    gen_auditlog.generate(path, lines=20_000, seed=11)
    return path.read_bytes()


class TestGroupingOnBenchmarkLines:
    @pytest.mark.parametrize("chunk", [65536, 1 << 20], ids=["64KiB", "1MiB"])
    def test_every_record_has_its_own_events_context(self, bench_log: bytes, chunk: int) -> None:
        """exe/syscall/uid/cwd/proctitle come from the same serial's records, or are null."""
        parser = Parser(S.SOURCE_AUDITLOG, framing="audit")
        rows: list[dict[str, Any]] = []
        for at in range(0, len(bench_log), chunk):
            rows += parser.feed(bench_log[at : at + chunk], at).records.to_pylist()
        rows += parser.flush().records.to_pylist()
        ctx = expected_context(bench_log)
        columns = (S.EXE, S.UID, S.SYSCALL, S.CWD, S.PROCTITLE)
        wrong = []
        for row in rows:
            if row[S.RECORD_TYPE] == "USER_AVC":
                continue  # its own event; uid there is the sender's
            want = ctx.get(row[S.SERIAL], {})
            got = {c: row[c] for c in columns if row[c] is not None}
            if {c: want[c] for c in columns if c in want} != got:
                wrong.append((row[S.SERIAL], want, got))
        enriched = sum(1 for r in rows if r[S.SYSCALL] is not None)
        assert 0.3 < enriched / len(rows) < 0.7  # about half the events carry a SYSCALL
        assert [] == wrong[:3]
