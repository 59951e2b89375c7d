"""The AppArmor profiles loaded on this host and their modes, read from securityfs.

Two views of the same kernel state, merged:

- ``<root>/profiles``: one line per loaded profile, ``NAME (MODE)``. Profiles of child
  policy namespaces appear as ``:NS:NAME (MODE)`` (older kernels print ``:NS://NAME``);
  hats and children as ``PARENT//CHILD``.
- ``<root>/policy/namespaces/<ns>/profiles/<dir>/{name,mode}``: the same per namespace
  (nested namespaces under ``.../namespaces/<ns>/namespaces/``, children under
  ``.../profiles/<dir>/profiles/``); also ``<root>/policy/profiles/`` for the root one.

The kernel lets only euid 0 or egid 0 (in the init user namespace) or CAP_MAC_ADMIN open
these files; anyone else gets EACCES, which ``read_profiles`` raises as
``SecurityfsError`` (the caller decides whether that is fatal). Pure file reads, no
parsing of policy: the mode is the kernel's word, whatever it is (enforce, complain,
kill, unconfined, prompt/user on newer kernels).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Final

DEFAULT_ROOT: Final = Path("/sys/kernel/security/apparmor")
ROOT_NAMESPACE: Final = "root"
"""The namespace label of profiles in the reader's own (root) namespace: the kernel's name."""

# Bounds against a hostile or runaway tree (thousands of LXD namespaces, deep nesting).
MAX_PROFILES: Final = 100_000
MAX_DEPTH: Final = 8

_LINE = re.compile(r"^(?P<label>.+?) \((?P<mode>[^()\s]+)\)$")
_NS_LABEL = re.compile(r"^:(?P<ns>[^:]+):(?://)?(?P<name>.+)$")


class SecurityfsError(OSError):
    """securityfs is not mounted, AppArmor is off, or the files cannot be read."""


@dataclasses.dataclass(frozen=True, order=True)
class LoadedProfile:
    """One loaded profile: its policy namespace, full name (``a//b`` for a hat) and mode."""

    namespace: str
    name: str
    mode: str


def parse_profiles(text: str) -> tuple[list[LoadedProfile], int]:
    """The profiles of a ``profiles`` file's text and the number of lines not understood."""
    out: list[LoadedProfile] = []
    bad = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        m = _LINE.match(line)
        if m is None:
            bad += 1
            continue
        label, mode = m.group("label"), m.group("mode").lower()
        ns = ROOT_NAMESPACE
        nsm = _NS_LABEL.match(label)
        if nsm is not None:
            ns, label = nsm.group("ns"), nsm.group("name")
        out.append(LoadedProfile(ns, label, mode))
    return out, bad


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None


def _profile_dirs(profiles: Path, ns: str, depth: int, out: list[LoadedProfile]) -> None:
    """``profiles/<dir>/{name,mode}`` and their children (``<dir>/profiles/``)."""
    if depth > MAX_DEPTH or not profiles.is_dir():
        return
    for d in sorted(profiles.iterdir()):
        if len(out) >= MAX_PROFILES:
            return
        name, mode = _read(d / "name"), _read(d / "mode")
        if name and mode:
            out.append(LoadedProfile(ns, name, mode.lower()))
        _profile_dirs(d / "profiles", ns, depth + 1, out)


def _namespaces(base: Path, prefix: str, depth: int, out: list[LoadedProfile]) -> None:
    """``namespaces/<ns>/profiles/...``, nested namespaces named ``parent//child``."""
    nsdir = base / "namespaces"
    if depth > MAX_DEPTH or not nsdir.is_dir():
        return
    for d in sorted(nsdir.iterdir()):
        name = f"{prefix}//{d.name}" if prefix else d.name
        _profile_dirs(d / "profiles", name, 0, out)
        _namespaces(d, name, depth + 1, out)


def read_profiles(root: Path = DEFAULT_ROOT) -> tuple[list[LoadedProfile], int]:
    """Every loaded profile under ``root`` (sorted, one per namespace and name) and the
    count of ``profiles`` lines not understood.

    Raises ``SecurityfsError`` when neither view exists or a file cannot be read.
    """
    found: list[LoadedProfile] = []
    bad = 0
    flat = root / "profiles"
    policy = root / "policy"
    try:
        text = _read(flat)
        if text is not None:
            found, bad = parse_profiles(text)
        tree: list[LoadedProfile] = []
        _profile_dirs(policy / "profiles", ROOT_NAMESPACE, 0, tree)
        _namespaces(policy, "", 0, tree)
    except OSError as e:
        raise SecurityfsError(f"cannot read AppArmor state under {root}: {e}") from e
    if text is None and not policy.is_dir():
        raise SecurityfsError(
            f"{flat}: not there (securityfs not mounted, or AppArmor not enabled)"
        )
    # Both views name the same profiles; the flat file wins a disagreement (a reload
    # between the two reads), being the kernel's one listing of everything.
    merged: dict[tuple[str, str], LoadedProfile] = {}
    for p in (*tree, *found):
        merged[(p.namespace, p.name)] = p
    # The host's own namespace first: any cut (here, or the exporter's series cap) drops
    # container namespaces' profiles, never the host's, whatever their names sort as.
    ordered = sorted(merged.values(), key=lambda p: (p.namespace != ROOT_NAMESPACE, p))
    return ordered[:MAX_PROFILES], bad
