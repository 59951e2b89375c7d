"""libapparmor test_multi: every case's .in parses to the fields of its .out."""

from __future__ import annotations

from pathlib import Path

import pytest

from armorwatch.parsers import schema as S
from armorwatch.parsers.stream import parse_bytes
from tests.parsers.corpus_util import render_test_multi

DIR = "apparmor-libapparmor-test_multi"


def _cases() -> list[str]:
    from tests.conftest import CORPORA

    d = CORPORA / DIR
    return sorted(p.stem for p in d.glob("*.in")) if d.is_dir() else ["(absent)"]


@pytest.mark.corpus
class TestTestMulti:
    @pytest.mark.parametrize("case", _cases())
    def test_case(self, corpora: Path, case: str) -> None:
        """One test_multi case gives exactly the labelled fields of its .out (or no record)."""
        d = corpora / DIR
        data = (d / f"{case}.in").read_bytes()
        expected = [
            line
            for line in (d / f"{case}.out").read_text().splitlines()
            if line not in ("START", "") and not line.startswith("File: ")
        ]
        r = parse_bytes(data, S.SOURCE_SAMPLE, year=2025)
        rows = r.records.to_pylist()
        assert len(rows) <= 1
        if expected[0] == "Event type: AA_RECORD_INVALID":
            # libapparmor still echoes what it saw; we yield no record (and dead-letter
            # the line when it looks like AppArmor), or -- for a record behind a prefix
            # that proves nothing ("audit.log:type=…", issue 15) -- a suspect one only
            assert [] == [row for row in rows if row[S.SUSPECT] is None]
        else:
            assert expected == render_test_multi(rows[0] if rows else None)
