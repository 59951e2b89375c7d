"""The installed AppArmor policy as data: tunables variables and abstraction coverage.

``Policy.load(root)`` reads ``<root>/tunables/global`` (following includes) for the
``@{VAR}`` definitions and every file under ``<root>/abstractions/`` for the rules we can
reason about: file rules, ``capability`` and ``network`` rules (``deny`` rules never
count as coverage). Unlike aa-logprof (§4.1 "variables are not expanded") variables are
expanded, so ``@{etc_ro}/ld.so.cache`` does cover ``/etc/ld.so.cache``. Files are read
statement by statement (``jobs.policy_text``, shared with ``jobs.installed``): in
conditional blocks (``if $b { … } else { … }``, one-line too) only the rules of a taken
branch count.

``Policy.covering(kind, paths, perms, owner, cap, network)`` lists the abstractions
that allow an access; ``Policy.expand(pattern)`` turns variables into AARE
alternations (for replaying a suggested rule against stored paths).

On Debian the files come from the ``apparmor`` package (``/etc/apparmor.d``); a missing
directory simply gives an empty policy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Final

from armorwatch.jobs.apparmor_rules import CAPABILITY, FILE, NETWORK, aare_regex, path_matches
from armorwatch.jobs.policy_text import (
    BOOL_DEF,
    VAR_DEF,
    branch_condition,
    evaluate,
    statements,
    taken,
)
from armorwatch.jobs.policy_text import INCLUDE as _INCLUDE
from armorwatch.jobs.policy_text import strip_comment as _strip_comment

DEFAULT_ROOT: Final = Path("/etc/apparmor.d")

_VAR_DEF = re.compile(r"^\s*@\{([A-Za-z0-9_]+)\}\s*(\+?=)\s*(.*?)\s*$")
_VAR_USE = re.compile(r"@\{([A-Za-z0-9_]+)\}")
_FILE_RULE = re.compile(
    r"^(?:audit\s+)?(?:allow\s+)?(owner\s+)?(?:file\s+)?"
    r"(\"[^\"]*\"|[/@]\S*)\s+([a-zA-Z]+)(?:\s+->\s*\S+)?\s*,$"
)
_FILE_RULE_PERMS_FIRST = re.compile(
    r"^(?:audit\s+)?(?:allow\s+)?(owner\s+)?(?:file\s+)?([a-zA-Z]+)\s+(\"[^\"]*\"|[/@]\S*)\s*,$"
)
_CAP_RULE = re.compile(r"^(?:audit\s+)?(?:allow\s+)?capability\s*([a-z0-9_\s]*),$")
_NET_RULE = re.compile(r"^(?:audit\s+)?(?:allow\s+)?network\s*([a-z0-9_\s]*),$")


@dataclass(frozen=True)
class FileAllow:
    """One allow file rule of an abstraction, variables expanded."""

    patterns: tuple[str, ...]
    """AAREs, one per combination of variable values."""
    perms: frozenset[str]
    """Permission letters (exec modes reduced to ``x``)."""
    owner: bool
    """Only for the owner of the file."""
    text: str = ""
    """The rule as written (comment removed)."""


@dataclass
class Abstraction:
    """The rules of one abstraction file (with its includes) we can check coverage for."""

    name: str
    """Relative name, e.g. ``nameservice`` or ``ubuntu-browsers.d/user-files``."""
    files: list[FileAllow] = field(default_factory=list)
    """File rules."""
    caps: set[str] = field(default_factory=set)
    """Capability names."""
    networks: set[tuple[str, str]] = field(default_factory=set)
    """(family, type) pairs; '' is a wildcard."""

    @property
    def include(self) -> str:
        """The rule line that pulls it in."""
        return f"include <abstractions/{self.name}>"

    def size(self) -> int:
        """How much it allows, roughly (for preferring the smaller of two)."""
        return len(self.files) + len(self.caps) + len(self.networks)

    def covers_file(self, paths: Iterable[str], perms: frozenset[str], owner: bool) -> bool:
        """Whether every path gets every permission from this abstraction."""
        for path in paths:
            got: set[str] = set()
            for rule in self.files:
                if rule.owner and not owner:
                    continue
                if perms <= got:
                    break
                if not (perms - got) & rule.perms:
                    continue
                if any(path_matches(pat, path) for pat in rule.patterns):
                    got |= rule.perms
            if not perms <= got:
                return False
        return True

    def file_rules(self, path: str, perms: frozenset[str], owner: bool) -> list[str]:
        """The rules (as written) that give ``path`` one of ``perms``."""
        return [
            r.text for r in self.files
            if (owner or not r.owner) and r.perms & perms
            and any(path_matches(p, path) for p in r.patterns)
        ]

    def touches_file(self, paths: Iterable[str], perms: frozenset[str], owner: bool) -> bool:
        """Whether some rule applies to one of the paths with one of the permissions."""
        for path in paths:
            for rule in self.files:
                if rule.owner and not owner:
                    continue
                if rule.perms & perms and any(path_matches(p, path) for p in rule.patterns):
                    return True
        return False

    def covers_network(self, family: str, sock_type: str) -> bool:
        """Whether ``network family type`` is allowed."""
        return any(
            (f in ("", family)) and (t in ("", sock_type)) for f, t in self.networks
        )


def _perm_letters(text: str) -> frozenset[str] | None:
    out = set()
    for ch in text:
        if ch in "mrwalk":
            out.add(ch)
        elif ch in "xiupcPUCIN":
            out.add("x")
        else:
            return None
    return frozenset(out)


class Policy:
    """Variables and abstractions read from an AppArmor policy directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.variables: dict[str, list[str]] = {}
        self.booleans: dict[str, bool] = {}
        """``$name = true|false`` of the tunables, for deciding ``if`` blocks."""
        self.abstractions: dict[str, Abstraction] = {}
        # every file pattern as (regex, perms, owner-only, abstraction), and a trie of
        # their leading path components pointing into it; built on first use
        self._patterns: list[tuple[re.Pattern[str], frozenset[str], bool, str]] = []
        self._trie: _Node | None = None
        self._grants: dict[tuple[str, bool], dict[str, frozenset[str]]] = {}

    @staticmethod
    @cache
    def load(root: Path = DEFAULT_ROOT) -> Policy:
        """Read tunables and abstractions under ``root`` (cached per root)."""
        pol = Policy(root)
        global_ = root / "tunables" / "global"
        if global_.is_file():
            pol._read_vars(global_, set())
        abs_dir = root / "abstractions"
        if abs_dir.is_dir():
            for f in sorted(abs_dir.rglob("*")):
                if f.is_file() and not f.name.startswith(".") and not f.name.endswith("~"):
                    name = str(f.relative_to(abs_dir))
                    ab = Abstraction(name)
                    pol._read_rules(f, ab, set())
                    pol.abstractions[name] = ab
        return pol

    def _resolve(self, ref: str, base: Path) -> list[Path]:
        p = Path(ref) if ref.startswith("/") else self.root / ref
        if not p.exists():
            p = base.parent / ref
        if p.is_dir():
            return sorted(x for x in p.iterdir() if x.is_file() and not x.name.startswith("."))
        return [p] if p.is_file() else []

    def _read_vars(self, path: Path, seen: set[Path]) -> None:
        if path in seen:
            return
        seen.add(path)
        for line in path.read_text("utf-8", "replace").splitlines():
            m = _INCLUDE.match(line)
            if m:
                for sub in self._resolve(m.group(1), path):
                    self._read_vars(sub, seen)
                continue
            line = _strip_comment(line)
            if mb := BOOL_DEF.match(line):
                self.booleans[mb.group(1)] = mb.group(2) == "true"
                continue
            m = _VAR_DEF.match(line)
            if m:
                values = [v.strip('"') for v in m.group(3).split()]
                if m.group(2) == "+=":
                    self.variables.setdefault(m.group(1), []).extend(values)
                else:
                    self.variables[m.group(1)] = values

    def expand(self, pattern: str, _depth: int = 0) -> tuple[str, ...]:
        """``pattern`` once per combination of its variables' values (unknown ones kept).

        Substituting text (rather than building ``{a,b}``) lets AppArmor's slash
        collapsing apply to each result: ``@{HOME}/x`` → ``/home/*//x``, ``/root//x``.
        """
        m = _VAR_USE.search(pattern)
        if _depth > 12 or m is None:
            return (pattern,)
        values = self.variables.get(m.group(1))
        if not values:
            head, tail = pattern[: m.end()], pattern[m.end() :]
            return tuple(head + t for t in self.expand(tail, _depth + 1))
        out: list[str] = []
        for v in values:
            out.extend(self.expand(pattern[: m.start()] + v + pattern[m.end() :], _depth + 1))
        return tuple(dict.fromkeys(out))

    def matches(self, pattern: str, path: str) -> bool:
        """Whether an AARE that may use variables matches a literal path."""
        return any(path_matches(p, path) for p in self.expand(pattern))

    def _read_rules(
        self,
        path: Path,
        ab: Abstraction,
        seen: set[Path],
        deny: Abstraction | None = None,
        top: int = 0,
        bools: dict[str, bool] | None = None,
    ) -> None:
        """Collect the rules at block depth ``top`` of ``path`` (and of its includes).

        Abstractions have their rules at depth 0; a profile file at depth 1 (inside its
        ``profile … {``). Rules of nested blocks (child profiles, hats) are not collected.
        A conditional block (``if $b { … } else { … }``, one-line or not) is no level of
        its own: the rules of a taken branch count, those of a branch not taken or that
        cannot be decided (a boolean defined nowhere this reader sees) do not. ``bools``
        are the ``$b = true|false`` definitions seen so far (an include sees its
        includer's; by default the tunables'). ``deny`` rules go to ``deny`` when given
        and are dropped otherwise.
        """
        if path in seen:
            return
        seen.add(path)
        bools = dict(self.booleans) if bools is None else bools
        defined = set(self.variables)
        # per open block: None for a profile or another block; for a branch whether it
        # is taken (outer branches included) and its chain's condition values so far
        stack: list[tuple[bool | None, list[bool | None]] | None] = []
        after_if: list[bool | None] | None = None  # the chain an ``else`` continues
        for kind, stmt in statements(path.read_text("utf-8", "replace")):
            chain, after_if = after_if, None
            if kind == "}":
                if stack and (closed := stack.pop()) is not None:
                    after_if = closed[1]
                continue
            if kind == "{":
                words = stmt.split()
                if words[:1] == ["if"] or (words[:1] == ["else"] and chain is not None):
                    cond = branch_condition(words)
                    before = [] if words[0] == "if" else chain or []
                    own = evaluate(cond, bools, defined) if cond else True
                    now = taken(own, before)
                    outer = [f[0] for f in stack if f is not None]
                    if False in outer:
                        now = False
                    elif None in outer and now is not False:
                        now = None
                    stack.append((now, [*before, own]))
                else:
                    stack.append(None)
                continue
            if sum(f is None for f in stack) != top or any(
                    f is not None and f[0] is not True for f in stack):
                continue  # another block's rule, or a branch not (known to be) taken
            if m := BOOL_DEF.match(stmt):
                bools[m.group(1)] = m.group(2) == "true"
                continue
            if m := VAR_DEF.match(stmt):
                defined.add(m.group(1))
                continue
            if m := _INCLUDE.match(stmt):
                for sub in self._resolve(m.group(1), path):
                    self._read_rules(sub, ab, seen, deny, bools=bools)
                continue
            if kind != ",":
                continue
            line, target_ab = stmt, ab
            for prefix in ("audit deny ", "deny "):
                if line.startswith(prefix):
                    if deny is None:
                        line = ""
                    else:
                        line, target_ab = line[len(prefix):], deny
            if line:
                self._rule(line, target_ab)

    def _rule(self, line: str, ab: Abstraction) -> None:
        if mc := _CAP_RULE.match(line):
            ab.caps.update(mc.group(1).split())
            return
        if mn := _NET_RULE.match(line):
            words = mn.group(1).split()
            ab.networks.add((words[0] if words else "", words[1] if len(words) > 1 else ""))
            return
        mf = _FILE_RULE.match(line)
        if mf:
            owner, target, mode = mf.group(1), mf.group(2), mf.group(3)
        else:
            mf = _FILE_RULE_PERMS_FIRST.match(line)
            if not mf:
                return
            owner, mode, target = mf.group(1), mf.group(2), mf.group(3)
        perms = _perm_letters(mode)
        if perms is not None:
            ab.files.append(
                FileAllow(self.expand(target.strip('"')), perms, bool(owner), line)
            )

    def rules_of_text(self, text: str, name: str = "text") -> Abstraction:
        """The allow rules (file, capability, network) of a policy text such as a
        ``local/`` file, every rule whatever its block (one-line ``if`` blocks too);
        ``deny`` rules are left out."""
        ab = Abstraction(name)
        for kind, stmt in statements(text):
            if kind == "," and not stmt.startswith(("deny ", "audit deny ")):
                self._rule(stmt, ab)
        return ab

    def covering(
        self,
        kind: str,
        *,
        paths: Iterable[str] = (),
        perms: frozenset[str] = frozenset(),
        owner: bool = False,
        cap: str | None = None,
        network: tuple[str, str] | None = None,
    ) -> list[str]:
        """Names of the abstractions that allow this access, sorted."""
        paths = list(paths)
        if kind == FILE:
            if not paths:
                return []
            names: set[str] | None = None
            for path in paths:
                g = self.grants(path, owner)
                ok = {n for n, got in g.items() if perms <= got}
                names = ok if names is None else names & ok
                if not names:
                    return []
            return sorted(names or ())
        out = []
        for name, ab in self.abstractions.items():
            if (
                (kind == CAPABILITY and cap and cap in ab.caps)
                or (kind == NETWORK and network and ab.covers_network(*network))
            ):
                out.append(name)
        return sorted(out)

    def grants(self, path: str, owner: bool) -> dict[str, frozenset[str]]:
        """Abstraction name → the file permissions it grants on ``path`` (cached).

        Patterns are indexed by their leading path components (a trie whose ``*``
        components match any component; alternations expanded first, so
        ``/{,usr/}lib/**`` is found under ``lib`` and ``usr/lib``): a path is matched
        only against the patterns its own components lead to, some 15–200 of the
        ~7,000 of Debian's abstractions instead of ~400–1,400 sharing a literal prefix.
        """
        key = (path, owner)
        hit = self._grants.get(key)
        if hit is not None:
            return hit
        if self._trie is None:
            self._trie = self._build_trie()
        norm = re.sub(r"/+", "/", path) if "//" in path else path
        got: dict[str, set[str]] = {}
        for i in _candidates(self._trie, norm):
            rx, perms, owner_only, name = self._patterns[i]
            if owner_only and not owner:
                continue
            have = got.get(name)
            if have is not None and perms <= have:
                continue
            if rx.fullmatch(norm):
                got.setdefault(name, set()).update(perms)
        out = {n: frozenset(p) for n, p in got.items() if p}
        if len(self._grants) < 200_000:
            self._grants[key] = out
        return out

    def _build_trie(self) -> _Node:
        root = _Node()
        for name, ab in self.abstractions.items():
            for rule in ab.files:
                for pat in rule.patterns:
                    i = len(self._patterns)
                    self._patterns.append((aare_regex(pat), rule.perms, rule.owner, name))
                    variants = _brace_variants(pat)
                    for k in {_component_key(v) for v in variants or (pat,)}:
                        node = root
                        for comp in k:
                            if comp is None:
                                node.any = node.any or _Node()
                                node = node.any
                            else:
                                node = node.kids.setdefault(comp, _Node())
                        node.entries.append(i)
        return root


