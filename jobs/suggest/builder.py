"""AppArmor suggestions from event groups: the builder keeps its own working state.

``Builder.add`` takes the rows of ``sql/suggest_events.sql`` (``add_suspect`` those of
``sql/suggest_suspect.sql``) and accumulates one ``_Rule`` per (profile, rule) in its own
mutable drafts; ``finish`` generalises, compares with the installed policy, handles
stacks, suggests includes, replays each rule over the stored groups and only then
makes the immutable ``ProfileSuggestion``/``Suggestion`` objects (steps 2–5 and 7 of
``jobs.suggest``).
"""

from __future__ import annotations

import bisect
import datetime as dt
import os
import re
import stat
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from armorwatch.jobs import apparmor_rules as R
from armorwatch.jobs import generalize, risky
from armorwatch.jobs.abstractions import Abstraction, Policy
from armorwatch.jobs.installed import Installed
from armorwatch.jobs.suggest.evidence import EvidenceAcc, record_key
from armorwatch.jobs.suggest.model import (
    Evidence,
    Include,
    ProfileSuggestion,
    Suggestion,
    evidence_order,
)
from armorwatch.parsers import schema as S

MIN_INCLUDE_RULES: Final = 2
"""An abstraction must cover this many of a profile's file rules to be suggested as an include."""
INCLUDE_MAX_BEYOND: Final = 3
"""An include is written active only if at most this many of its rules match no evidence."""
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

_ProfileKey = tuple[str | None, tuple[str, ...]]
_MIN_TS: Final = dt.datetime.min  # sorts sample keys without a time last


def local_file_name(label: R.Label) -> str:
    """The /etc/apparmor.d/local/ file name for a profile: ``/usr/sbin/x`` → ``usr.sbin.x``."""
    name = label.path[0].lstrip("/").replace("/", ".")
    name = re.sub(r"[^A-Za-z0-9._+@-]", "_", name).lstrip(".")
    return name or "_"


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


class _Group(NamedTuple):
    """What replay needs of one event group: its records and up to 5 record keys."""

    events: int
    sample_keys: tuple[tuple[Any, Any, Any], ...]
    """(host, ts, serial), oldest first."""


@dataclass(eq=False)
class _Rule:
    """One suggestion while it is built; ``freeze`` makes the ``Suggestion``."""

    kind: str
    key: tuple[Any, ...]  # builder key minus the profile
    text: str = ""  # file rules: rendered from pattern/perms/owner in finish
    pattern: str | None = None
    owner: bool = False
    fallback: str | None = None
    paths: set[str] = field(default_factory=set)
    perms: set[str] = field(default_factory=set)
    acc: EvidenceAcc = field(default_factory=EvidenceAcc)
    groups: list[_Group] = field(default_factory=list)
    # stacks (keys of their confining components) it was seen under; None: also unstacked
    stacks: set[tuple[Any, ...]] | None = None
    # what finish decides, as in Suggestion
    raw: list[str] = field(default_factory=list)
    generalised: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    evidence: Evidence = field(default_factory=Evidence)
    severity: int | None = None
    risky: dict[str, str] | None = None
    broader: str | None = None
    broader_why: str | None = None
    known: str | None = None
    abstractions: list[str] = field(default_factory=list)
    covered_by: str | None = None

    def freeze(self, covers: dict[str, Any]) -> Suggestion:
        return Suggestion(
            kind=self.kind, rule=self.text, raw=self.raw, broader=self.broader,
            broader_why=self.broader_why, generalised=self.generalised,
            abstractions=self.abstractions, covered_by=self.covered_by, known=self.known,
            risky=self.risky, severity=self.severity, notes=self.notes,
            evidence=self.evidence, covers=covers, paths=frozenset(self.paths),
            perms=frozenset(self.perms), owner=self.owner, fallback=self.fallback,
        )


@dataclass(eq=False)
class _Profile:
    """One profile's suggestions while they are built."""

    name: str
    namespace: str | None
    path: tuple[str, ...]
    local_file: str
    rules: list[_Rule] = field(default_factory=list)
    includes: list[Include] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add_note(self, note: str) -> None:
        if note not in self.notes:
            self.notes.append(note)

    def order(self) -> tuple[Any, ...]:
        """Most hosts, then events, then by name (the order of ``suggest``'s result)."""
        hosts = {h for r in self.rules for h in r.evidence.hosts}
        return (-len(hosts), -sum(r.evidence.events for r in self.rules), self.name)


