"""Chart geometry for the HTML report: stacked bars over time, horizontal bars.

Each function returns a ``Chart`` (bars, ticks, legend in the chart's own units); the
template draws it as inline SVG, so the report needs no script.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from armorwatch.jobs.report.model import Bar, Chart, Signature, Tick, utc
from armorwatch.parsers import sanitize

PALETTE: Final = ("#3b6fd1", "#e07b39", "#3aa57a", "#c9485b", "#8a63c7", "#c2a21b", "#7f8c8d")
DENIED_COLOR: Final = "#c9485b"
ALLOWED_COLOR: Final = "#e0a339"


def bucket_seconds(window: timedelta) -> int:
    """The smallest readable bucket that keeps a chart at 48 bars or fewer."""
    for step in (300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400):
        if window.total_seconds() / step <= 48:
            return step
    return 30 * 86400


def object_label(s: Signature) -> str:
    """What a denied-object bar is: the object first (a long profile must not hide it)."""
    what = s.object or f"{s.klass} {s.operation}".strip() or "(no object)"
    return f"{sanitize.truncate(what, 46)}  ({sanitize.truncate(s.subject, 22)})"


def _nice_max(value: int) -> int:
    if value <= 5:
        return 5
    magnitude = 10 ** (len(str(value)) - 1)
    for step in (1, 2, 2.5, 5, 10):
        top = int(step * magnitude)
        if top >= value:
            return top
    return value


def stacked_chart(
    buckets: Sequence[datetime],
    series: Sequence[tuple[str, str, Sequence[int]]],
    bucket_s: int,
    width: int = 1100,
    height: int = 240,
) -> Chart:
    """Stacked bars over time: ``series`` is (label, color, counts per bucket)."""
    left, right, top, bottom = 48, 8, 8, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(s[2][i] for s in series) for i in range(len(buckets))]
    peak = _nice_max(max(totals, default=0))
    n = max(len(buckets), 1)
    slot = plot_w / n
    bars: list[Bar] = []
    for i, start in enumerate(buckets):
        y: float = top + plot_h
        for label, color, counts in series:
            c = counts[i]
            if not c:
                continue
            h = plot_h * c / peak
            y -= h
            title = f"{label}: {c} at {start:%Y-%m-%d %H:%M} UTC"
            bars.append(Bar(left + i * slot + 1, y, max(slot - 2, 1), h, color, title))
    ticks = [
        Tick(left - 6, top + plot_h * (1 - f) + 4, f"{peak * f:g}", "end") for f in (0, 0.5, 1)
    ]
    every = max(1, round(n / 8))
    for i, label in time_labels(buckets, bucket_s, every):
        x = left + i * slot + slot / 2
        # a label near the right edge ends there instead of being cut off
        ticks.append(Tick(x, height - 10, label, "end" if x > width - 50 else "middle"))
    grid = tuple(top + plot_h * (1 - f) for f in (0, 0.5, 1))
    legend = tuple((color, label) for label, color, counts in series if any(counts))
    return Chart(width, height, tuple(bars), tuple(ticks), legend, grid, empty=not any(totals))


def time_labels(buckets: Sequence[datetime], bucket_s: int, every: int) -> list[tuple[int, str]]:
    """Axis labels of every ``every``-th bucket; each names its date when the day changes
    (or days are the unit), so a week of 6-hour buckets never reads "06:00" eight times."""
    out: list[tuple[int, str]] = []
    day = None
    for i, b in enumerate(buckets):
        if i % every:
            continue
        if bucket_s >= 86400:
            out.append((i, f"{b:%b %d}"))
        elif b.date() != day:
            out.append((i, f"{b:%b %d %H:%M}"))
        else:
            out.append((i, f"{b:%H:%M}"))
        day = b.date()
    return out


def hbar_chart(
    items: Sequence[tuple[str, int, str]], width: int = 1100, label_w: int = 460, row_h: int = 22
) -> Chart:
    """Horizontal bars: ``items`` is (label, value, color), biggest first."""
    height = max(row_h * len(items) + 8, 30)
    peak = max((v for _, v, _ in items), default=0) or 1
    plot_w = width - label_w - 70
    bars: list[Bar] = []
    ticks: list[Tick] = []
    for i, (label, value, color) in enumerate(items):
        y = 4 + i * row_h
        w = max(plot_w * value / peak, 1)
        bars.append(Bar(label_w, y + 3, w, row_h - 6, color, f"{label}: {value}"))
        ticks.append(Tick(label_w - 8, y + row_h / 2 + 4, sanitize.truncate(label, 72), "end"))
        ticks.append(Tick(label_w + w + 6, y + row_h / 2 + 4, str(value), "start"))
    return Chart(width, height, tuple(bars), tuple(ticks), empty=not items)


def timeline_chart(
    rows: Iterable[Mapping[str, Any]],
    since: datetime,
    until: datetime,
    bucket_s: int,
    top: int,
    by: str = "subject",
) -> Chart:
    """Denials per profile over time (top profiles, the rest as 'other')."""
    first = int(since.timestamp()) // bucket_s * bucket_s
    last = int(until.timestamp()) // bucket_s * bucket_s
    starts = [datetime.fromtimestamp(t, UTC) for t in range(first, last + 1, bucket_s)]
    index = {int(b.timestamp()): i for i, b in enumerate(starts)}
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * len(starts))
    for r in rows:
        i = index.get(int(utc(r["bucket"]).timestamp()))
        if i is not None:
            counts[r[by]][i] += int(r["events"])
    if by == "decision":
        series = [
            (label, color, counts[key])
            for key, label, color in (
                ("denied", "denied", DENIED_COLOR),
                ("allowed", "allowed (complain)", ALLOWED_COLOR),
            )
        ]
        return stacked_chart(starts, series, bucket_s)
    ranked = sorted(counts, key=lambda k: (-sum(counts[k]), k))
    shown = ranked[: min(top, len(PALETTE) - 1)]
    series = [(s, PALETTE[i], counts[s]) for i, s in enumerate(shown)]
    rest = ranked[len(shown) :]
    if rest:
        other = [sum(counts[s][i] for s in rest) for i in range(len(starts))]
        series.append((f"other ({len(rest)} profiles)", PALETTE[-1], other))
    return stacked_chart(starts, series, bucket_s)
