"""The installed AppArmor profiles of a policy directory, block by block.

``Installed.load(policy)`` reads every profile file directly under ``policy.root`` (not
``abstractions/``, ``tunables/``, ``local/``, …) and keeps each profile block: its name,
attachment, flags, the ``local/`` file its body includes, its allow and ``deny`` rules
(with includes, through ``jobs.abstractions``) and its hats/child profiles, so a rule is
compared with the block it would go into, not only with a file's top-level body.

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

from jobs.abstractions import _INCLUDE, Abstraction, Policy, _strip_comment

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
        stack: list[Block | None] = []  # None: a block that is not a profile (if, …)
        for raw in text.splitlines():
            line = _strip_comment(raw)
            if line.endswith("{"):
                got = _header(line)
                if got is None:
                    stack.append(None)
                    continue
                name, attach, hat, flags = got
                blk = Block(name, attach, path, hat=hat, flags=flags)
                parent = stack[-1] if stack else None
                if not stack:
                    self.profiles.setdefault(name, blk)
                elif parent is not None:
                    parent.children.setdefault(name, blk)
                stack.append(blk)
                continue
            if line.startswith("}"):
                if stack:
                    stack.pop()
                continue
            cur = stack[-1] if stack else None
            if cur is None:
                continue
            m = _INCLUDE.match(raw)
            if m:
                lm = _LOCAL.match(m.group(1))
                if lm and cur.local is None:
                    cur.local = lm.group(1)
                for sub in self.policy._resolve(m.group(1), path):
                    self.policy._read_rules(sub, cur.allow, set(), cur.deny)
                continue
            target = cur.allow
            for prefix in ("audit deny ", "deny "):
                if line.startswith(prefix):
                    line, target = line[len(prefix):], cur.deny
            if line:
                self.policy._rule(line, target)

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
