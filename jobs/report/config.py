"""The report's settings and its one error."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from armorwatch.jobs import window as timewindow
from armorwatch.jobs.errors import JobsError


class ReportError(JobsError, ValueError):
    """The report cannot be built: bad settings, or an empty store."""


@dataclass(frozen=True)
class ReportConfig:
    """Settings of the nightly report."""

    since: str = "24h"
    """Window length before its end, e.g. 24h, 7d, 90m (units s, m, h, d, w)."""
    quiet_days: int = 7
    """Days without a new ALLOWED signature before a complain-mode profile is ready to enforce."""
    growth_ratio: float = 1.5
    """Denials grew when the window has more than this times the previous window's count."""
    growth_min: int = 5
    """... and at least this many denials (small numbers are noise)."""
    top: int = 25
    """Rows in the top-N tables and charts."""
    max_profile_pages: int = 100
    """Per-profile pages written, busiest profiles first (ready-to-enforce ones always)."""
    max_rows: int = 200
    """Cap on the rows of a list on a profile's page and in the JSON (its signatures, the
    accesses enforce mode would deny); the rest is one saved query away."""
    index_rows: int = 50
    """Rows of each list on the index (new signatures, risky accesses, grown profiles)."""
    silent_after: str = "24h"
    """A host with no record and no loss report this long before the window end is silent
    (blind), whatever the window's length: a 7-day report and a 24-hour one agree."""


def parse_duration(text: str) -> timedelta:
    """``24h`` → 24 hours (``jobs.window``); ReportError on anything else."""
    try:
        return timewindow.parse_duration(text)
    except timewindow.WindowError as e:
        raise ReportError(str(e)) from None