class _Node:
    """A trie node: the patterns whose leading components end here, and the next ones."""

    __slots__ = ("any", "entries", "kids")

    def __init__(self) -> None:
        self.entries: list[int] = []
        self.kids: dict[str, _Node] = {}
        self.any: _Node | None = None  # a ``*`` component: any one component


# Characters that make a path component more than a literal (``*`` alone is a wildcard).
_COMPONENT_META: Final = re.compile(r"[*?\[\]{}\\]")
_MAX_VARIANTS: Final = 64


def _brace_variants(pattern: str) -> list[str] | None:
    """``pattern`` once per choice of its ``{a,b}`` alternations (nested ones too), as
    ``aare_regex`` reads them; None when that is not simple (escapes or classes that
    may hold braces, unbalanced braces, more than 64 variants)."""
    if "{" not in pattern:
        return [pattern]
    if "\\" in pattern or "[" in pattern:
        return None
    i = pattern.find("{")
    depth, start, alts, j = 0, i + 1, [], i
    for j in range(i, len(pattern)):
        ch = pattern[j]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                alts.append(pattern[start:j])
                break
        elif ch == "," and depth == 1:
            alts.append(pattern[start:j])
            start = j + 1
    else:
        return None
    out: list[str] = []
    for alt in alts:
        sub = _brace_variants(pattern[:i] + alt + pattern[j + 1:])
        if sub is None or len(out) + len(sub) > _MAX_VARIANTS:
            return None
        out.extend(sub)
    return out


def _component_key(pattern: str) -> tuple[str | None, ...]:
    """The leading components every match of ``pattern`` has: literal ones, None for a
    ``*`` component; it stops at the first other component (``lib*.so``, ``**``, a
    brace or class that may hold a ``/``). () for a pattern not starting with ``/``."""
    norm = re.sub(r"/+", "/", pattern)
    if not norm.startswith("/"):
        return ()
    key: list[str | None] = []
    for part in norm[1:].split("/"):
        if part == "*":
            key.append(None)
        elif _COMPONENT_META.search(part):
            break
        else:
            key.append(part)
    return tuple(key)


def _candidates(root: _Node, path: str) -> list[int]:
    """The patterns (indexes, ascending) the components of a normalised path lead to."""
    out = list(root.entries)
    if path.startswith("/"):
        nodes = [root]
        for comp in path[1:].split("/"):
            nxt: list[_Node] = []
            for n in nodes:
                if (k := n.kids.get(comp)) is not None:
                    nxt.append(k)
                if n.any is not None:
                    nxt.append(n.any)
            if not nxt:
                break
            for n in nxt:
                out.extend(n.entries)
            nodes = nxt
    return sorted(set(out))
