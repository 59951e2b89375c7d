"""The installed AppArmor profiles of a policy directory, block by block.

``Installed.load(policy)`` reads every profile file directly under ``policy.root`` (not
``abstractions/``, ``tunables/``, ``local/``, …) and keeps each profile block: its name,
attachment, flags, the ``local/`` file its body includes, its allow and ``deny`` rules
(with includes, through ``jobs.abstractions``) and its hats/child profiles, so a rule is
compared with the block it would go into, not only with a file's top-level body.

Conditional blocks (``if $bool { … } else if defined @{VAR} { … } else { … }``, AppArmor
3) are read too: each branch's rules are kept apart (``Block.branches``, with the
condition as written and whether it holds) and, when the condition can be decided from
the file's ``$bool = true|false`` and variable definitions (its own and those of the files
it includes at top level, tunables too), the taken branch's rules count as the block's.
Statements are split on ``{``, ``}`` and ``,``, not on lines (``jobs.policy_text``, the
reader ``jobs.abstractions`` uses for the included files too), so ``if $x { /a r, }`` on
one line and a header whose ``{`` is on the next line read the same.

``find(path)`` looks a label's profile up by name (``profile nginx /usr/sbin/nginx``
is found as ``nginx``) and, for a top-level profile, by attachment (a label
``/usr/sbin/nginx`` finds it too), whatever the file is called.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Final

from armorwatch.jobs.abstractions import Abstraction, Policy
from armorwatch.jobs.policy_text import BOOL_DEF as _BOOL_DEF
from armorwatch.jobs.policy_text import INCLUDE as _INCLUDE
from armorwatch.jobs.policy_text import VAR_DEF as _VAR_DEF
from armorwatch.jobs.policy_text import branch_condition, evaluate, statements, taken

# Directories of a policy tree that hold no top-level profiles.
_NOT_PROFILES: Final = frozenset({
    "abi", "abstractions", "apache2.d", "cache", "disable", "force-complain", "local",
    "tunables",
})
_LOCAL: Final = re.compile(r"^local/(.+)$")


@dataclass
class Block:
    """One profile, hat or child profile of the installed policy."""

    name: str
    """Its own name (``nginx``, ``/usr/sbin/nginx``, a hat's ``phpsysinfo``)."""
    attachment: str | None
    """The executable AARE it attaches to (a name starting with ``/`` is both)."""
    file: Path
    """The policy file it is in."""
    hat: bool = False
    """Declared as ``^name`` or ``hat name``."""
    flags: str | None = None
    """``flags=(…)`` as written."""
    local: str | None = None
    """The ``local/`` file its body includes (relative to ``local/``)."""
    allow: Abstraction = field(default_factory=lambda: Abstraction("allow"))
    """Allow rules, includes read."""
    deny: Abstraction = field(default_factory=lambda: Abstraction("deny"))
    """``deny`` rules, includes read."""
    children: dict[str, Block] = field(default_factory=dict)
    """Hats and child profiles by name."""
    branches: list[Branch] = field(default_factory=list)
    """Its conditional blocks' branches, in file order (nested ones flattened)."""


@dataclass
class Branch:
    """The rules of one branch of a conditional block inside a profile."""

    condition: str
    """The branch as written, outer conditions first: ``if $x``, ``else (after if $x)``,
    ``else if $y (after if $x)``, ``if defined @{X} → if not $y``."""
    taken: bool | None
    """Whether the policy takes it (None: a condition this reader cannot decide)."""
    allow: Abstraction = field(default_factory=lambda: Abstraction("allow"))
    """Its allow rules, includes read."""
    deny: Abstraction = field(default_factory=lambda: Abstraction("deny"))
    """Its ``deny`` rules, includes read."""

    @property
    def state(self) -> str:
        """``taken``, ``not taken`` or ``undecided``, for a reader."""
        return {True: "taken", False: "not taken", None: "undecided"}[self.taken]


@dataclass
class _Frame:
    """An open conditional branch while a file is read."""

    owner: Block | None
    """The profile block its rules belong to (None: outside any profile)."""
    branch: Branch
    """Where its rules go."""
    chain: list[tuple[str, bool | None]]
    """The if/else-if conditions of its chain so far (for a following ``else``)."""


def _header(line: str) -> tuple[str, str | None, bool, str | None] | None:
    """(name, attachment, hat, flags) of a profile/hat block header, None for another block."""
    head = line[:-1].strip()
    flags = None
    m = re.search(r"\s(?:flags\s*=\s*)?\(([^)]*)\)\s*$", head)
    if m:
        flags, head = m.group(1), head[: m.start()].strip()
    try:
        words = shlex.split(head)
    except ValueError:
        return None
    if not words:
        return None
    if words[0] == "profile" and len(words) >= 2:
        attach = words[2] if len(words) > 2 and words[2][:1] in "/@" else None
        return words[1], attach or (words[1] if words[1][:1] in "/@" else None), False, flags
    if words[0] == "hat" and len(words) == 2:
        return words[1], None, True, flags
    if words[0].startswith("^") and len(words) == 1:
        return words[0][1:], None, True, flags
    if words[0][:1] in "/@" and len(words) == 1:
        return words[0], words[0], False, flags
    return None


class Installed:
    """The profile blocks of a policy directory (see the module docstring)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.profiles: dict[str, Block] = {}
        """Top-level profiles by name."""

    @staticmethod
    @cache
    def load(policy: Policy) -> Installed:
        """Read the profile files under ``policy.root`` (cached per policy)."""
        inst = Installed(policy)
        root = policy.root
        if root.is_dir():
            for f in sorted(root.iterdir()):
                if (f.is_file() and not f.name.startswith(".") and f.name not in _NOT_PROFILES
                        and not f.name.endswith(("~", ".dpkg-dist", ".dpkg-old", ".bak"))):
                    inst._read_file(f)
        return inst

    def _read_file(self, path: Path) -> None:
        try:
            text = path.read_text("utf-8", "replace")
        except OSError:
            return  # an unreadable file is not a profile we can compare with
        bools: dict[str, bool] = {}
        defined: set[str] = set(self.policy.variables)
        stack: list[Block | _Frame | None] = []  # None: another block (not a profile, not if)
        after_if: list[tuple[str, bool | None]] | None = None  # the chain an else continues
        for kind, stmt in statements(text):
            chain, after_if = after_if, None
            frame = stack[-1] if stack else None
            cur = frame.owner if isinstance(frame, _Frame) else frame
            if kind == "}":
                if stack:
                    top = stack.pop()
                    if isinstance(top, _Frame):
                        after_if = top.chain
                continue
            if kind == "{":
                words = stmt.split()
                if words[:1] == ["if"] or (words[:1] == ["else"] and chain is not None):
                    stack.append(self._branch(words, chain or [], frame, cur, bools, defined))
                    continue
                got = _header(stmt + " {")
                if got is None:
                    stack.append(None)
                    continue
                name, attach, hat, flags = got
                blk = Block(name, attach, path, hat=hat, flags=flags)
                if not stack:
                    self.profiles.setdefault(name, blk)
                elif cur is not None:
                    cur.children.setdefault(name, blk)
                stack.append(blk)
                continue
            if not stack:
                self._top_level(stmt, path, bools, defined)
                continue
            if cur is None:
                continue
            targets = [(cur.allow, cur.deny)]
            if isinstance(frame, _Frame):
                # a branch's rules are its own, and the block's when the branch is taken
                targets = [(frame.branch.allow, frame.branch.deny)] + (
                    targets if frame.branch.taken else [])
            m = _INCLUDE.match(stmt)
            if m:
                lm = _LOCAL.match(m.group(1))
                if lm and cur.local is None:
                    cur.local = lm.group(1)
                for sub in self.policy._resolve(m.group(1), path):
                    for allow, deny in targets:
                        self.policy._read_rules(
                            sub, allow, set(), deny, bools={**self.policy.booleans, **bools})
                continue
            line, deny_rule = stmt, False
            for prefix in ("audit deny ", "deny "):
                if line.startswith(prefix):
                    line, deny_rule = line[len(prefix):], True
            if line:
                for allow, deny in targets:
                    self.policy._rule(line, deny if deny_rule else allow)

    def _branch(self, words: list[str], chain: list[tuple[str, bool | None]],
                frame: Block | _Frame | None, owner: Block | None,
                bools: dict[str, bool], defined: set[str]) -> _Frame:
        """The frame of ``if C {``, ``else if C {`` or ``else {`` (``chain``: the
        conditions before it in its if/else chain)."""
        cond = branch_condition(words)
        if words[0] == "if":
            chain = []
        own = evaluate(cond, bools, defined) if cond else True
        now = taken(own, [v for _, v in chain])
        label = ("else if " if words[0] == "else" else "if ") + " ".join(cond) if cond \
            else "else"
        if chain:
            label += " (after " + ", ".join(c for c, _ in chain) + ")"
        if isinstance(frame, _Frame):
            label = f"{frame.branch.condition} → {label}"
            outer = frame.branch.taken
            now = False if False in (outer, now) else None if None in (outer, now) else True
        branch = Branch(label, now)
        if owner is not None:
            owner.branches.append(branch)
        name = "if " + " ".join(cond) if cond else "else"
        return _Frame(owner, branch, [*chain, (name, own)])

    def _top_level(self, stmt: str, path: Path, bools: dict[str, bool],
                   defined: set[str], seen: set[Path] | None = None) -> None:
        """Boolean and variable definitions outside any profile, and those of the files
        included there (``include <tunables/global>``), for deciding conditions."""
        if m := _BOOL_DEF.match(stmt):
            bools[m.group(1)] = m.group(2) == "true"
            return
        if m := _VAR_DEF.match(stmt):
            defined.add(m.group(1))
            return
        m = _INCLUDE.match(stmt)
        if not m:
            return
        seen = seen if seen is not None else set()
        for sub in self.policy._resolve(m.group(1), path):
            if sub in seen:
                continue
            seen.add(sub)
            try:
                text = sub.read_text("utf-8", "replace")
            except OSError:
                continue  # an unreadable include defines nothing we can use
            for kind, inner in statements(text):
                if kind in ("", ","):
                    self._top_level(inner, sub, bools, defined, seen)

    def find(self, path: tuple[str, ...] | list[str]) -> Block | None:
        """The block of a label's profile path (``('a', 'hat')``), or None."""
        top = self.top(path[0])
        for name in path[1:]:
            if top is None:
                return None
            top = top.children.get(name)
        return top

    def top(self, name: str) -> Block | None:
        """A top-level profile by name, else by an attachment matching ``name``."""
        blk = self.profiles.get(name)
        if blk is not None or not name.startswith("/"):
            return blk
        for b in self.profiles.values():
            if b.attachment and b.attachment != b.name and self.policy.matches(b.attachment, name):
                return b
        return None
