"""The per-line time guard of the hostile-input tests (reliability.md G3: 100 ms a line)."""

from __future__ import annotations

import time

from armorwatch.parsers.result import ParseResult
from armorwatch.parsers.stream import parse_bytes

PER_LINE_LIMIT_S = 0.1


def parse_timed(data: bytes, framing: str, source: str) -> tuple[ParseResult, float]:
    """``parse_bytes`` and the seconds per input line it took.

    Over the limit, the input is timed twice more and the best run counts: on a shared
    box one run can stall on scheduling, three cannot all be slow by chance.
    """
    lines = max(1, data.count(b"\n") + 1)
    t0 = time.perf_counter()
    result = parse_bytes(data, source, framing=framing)
    per_line = (time.perf_counter() - t0) / lines
    for _ in range(2 if per_line >= PER_LINE_LIMIT_S else 0):
        t0 = time.perf_counter()
        parse_bytes(data, source, framing=framing)
        per_line = min(per_line, (time.perf_counter() - t0) / lines)
    return result, per_line
