"""Generalise literal paths into AARE patterns a careful human would accept.

Two tiers, both returned as escaped AARE text:

- ``narrow(path, owner)``: only rewrites of components that are *known* to vary
  between runs, never widening past what such a component can be:
  ``/proc/<pid>/`` → ``@{PROC}/@{pid}/`` (and ``task/<tid>/``), ``/home/<user>/`` →
  ``@{HOME}/`` for owner rules, ``/run/user/<uid>/`` → ``/run/user/@{uid}/``, UUID,
  long hex and purely numeric components, versioned ``.so`` names (aa-logprof's
  ``glob_common``: ``libx.so.1.2`` → ``libx.so.*``, ``libx-1.2.so`` → ``libx-*.so``) and
  mkstemp-style random names under tmp directories (``/tmp/tmpa1B2c3`` → ``/tmp/tmp*``).
- ``broader(paths)``: a directory glob, offered only with evidence — at least
  ``MIN_DISTINCT`` distinct paths in one directory give ``dir/*`` (``dir/*.ext`` when
  they share an extension); as many distinct sub-directories give ``dir/**``.
  Nothing is ever widened past a directory boundary from a single path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from armorwatch.jobs.apparmor_rules import aare

MIN_DISTINCT: Final = 3
"""Distinct paths needed before a directory-level glob is offered."""

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HEX = re.compile(r"^[0-9a-f]{12,}$")
_NUM = re.compile(r"^[0-9]+$")
_SO_SUFFIX = re.compile(r"\.so\.[0-9.]+$")
_SO_INFIX = re.compile(r"[0-9][0-9.]*\.so$")
_VERSION_CHARS: Final = "0123456789."
# mkstemp/mktemp names: a prefix and a random run of 6+ alphanumerics mixing cases/digits.
_TMPNAME = re.compile(r"^(.*[._-]|tmp)([A-Za-z0-9_]{6,})$")
_TMP_DIRS: Final = ("/tmp/", "/var/tmp/", "/dev/shm/")

UUID_AARE: Final = (
    "[0-9a-fA-F]*-[0-9a-fA-F]*-[0-9a-fA-F]*-[0-9a-fA-F]*-[0-9a-fA-F]*"
)


def _looks_random(s: str) -> bool:
    kinds = sum(
        (any(c.islower() for c in s), any(c.isupper() for c in s), any(c.isdigit() for c in s))
    )
    return kinds >= 2 and any(c.isdigit() or c.isupper() for c in s)


@dataclass(frozen=True)
class Narrow:
    """A path after the safe generalisations, with what was done."""

    pattern: str
    """Escaped AARE (may use @{PROC}, @{pid}, @{HOME}, @{uid})."""
    changes: tuple[str, ...]
    """Human-readable list of the rewrites applied (empty: the literal path)."""


def narrow(path: str, owner: bool) -> Narrow:
    """The safe generalisation of one literal path (see the module docstring)."""
    comps = path.split("/")
    out: list[str] = []
    changes: list[str] = []
    is_dir = path.endswith("/")
    in_tmp = any(path.startswith(d) for d in _TMP_DIRS) or path.startswith("/run/user/")
    i = 0
    n = len(comps)
    while i < n:
        c = comps[i]
        prev = comps[i - 1] if i > 0 else None
        last = i == n - 1 or (i == n - 2 and is_dir)
        if i == 1 and c == "proc" and n > 2:
            out.append("@{PROC}")
            if _NUM.match(comps[2]) and comps[2] != "0":
                out.append("@{pid}")
                changes.append("/proc/<pid> → @{PROC}/@{pid}")
                i += 2
                if i + 1 < n and comps[i] == "task" and _NUM.match(comps[i + 1]):
                    out.extend(["task", "@{tid}"])
                    changes.append("task/<tid> → task/@{tid}")
                    i += 2
                continue
            changes.append("/proc → @{PROC}")
            i += 1
            continue
        if i == 1 and c == "home" and n > 3 and comps[2] and owner:
            # @{HOME} already ends in '/', and AppArmor collapses the doubled slash.
            out.append("@{HOME}")
            changes.append(f"/home/{aare(comps[2])} → @{{HOME}} (owner)")
            i += 2
            continue
        if prev == "user" and i == 3 and comps[1] == "run" and _NUM.match(c):
            out.append("@{uid}")
            changes.append(f"/run/user/{aare(c)} → /run/user/@{{uid}}")
            i += 1
            continue
        if c and i > 1:
            rep = _component(c, last and not is_dir, in_tmp and prev is not None and i >= 2)
            if rep is not None:
                out.append(rep[0])
                changes.append(rep[1])
                i += 1
                continue
        out.append(aare(c))
        i += 1
    if len(out) > 1 and out[0] == "" and out[1].startswith("@{"):
        out = out[1:]  # the variable carries the leading '/'
    return Narrow("/".join(out), tuple(changes))


def _so_infix_start(c: str) -> int | None:
    """Where ``_SO_INFIX`` matches in ``c`` (``libx-1.2.so`` → 5), or None.

    The match can only lie in the run of digits and dots before the final ``.so``, so
    the regex runs on that tail alone: searching the whole name tries every digit as a
    start and is quadratic on a long run like ``1.1.1…x.so``.
    """
    if not c.endswith(".so"):
        return None
    stem = c[:-3]
    tail = len(stem.rstrip(_VERSION_CHARS))
    m = _SO_INFIX.search(c, tail)
    return m.start() if m else None


def _component(c: str, is_file: bool, in_tmp: bool) -> tuple[str, str] | None:
    # Rewrites show the literal the way the rule writes it (aare), never raw bytes.
    if _UUID.match(c):
        return UUID_AARE, f"uuid component → {UUID_AARE}"
    if _HEX.match(c) and any(ch.isdigit() for ch in c) and any(ch.isalpha() for ch in c):
        return "[0-9a-f]*", "hex component → [0-9a-f]*"
    if _NUM.match(c) and len(c) >= 2:
        return "[0-9]*", "numeric component → [0-9]*"
    if is_file and _SO_SUFFIX.search(c):
        new = aare(_SO_SUFFIX.sub("", c)) + ".so.*"
        return new, f"versioned library {aare(c)} → {new}"
    start = _so_infix_start(c) if is_file else None
    if start is not None and not c[0].isdigit():
        new = aare(c[:start]) + "*.so"
        return new, f"versioned library {aare(c)} → {new}"
    if in_tmp and is_file:
        m = _TMPNAME.match(c)
        if m and m.group(1) and _looks_random(m.group(2)):
            new = aare(m.group(1)) + "*"
            return new, f"temporary name {aare(c)} → {new}"
    return None


def _ext(name: str) -> str | None:
    # Extension = the last dot suffix (not aa-logprof's "from the first dot").
    stem, dot, ext = name.rpartition(".")
    return ext if dot and stem and ext and "/" not in ext else None


def broader(paths: Iterable[str], min_distinct: int = MIN_DISTINCT) -> tuple[str, str] | None:
    """(pattern, why) for a directory glob over ``paths`` when evidence allows, else None."""
    uniq = sorted(set(paths))
    if len(uniq) < min_distinct:
        return None
    parents = {p.rstrip("/").rpartition("/")[0] for p in uniq}
    if len(parents) == 1:
        parent = parents.pop()
        if not parent:
            return None  # never '/*'
        names = [p.rstrip("/").rpartition("/")[2] for p in uniq]
        dirs = all(p.endswith("/") for p in uniq)
        exts = {_ext(n) for n in names}
        if not dirs and len(exts) == 1 and None not in exts:
            ext = exts.pop()
            assert ext is not None
            pat = f"{aare(parent)}/*.{aare(ext)}"
        else:
            pat = f"{aare(parent)}/*{'/' if dirs else ''}"
        return pat, f"{len(uniq)} distinct paths in {aare(parent)}/"
    # Several directories: '**' under their deepest common ancestor, if it has depth ≥ 2
    # and holds at least min_distinct distinct immediate sub-directories or files.
    split = [p.split("/") for p in uniq]
    common: list[str] = []
    for parts in zip(*split, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    base = "/".join(common)
    if base.count("/") < 2:
        return None
    children = {p[len(common)] for p in split if len(p) > len(common)}
    if len(children) < min_distinct:
        return None
    why = f"{len(uniq)} distinct paths under {len(children)} entries of {aare(base)}/"
    return f"{aare(base)}/**", why
