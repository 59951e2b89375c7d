"""The one list of sensitive accesses, shared by alerting and rule suggestion.

A denial (or a complain-mode ALLOWED record) touching one of these is worth a human's
attention at once, and a rule that would *allow* it deserves a warning. Each entry has
a reason shown to people. Paths are shell-style globs over the decoded object name
(``*`` stays inside one path component, ``**`` crosses ``/``); capabilities and classes
are exact names.

Use ``match(class_, name, capname)`` → the first ``Risk`` that applies, or ``None``.
Optional keywords refine it when the caller has them: ``operation="exec"`` flags exec
from world-writable directories, ``sock_type``/``family`` flag raw and packet sockets.
``match_pattern(aare)`` asks whether a suggested *pattern* (e.g. ``/etc/*``) would allow
one of the sensitive paths.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Final


@dataclass(frozen=True)
class Risk:
    """Why an access is sensitive."""

    what: str
    """The pattern or name that matched (a glob, a capability or a class)."""
    reason: str
    """One line for humans."""
    severity: str = "critical"
    """critical | warning."""


RISKY_PATHS: Final[tuple[Risk, ...]] = (
    Risk("/etc/shadow", "password hashes"),
    Risk("/etc/shadow-", "password hashes (backup)"),
    Risk("/etc/gshadow", "group password hashes"),
    Risk("/etc/gshadow-", "group password hashes (backup)"),
    Risk("/etc/sudoers", "sudo policy"),
    Risk("/etc/sudoers.d/**", "sudo policy"),
    Risk("/etc/ld.so.preload", "library injection into every process"),
    Risk("/etc/pam.d/**", "authentication stack"),
    Risk("/etc/ssh/*_key", "SSH host private key"),
    Risk("/etc/apparmor.d/**", "MAC policy itself"),
    Risk("/etc/selinux/**", "MAC policy itself"),
    Risk("/sys/kernel/security/**", "LSM control files"),
    Risk("/root/**", "root's home"),
    Risk("/home/*/.ssh/**", "user SSH keys"),
    Risk("/root/.ssh/**", "root SSH keys"),
    Risk("/home/*/.gnupg/**", "user GnuPG keys"),
    Risk("/home/*/.aws/**", "cloud credentials"),
    Risk("/home/*/.kube/config", "Kubernetes credentials"),
    Risk("/proc/*/mem", "another process's memory"),
    Risk("/proc/kcore", "kernel memory"),
    Risk("/proc/sysrq-trigger", "kernel SysRq"),
    Risk("/dev/mem", "physical memory"),
    Risk("/dev/kmem", "kernel memory"),
    Risk("/dev/port", "I/O ports"),
    Risk("/boot/**", "kernel and boot loader"),
    Risk("/lib/modules/**", "kernel modules"),
    Risk("/var/run/docker.sock", "container runtime control (root equivalent)"),
    Risk("/run/docker.sock", "container runtime control (root equivalent)"),
    Risk("/run/containerd/containerd.sock", "container runtime control (root equivalent)"),
    Risk("/var/lib/sss/**", "cached credentials"),
    Risk("/etc/krb5.keytab", "Kerberos host keys"),
)

RISKY_CAPABILITIES: Final[tuple[Risk, ...]] = (
    Risk("sys_admin", "near-root capability"),
    Risk("sys_module", "load kernel modules"),
    Risk("sys_ptrace", "trace any process"),
    Risk("sys_rawio", "raw I/O"),
    Risk("dac_override", "bypass file permissions"),
    Risk("dac_read_search", "bypass read permissions"),
    Risk("setuid", "change user id", "warning"),
    Risk("setgid", "change group id", "warning"),
    Risk("bpf", "load BPF programs"),
    Risk("mac_admin", "change MAC policy"),
    Risk("mac_override", "override MAC policy"),
    Risk("sys_boot", "reboot / kexec", "warning"),
)

RISKY_CLASSES: Final[tuple[Risk, ...]] = (
    Risk("ptrace", "process tracing", "warning"),
    Risk("mount", "mounting file systems", "warning"),
    Risk("pivot_root", "changing the root file system", "warning"),
    Risk("change_profile", "switching confinement", "warning"),
)

RISKY_EXEC_DIRS: Final[tuple[Risk, ...]] = (
    Risk("/tmp/**", "exec from a world-writable directory"),
    Risk("/var/tmp/**", "exec from a world-writable directory"),
    Risk("/dev/shm/**", "exec from a world-writable directory"),
    Risk("/run/user/*/**", "exec from a user-writable directory", "warning"),
    Risk("/home/*/**", "exec from a user's home directory", "warning"),
)

RISKY_SOCKETS: Final[tuple[Risk, ...]] = (
    Risk("raw", "raw sockets (packet forging, sniffing)"),
    Risk("packet", "packet sockets (sniffing)"),
)

_CAPS: Final = {r.what: r for r in RISKY_CAPABILITIES}
_SOCKETS: Final = {r.what: r for r in RISKY_SOCKETS}
_CLASSES: Final = {r.what: r for r in RISKY_CLASSES}


@cache
def _glob(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out), re.DOTALL)


def match_path(name: str | None) -> Risk | None:
    """The risky-path entry matching ``name`` (a decoded path), or None."""
    if not name:
        return None
    for risk in RISKY_PATHS:
        if _glob(risk.what).fullmatch(name):
            return risk
    return None


def match(
    class_: str | None,
    name: str | None,
    capname: str | None,
    *,
    operation: str | None = None,
    sock_type: str | None = None,
    family: str | None = None,
) -> Risk | None:
    """The first sensitive-access entry that applies to one record, or None."""
    if capname and capname in _CAPS:
        return _CAPS[capname]
    risk = match_path(name)
    if risk is not None:
        return risk
    if operation == "exec" and name:
        for risk in RISKY_EXEC_DIRS:
            if _glob(risk.what).fullmatch(name):
                return risk
    if sock_type in _SOCKETS:
        return _SOCKETS[sock_type]
    if family in _SOCKETS:
        return _SOCKETS[family]
    if class_ and class_ in _CLASSES:
        return _CLASSES[class_]
    return None


def _example(pattern: str) -> str:
    # A concrete path inside a risky glob: '**' and '*' stand for one component each.
    return pattern.replace("**", "x/y").replace("*", "x")


def match_pattern(covers: Callable[[str], bool]) -> Risk | None:
    """The first risky path a suggested pattern would allow; ``covers(path)`` tests it."""
    for risk in RISKY_PATHS:
        if covers(_example(risk.what)):
            return risk
    return None
