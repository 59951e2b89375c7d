"""The report model: plain frozen dataclasses holding raw log-derived strings.

Nothing here is escaped: the renderers (``jobs.report.rendering``) escape at the last moment,
once, for their target. ``slug`` names a profile's page and rules file; ``utc`` is the one
way a store timestamp becomes an aware UTC datetime.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from armorwatch.jobs.report.config import ReportConfig


def utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (the store's naive timestamps are UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def slug(subject: str) -> str:
    """A file-name-safe, collision-free page name for a profile (any bytes in, [a-z0-9._-] out)."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", subject).strip("._")[:60] or "profile"
    digest = hashlib.sha256(subject.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{readable}-{digest}"


@dataclass(frozen=True)
class Signature:
    """One distinct access: what a rule would have to name."""

    decision: str
    """denied | allowed (complain mode)."""
    subject: str
    """AppArmor profile (or SELinux scontext)."""
    klass: str
    """Mediation class: file, net, cap, ptrace, ..."""
    operation: str
    object: str
    mask: str
    events: int
    hosts: int
    host_sample: tuple[str, ...]
    first_seen: datetime
    last_seen: datetime
    is_new: bool
    risk: str = ""
    """Why this access is sensitive (jobs.risky), or empty."""
    severity: str = ""
    """critical | warning | empty."""


@dataclass(frozen=True)
class ComplainProfile:
    """A profile that logged complain-mode (ALLOWED) records."""

    subject: str
    ready: bool
    """No new ALLOWED signature in the last ``quiet_days``."""
    last_new_signature: datetime
    last_allowed: datetime
    days_quiet: float
    events: int
    missing: tuple[Signature, ...]
    """Its ALLOWED signatures: what enforce mode would deny (the rules still missing), at
    most ``max_rows`` of them."""
    missing_total: int = 0
    """How many ALLOWED signatures it has in all."""
    slug: str = ""
    rules: Snippet | None = None
    """For a ready profile: suggested local/ rules from its whole history (jobs.suggest)."""
    mode: str = "complain"
    """Its mode: complain, or as read from the hosts (``complain on a; enforce on b``)."""
    mode_note: str = "mode: complain (inferred from ALLOWED records)"
    """Where the mode comes from: read from the hosts (table profile_state, newer than the
    window start) or, without such a reading, inferred from its ALLOWED records."""
    mode_read_at: datetime | None = None
    """The latest reading of its mode, when one was read."""


@dataclass(frozen=True)
class PodMismatch:
    """A pod's container denied by another AppArmor profile than the one it asked for."""

    pod_namespace: str
    pod_name: str
    container_name: str
    asked: str
    """What the pod spec asked for: localhost/NAME, runtime/default, unconfined."""
    denied_by: str
    """The profile that denied."""
    denials: int


@dataclass(frozen=True)
class Growth:
    """Denials of one profile, this window against the previous one."""

    subject: str
    current: int
    previous: int
    hosts: int
    slug: str = ""

    @property
    def delta(self) -> int:
        """Denials more than before."""
        return self.current - self.previous


@dataclass(frozen=True)
class HostCoverage:
    """What one host sent (trustworthy records; forged-looking ones only counted)."""

    host: str
    """Host name, or UNKNOWN_HOST for records stored without one (older stores)."""
    records: int
    denials: int
    allowed: int
    sources: tuple[str, ...]
    first_seen: datetime | None
    """First trustworthy record ever; None when the host sent only forged-looking ones."""
    last_seen: datetime | None
    forged: int = 0
    """Forged-looking records (``suspect`` not null) in the window: no section uses them."""
    forged_reasons: tuple[str, ...] = ()
    """Why they look forged (parsers.schema SUSPECT_*)."""
    blind: bool = False
    """Silent: heard from before, but no record nor loss report for ``silent_after`` before
    the window end (forged-looking records are no sign of life)."""
    silent_for: timedelta | None = None
    """Time from its last record or loss report to the window end, when blind."""


@dataclass(frozen=True)
class Loss:
    """Counted loss of one (host, source, kind) in the window."""

    host: str
    source: str
    kind: str
    lost: int
    occurrences: int
    last_seen: datetime
    detail: str


@dataclass(frozen=True)
class Snippet:
    """Suggested rules for one profile: the text of its /etc/apparmor.d/local/ file."""

    subject: str
    """The profile (or "SELinux" for audit2allow-style rules)."""
    local_file: str
    """File name under /etc/apparmor.d/local/ (empty for SELinux)."""
    lines: tuple[str, ...]
    """The snippet, one line each (comments included), exactly as jobs.suggest renders it."""
    rules: int
    """Rules suggested."""
    risky: int
    """Of which would allow a sensitive access (written commented out)."""


@dataclass(frozen=True)
class Suggestions:
    """The suggested-rules section (from ``jobs.suggest`` when it is installed)."""

    available: bool
    note: str
    snippets: tuple[Snippet, ...] = ()


@dataclass(frozen=True)
class Bar:
    """One rectangle of an SVG chart (coordinates in the chart's own units)."""

    x: float
    y: float
    w: float
    h: float
    color: str
    title: str


@dataclass(frozen=True)
class Tick:
    """An axis label."""

    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclass(frozen=True)
class Chart:
    """Geometry of one inline SVG chart; the template draws it."""

    width: int
    height: int
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    legend: tuple[tuple[str, str], ...] = ()
    """(color, label) pairs."""
    grid: tuple[float, ...] = ()
    """y of horizontal grid lines."""
    empty: bool = False


@dataclass(frozen=True)
class ProfilePage:
    """Everything about one profile in the window."""

    subject: str
    slug: str
    mode: str
    """complain | enforce | mixed, from the decisions seen."""
    denials: int
    allowed: int
    hosts: tuple[str, ...]
    """Up to twenty of the hosts, by name."""
    host_count: int
    """Hosts with its events in the window."""
    signatures: tuple[Signature, ...]
    timeline: Chart
    complain: ComplainProfile | None
    growth: Growth | None
    rules: Snippet | None
    """Suggested local/ rules for this profile, when any."""
    signature_count: int = 0
    """Its signatures in the window (``signatures`` holds at most ``max_rows``)."""


@dataclass(frozen=True)
class Summary:
    """Headline numbers of the window."""

    records: int
    denials: int
    allowed: int
    subjects: int
    hosts: int
    new_signatures: int
    risky: int
    ready_to_enforce: int
    blind_hosts: int
    lost: int
    forged: int = 0
    """Forged-looking records in the window (counted per host in ``Report.hosts``)."""


@dataclass(frozen=True)
class More:
    """A list cut for size: "Showing 50 of 7001. The rest: armorwatch query ..."."""

    shown: int
    total: int
    command: str
    """The ``armorwatch query`` command that lists every row."""


@dataclass(frozen=True)
class Report:
    """The whole report, before rendering."""

    generated_at: datetime
    window_start: datetime
    window_end: datetime
    window: str
    config: ReportConfig
    summary: Summary
    ready: tuple[ComplainProfile, ...]
    learning: tuple[ComplainProfile, ...]
    """Complain-mode profiles still producing new signatures."""
    grew: tuple[Growth, ...]
    new_signatures: tuple[Signature, ...]
    risky: tuple[Signature, ...]
    suggestions: Suggestions
    hosts: tuple[HostCoverage, ...]
    loss: tuple[Loss, ...]
    top_objects: tuple[Signature, ...]
    timeline: Chart
    objects_chart: Chart
    hosts_chart: Chart
    profiles: tuple[ProfilePage, ...]
    enforced: tuple[ComplainProfile, ...] = ()
    """Profiles with ALLOWED records that every host read in the window has out of
    complain mode (enforce, kill, ...): never listed as ready to enforce."""
    pod_mismatches: tuple[PodMismatch, ...] = ()
    """Pods denied by another profile than the one they asked for ("asked for X, denied
    by Y"), most denials first."""
    more: Mapping[str, More] = field(default_factory=dict)
    """Lists that were cut, by key (``new_signatures``, ``risky``, ``grew``, ``profiles``,
    ``signatures PROFILE``): how many are shown, how many there are, and the command
    that lists them all."""
