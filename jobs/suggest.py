"""Fleet-wide AppArmor rule suggestions (and audit2allow-style SELinux rules) from the store.

API (for the CLI and the report)::

    result = suggest(con, since=None, profile=None)   # -> SuggestResult
    result.profiles        # list[ProfileSuggestion], most evidence first
    result.selinux         # list[SELinuxSuggestion]
    result.to_dict()       # JSON-able
    render_apparmor(ps)    # the text of /etc/apparmor.d/local/<file> for one profile
    render_markdown(result)

``con`` is a DuckDB connection holding the store's ``denials``, ``complain_events`` and
``profile_status`` views (jobs never import sinks). ``since`` is an aware datetime or
None (everything stored); ``profile`` keeps one profile (exact full name, or a child
``a//b``).

Pipeline (semantics of aa-logprof 5.0.2, design/rule-suggestion.md §4–6):

1. ``sql/suggest_events.sql`` groups DENIED and complain-mode ALLOWED records by every
   rule-relevant field, with evidence (events, hosts, host:boot:pid processes, comms,
   first/last seen, the newest raw line, sample record keys). Only records nothing marks
   as forged-looking (``suspect IS NULL``) count; a userspace record of a kernel class,
   a value with a NUL byte or one longer than a kernel record is skipped here too.
   Names are used as their exact bytes (``apparmor_rules.exact_name``), so a name with
   bytes FF FE gives ``\\xff\\xfe`` and replays against those bytes.
2. Each group's label is split (``jobs.apparmor_rules.split_label``): hats/children go
   to the child profile ``a//b``, namespaces are kept apart, a stack ``a//&b`` gives the
   rule to each component, active only where it was denied (the other components'
   installed policy allows it), else commented out in each; complain-mode ``a//null-x``
   children count for ``a``, or for ``x`` when x has its own profile (loaded/installed).
   The installed policy (``jobs.installed``: every block, found by name or attachment)
   drops what a block already allows or denies, and rules of a hat/child the installed
   profile lacks are commented out with a note saying which block to create.
3. ``apparmor_rules.build`` makes the raw rule; file rules are generalised
   (``jobs.generalize.narrow``) and merged on (pattern, owner) with permissions unioned;
   a broader directory glob is offered only with ≥3 distinct paths.
4. Abstractions from the installed policy (``jobs.abstractions``) that cover ≥2 of a
   profile's rules are suggested as ``include <abstractions/…>`` in place of them when
   they grant little beyond the evidence (≤ ``INCLUDE_MAX_BEYOND`` unneeded rules, no
   risky path); otherwise they are only offered in a comment.
5. Rules that would allow sensitive objects (``jobs.risky.rule_risk``: the shared list,
   rule-only paths/capabilities, writes under system directories, severity.db rank 10)
   are marked "review: risky" and written commented out.
6. Every rule, then every profile's whole snippet, is compiled with
   ``apparmor_parser -Q -K`` (``jobs.validate``). A rule the installed parser rejects
   is written as a comment saying the parser does not support it (its older, broader
   form, e.g. a network rule without access list, is only named: no active rule is
   ever broader than the evidence); nothing invalid is emitted.
7. Replay: each emitted rule lists the stored event groups and record counts it covers.
"""

from __future__ import annotations

import bisect
import datetime as dt
import os
import re
import stat
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Any, Final

import duckdb

from jobs import apparmor_rules as R
from jobs import generalize, risky, sqlfiles
from jobs.abstractions import Abstraction, Policy
from jobs.installed import Installed
from jobs.validate import ApparmorParser
from parsers import sanitize
from parsers import schema as S

MIN_INCLUDE_RULES: Final = 2
"""An abstraction must cover this many of a profile's file rules to be suggested as an include."""
INCLUDE_MAX_BEYOND: Final = 3
"""An include is written active only if at most this many of its rules match no evidence."""
EXAMPLE_LIMIT: Final = 400
"""Characters of the example log line kept in comments and JSON."""

STATUS_COMPILED: Final = "compiled"
STATUS_DOWNGRADED: Final = "downgraded"
STATUS_UNSUPPORTED: Final = "unsupported"
STATUS_REJECTED: Final = "rejected"
STATUS_UNCHECKED: Final = "unchecked"
RAW_LIMIT: Final = 20
"""Raw (literal) rules kept per suggestion; the count of the rest is given."""
COVERAGE_SAMPLE: Final = 64
"""Literal paths of one suggestion checked against abstractions (evenly spread)."""
_COLUMNS: Final = frozenset(S.COLUMNS)
# Interpreter name prefixes and the abstraction aa-logprof pairs with them.
_INTERPRETER_ABSTRACTIONS: Final = (
    ("python", "python"), ("perl", "perl"), ("ruby", "ruby"), ("php", "php"),
    ("bash", "bash"), ("dash", "bash"), ("sh", "bash"),
)
# Rule classes AppArmor 3.0.8's parser does not know at all (§2 "version gap").
_NEWER_CLASSES: Final = frozenset({R.USERNS, R.IO_URING, R.MQUEUE})


@dataclass
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


def _iso(t: dt.datetime | None) -> str | None:
    # The SQL returns naive UTC timestamps (no pytz needed); mark them as UTC.
    if t is None:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).isoformat()


def _naive_utc(t: dt.datetime | None) -> dt.datetime | None:
    if t is None or t.tzinfo is None:
        return t
    return t.astimezone(dt.UTC).replace(tzinfo=None)