class _PathIndex:
    """The literal paths of a profile's file rules, sorted for prefix lookups."""

    def __init__(self, rules: Iterable[_Rule]) -> None:
        self.items = sorted((p, i, s) for i, s in enumerate(rules) for p in s.paths)
        self.keys = [p for p, _, _ in self.items]

    def matching(self, policy: Policy, pattern: str) -> list[tuple[str, _Rule]]:
        """(path, rule) pairs whose path ``pattern`` matches.

        Only paths starting with the literal prefix of one of the pattern's variable
        expansions are tested, so this stays fast for thousands of paths.
        """
        out: dict[tuple[str, int], _Rule] = {}
        for pat in policy.expand(pattern):
            prefix = R.literal_prefix(pat)
            lo = bisect.bisect_left(self.keys, prefix)
            for path, i, sug in self.items[lo:]:
                if not path.startswith(prefix):
                    break
                if (path, i) not in out and R.path_matches(pat, path):
                    out[(path, i)] = sug
        return [(p, s) for (p, _), s in out.items()]


class Builder:
    """Accumulates suggestions per profile from event groups (see the module docstring)."""

    def __init__(self, exec_targets: frozenset[str], policy: Policy,
                 severity: risky.SeverityDB | None = None) -> None:
        self.exec_targets = exec_targets
        self.policy = policy
        self.installed = Installed.load(policy)
        self.severity = severity
        self.profiles: dict[_ProfileKey, _Profile] = {}
        self.rules: dict[tuple[Any, ...], _Rule] = {}
        self.skipped: dict[tuple[Any, ...], int] = defaultdict(int)
        self._risks: dict[tuple[Any, ...], tuple[risky.Risk | None, int | None]] = {}

    def _profile(self, lab: R.Label) -> _Profile:
        key = (lab.namespace, lab.path)
        ps = self.profiles.get(key)
        if ps is None:
            ps = _Profile(lab.name, lab.namespace, lab.path, local_file_name(lab))
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

    def _owner(self, lab: R.Label) -> tuple[R.Label, str | None]:
        """The profile a label's events go to, and the complain-mode profile they were
        seen under when that is another one."""
        if lab.null_child and (lab.null_child in self.exec_targets
                               or self.installed.top(lab.null_child) is not None):
            # a//null-x: x ran unconfined-by-x in a's complain mode; x has a profile
            # of its own (Px), so its accesses belong there, not to a.
            path = (lab.null_child,)
            return R.Label(namespace=lab.namespace, path=path, stack=lab.stack), lab.name
        return lab, None

    def _labels(self, logged: str) -> list[R.Label]:
        """The profiles a label names, as logged and as attributed."""
        labels = R.split_label(logged)
        return [*labels, *(self._owner(lab)[0] for lab in labels)]

    def concerning(self, profile: str, logged: list[str]) -> list[str]:
        """The labels (as logged) whose rows ``finish(profile)`` needs: those of the
        profiles named ``profile`` and of every profile stacked with them (their rules
        decide whether a stacked rule is active). The store's queries take only these, so
        a one-profile run does not group or build the whole fleet."""
        keys: set[_ProfileKey] = set()
        for label in logged:
            labels = self._labels(label)
            if any(profile in (lab.name, "//".join(lab.path)) for lab in labels):
                keys.update((lab.namespace, lab.path) for lab in labels)
        return [
            label
            for label in logged
            if any((lab.namespace, lab.path) in keys for lab in self._labels(label))
        ]

    def add(self, g: dict[str, Any]) -> None:
        """Take one event group."""
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
        # What replay needs of the group, kept instead of its whole row (tens of MB on a
        # fleet); one per group, shared by its labels: replay counts groups by id.
        kept = _Group(int(g["events"]), tuple(
            (k["host"], k["ts"], k["serial"]) for k in g["sample_keys"]))
        for seen in labels:
            lab, null_owner = self._owner(seen)
            ps = self._profile(lab)
            if null_owner:
                ps.add_note(f"includes accesses of {lab.name} seen as {null_owner}//null-"
                            f"{lab.name} (complain mode): {lab.name} has its own profile, so "
                            f"they are suggested here, not for {null_owner}")
            if lab.stack:
                ps.add_note(
                    f"seen under the stacked label {'//&'.join(lab.stack)}: stacked profiles "
                    "intersect, add the rule only to the profile(s) that denied it"
                )
            if isinstance(built, R.Skip):
                self.skipped[(lab.namespace, lab.path, built.reason)] += int(g["events"])
                if "attach_disconnected" in built.reason:
                    ps.add_note(
                        "disconnected paths were denied: consider flags=(attach_disconnected)"
                    )
                continue
            self._add_rule(ps, lab, built, g, kept)

    def _add_rule(
        self, ps: _Profile, lab: R.Label, raw: R.Raw, g: dict[str, Any], kept: _Group
    ) -> None:
        pkey = (lab.namespace, lab.path)
        if raw.kind == R.FILE and raw.path is not None:
            nar = generalize.narrow(raw.path, raw.owner)
            key: tuple[Any, ...] = (pkey, R.FILE, nar.pattern, raw.owner)
            sug = self.rules.get(key)
            if sug is None:
                sug = _Rule(R.FILE, key[1:], owner=raw.owner, pattern=nar.pattern)
                self.rules[key] = sug
                ps.rules.append(sug)
            sug.paths.add(raw.path)
            sug.perms |= raw.perms
            for c in nar.changes:
                if c not in sug.generalised:
                    sug.generalised.append(c)
        else:
            key = (pkey, raw.kind, raw.text)
            sug = self.rules.get(key)
            if sug is None:
                sug = _Rule(raw.kind, key[1:], text=raw.text, raw=[raw.text],
                            fallback=raw.fallback)
                if raw.path:
                    sug.paths.add(raw.path)
                self.rules[key] = sug
                ps.rules.append(sug)
        comps = tuple((c.namespace, c.path) for c in R.split_label("//&".join(lab.stack)))
        if len(comps) < 2:
            sug.stacks = None  # one confining profile: it is the one that denied
        elif not sug.groups or sug.stacks is not None:
            sug.stacks = (sug.stacks or set()) | {comps}
        sug.acc.add(g)
        sug.groups.append(kept)
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
        args = (
            lab.path[0],
            g.get(S.CLASS) if raw.kind != R.CAPABILITY else None,
            raw.path,
            g.get(S.CAPNAME) if raw.kind == R.CAPABILITY else None,
            frozenset(raw.perms | ({"x"} if raw.kind == R.EXEC else set())),
            g.get(S.OPERATION),
            g.get(S.SOCK_TYPE) if raw.kind == R.NETWORK else None,
            g.get(S.FAMILY) if raw.kind == R.NETWORK else None,
        )
        # Groups differing only in fields the risk does not read (pid, masks asked, uids)
        # share the answer: rule_risk is pure, and was a third of add() on a fleet.
        got = self._risks.get(args)
        if got is None:
            prof, cls, path, cap, perms, op, sock, fam = args
            got = self._risks[args] = risky.rule_risk(
                prof, cls, path, cap, perms, operation=op, sock_type=sock, family=fam,
                db=self.severity,
            )
        return got

    def add_suspect(self, r: dict[str, Any]) -> None:
        """Count forged-looking records of a profile (they never give a rule) so its
        output says why."""
        for lab in R.split_label(r[S.PROFILE]):
            self._profile(lab)
            reason = f"forged-looking records, never used for rules: {r[S.SUSPECT]}"
            self.skipped[(lab.namespace, lab.path, reason)] += int(r["events"])

    def finish(self, profile: str | None = None) -> list[ProfileSuggestion]:
        """The profiles, most evidence first; only ``profile`` (full name or ``a//b``)
        when given. Every profile is built first: stacks compare across profiles."""
        for (ns, path, reason), n in self.skipped.items():
            self.profiles[(ns, path)].skipped.append({"reason": reason, "events": n})
        for ps in self.profiles.values():
            self._finish_files(ps)
            for sug in ps.rules:
                sug.evidence = sug.acc.evidence()
                if sug.kind in R.NEWER_CLASSES:
                    sug.notes.append("needs AppArmor ≥ 4.0 (not known to the 3.0.x parser)")
                elif sug.kind == R.EXEC and sug.paths and "Px" not in sug.text:
                    note = self._interpreter_note(min(sug.paths))
                    if note:
                        sug.notes.append(note)
            ps.rules.sort(key=lambda s: evidence_order(s.evidence, s.text))
            self._known(ps)
        for ps in self.profiles.values():
            self._stacked(ps)
        for ps in self.profiles.values():
            self._includes(ps)
        ordered = sorted(self.profiles.values(), key=_Profile.order)
        if profile is not None:
            ordered = [p for p in ordered if profile in (p.name, "//".join(p.path))]
        return [self._freeze(ps) for ps in ordered]

    def _freeze(self, ps: _Profile) -> ProfileSuggestion:
        return ProfileSuggestion(
            profile=ps.name, namespace=ps.namespace, path=list(ps.path),
            local_file=ps.local_file, rules=self._replay(ps), includes=ps.includes,
            skipped=ps.skipped, notes=ps.notes,
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

    def _finish_files(self, ps: _Profile) -> None:
        files = [s for s in ps.rules if s.kind == R.FILE]
        for sug in files:
            assert sug.pattern is not None
            sug.text = R.render_file(sug.pattern, sug.perms, sug.owner)
            paths = sorted(sug.paths)
            sug.raw = [R.render_file(R.aare(p), sug.perms, sug.owner)
                       for p in paths[:RAW_LIMIT]]
            if len(paths) > RAW_LIMIT:
                sug.notes.append(f"{len(paths)} distinct literal paths; raw rules show "
                                 f"the first {RAW_LIMIT}")
            if sug.owner:
                sug.notes.append("owner: the process's fsuid equalled the file owner")
            if not sug.risky:
                # A generalised pattern may reach a sensitive path none of the events touched.
                pattern = sug.pattern
                if pattern != R.aare(next(iter(sug.paths), "")):
                    sug.risky = _risk_dict(
                        risky.rule_match_pattern(self._pattern_covers(pattern))
                    )
        # Broader option: siblings in one directory (or sub-trees) with the same owner.
        by_owner: dict[bool, list[_Rule]] = defaultdict(list)
        for sug in files:
            by_owner[sug.owner].append(sug)
        for owner, sugs in by_owner.items():
            index = _PathIndex(sugs)
            by_dir: dict[str, list[str]] = defaultdict(list)
            for sug in sugs:
                for p in sug.paths:
                    by_dir[p.rstrip("/").rpartition("/")[0]].append(p)
            dirs_sorted = sorted(by_dir)
            cache: dict[str, tuple[str, str, frozenset[str]] | None] = {}
            for sug in sugs:
                for d in sorted({p.rstrip("/").rpartition("/")[0] for p in sug.paths}):
                    best = self._broader_option(d, by_dir, dirs_sorted, index, cache)
                    if best is None:
                        continue
                    pattern, why, perms = best
                    broad = R.render_file(pattern, perms or sug.perms, owner)
                    if broad != sug.text:
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
                perms |= other.perms
            res = (got[0], got[1], frozenset(perms))
        cache[d] = res
        return res

    def _pattern_covers(self, pattern: str) -> Callable[[str], bool]:
        """Whether ``pattern`` matches a path; its variables are expanded once, not per
        path (the risky-path check tries some 150 paths on every generalised rule)."""
        expanded = [(R.literal_prefix(p), p) for p in self.policy.expand(pattern)]

        def covers(path: str) -> bool:
            return any(path.startswith(pre) and R.path_matches(p, path) for pre, p in expanded)

        return covers

    def _known(self, ps: _Profile) -> None:
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
                paths = _spread(sorted(sug.paths), COVERAGE_SAMPLE)
                perms = frozenset(sug.perms)
                denied = deny.touches_file(paths, perms, sug.owner)
                allowed = allow.covers_file(paths, perms, sug.owner)
            elif sug.kind == R.CAPABILITY:
                cap = sug.text.removeprefix("capability ").rstrip(",")
                denied, allowed = cap in deny.caps, cap in allow.caps
            elif sug.kind == R.NETWORK:
                parts = (sug.fallback or sug.text).rstrip(",").split()[1:]
                if len(parts) >= 2:
                    denied = deny.covers_network(parts[0], parts[1])
                    allowed = allow.covers_network(parts[0], parts[1])
            if denied:
                sug.known = "explicitly denied by the installed profile"
            elif allowed:
                sug.known = ("already allowed by the installed profile (the hosts that "
                             "denied it may run an older version)")

    def _stacked(self, ps: _Profile) -> None:
        """A rule seen only under stacks ``a//&b`` is active only where it was denied:
        where every other stacked profile already allows it (installed policy); else it
        is written commented out in each, for the reviewer to choose."""
        pkey = (ps.namespace, ps.path)
        for sug in ps.rules:
            if sug.stacks is None or sug.known:
                continue
            others = [c for st in sug.stacks for c in st if c != pkey]
            allowed = [self.rules.get((c, *sug.key)) for c in others]
            if all(o is not None and (o.known or "").startswith("already allowed")
                   for o in allowed):
                sug.notes.append("stacked: the other profile(s) of the stack already allow "
                                 f"it, so {ps.name} is the one that denied it")
                continue
            names = sorted({"//".join(c[1]) for c in others})
            sug.known = ("stacked with " + ", ".join(names) + ": the record does not say "
                         "which profile denied it; add it only to that one")

    def _includes(self, ps: _Profile) -> None:
        for sug in ps.rules:
            if sug.known:
                continue
            if sug.kind == R.FILE and not sug.risky:
                sug.abstractions = self.policy.covering(
                    R.FILE, paths=_spread(sorted(sug.paths), COVERAGE_SAMPLE),
                    perms=frozenset(sug.perms), owner=sug.owner,
                )
            elif sug.kind == R.CAPABILITY and not sug.risky:
                cap = sug.text.removeprefix("capability ").rstrip(",")
                sug.abstractions = self.policy.covering(R.CAPABILITY, cap=cap)
            elif sug.kind == R.NETWORK and not sug.risky:
                words = sug.fallback or sug.text
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
            ps.includes.append(Include(
                include=inc, abstraction=best, replaces=[s.text for s in replaced],
                beyond=beyond, grants_risky=grants_risky, active=active,
            ))
            done = {id(s) for s in replaced}
            remaining = [s for s in remaining if id(s) not in done]

    def _beyond(self, ab: Abstraction, ps: _Profile) -> tuple[int, str | None]:
        """(rules of ``ab`` no evidence of ``ps`` needs, a risky path it grants or None)."""
        paths = sorted({p for s in ps.rules if s.kind == R.FILE for p in s.paths})
        caps = {s.text.removeprefix("capability ").rstrip(",")
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

    def _replay(self, ps: _Profile) -> list[Suggestion]:
        """Each rule, frozen with how many stored event groups/records of this profile
        it allows."""
        index = _PathIndex([s for s in ps.rules if s.kind == R.FILE])
        out = []
        for sug in ps.rules:
            if sug.kind == R.FILE and sug.pattern is not None:
                need = sug.perms
                hit_rules = {
                    id(s): s for _, s in index.matching(self.policy, sug.pattern)
                    # an owner rule allows owner accesses only
                    if (s.owner or not sug.owner) and s.perms <= need
                }
                hit = [g for s in hit_rules.values() for g in s.groups]
            else:
                hit = list(sug.groups)  # same text ⇒ same suggestion (keyed by rule text)
            uniq = {id(g): g for g in hit}
            keys = sorted(
                (k for g in uniq.values() for k in g.sample_keys),
                key=lambda k: (k[1] is None, k[1] or _MIN_TS, str(k[0])),
            )
            out.append(sug.freeze({
                "groups": len(uniq),
                "events": sum(g.events for g in uniq.values()),
                "sample_keys": [
                    record_key({"host": h, "ts": ts, "serial": serial})
                    for h, ts, serial in keys[:5]
                ],
            }))
        return out
