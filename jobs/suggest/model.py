"""What ``suggest`` returns: immutable suggestions per profile, with their evidence.

The builder (``jobs.suggest.builder``) makes these once its work is done; validation
(``jobs.suggest.validation``) returns updated copies (``dataclasses.replace``), and
rendering only reads them. List fields stay lists so they compare equal to the lists
callers and JSON hold.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Final

STATUS_COMPILED: Final = "compiled"
STATUS_DOWNGRADED: Final = "downgraded"
STATUS_UNSUPPORTED: Final = "unsupported"
STATUS_REJECTED: Final = "rejected"
STATUS_UNCHECKED: Final = "unchecked"

# Metadata of the fields that describe the access for callers but are not in the JSON.
_NOT_JSON: Final = {"json": False}


@dataclass(frozen=True)
class Evidence:
    """What supports a rule, summed over the stored events it was built from."""

    events: int = 0
    """Records."""
    hosts: list[str] = field(default_factory=list)
    """Hosts, sorted."""
    processes: int = 0
    """Distinct host:boot:pid."""
    comms: list[str] = field(default_factory=list)
    """Command names, sorted (sanitised)."""
    first_seen: str | None = None
    """ISO time of the earliest event."""
    last_seen: str | None = None
    """ISO time of the latest event."""
    decisions: dict[str, int] = field(default_factory=dict)
    """Records per decision (DENIED / ALLOWED)."""
    example: str = ""
    """The newest original line, sanitised for display."""
    sample_keys: list[dict[str, Any]] = field(default_factory=list)
    """Up to 5 record keys (host, ts, serial) of events it covers."""


def evidence_order(e: Evidence, rule: str) -> tuple[Any, ...]:
    """Most evidence first: hosts, events, processes, then most recent, then the rule."""
    return (-len(e.hosts), -e.events, -e.processes, e.last_seen or "", rule)


@dataclass(frozen=True)
class Suggestion:
    """One suggested rule for one profile."""

    kind: str
    """Rule class (file, exec, capability, network, unix, …)."""
    rule: str
    """The rule to add (after generalisation and any parser downgrade)."""
    status: str = STATUS_UNCHECKED
    """compiled | downgraded | unsupported | rejected | unchecked."""
    parser_error: str | None = None
    """The parser's message when the rule as built did not compile."""
    raw: list[str] = field(default_factory=list)
    """aa-logprof's raw rule(s), one per literal object (the narrowest option)."""
    broader: str | None = None
    """A directory glob alternative, when ≥3 distinct paths support it."""
    broader_why: str | None = None
    """The evidence for ``broader``."""
    generalised: list[str] = field(default_factory=list)
    """Rewrites applied to get ``rule`` from the raw path(s)."""
    abstractions: list[str] = field(default_factory=list)
    """Installed abstractions that also allow this access."""
    covered_by: str | None = None
    """The suggested include that replaces this rule, if any."""
    known: str | None = None
    """Why the installed profile makes this rule moot (already allowed / explicitly denied)."""
    risky: dict[str, str] | None = None
    """{what, reason, severity} when the rule would allow a sensitive access."""
    severity: int | None = None
    """aa-logprof's rank 0–10 from /etc/apparmor/severity.db (None: no entry / not installed)."""
    notes: list[str] = field(default_factory=list)
    """Anything a reviewer should know (downgrades, stacks, owner, …)."""
    evidence: Evidence = field(default_factory=Evidence)
    """What supports it."""
    covers: dict[str, Any] = field(default_factory=dict)
    """Replay: stored {'groups', 'events', 'sample_keys'} this rule would allow."""
    paths: frozenset[str] = field(default=frozenset(), repr=False, metadata=_NOT_JSON)
    """The literal paths it was built from (file and exec rules)."""
    perms: frozenset[str] = field(default=frozenset(), repr=False, metadata=_NOT_JSON)
    """File permission letters it allows (file rules)."""
    owner: bool = field(default=False, repr=False, metadata=_NOT_JSON)
    """An ``owner`` file rule."""
    fallback: str | None = field(default=None, repr=False, metadata=_NOT_JSON)
    """The older, broader form an older parser accepts (only ever named, never written)."""

    @property
    def emitted(self) -> bool:
        """Whether the rule is written as an active line (not a comment)."""
        return (
            self.status in (STATUS_COMPILED, STATUS_DOWNGRADED, STATUS_UNCHECKED)
            and self.risky is None
            and self.covered_by is None
            and self.known is None
        )

    def sort_key(self) -> tuple[Any, ...]:
        """Most evidence first: hosts, events, processes, then most recent."""
        return evidence_order(self.evidence, self.rule)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.metadata.get("json", True)}
        d["evidence"] = asdict(self.evidence)
        d["emitted"] = self.emitted
        return d


