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


# --- rule suggestion: what a suggested *allow* rule would grant -------------------------
# Beyond the shared list (which also drives alerts), a rule is flagged when it grants one
# of these, or when aa-logprof's own severity data (/etc/apparmor/severity.db, Debian
# apparmor-utils) ranks it at the top.

SEVERITY_DB: Final = "/etc/apparmor/severity.db"
SEVERITY_RISKY: Final = 10
"""A severity.db rank at or above this makes a suggested rule risky (commented out)."""

RULE_PATHS: Final[tuple[Risk, ...]] = (
    Risk("/etc/ssl/private/**", "TLS private keys"),
    Risk("/etc/ssl/private", "TLS private keys"),
    Risk("/etc/letsencrypt/archive/**", "TLS private keys"),
    Risk("/etc/letsencrypt/live/**", "TLS private keys"),
)
RULE_WRITE_DIRS: Final[tuple[Risk, ...]] = (
    Risk("/etc/**", "write to system configuration"),
    Risk("/usr/**", "write to installed software"),
    Risk("/boot/**", "write to the kernel and boot loader"),
    Risk("/bin/**", "write to installed software"),
    Risk("/sbin/**", "write to installed software"),
    Risk("/lib/**", "write to installed software"),
    Risk("/lib64/**", "write to installed software"),
)
RULE_CAPABILITIES: Final[tuple[Risk, ...]] = (
    Risk("net_admin", "network configuration (firewall, routes, interfaces)"),
    Risk("net_raw", "raw sockets (packet forging, sniffing)"),
    Risk("sys_chroot", "change the root directory", "warning"),
    Risk("sys_time", "set the system clock", "warning"),
    Risk("audit_control", "change the audit configuration"),
    Risk("setpcap", "change capability sets"),
    Risk("setfcap", "set file capabilities"),
    Risk("linux_immutable", "change immutable files"),
)
ROUTINE_DAEMON_CAPABILITIES: Final = frozenset(
    {"setuid", "setgid", "chown", "fowner", "net_bind_service", "kill"}
)
"""Capabilities daemons use to drop privileges or bind ports: not risky for a profile of
a daemon (a binary under ``/sbin``, ``/usr/sbin``, ``/usr/lib``, ``/usr/libexec``)."""
_DAEMON_DIRS: Final = ("/sbin/", "/usr/sbin/", "/usr/lib/", "/usr/libexec/")
_RULE_CAPS: Final = {r.what: r for r in RULE_CAPABILITIES}


@dataclass(frozen=True)
class SeverityDB:
    """aa-logprof's severity ranks: capabilities and (glob, read, write, exec) paths."""

    caps: dict[str, int]
    """Capability name (lower case, no ``CAP_``) → rank 0–10."""
    paths: tuple[tuple[str, int, int, int], ...]
    """(glob, read rank, write rank, exec rank) in file order."""

    @staticmethod
    @cache
    def load(path: str = SEVERITY_DB) -> SeverityDB | None:
        """The parsed file, or None when it is not installed (or unreadable)."""
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            return None
        caps: dict[str, int] = {}
        paths: list[tuple[str, int, int, int]] = []
        for line in text.splitlines():
            words = line.split("#", 1)[0].split()
            if len(words) == 2 and words[0].startswith("CAP_") and words[1].isdigit():
                caps[words[0][4:].lower()] = int(words[1])
            elif len(words) == 4 and words[0].startswith("/") and all(
                    w.isdigit() for w in words[1:]):
                paths.append((words[0], int(words[1]), int(words[2]), int(words[3])))
        return SeverityDB(caps, tuple(paths))

    def file_rank(self, path: str, perms: frozenset[str]) -> int | None:
        """The highest rank of a matching entry for these permissions (as aa-logprof)."""
        by_top, anywhere = _severity_index(self.paths)
        top = path.split("/", 2)[1] if path.count("/") >= 1 else ""
        best: int | None = None
        for prefix, glob, r, w, x in (*by_top.get(top, ()), *anywhere):
            if not path.startswith(prefix) or not _glob(glob).fullmatch(path):
                continue
            rank = max([r if perms & {"r", "m", "k", "l"} else 0,
                        w if perms & {"w", "a", "c", "d"} else 0,
                        x if "x" in perms else 0])
            best = rank if best is None else max(best, rank)
        return best


@cache
def _severity_index(
    paths: tuple[tuple[str, int, int, int], ...],
) -> tuple[dict[str, list[tuple[str, str, int, int, int]]], list[tuple[str, str, int, int, int]]]:
    """severity.db paths by their literal first component (a 200k-denial store asks once
    per event group), with each glob's literal prefix to skip most regexes."""
    by_top: dict[str, list[tuple[str, str, int, int, int]]] = {}
    anywhere: list[tuple[str, str, int, int, int]] = []
    for glob, r, w, x in paths:
        cut = min((i for i in (glob.find("*"), glob.find("?"), glob.find("[")) if i >= 0),
                  default=len(glob))
        entry = (glob[:cut], glob, r, w, x)
        top = glob.split("/", 2)[1] if glob.count("/") >= 2 else None
        if top is None or len(glob.split("/", 2)[0]) or cut <= len(top) + 1:
            anywhere.append(entry)
        else:
            by_top.setdefault(top, []).append(entry)
    return by_top, anywhere


def is_daemon(profile: str) -> bool:
    """Whether a profile name looks like a system daemon's (binary in a daemon dir)."""
    return profile.startswith(_DAEMON_DIRS)


def rule_risk(
    profile: str,
    class_: str | None,
    path: str | None,
    capname: str | None,
    perms: frozenset[str] = frozenset(),
    *,
    operation: str | None = None,
    sock_type: str | None = None,
    family: str | None = None,
    db: SeverityDB | None = None,
) -> tuple[Risk | None, int | None]:
    """(risk, severity.db rank) of a suggested allow rule: the shared list, our rule
    list, writes under system directories, and a top severity.db rank; routine
    daemon capabilities are not risky for a daemon's profile."""
    rank = None
    if db is not None:
        if capname:
            rank = db.caps.get(capname)
        elif path:
            rank = db.file_rank(path, perms)
    if capname and capname in ROUTINE_DAEMON_CAPABILITIES and is_daemon(profile):
        return None, rank
    risk = match(class_, path, capname, operation=operation, sock_type=sock_type,
                 family=family)
    if risk is None and capname:
        risk = _RULE_CAPS.get(capname)
    if risk is None and path:
        risk = next((r for r in RULE_PATHS if _glob(r.what).fullmatch(path)), None)
        if risk is None and perms & {"w", "a", "c", "d"}:
            risk = next((r for r in RULE_WRITE_DIRS if _glob(r.what).fullmatch(path)), None)
    if risk is None and rank is not None and rank >= SEVERITY_RISKY:
        risk = Risk(capname or path or "", f"severity {rank} in {SEVERITY_DB}")
    return risk, rank


def rule_match_pattern(covers: Callable[[str], bool]) -> Risk | None:
    """Like ``match_pattern``, with the rule-only paths (TLS private keys) too."""
    risk = match_pattern(covers)
    if risk is None:
        # '**' stands for one component too: '/etc/ssl/private/*' reaches the keys
        risk = next((r for r in (*RISKY_PATHS, *RULE_PATHS)
                     if covers(_example(r.what.replace("**", "*")))
                     or covers(_example(r.what))), None)
    return risk