@dataclass
class _Acc:
    """Evidence while merging groups."""

    events: int = 0
    hosts: set[str] = field(default_factory=set)
    processes: set[str] = field(default_factory=set)
    comms: set[str] = field(default_factory=set)
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    decisions: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    example: Any = None
    sample_keys: list[dict[str, Any]] = field(default_factory=list)

    def add(self, g: dict[str, Any]) -> None:
        self.events += int(g["events"])
        self.hosts.update(h for h in g["hosts"] or [] if h)
        self.processes.update(g["processes"] or [])
        self.comms.update(c for c in g["comms"] or [] if c)
        f, la = g["first_seen"], g["last_seen"]
        if f is not None and (self.first is None or f < self.first):
            self.first = f
        if la is not None and (self.last is None or la >= self.last):
            self.last = la
            self.example = g["example"]
        self.decisions[g["decision"]] += int(g["events"])
        if len(self.sample_keys) < 5:
            self.sample_keys.extend(g["sample_keys"][: 5 - len(self.sample_keys)])

    def evidence(self) -> Evidence:
        ex = self.example
        if isinstance(ex, bytes | bytearray):
            ex = bytes(ex).decode("utf-8", "replace")
        return Evidence(
            events=self.events,
            hosts=sorted(self.hosts),
            processes=len(self.processes),
            comms=sorted(sanitize.for_terminal(c) for c in self.comms),
            first_seen=_iso(self.first),
            last_seen=_iso(self.last),
            decisions={str(k): int(v) for k, v in self.decisions.items()},
            example=sanitize.for_terminal(sanitize.truncate(str(ex or ""), EXAMPLE_LIMIT)),
            sample_keys=[
                {
                    "host": k["host"],
                    "ts": _iso(k["ts"]),
                    "serial": k["serial"],
                }
                for k in self.sample_keys
            ],
        )


@dataclass
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
    # internal
    _paths: set[str] = field(default_factory=set, repr=False)
    _perms: set[str] = field(default_factory=set, repr=False)
    _owner: bool = field(default=False, repr=False)
    _pattern: str | None = field(default=None, repr=False)
    _fallback: str | None = field(default=None, repr=False)
    _acc: _Acc = field(default_factory=_Acc, repr=False)
    _groups: list[dict[str, Any]] = field(default_factory=list, repr=False)
    _key: tuple[Any, ...] = field(default=(), repr=False)  # builder key minus the profile
    # stacks (keys of their confining components) it was seen under; None: also unstacked
    _stacks: set[tuple[Any, ...]] | None = field(default=None, repr=False)

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
        e = self.evidence
        return (-len(e.hosts), -e.events, -e.processes, e.last_seen or "", self.rule)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
        d["evidence"] = asdict(self.evidence)
        d["emitted"] = self.emitted
        return d


@dataclass
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
    includes: list[dict[str, Any]] = field(default_factory=list)
    """[{include, abstraction, replaces: [rules], status, parser_error}]."""
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
            "includes": self.includes,
            "rules": [r.to_dict() for r in self.rules],
            "skipped": self.skipped,
            "notes": self.notes,
        }


@dataclass
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)


@dataclass
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "since": self.since,
            "parser": self.parser,
            "profiles": [p.to_dict() for p in self.profiles],
            "selinux": [s.to_dict() for s in self.selinux],
        }


def local_file_name(label: R.Label) -> str:
    """The /etc/apparmor.d/local/ file name for a profile: ``/usr/sbin/x`` → ``usr.sbin.x``."""
    name = label.path[0].lstrip("/").replace("/", ".")
    name = re.sub(r"[^A-Za-z0-9._+@-]", "_", name).lstrip(".")
    return name or "_"