@dataclass(frozen=True)
class Include:
    """An installed abstraction suggested in place of rules it covers."""

    include: str
    """The line: ``include <abstractions/…>``."""
    abstraction: str
    """The abstraction's name."""
    replaces: list[str]
    """The suggested rules it covers."""
    beyond: int
    """Its rules no evidence of the profile needs."""
    grants_risky: str | None
    """A risky path it grants, if any."""
    active: bool
    """Written as the default (it grants little beyond the evidence), else only offered."""
    status: str = STATUS_UNCHECKED
    """Whether the parser compiled it."""
    parser_error: str | None = None
    """The parser's message if it did not."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)


@dataclass(frozen=True)
class ProfileSuggestion:
    """Everything suggested for one profile (or hat/child profile)."""

    profile: str
    """Full name: ``a``, ``a//b`` for a child, ``:ns:a`` in a namespace."""
    namespace: str | None
    """AppArmor namespace, None for the host's."""
    path: list[str]
    """Profile then child names."""
    local_file: str
    """File name under /etc/apparmor.d/local/ (of the top-level profile)."""
    rules: list[Suggestion] = field(default_factory=list)
    """Suggested rules, most evidence first."""
    includes: list[Include] = field(default_factory=list)
    """Abstractions suggested in place of rules."""
    skipped: list[dict[str, Any]] = field(default_factory=list)
    """[{reason, events}] of events that gave no rule."""
    notes: list[str] = field(default_factory=list)
    """Profile-level notes (stacks, namespaces, flags to consider)."""
    snippet_status: str = STATUS_UNCHECKED
    """Whether the whole rendered snippet compiled inside a profile."""
    snippet_error: str | None = None
    """The parser's message if it did not."""

    @property
    def events(self) -> int:
        """Records behind this profile's rules."""
        return sum(r.evidence.events for r in self.rules)

    @property
    def hosts(self) -> list[str]:
        """Hosts behind this profile's rules."""
        return sorted({h for r in self.rules for h in r.evidence.hosts})

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "profile": self.profile,
            "namespace": self.namespace,
            "path": self.path,
            "local_file": self.local_file,
            "events": self.events,
            "hosts": self.hosts,
            "snippet_status": self.snippet_status,
            "snippet_error": self.snippet_error,
            "includes": [i.to_dict() for i in self.includes],
            "rules": [r.to_dict() for r in self.rules],
            "skipped": self.skipped,
            "notes": self.notes,
        }


@dataclass(frozen=True)
class SELinuxSuggestion:
    """One audit2allow-style allow rule."""

    rule: str
    """``allow source_t target_t:class { perms };``"""
    source_type: str
    """Subject type."""
    target_type: str
    """Object type."""
    tclass: str
    """Object class."""
    perms: list[str]
    """Permissions."""
    permissive: bool
    """The denials were logged in permissive mode (the access happened)."""
    evidence: Evidence = field(default_factory=Evidence)
    """What supports it."""
    why: dict[str, Any] | None = None
    """audit2why's answer from an SELinux policy (``selinux.Why.to_dict()``: verdict,
    the ``setsebool`` settings that would allow it, detail); None when none was queried."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)


@dataclass(frozen=True)
class SuggestResult:
    """The output of ``suggest``."""

    profiles: list[ProfileSuggestion]
    """AppArmor suggestions per profile, most evidence first."""
    selinux: list[SELinuxSuggestion]
    """SELinux allow rules, most evidence first."""
    since: str | None
    """The lower time bound used."""
    parser: str | None
    """apparmor_parser version used for validation, None if none was available."""
    selinux_note: str | None = None
    """Why the SELinux booleans were not looked up (no policy, no sesearch), one line."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "since": self.since,
            "parser": self.parser,
            "profiles": [p.to_dict() for p in self.profiles],
            "selinux": [s.to_dict() for s in self.selinux],
            "selinux_note": self.selinux_note,
        }
