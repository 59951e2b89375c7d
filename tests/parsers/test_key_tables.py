"""Every key of the key→column tables reaches the same column in both engines.

The tables are written once in Python (``records.AA_*_KEYS``, ``records.SE_*_KEYS``,
``fields.HEX_KEYS``); the C scanner's ``aa_key``, ``se_key`` and ``hex_key`` are generated
from them (``parsers/ckeys.py`` → ``parsers/_fastscan_keys.h``, written by
this file with ``--update-golden``), and its column names
(``STR_NAMES``) are its own. The C side ignores a key it does not know, silently, so each
test feeds one key through both engines, checks the C scanner took the line itself (not
the Python fallback) and that the key's column came out set and equal.
"""

from __future__ import annotations

import pytest

from armorwatch.parsers import ckeys, fast
from armorwatch.parsers import fields as F
from armorwatch.parsers import records as R
from armorwatch.parsers import schema as S
from armorwatch.parsers.result import HostInfo
from armorwatch.parsers.stream import parse_bytes

needs_c = pytest.mark.skipif(not fast.available(), reason="parsers._fastscan is not built")
HOST = HostInfo(host="h", machine_id="m", boot_id="b")
AA_HEAD = b'apparmor="DENIED" operation="open" pid=42'
SE_HEAD = b"avc:  denied  { read } for  pid=42 scontext=u:r:a:s0 tcontext=u:r:b:s0 tclass=file"
# keys whose value the record head above already sets (first occurrence wins)
HEAD_KEYS = {"apparmor", "operation", "pid", "scontext", "tcontext", "tclass"}
# quoted text for a string column, a number for an integer one
STR_VALUE = b'"v-4711"'
INT_VALUE = b"4711"
Rows = tuple[list[dict[str, object]], list[dict[str, object]]]


def avc(body: bytes, serial: int = 7) -> bytes:
    """One audit.log AVC line with ``body``, followed by the EOE that ends its event."""
    hdr = b"msg=audit(1700000000.123:%d): " % serial
    return b"type=AVC " + hdr + body + b"\ntype=EOE " + hdr + b"\n"


def both(line: bytes) -> Rows:
    """The (records, rejects) rows of ``line``, asserted equal from the Python path and the
    C scanner."""
    got: list[Rows] = []
    for engine in ("python", "c"):
        res = parse_bytes(line, S.SOURCE_AUDITLOG, HOST, "audit", year=2025, engine=engine)
        got.append((res.records.to_pylist(), res.rejects.to_pylist()))
    assert got[0] == got[1]
    return got[0]


def scanned_in_c(line: bytes) -> bool:
    """Whether the C scanner parsed every line of ``line`` itself (no slow line)."""
    return not fast.scan(b"", line, 0, len(line), True, -(1 << 62), 2000)["slow"]


def table(keys: dict[str, str], head: bytes, value: bytes) -> list[tuple[str, str, bytes]]:
    """(key, column, record line) of every key of one table."""
    return [
        (k, col, avc(head + b" " + k.encode() + b"=" + value))
        for k, col in sorted(keys.items())
        if k not in HEAD_KEYS
    ]


CASES = [
    *table(R.AA_STR_KEYS, AA_HEAD, STR_VALUE),
    *table(R.AA_INT_KEYS, AA_HEAD, INT_VALUE),
    *table(R.SE_STR_KEYS, SE_HEAD, STR_VALUE),
    *table(R.SE_INT_KEYS, SE_HEAD, INT_VALUE),
]


def test_the_c_key_tables_are_generated_from_the_python_ones(update_golden: bool) -> None:
    """_fastscan_keys.h is what ``parsers.ckeys.header()`` makes of today's tables."""
    if update_golden:
        ckeys.HEADER.write_text(ckeys.header())
    assert ckeys.header() == ckeys.HEADER.read_text(), "run this test with --update-golden"


@needs_c
@pytest.mark.parametrize(
    ("key", "col", "line"), CASES, ids=[f"{ln[9:12].decode()}-{k}" for k, _, ln in CASES]
)
def test_every_table_key_fills_its_column_in_both_engines(key: str, col: str, line: bytes) -> None:
    """A table key sets the same column to the same value in the C and the Python engine."""
    rows, rejects = both(line)
    assert scanned_in_c(line)
    assert ([], 1) == (rejects, len(rows))
    assert rows[0][col] is not None, f"{key}= left {col} empty"


HEX_CASES = sorted(F.HEX_KEYS & (R.AA_STR_KEYS.keys() | R.SE_STR_KEYS.keys()) - HEAD_KEYS)


@needs_c
@pytest.mark.parametrize("key", HEX_CASES)
def test_every_hex_key_is_decoded_alike(key: str) -> None:
    """An unquoted hex value of a hex key is decoded the same way by both engines."""
    head = AA_HEAD if key in R.AA_STR_KEYS else SE_HEAD
    col = R.AA_STR_KEYS.get(key) or R.SE_STR_KEYS[key]
    line = avc(head + b" " + key.encode() + b"=" + b"a b".hex().upper().encode())
    rows, rejects = both(line)
    assert scanned_in_c(line)
    assert [] == rejects
    assert "a b" == rows[0][col]


@needs_c
@pytest.mark.parametrize("key", sorted(F.HEX_KEYS - HEAD_KEYS))
def test_every_hex_key_flags_a_nul_alike(key: str) -> None:
    """A hex value holding a NUL marks the record suspect (or a label rejects it), alike in
    both engines; a key stored in no column changes nothing."""
    for head, keys in ((AA_HEAD, R.AA_STR_KEYS), (SE_HEAD, R.SE_STR_KEYS)):
        line = avc(head + b" " + key.encode() + b"=" + b"/a\x00b".hex().upper().encode())
        rows, rejects = both(line)
        if rejects:
            assert [R.R_BAD_LABEL] == [r[S.REASON] for r in rejects]
        else:
            want = S.SUSPECT_NUL_IN_PATH if key in keys else None
            assert want == rows[0][S.SUSPECT]


@needs_c
@pytest.mark.parametrize("key", HEX_CASES)
def test_every_hex_key_rejects_cut_hex_alike(key: str) -> None:
    """Hex cut short (odd length) is rejected as bad hex by both engines."""
    head = AA_HEAD if key in R.AA_STR_KEYS else SE_HEAD
    line = avc(head + b" " + key.encode() + b"=2F657")
    _rows, rejects = both(line)
    assert [R.R_BAD_HEX] == [r[S.REASON] for r in rejects]
