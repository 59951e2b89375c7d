"""Differential fuzz: the compiled scanner and the pure-Python reference path agree.

``Parser(engine="c")`` (``parsers/_fastscan.c``) reads hostile bytes in C, so any
disagreement with ``engine="python"`` on the same input is a bug in one of them, and a
crash is a memory-safety bug. Random bytes, mutated real lines and the benchmark file
go through both; records, rejects, loss and line counts must be identical.
Skips when the parser has no ``engine`` switch or the scanner is not built.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsers import schema as S
from parsers.stream import Parser
from tests.fuzz.test_hostile import SEEDS, SPECIAL, mutated

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import gen_auditlog  # noqa: E402


def _compiled() -> bool:
    if "engine" not in inspect.signature(Parser).parameters:
        return False
    try:
        from parsers import fast
    except ImportError:
        return False
    return bool(fast.available())


pytestmark = pytest.mark.skipif(not _compiled(), reason="no compiled parser engine")

AUDIT_SEEDS = [s for s in SEEDS if s.startswith((b"type=", b"node="))]
# issue 15: records behind dmesg -T, printk, logread, grep -H, ausearch -i and unknown prefixes
PREFIXED = [
    ln
    for ln in (ROOT / "tests" / "data" / "audit" / "prefixes.log").read_bytes().splitlines()
    if ln
]
DIFF = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def run(engine: str, data: bytes, chunk: int | None = None) -> dict[str, Any]:
    """Everything one engine returns for ``data`` fed in ``chunk``-byte pieces."""
    parser = Parser(S.SOURCE_AUDITLOG, framing="audit", engine=engine)  # type: ignore[call-arg]
    out: dict[str, Any] = {"records": [], "rejects": [], "loss": [], "lines": 0}
    step = chunk or max(1, len(data))
    results = [parser.feed(data[i : i + step], i) for i in range(0, len(data), step)]
    results.append(parser.flush())
    for res in results:
        out["records"] += res.records.to_pylist()
        out["rejects"] += res.rejects.to_pylist()
        out["loss"] += res.loss.to_pylist()
        out["lines"] += res.lines
    return out


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row[S.SERIAL] or 0, row[S.ORDINAL] or 0, row[S.RAW])


def assert_same(data: bytes, chunk: int | None = None) -> None:
    """Both engines give the same records, rejected lines, loss and line count.

    Records are compared as a set keyed by (serial, ordinal, raw): events may finish in a
    different order. Rejects are compared by their raw bytes (the reason text may differ).
    """
    python, compiled = run("python", data, chunk), run("c", data, chunk)
    assert python["lines"] == compiled["lines"]
    assert python["loss"] == compiled["loss"]
    assert sorted(r[S.RAW] for r in python["rejects"]) == sorted(
        r[S.RAW] for r in compiled["rejects"]
    )
    by_key = {_key(r): r for r in compiled["records"]}
    assert len(python["records"]) == len(compiled["records"])
    for a in python["records"]:
        b = by_key.get(_key(a))
        assert b is not None, f"only the Python engine emitted {a[S.RAW]!r}"
        assert {k: v for k, v in a.items() if v != b[k]} == {
            k: v for k, v in b.items() if v != a[k]
        }


AUDITISH = st.lists(
    st.sampled_from([*SPECIAL, b"type=AVC msg=audit(1.2:3): ", b'apparmor="DENIED" ',
                     b"name=2F746D70 ", b'profile="p" ', b"pid=1 ", b"\n"])
    | st.binary(max_size=12),
    max_size=40,
).map(b"".join)  # fmt: skip


class TestEnginesAgree:
    @DIFF
    @given(data=mutated(AUDIT_SEEDS))
    def test_mutated_real_lines(self, data: bytes) -> None:
        """Mutated audit.log lines: same records, rejects and loss from both engines."""
        assert_same(data)

    @DIFF
    @given(data=mutated())
    def test_mutated_lines_of_every_framing(self, data: bytes) -> None:
        """kern.log and journald lines inside an audit.log stream: same output too."""
        assert_same(data)

    @DIFF
    @given(data=mutated([*PREFIXED, *AUDIT_SEEDS[:200]]))
    def test_mutated_prefixed_lines(self, data: bytes) -> None:
        """Prefixed records mixed into an audit.log stream: same output from both engines."""
        assert_same(data)

    @DIFF
    @given(data=AUDITISH)
    def test_audit_shaped_noise(self, data: bytes) -> None:
        """Byte soup built from audit.log tokens: same output from both engines."""
        assert_same(data)

    @DIFF
    @given(data=st.binary(max_size=2000))
    def test_random_bytes(self, data: bytes) -> None:
        """Random bytes: same output from both engines (and no crash in C)."""
        assert_same(data)

    def test_benchmark_file_in_odd_chunks(self, tmp_path: Path) -> None:
        """5k realistic lines fed in 7,919-byte pieces: identical output."""
        path = tmp_path / "audit.log"
        gen_auditlog.generate(path, lines=5_000, seed=21)
        assert_same(path.read_bytes(), chunk=7919)


KERN = (
    b"Nov 23 05:13:26 web-02 kernel: [ 1132.939032] audit: type=1400 "
    b'audit(1763874806.159:2203): apparmor="DENIED" operation="open" profile="/usr/bin/evince" '
    b'name="/x" pid=4410 comm="evince" requested_mask="r" denied_mask="r" fsuid=1000 ouid=1000\n'
)
JOURNAL = (
    b'{"_TRANSPORT": "audit", "_AUDIT_TYPE_NAME": "AVC", "_AUDIT_ID": "544", '
    b'"_SOURCE_REALTIME_TIMESTAMP": "1763882115101221", "MESSAGE": "AVC apparmor=\\"DENIED\\" '
    b'operation=\\"open\\" profile=\\"/usr/bin/p\\" name=\\"/x\\" pid=2011 comm=\\"p\\""}\n'
)


class TestForeignFramingInAuditStream:
    def test_same_event_lines_get_distinct_ordinals(self) -> None:
        """Two records sharing a serial get ordinals 0 and 1 from the compiled engine too."""
        got = sorted(r[S.ORDINAL] for r in run("c", KERN + KERN)["records"])
        assert [0, 1] == got

    def test_int_key_repeated_after_a_value_that_stored_nothing(self) -> None:
        """``pid=x … pid=1`` is a repeated field in both engines (found by the fuzzer)."""
        data = (
            b'type=AVC msg=audit(1763865974.059:18047): apparmor="ALLOWED" operation="capable"'
            b' class="cap" profile="/a" pid=le="/a" pid=4101 comm="a" capability=10\n'
        )
        assert_same(data)
        assert [S.SUSPECT_DUPLICATE_FIELD] == [r[S.SUSPECT] for r in run("c", data)["records"]]

    def test_json_line_in_audit_stream(self) -> None:
        """A JSON line in an audit.log stream gets the same treatment from both engines."""
        python, compiled = run("python", JOURNAL), run("c", JOURNAL)
        assert len(python["records"]) == len(compiled["records"])
        assert len(python["rejects"]) == len(compiled["rejects"])


class TestGroupSeparatorInUserText:
    def test_same_exe_from_both_engines(self) -> None:
        """Both engines read the same exe= from a USER_AVC whose text holds a 0x1d."""
        line = (
            b"type=USER_AVC msg=audit(1762300800.478:5): pid=1 uid=0 auid=0 ses=1 "
            b"msg='avc:  denied  { send_msg } for scontext=a tcontext=b tclass=dbus "
            b'exe=/x\x1dUID="root"\'\n'
        )
        python, compiled = run("python", line), run("c", line)
        assert [r[S.EXE] for r in python["records"]] == [r[S.EXE] for r in compiled["records"]]
