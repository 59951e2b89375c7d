"""Golden files: tests/data/audit/<case>.log → <case>.golden.jsonl (``--update-golden``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from armorwatch.parsers import fast
from armorwatch.parsers import schema as S
from armorwatch.parsers.result import HostInfo, ParseResult
from armorwatch.parsers.stream import Parser

DATA = Path(__file__).resolve().parents[1] / "data" / "audit"
CASES = sorted(p.stem for p in DATA.glob("*.log"))
HOST = HostInfo(host="golden-host", machine_id="m-golden", boot_id="b-golden")


def _json(obj: dict[str, Any]) -> str:
    clean = {
        k: (v.decode("utf-8", "backslashreplace") if isinstance(v, bytes) else v)
        for k, v in obj.items()
        if v is not None
    }
    return orjson.dumps(clean, option=orjson.OPT_UTC_Z).decode()


def render(results: list[ParseResult]) -> list[str]:
    """Golden lines, sorted: records (without raw), rejects (with raw), loss reports.

    Sorted because the order of records within a result is not part of the contract
    (events are emitted as they complete).
    """
    out: list[str] = []
    for r in results:
        for row in r.records.to_pylist():
            row.pop(S.RAW)
            out.append('{"record":' + _json(row) + "}")
        out += ['{"reject":' + _json(row) + "}" for row in r.rejects.to_pylist()]
        out += ['{"loss":' + _json(row) + "}" for row in r.loss.to_pylist()]
    return sorted(out)


ENGINES = ["python", "c"] if fast.available() else ["python"]


def parse_in_pieces(data: bytes, size: int, engine: str = "python") -> list[str]:
    """Feed ``data`` in ``size``-byte pieces, then flush; golden lines of all results."""
    p = Parser(S.SOURCE_SAMPLE, HOST, year=2025, engine=engine)
    results = [p.feed(data[i : i + size], i) for i in range(0, len(data), size)]
    results.append(p.flush())
    return render(results)


@pytest.mark.parametrize("case", CASES)
class TestGolden:
    @pytest.mark.parametrize("engine", ENGINES)
    def test_matches_golden(self, case: str, engine: str, update_golden: bool) -> None:
        """Both engines' parse of the case equals its golden file (--update-golden rewrites)."""
        data = (DATA / f"{case}.log").read_bytes()
        actual = parse_in_pieces(data, len(data), engine)
        golden = DATA / f"{case}.golden.jsonl"
        if update_golden and engine == "python":
            golden.write_text("".join(line + "\n" for line in actual))
        assert golden.read_text().splitlines() == actual

    @pytest.mark.parametrize("engine", ENGINES)
    def test_chunking_does_not_change_the_result(self, case: str, engine: str) -> None:
        """Feeding the case in 61-byte pieces gives the same records, rejects and loss."""
        data = (DATA / f"{case}.log").read_bytes()
        assert parse_in_pieces(data, len(data), engine) == parse_in_pieces(data, 61, engine)
