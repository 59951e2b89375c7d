"""Hostile input from the real corpora: every corpus line, then mutations of them.

Every line of ``../shared/corpora`` that looks like a log line (AppArmor, SELinux,
auditd, syslog, journald JSON) goes through the parser in every framing, and Hypothesis
then mutates them: never an exception, never more than 100 ms per line.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from armorwatch.parsers import schema as S
from armorwatch.parsers.stream import parse_bytes
from tests.fuzz.timing import PER_LINE_LIMIT_S, parse_timed

FRAMINGS = [
    ("audit", S.SOURCE_AUDITLOG),
    ("syslog", S.SOURCE_KERNLOG),
    ("journald", S.SOURCE_JOURNALD),
    ("auto", S.SOURCE_SYSLOG),
]
MARKERS = (b"apparmor", b"avc:", b"type=", b"audit", b"kernel:", b'"MESSAGE"')
MAX_LINES_PER_FILE = 3000  # the two multi-MB SELinux logs are sampled, not read whole


def corpus_lines(root: Path) -> list[bytes]:
    """Log-looking lines of every corpus file, de-duplicated, in a stable order."""
    seen: dict[bytes, None] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        lines = [ln for ln in path.read_bytes().splitlines() if any(m in ln for m in MARKERS)]
        step = max(1, len(lines) // MAX_LINES_PER_FILE)
        for ln in lines[::step]:
            seen.setdefault(ln)
    return list(seen)


@pytest.fixture(scope="module")
def lines(corpora: Path) -> list[bytes]:
    """The corpus lines (skips when the corpora are absent)."""
    found = corpus_lines(corpora)
    assert len(found) > 1000
    return found


@pytest.mark.corpus
class TestCorpusHostile:
    @pytest.mark.parametrize("framing", FRAMINGS, ids=[f for f, _ in FRAMINGS])
    def test_every_corpus_line_parses(self, lines: list[bytes], framing: tuple[str, str]) -> None:
        """All corpus lines in one stream: no exception, under 100 ms a line on average."""
        data = b"\n".join(lines) + b"\n"
        t0 = time.perf_counter()
        result = parse_bytes(data, framing[1], framing=framing[0])
        per_line = (time.perf_counter() - t0) / len(lines)
        assert per_line < PER_LINE_LIMIT_S
        assert S.MAC_SCHEMA.equals(result.records.schema)

    def test_every_corpus_line_alone_is_fast(self, lines: list[bytes]) -> None:
        """No single corpus line (every eighth, to keep the suite fast) takes 100 ms."""
        slow = []
        for line in lines[::8]:
            if parse_timed(line + b"\n", "auto", S.SOURCE_AUDITLOG)[1] >= PER_LINE_LIMIT_S:
                slow.append(line[:120])
        assert [] == slow

    @settings(
        max_examples=300,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(data=st.data(), framing=st.sampled_from(FRAMINGS))
    def test_mutated_corpus_lines(
        self, lines: list[bytes], data: st.DataObject, framing: tuple[str, str]
    ) -> None:
        """Corpus lines with random byte edits never raise and stay fast."""
        picked = data.draw(st.lists(st.sampled_from(lines), min_size=1, max_size=3))
        buf = bytearray(b"\n".join(picked) + b"\n")
        for _ in range(data.draw(st.integers(1, 5))):
            pos = data.draw(st.integers(0, len(buf)))
            if data.draw(st.booleans()):
                buf[pos:pos] = data.draw(st.binary(min_size=1, max_size=16))
            else:
                del buf[pos : pos + data.draw(st.integers(1, 32))]
        assert parse_timed(bytes(buf), *framing)[1] < PER_LINE_LIMIT_S