def _rows(con: duckdb.DuckDBPyConnection, job: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    cur = sqlfiles.load(job).execute(con, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def _loaded_profiles(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    return frozenset(r["profile"] for r in _rows(con, "suggest_loaded_profiles", {}))


def _spread(items: list[str], n: int) -> list[str]:
    """At most ``n`` items evenly spread over a sorted list (first and last included)."""
    if len(items) <= n:
        return items
    step = (len(items) - 1) / (n - 1)
    return [items[round(i * step)] for i in range(n)]


def _risk_dict(risk: risky.Risk | None) -> dict[str, str] | None:
    if risk is None:
        return None
    return {"what": risk.what, "reason": risk.reason, "severity": risk.severity}


class _PathIndex:
    """The literal paths of a profile's file suggestions, sorted for prefix lookups."""

    def __init__(self, sugs: Iterable[Suggestion]) -> None:
        self.items = sorted((p, i, s) for i, s in enumerate(sugs) for p in s._paths)
        self.keys = [p for p, _, _ in self.items]

    def matching(self, policy: Policy, pattern: str) -> list[tuple[str, Suggestion]]:
        """(path, suggestion) pairs whose path ``pattern`` matches.

        Only paths starting with the literal prefix of one of the pattern's variable
        expansions are tested, so this stays fast for thousands of paths.
        """
        out: dict[tuple[str, int], Suggestion] = {}
        for pat in policy.expand(pattern):
            prefix = R.literal_prefix(pat)
            lo = bisect.bisect_left(self.keys, prefix)
            for path, i, sug in self.items[lo:]:
                if not path.startswith(prefix):
                    break
                if (path, i) not in out and R.path_matches(pat, path):
                    out[(path, i)] = sug
        return [(p, s) for (p, _), s in out.items()]


class _Builder:
    """Accumulates suggestions per profile from event groups."""

    def __init__(self, exec_targets: frozenset[str], policy: Policy,
                 severity: risky.SeverityDB | None = None) -> None:
        self.exec_targets = exec_targets
        self.policy = policy
        self.installed = Installed.load(policy)
        self.severity = severity
        self.profiles: dict[tuple[str | None, tuple[str, ...]], ProfileSuggestion] = {}
        self.rules: dict[tuple[Any, ...], Suggestion] = {}
        self.skipped: dict[tuple[Any, ...], int] = defaultdict(int)

    def _profile(self, lab: R.Label) -> ProfileSuggestion:
        key = (lab.namespace, lab.path)
        ps = self.profiles.get(key)
        if ps is None:
            ps = ProfileSuggestion(
                profile=lab.name,
                namespace=lab.namespace,
                path=list(lab.path),
                local_file=local_file_name(lab),
            )
            if lab.namespace:
                ps.notes.append(
                    f"profile of AppArmor namespace {lab.namespace!r}: install inside that "
                    "namespace (e.g. the container), not on the host"
                )
            if len(lab.path) > 1:
                ps.notes.append(
                    f"hat/child profile {lab.path[-1]!r} of {lab.path[0]!r}: put these rules "
                    "inside that child's block"
                )
            self.profiles[key] = ps
        return ps

    def add(self, g: dict[str, Any]) -> None:
        labels = R.split_label(g[S.PROFILE])
        ev = {k: v for k, v in g.items() if k in _COLUMNS}
        # Rules, merging and replay work on the name's exact bytes, never on its \xNN text.
        name = R.exact_name(g.get(S.NAME), g.get("name_token"))
        built: R.Raw | R.Skip
        if isinstance(name, R.Skip):
            built = name
        else:
            ev[S.NAME] = name
            built = R.build(ev, exec_targets=self.exec_targets)
        if (
            isinstance(built, R.Raw)
            and g.get(S.ORIGIN) == S.ORIGIN_USERSPACE
            and built.kind != R.DBUS
        ):
            # Only dbus-daemon mediates in userspace; a userspace record of a kernel class
            # can be forged by any process that may write to the journal/audit socket.
            built = R.Skip("userspace record of a kernel-mediated class (possibly forged)")
        for lab in labels:
            null_owner = None
            if lab.null_child and (lab.null_child in self.exec_targets
                                   or self.installed.top(lab.null_child) is not None):
                # a//null-x: x ran unconfined-by-x in a's complain mode; x has a profile
                # of its own (Px), so its accesses belong there, not to a.
                null_owner = lab.name
                lab = R.Label(namespace=lab.namespace, path=(lab.null_child,), stack=lab.stack)
            ps = self._profile(lab)
            if null_owner:
                note = (f"includes accesses of {lab.name} seen as {null_owner}//null-"
                        f"{lab.name} (complain mode): {lab.name} has its own profile, so "
                        f"they are suggested here, not for {null_owner}")
                if note not in ps.notes:
                    ps.notes.append(note)
            if lab.stack:
                note = (
                    f"seen under the stacked label {'//&'.join(lab.stack)}: stacked profiles "
                    "intersect, add the rule only to the profile(s) that denied it"
                )
                if note not in ps.notes:
                    ps.notes.append(note)
            if isinstance(built, R.Skip):
                self.skipped[(lab.namespace, lab.path, built.reason)] += int(g["events"])
                if "attach_disconnected" in built.reason:
                    note = "disconnected paths were denied: consider flags=(attach_disconnected)"
                    if note not in ps.notes:
                        ps.notes.append(note)
                continue
            self._add_rule(ps, lab, built, g)

    def _add_rule(self, ps: ProfileSuggestion, lab: R.Label, raw: R.Raw, g: dict[str, Any]) -> None:
        pkey = (lab.namespace, lab.path)
        if raw.kind == R.FILE and raw.path is not None:
            nar = generalize.narrow(raw.path, raw.owner)
            key: tuple[Any, ...] = (pkey, R.FILE, nar.pattern, raw.owner)
            sug = self.rules.get(key)
            if sug is None:
                sug = Suggestion(kind=R.FILE, rule="", _owner=raw.owner, _pattern=nar.pattern)
                self.rules[key] = sug
                ps.rules.append(sug)
            sug._paths.add(raw.path)
            sug._perms |= raw.perms
            for c in nar.changes:
                if c not in sug.generalised:
                    sug.generalised.append(c)
        else:
            key = (pkey, raw.kind, raw.text)
            sug = self.rules.get(key)
            if sug is None:
                sug = Suggestion(kind=raw.kind, rule=raw.text, raw=[raw.text],
                                 _fallback=raw.fallback)
                if raw.path:
                    sug._paths.add(raw.path)
                self.rules[key] = sug
                ps.rules.append(sug)
        sug._key = key[1:]
        comps = tuple((c.namespace, c.path) for c in R.split_label("//&".join(lab.stack)))
        if len(comps) < 2:
            sug._stacks = None  # one confining profile: it is the one that denied
        elif not sug._groups or sug._stacks is not None:
            sug._stacks = (sug._stacks or set()) | {comps}
        sug._acc.add(g)
        sug._groups.append(g)
        risk, rank = self._risk(raw, g, lab)
        if rank is not None and (sug.severity is None or rank > sug.severity):
            sug.severity = rank
        if sug.risky is None:
            sug.risky = _risk_dict(risk)

    def _risk(
        self, raw: R.Raw, g: dict[str, Any], lab: R.Label
    ) -> tuple[risky.Risk | None, int | None]:
        if raw.kind == R.PTRACE:
            peer = g.get(S.PEER) or g.get(S.PEER_LABEL)
            own = "//".join(lab.path)
            if peer == own:
                return None, None  # tracing itself
            return risky.Risk("ptrace", f"ptrace of another profile ({peer})", "warning"), None
        return risky.rule_risk(
            lab.path[0],
            g.get(S.CLASS) if raw.kind != R.CAPABILITY else None,
            raw.path,
            g.get(S.CAPNAME) if raw.kind == R.CAPABILITY else None,
            raw.perms | ({"x"} if raw.kind == R.EXEC else set()),
            operation=g.get(S.OPERATION),
            sock_type=g.get(S.SOCK_TYPE) if raw.kind == R.NETWORK else None,
            family=g.get(S.FAMILY) if raw.kind == R.NETWORK else None,
            db=self.severity,
        )

    def add_suspect(self, r: dict[str, Any]) -> None:
        """Count forged-looking records of a profile (they never give a rule) so its
        output says why."""
        for lab in R.split_label(r[S.PROFILE]):
            self._profile(lab)
            reason = f"forged-looking records, never used for rules: {r[S.SUSPECT]}"
            self.skipped[(lab.namespace, lab.path, reason)] += int(r["events"])

    def finish(self) -> list[ProfileSuggestion]:
        for (ns, path, reason), n in self.skipped.items():
            ps = self.profiles[(ns, path)]
            ps.skipped.append({"reason": reason, "events": n})
        for ps in self.profiles.values():
            self._finish_files(ps)
            for sug in ps.rules:
                sug.evidence = sug._acc.evidence()
                if sug.kind in _NEWER_CLASSES:
                    sug.notes.append("needs AppArmor ≥ 4.0 (not known to the 3.0.x parser)")
                elif sug.kind == R.EXEC and sug._paths and "Px" not in sug.rule:
                    note = self._interpreter_note(min(sug._paths))
                    if note:
                        sug.notes.append(note)
            ps.rules.sort(key=Suggestion.sort_key)
            self._known(ps)
        for ps in self.profiles.values():
            self._stacked(ps)
        for ps in self.profiles.values():
            self._includes(ps)
        return sorted(
            self.profiles.values(), key=lambda p: (-len(p.hosts), -p.events, p.profile)
        )

    def _interpreter_note(self, target: str) -> str | None:
        """For an exec'd script readable on this host: the interpreter rule and
        abstraction aa-logprof adds (offered as a note, never written: no denial showed
        them); for an unreadable target, that this could not be checked."""
        try:
            # Non-blocking and regular files only: a logged name may be a FIFO or device.
            fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    return None
                head = os.read(fd, 256)
            finally:
                os.close(fd)
        except (OSError, ValueError):  # ValueError: a NUL in the name
            return (f"{target} is not readable on this host: if it is a script, the "
                    "profile also needs its interpreter (ix) and that interpreter's "
                    "abstraction")
        if not head.startswith(b"#!"):
            return None
        words = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").split()
        if not words:
            return None
        interp = words[0]
        if interp.endswith("/env") and len(words) > 1:
            return (f"{target} is a script run through env {words[1]}: the profile also "
                    f"needs env and the {words[1]} it finds on the target host (ix)")
        base = interp.rsplit("/", 1)[-1]
        name = next((a for k, a in _INTERPRETER_ABSTRACTIONS if base.startswith(k)), None)
        inc = (f" and include <abstractions/{name}>"
               if name and name in self.policy.abstractions else "")
        return (f"{target} is a script for {interp}: as aa-logprof does, also add "
                f"'{R.aare(interp)} ix,'{inc} (read from this host's copy)")

    def _finish_files(self, ps: ProfileSuggestion) -> None:
        files = [s for s in ps.rules if s.kind == R.FILE]
        for sug in files:
            assert sug._pattern is not None
            sug.rule = R.render_file(sug._pattern, sug._perms, sug._owner)
            paths = sorted(sug._paths)
            sug.raw = [R.render_file(R.aare(p), sug._perms, sug._owner)
                       for p in paths[:RAW_LIMIT]]
            if len(paths) > RAW_LIMIT:
                sug.notes.append(f"{len(paths)} distinct literal paths; raw rules show "
                                 f"the first {RAW_LIMIT}")
            if sug._owner:
                sug.notes.append("owner: the process's fsuid equalled the file owner")
            if not sug.risky:
                # A generalised pattern may reach a sensitive path none of the events touched.
                pattern = sug._pattern
                if pattern != R.aare(next(iter(sug._paths), "")):
                    sug.risky = _risk_dict(
                        risky.rule_match_pattern(partial(self._pattern_covers, pattern))
                    )
        # Broader option: siblings in one directory (or sub-trees) with the same owner.
        by_owner: dict[bool, list[Suggestion]] = defaultdict(list)
        for sug in files:
            by_owner[sug._owner].append(sug)
        for owner, sugs in by_owner.items():
            index = _PathIndex(sugs)
            by_dir: dict[str, list[str]] = defaultdict(list)
            for sug in sugs:
                for p in sug._paths:
                    by_dir[p.rstrip("/").rpartition("/")[0]].append(p)
            dirs_sorted = sorted(by_dir)
            cache: dict[str, tuple[str, str, frozenset[str]] | None] = {}
            for sug in sugs:
                for d in sorted({p.rstrip("/").rpartition("/")[0] for p in sug._paths}):
                    best = self._broader_option(d, by_dir, dirs_sorted, index, cache)
                    if best is None:
                        continue
                    pattern, why, perms = best
                    broad = R.render_file(pattern, perms or sug._perms, owner)
                    if broad != sug.rule:
                        sug.broader, sug.broader_why = broad, why
                    break

    def _broader_option(
        self,
        d: str,
        by_dir: dict[str, list[str]],
        dirs_sorted: list[str],
        index: _PathIndex,
        cache: dict[str, tuple[str, str, frozenset[str]] | None],
    ) -> tuple[str, str, frozenset[str]] | None:
        """(pattern, why, perms of what it covers) for paths in directory ``d`` (cached)."""
        if d in cache:
            return cache[d]
        got = generalize.broader(by_dir[d])
        if got is None:
            gp = d.rpartition("/")[0]
            if gp.count("/") >= 2:
                lo = bisect.bisect_left(dirs_sorted, gp + "/")
                under: list[str] = []
                for k in dirs_sorted[lo:]:
                    if not k.startswith(gp + "/"):
                        break
                    under.extend(by_dir[k])
                got = generalize.broader(under)
        res = None
        if got is not None:
            perms: set[str] = set()
            for _, other in index.matching(self.policy, got[0]):
                perms |= other._perms
            res = (got[0], got[1], frozenset(perms))
        cache[d] = res
        return res

    def _pattern_covers(self, pattern: str | None, path: str) -> bool:
        if pattern is None:
            return False
        return any(
            path.startswith(R.literal_prefix(p)) and R.path_matches(p, path)
            for p in self.policy.expand(pattern)
        )

    def _known(self, ps: ProfileSuggestion) -> None:
        """Compare with the installed profile block of the same name, as aa-logprof does
        (§6): found by name or attachment in any policy file, hats/children included."""
        if ps.namespace:
            return
        top = self.installed.top(ps.path[0])
        if top is None:
            return
        if top.local and re.fullmatch(r"[A-Za-z0-9_+@-][A-Za-z0-9._+@-]*", top.local):
            ps.local_file = top.local  # the file the installed profile really includes
        block = self.installed.find(ps.path)
        if block is None:
            # A hat/child the installed profile does not have: rules "inside its block"
            # cannot be pasted anywhere (aa-logprof asks nothing there either).
            child = ps.path[-1]
            ps.notes = [n for n in ps.notes if not n.startswith("hat/child profile ")]
            ps.notes.append(
                f"the installed profile {top.name} ({top.file}) has no hat/child "
                f"{child!r}: the rules below apply only once that block exists; create "
                f"it inside {'//'.join(ps.path[:-1])} as '^{child} {{ … }}' (a hat) or "
                f"'profile {child} {{ … }}' (a child) with them, or leave them out"
            )
            for sug in ps.rules:
                sug.known = f"no block {child!r} in the installed profile"
            return
        allow, deny = block.allow, block.deny
        ps.notes.append(
            f"compared with the installed profile {'//'.join(ps.path)} in {block.file} "
            "(rules it already allows or explicitly denies are not suggested)"
        )
        for sug in ps.rules:
            denied = allowed = False
            if sug.kind == R.FILE:
                paths = _spread(sorted(sug._paths), COVERAGE_SAMPLE)
                perms = frozenset(sug._perms)
                denied = deny.touches_file(paths, perms, sug._owner)
                allowed = allow.covers_file(paths, perms, sug._owner)
            elif sug.kind == R.CAPABILITY:
                cap = sug.rule.removeprefix("capability ").rstrip(",")
                denied, allowed = cap in deny.caps, cap in allow.caps
            elif sug.kind == R.NETWORK:
                parts = (sug._fallback or sug.rule).rstrip(",").split()[1:]
                if len(parts) >= 2:
                    denied = deny.covers_network(parts[0], parts[1])
                    allowed = allow.covers_network(parts[0], parts[1])
            if denied:
                sug.known = "explicitly denied by the installed profile"
            elif allowed:
                sug.known = ("already allowed by the installed profile (the hosts that "
                             "denied it may run an older version)")

    def _stacked(self, ps: ProfileSuggestion) -> None:
        """A rule seen only under stacks ``a//&b`` is active only where it was denied:
        where every other stacked profile already allows it (installed policy); else it
        is written commented out in each, for the reviewer to choose."""
        pkey = (ps.namespace, tuple(ps.path))
        for sug in ps.rules:
            if sug._stacks is None or sug.known:
                continue
            others = [c for st in sug._stacks for c in st if c != pkey]
            allowed = [self.rules.get((c, *sug._key)) for c in others]
            if all(o is not None and (o.known or "").startswith("already allowed")
                   for o in allowed):
                sug.notes.append("stacked: the other profile(s) of the stack already allow "
                                 f"it, so {ps.profile} is the one that denied it")
                continue
            names = sorted({"//".join(c[1]) for c in others})
            sug.known = ("stacked with " + ", ".join(names) + ": the record does not say "
                         "which profile denied it; add it only to that one")

    def _includes(self, ps: ProfileSuggestion) -> None:
        for sug in ps.rules:
            if sug.known:
                continue
            if sug.kind == R.FILE and not sug.risky:
                sug.abstractions = self.policy.covering(
                    R.FILE, paths=_spread(sorted(sug._paths), COVERAGE_SAMPLE),
                    perms=frozenset(sug._perms), owner=sug._owner,
                )
            elif sug.kind == R.CAPABILITY and not sug.risky:
                cap = sug.rule.removeprefix("capability ").rstrip(",")
                sug.abstractions = self.policy.covering(R.CAPABILITY, cap=cap)
            elif sug.kind == R.NETWORK and not sug.risky:
                words = sug._fallback or sug.rule
                parts = words.rstrip(",").split()[1:]
                if len(parts) >= 2:
                    sug.abstractions = self.policy.covering(
                        R.NETWORK, network=(parts[0], parts[1])
                    )
        remaining = [s for s in ps.rules if s.abstractions]
        while remaining:
            # Only file rules justify an include (a lone capability or network rule is
            # allowed by dozens of unrelated abstractions); the include then also
            # replaces the other rules it covers.
            count: dict[str, int] = defaultdict(int)
            for s in remaining:
                if s.kind != R.FILE:
                    continue
                for a in s.abstractions:
                    if "/" not in a:  # top-level abstractions only: sub-directories are parts
                        count[a] += 1
            if not count:
                break
            best = min(
                count, key=lambda a: (-count[a], self.policy.abstractions[a].size(), a)
            )
            if count[best] < MIN_INCLUDE_RULES:
                break
            inc = f"include <abstractions/{best}>"
            replaced = [s for s in remaining if best in s.abstractions]
            beyond, grants_risky = self._beyond(self.policy.abstractions[best], ps)
            # The include is the default only when it grants little that was never denied.
            active = beyond <= INCLUDE_MAX_BEYOND and grants_risky is None
            if active:
                for s in replaced:
                    s.covered_by = inc
            ps.includes.append(
                {
                    "include": inc,
                    "abstraction": best,
                    "replaces": [s.rule for s in replaced],
                    "beyond": beyond,
                    "grants_risky": grants_risky,
                    "active": active,
                    "status": STATUS_UNCHECKED,
                    "parser_error": None,
                }
            )
            done = {id(s) for s in replaced}
            remaining = [s for s in remaining if id(s) not in done]

    def _beyond(self, ab: Abstraction, ps: ProfileSuggestion) -> tuple[int, str | None]:
        """(rules of ``ab`` no evidence of ``ps`` needs, a risky path it grants or None)."""
        paths = sorted({p for s in ps.rules if s.kind == R.FILE for p in s._paths})
        caps = {s.rule.removeprefix("capability ").rstrip(",")
                for s in ps.rules if s.kind == R.CAPABILITY}
        unused = 0
        for rule in ab.files:
            used = False
            for pat in rule.patterns:
                prefix = R.literal_prefix(pat)
                for p in paths[bisect.bisect_left(paths, prefix):]:
                    if not p.startswith(prefix):
                        break
                    if R.path_matches(pat, p):
                        used = True
                        break
                if used:
                    break
            unused += not used
        unused += len(ab.caps - caps) + len(ab.networks)
        risk = risky.rule_match_pattern(
            lambda path: any(R.path_matches(p, path) for r in ab.files for p in r.patterns)
        )
        return unused, (f"{risk.what} ({risk.reason})" if risk else None)


def _replay(ps: ProfileSuggestion, policy: Policy) -> None:
    """For each rule: how many stored event groups/records of this profile it allows."""
    files = [s for s in ps.rules if s.kind == R.FILE]
    index = _PathIndex(files)
    for sug in ps.rules:
        if sug.kind == R.FILE and sug._pattern is not None:
            need = sug._perms
            hit_sugs = {
                id(s): s for _, s in index.matching(policy, sug._pattern)
                # an owner rule allows owner accesses only
                if (s._owner or not sug._owner) and s._perms <= need
            }
            hit = [g for s in hit_sugs.values() for g in s._groups]
        else:
            hit = list(sug._groups)  # same text ⇒ same suggestion (keyed by rule text)
        uniq = {id(g): g for g in hit}
        keys = sorted(
            (k for g in uniq.values() for k in g["sample_keys"]),
            key=lambda k: (k["ts"] is None, k["ts"] or dt.datetime.min, str(k["host"])),
        )
        sug.covers = {
            "groups": len(uniq),
            "events": sum(int(g["events"]) for g in uniq.values()),
            "sample_keys": [
                {"host": k["host"], "ts": _iso(k["ts"]), "serial": k["serial"]}
                for k in keys[:5]
            ],
        }


def _validate(profiles: list[ProfileSuggestion], parser: ApparmorParser) -> None:
    """Compile every rule, then each whole snippet; downgrade or comment out failures."""
    rules = [s for ps in profiles for s in ps.rules]
    incs = [inc for ps in profiles for inc in ps.includes]
    texts = sorted({s.rule for s in rules} | {i["include"] for i in incs})
    errors = dict(zip(texts, parser.check([f"  {t}" for t in texts]), strict=True))
    fallbacks = sorted({s._fallback for s in rules if s._fallback and errors.get(s.rule)})
    fb_err = dict(
        zip(fallbacks, parser.check([f"  {t}" for t in fallbacks]), strict=True)
    )
    for inc in incs:
        err = errors[inc["include"]]
        inc["status"] = STATUS_REJECTED if err else STATUS_COMPILED
        inc["parser_error"] = err
        if err:
            for ps in profiles:
                for s in ps.rules:
                    if s.covered_by == inc["include"]:
                        s.covered_by = None
    for s in rules:
        err = errors[s.rule]
        if err is None:
            s.status = STATUS_COMPILED
            continue
        s.parser_error = err
        if s._fallback and fb_err.get(s._fallback) is None:
            # Never an active rule broader than the evidence: the older form that would
            # compile is only named, the exact rule stays (commented out).
            s.notes.append(
                f"{s._fallback!r} would compile but allows more than was denied; "
                "write it only if that is intended"
            )
            s.status = STATUS_UNSUPPORTED
        elif s.kind in _NEWER_CLASSES or s._fallback or ("->" in s.rule and "&" in s.rule):
            s.status = STATUS_UNSUPPORTED
        else:
            s.status = STATUS_REJECTED
    # The whole snippet of each profile, as it will be written, inside a profile.
    bodies = [_snippet_body(ps) for ps in profiles]
    for ps, err in zip(profiles, parser.check(bodies), strict=True):
        if err is None:
            ps.snippet_status = STATUS_COMPILED
            continue
        # Rules that compile alone but conflict together (e.g. ix vs px): keep a prefix.
        ps.snippet_error = err
        kept: list[Suggestion] = []
        for s in [r for r in ps.rules if r.emitted]:
            trial = _snippet_body(ps, only=[*kept, s])
            if parser.check([trial])[0] is None:
                kept.append(s)
            else:
                s.status = STATUS_REJECTED
                s.parser_error = "conflicts with another suggested rule of this profile"
        ps.snippet_status = STATUS_COMPILED if parser.check([_snippet_body(ps)])[0] is None \
            else STATUS_REJECTED


def _emitted_lines(ps: ProfileSuggestion, only: Iterable[Suggestion] | None = None) -> list[str]:
    lines = [i["include"] for i in ps.includes
             if i["active"] and i["status"] != STATUS_REJECTED]
    rules = list(only) if only is not None else [r for r in ps.rules if r.emitted]
    return lines + [r.rule for r in rules]


def _snippet_body(ps: ProfileSuggestion, only: Iterable[Suggestion] | None = None) -> str:
    body = "\n".join("  " + ln for ln in _emitted_lines(ps, only))
    # Children compile as a child profile block, the way they sit in the real profile.
    for name in reversed(ps.path[1:]):
        body = f"  profile {R.quoted(R.aare(name))} {{\n{body}\n  }}"
    return body


def _selinux(rows: list[dict[str, Any]]) -> list[SELinuxSuggestion]:
    out = []
    for r in rows:
        perms = [p for p in (r["perms"] or []) if re.fullmatch(r"[a-z0-9_]+", p)]
        types_ok = all(
            re.fullmatch(r"[A-Za-z0-9_]+", r[k] or "") for k in ("source_type", "target_type")
        )
        if not perms or not types_ok or not re.fullmatch(r"[a-z0-9_]+", r["tclass"] or ""):
            continue
        body = perms[0] if len(perms) == 1 else "{ " + " ".join(perms) + " }"
        acc = _Acc()
        acc.add({**r, "decision": "permissive" if r["permissive"] else "denied",
                 "processes": [], "sample_keys": []})
        # audit2allow writes 'self' when a domain acts on its own type
        target = "self" if r["target_type"] == r["source_type"] else r["target_type"]
        out.append(
            SELinuxSuggestion(
                rule=f"allow {r['source_type']} {target}:{r['tclass']} {body};",
                source_type=r["source_type"],
                target_type=r["target_type"],
                tclass=r["tclass"],
                perms=perms,
                permissive=bool(r["permissive"]),
                evidence=acc.evidence(),
            )
        )
    out.sort(key=lambda s: (s.permissive, -len(s.evidence.hosts), -s.evidence.events, s.rule))
    return out


def suggest(
    con: duckdb.DuckDBPyConnection,
    since: dt.datetime | None = None,
    profile: str | None = None,
    *,
    validate: bool = True,
    parser: ApparmorParser | None = None,
    policy_root: Path | None = None,
) -> SuggestResult:
    """Suggestions from the store behind ``con`` (see the module docstring)."""
    params = {"since": _naive_utc(since)}
    policy = Policy.load(policy_root or Path("/etc/apparmor.d"))
    builder = _Builder(_loaded_profiles(con), policy, risky.SeverityDB.load())
    for g in _rows(con, "suggest_events", params):
        builder.add(g)
    for r in _rows(con, "suggest_suspect", params):
        builder.add_suspect(r)
    profiles = builder.finish()
    if profile is not None:
        profiles = [p for p in profiles if profile in (p.profile, "//".join(p.path))]
    for ps in profiles:
        _replay(ps, policy)
    version = None
    if validate:
        parser = parser or ApparmorParser.find()
        if parser is not None:
            version = parser.version()
            _validate(profiles, parser)
    selinux = [] if profile is not None else _selinux(_rows(con, "suggest_selinux", params))
    return SuggestResult(
        profiles=profiles,
        selinux=selinux,
        since=since.isoformat() if since else None,
        parser=version,
    )


# --- rendering ------------------------------------------------------------------------


def _comment(text: str) -> str:
    # Log-derived text in a comment: no line breaks, nothing that could end the comment.
    return "# " + sanitize.for_terminal(text)


def _evidence_line(e: Evidence) -> str:
    hosts = ", ".join(e.hosts[:5]) + (f", … ({len(e.hosts)})" if len(e.hosts) > 5 else "")
    dec = ", ".join(f"{k} {v}" for k, v in sorted(e.decisions.items()))
    return (
        f"{e.events} event(s) on {len(e.hosts)} host(s) ({hosts}), {e.processes} process(es) "
        f"[{', '.join(e.comms[:5])}], {e.first_seen} – {e.last_seen}; {dec}"
    )


def _rule_key(line: str) -> str:
    """A policy line compared by its words: no trailing comment, single spaces."""
    s = line.strip()
    if s.startswith("#include"):
        s = s[1:]
    elif s.startswith("#"):
        return ""
    if " #" in s and '"' not in s:
        s = s[: s.index(" #")]
    return " ".join(s.split())


def _already_in(s: Suggestion, present: set[str], have: Abstraction) -> bool:
    """Whether an existing text (its line keys, its parsed allow rules) allows ``s``."""
    if _rule_key(s.rule) in present:
        return True
    if s.kind == R.FILE:
        return have.covers_file(sorted(s._paths), frozenset(s._perms), s._owner)
    if s.kind == R.CAPABILITY:
        return s.rule.removeprefix("capability ").rstrip(",") in have.caps
    return False


def render_additions(
    ps: ProfileSuggestion, existing: str, policy: Policy | None = None
) -> tuple[str, int]:
    """(text to append to an existing local file, rules in it): the active lines of
    ``render_apparmor`` that ``existing`` does not already allow (same line, or a file or
    capability rule it covers), each with its evidence comment; ("", 0) when none is
    missing. The existing text itself is never changed."""
    present = {_rule_key(ln) for ln in existing.splitlines()}
    have = (policy or Policy(Path("/nonexistent"))).rules_of_text(existing)
    out: list[str] = []
    for inc in ps.includes:
        if (inc["active"] and inc["status"] != STATUS_REJECTED
                and _rule_key(inc["include"]) not in present):
            out.append(_comment(f"covers {len(inc['replaces'])} suggested rule(s)"))
            out.append(inc["include"])
    for s in ps.rules:
        if s.emitted and not _already_in(s, present, have):
            out.append(_comment(_evidence_line(s.evidence)))
            out.append(s.rule)
    n = len(out) // 2
    if not n:
        return "", 0
    head = _comment(f"added by armorwatch suggest --merge: {n} rule(s) for profile {ps.profile}")
    return "\n".join(["", head, *out]) + "\n", n


def render_apparmor(ps: ProfileSuggestion, parser: str | None = None) -> str:
    """The text of ``/etc/apparmor.d/local/<file>`` for one profile (a comment per rule)."""
    out = [
        _comment(f"armorwatch rule suggestions for profile {ps.profile}"),
        _comment(f"target: /etc/apparmor.d/local/{ps.local_file}"),
        _comment(
            f"validated with {parser}: snippet {ps.snippet_status}"
            if parser else "NOT validated: apparmor_parser was not available"
        ),
        "# Review before use. Risky rules and rules the parser rejects are commented out.",
    ]
    out += [_comment(f"note: {n}") for n in ps.notes]
    if ps.snippet_error:
        out.append(_comment(f"snippet error: {ps.snippet_error}"))
    for inc in ps.includes:
        out.append("")
        out.append(_comment(f"{inc['include']} covers {len(inc['replaces'])} suggested rules:"))
        out += [_comment(f"  {r}") for r in inc["replaces"]]
        if inc["status"] == STATUS_REJECTED:
            out.append(_comment(f"rejected by the parser: {inc['parser_error']}"))
            out.append("# " + inc["include"])
        elif not inc["active"]:
            why = f"it also allows {inc['beyond']} rule(s) no denial needed"
            if inc["grants_risky"]:
                why += f", and {inc['grants_risky']}"
            out.append(_comment(f"offered only: {why}; the rules stay below"))
            out.append("# " + inc["include"])
        else:
            out.append(inc["include"])
    for s in ps.rules:
        out.append("")
        out.append(_comment(_evidence_line(s.evidence)))
        out.append(_comment(f"example: {s.evidence.example}"))
        if s.covers:
            out.append(_comment(
                f"replay: allows {s.covers['events']} stored event(s) in "
                f"{s.covers['groups']} group(s)"
            ))
        if s.severity is not None:
            out.append(_comment(f"severity {s.severity}/10 ({risky.SEVERITY_DB})"))
        if s.generalised:
            out.append(_comment("generalised: " + "; ".join(s.generalised)))
        if len(s.raw) and s.raw != [s.rule]:
            shown = s.raw[:3] + ([f"… {len(s.raw) - 3} more"] if len(s.raw) > 3 else [])
            out.append(_comment("narrowest: " + "  ".join(shown)))
        if s.broader:
            out.append(_comment(f"broader ({s.broader_why}): {s.broader}"))
        if s.abstractions and not s.covered_by:
            out.append(_comment("also allowed by: " + ", ".join(s.abstractions[:5])))
        out += [_comment(f"note: {n}") for n in s.notes]
        if s.known:
            out.append(_comment(f"{s.known}: {s.rule}"))
        elif s.covered_by:
            out.append(_comment(f"covered by {s.covered_by}: {s.rule}"))
        elif s.risky:
            out.append(_comment(
                f"review: risky ({s.risky['severity']}: {s.risky['reason']}); "
                "uncomment only after review"
            ))
            out.append("# " + s.rule)
        elif s.status == STATUS_UNSUPPORTED:
            out.append(_comment(f"not supported by {parser or 'the installed parser'}: "
                                f"{s.parser_error}"))
            out.append("# " + s.rule)
        elif s.status == STATUS_REJECTED:
            out.append(_comment(f"rejected by the parser: {s.parser_error}"))
            out.append("# " + s.rule)
        else:
            out.append(s.rule)
    for sk in ps.skipped:
        out.append(_comment(f"skipped {sk['events']} event(s): {sk['reason']}"))
    return "\n".join(out) + "\n"


SELINUX_MODULE: Final = "armorwatch_local"
"""Name of the SELinux policy module ``render_selinux`` writes."""


def render_selinux(items: list[SELinuxSuggestion], module: str = SELINUX_MODULE) -> str:
    """A loadable policy module (``checkmodule -M -m`` compiles it, as ``audit2allow -m``
    writes one): ``module``, the ``require`` block of every type and class/permission
    used, then the ``allow`` lines, enforcing denials first, permissive ones apart."""
    types = sorted({t for s in items for t in (s.source_type, s.target_type)})
    classes: dict[str, set[str]] = defaultdict(set)
    for s in items:
        classes[s.tclass].update(s.perms)
    out = [f"module {module} 1.0;", "", "require {"]
    out += [f"\ttype {t};" for t in types]
    out += [f"\tclass {c} {{ {' '.join(sorted(p))} }};" for c, p in sorted(classes.items())]
    out += ["}", ""]
    for permissive in (False, True):
        part = [s for s in items if s.permissive == permissive]
        if not part:
            continue
        out.append(
            "# SELinux: denials logged in PERMISSIVE mode (the access happened anyway)"
            if permissive else "# SELinux: enforced denials"
        )
        for s in part:
            out.append(_comment(_evidence_line(s.evidence)))
            out.append(s.rule)
        out.append("")
    return "\n".join(out)


def render_markdown(result: SuggestResult) -> str:
    """A Markdown summary: one table per profile."""
    md = sanitize.for_markdown
    out = ["# armorwatch rule suggestions", ""]
    out.append(f"Validated with: {md(result.parser) if result.parser else 'not validated'}")
    for ps in result.profiles:
        out += ["", f"## {md(ps.profile)} → local/{md(ps.local_file)}", ""]
        out += [f"- {md(n)}" for n in ps.notes]
        out += [f"- include: {md(i['include'])} replaces {len(i['replaces'])} rules"
                + ("" if i["active"] else
                   f" (offered only: allows {i['beyond']} rule(s) no denial needed)")
                for i in ps.includes]
        out += ["", "| rule | status | events | hosts | processes | last seen | review |",
                "|---|---|---|---|---|---|---|"]
        for s in ps.rules:
            review = (f"risky: {s.risky['reason']}" if s.risky
                      else (s.known or s.covered_by or ""))
            out.append(
                f"| {md(s.rule)} | {s.status} | {s.evidence.events} | "
                f"{len(s.evidence.hosts)} | {s.evidence.processes} | "
                f"{md(s.evidence.last_seen or '')} | {md(review)} |"
            )
    if result.selinux:
        out += ["", "## SELinux", "", "| rule | permissive | events | hosts |", "|---|---|---|---|"]
        for se in result.selinux:
            out.append(f"| {md(se.rule)} | {se.permissive} | {se.evidence.events} | "
                       f"{len(se.evidence.hosts)} |")
    return "\n".join(out) + "\n"
