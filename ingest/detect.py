"""Which source carries this host's AppArmor records (``armorwatch collect --detect``).

The kernel sends each audit record to exactly one of these places:

- auditd is running: to auditd over netlink, which writes ``/var/log/audit/audit.log``
  (journald's audit socket, when active, receives a multicast copy);
- no auditd, but ``systemd-journald-audit.socket`` is active: to journald's audit
  transport;
- neither: printk, so the kernel ring buffer, journald's kernel transport and, through
  rsyslog, kern.log / syslog / messages (rate-limited: ``callbacks suppressed``).

The authoritative source is read by default; reading a second one that carries the same
events is allowed and de-duplicated by (boot_id, ts, serial) in the collector.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

AUDIT_LOG = Path("/var/log/audit/audit.log")
KERN_LOGS = (Path("/var/log/kern.log"), Path("/var/log/syslog"), Path("/var/log/messages"))
SCAN_BYTES = 4 * 1024 * 1024
JOURNAL_ENTRIES = 2000

AUDITD = "auditd"
KERNLOG = "kernlog"
JOURNALD = "journald"


@dataclass(frozen=True)
class Detection:
    """What was found on this host, and which source to read."""

    auditd_running: bool
    audit_log: Path | None
    """audit.log when it exists."""
    audit_log_readable: bool
    audit_log_apparmor: bool
    """Its last SCAN_BYTES hold an ``apparmor=`` record."""
    journald_audit_socket: bool | None
    """systemd-journald-audit.socket active; None when systemctl is unavailable."""
    journalctl: bool
    journal_apparmor: bool | None
    """The last JOURNAL_ENTRIES kernel/audit journal entries hold an ``apparmor=`` record;
    None when journalctl is unavailable or failed."""
    kern_log: Path | None
    """The first of kern.log, syslog, messages that exists."""
    kern_log_apparmor: bool
    recommended: tuple[str, ...]
    """Source names to read: auditd, kernlog or journald."""
    reasons: tuple[str, ...] = field(default_factory=tuple)
    """One sentence per finding, for the operator."""


def _pids_named(name: str, proc: Path) -> bool:
    try:
        entries = os.listdir(proc)
    except OSError:
        return False
    for pid in entries:
        if not pid.isdigit():
            continue
        try:
            if (proc / pid / "comm").read_text().strip() == name:
                return True
        except OSError:
            continue
    return False


def _has_apparmor(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - SCAN_BYTES))
            return b"apparmor=" in f.read()
    except OSError:
        return False


def _socket_active(run: Callable[[Sequence[str]], str | None]) -> bool | None:
    if shutil.which("systemctl") is None:
        return None
    out = run(["systemctl", "is-active", "systemd-journald-audit.socket"])
    return None if out is None else out.strip() == "active"


def _run(cmd: Sequence[str]) -> str | None:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def detect(
    audit_log: Path = AUDIT_LOG,
    kern_logs: Sequence[Path] = KERN_LOGS,
    proc: Path = Path("/proc"),
    run: Callable[[Sequence[str]], str | None] = _run,
) -> Detection:
    """Inspect the host; see the module docstring for the rules."""
    reasons: list[str] = []
    auditd = _pids_named("auditd", proc)
    al = audit_log if audit_log.exists() else None
    al_readable = al is not None and os.access(al, os.R_OK)
    al_aa = al_readable and _has_apparmor(audit_log)
    sock = _socket_active(run)
    jctl = shutil.which("journalctl") is not None
    j_aa = None
    if jctl:
        out = run(
            [
                "journalctl",
                "--no-pager",
                "--quiet",
                "--output=cat",
                f"--lines={JOURNAL_ENTRIES}",
                "_TRANSPORT=audit",
                "_TRANSPORT=kernel",
            ]
        )
        j_aa = None if out is None else "apparmor=" in out
    kl = next((p for p in kern_logs if p.exists()), None)
    kl_aa = kl is not None and _has_apparmor(kl)

    if auditd:
        reasons.append(f"auditd is running: the kernel sends audit records to it ({audit_log}).")
        if al is None:
            reasons.append(f"{audit_log} does not exist: check log_file in auditd.conf.")
        elif not al_readable:
            reasons.append(
                f"{audit_log} is not readable by this user: add it to auditd's log_group."
            )
        recommended: tuple[str, ...] = (AUDITD,)
    elif sock and jctl:
        reasons.append(
            "auditd is not running and systemd-journald-audit.socket is active: audit "
            "records go to journald's audit transport."
        )
        recommended = (JOURNALD,)
    elif kl is not None:
        reasons.append(
            f"Neither auditd nor journald's audit socket: the kernel prints audit records "
            f"(printk), and rsyslog writes them to {kl}."
        )
        recommended = (KERNLOG,)
    elif jctl:
        reasons.append(
            "Neither auditd, journald's audit socket nor a kern.log: reading printk from "
            "journald's kernel transport."
        )
        recommended = (JOURNALD,)
    else:
        reasons.append("No source found; defaulting to audit.log.")
        recommended = (AUDITD,)
    if j_aa and recommended != (JOURNALD,):
        reasons.append(
            "The journal also holds AppArmor records (journald's audit socket gets a copy "
            "of what auditd gets); reading both is de-duplicated by (boot_id, ts, serial)."
        )
    if al_aa and not auditd:
        reasons.append(f"{audit_log} holds AppArmor records but auditd is not running now.")
    if kl_aa and auditd:
        reasons.append(
            f"{kl} also holds AppArmor records (from before auditd started, or printk "
            "fallback); reading both is de-duplicated by (boot_id, ts, serial)."
        )
    return Detection(
        auditd_running=auditd,
        audit_log=al,
        audit_log_readable=al_readable,
        audit_log_apparmor=al_aa,
        journald_audit_socket=sock,
        journalctl=jctl,
        journal_apparmor=j_aa,
        kern_log=kl,
        kern_log_apparmor=kl_aa,
        recommended=recommended,
        reasons=tuple(reasons),
    )


def describe(d: Detection) -> str:
    """A short human report of a detection."""

    def yn(v: bool | None) -> str:
        return "unknown" if v is None else ("yes" if v else "no")

    lines = [
        f"auditd running:              {yn(d.auditd_running)}",
        f"audit.log:                   {d.audit_log or 'absent'}"
        + (
            f" (readable: {yn(d.audit_log_readable)}, AppArmor records: {yn(d.audit_log_apparmor)})"
            if d.audit_log
            else ""
        ),
        f"journald audit socket:       {yn(d.journald_audit_socket)}",
        f"journalctl:                  {yn(d.journalctl)}"
        + (f" (AppArmor records: {yn(d.journal_apparmor)})" if d.journalctl else ""),
        f"kern.log/syslog/messages:    {d.kern_log or 'absent'}"
        + (f" (AppArmor records: {yn(d.kern_log_apparmor)})" if d.kern_log else ""),
        f"authoritative source:        {', '.join(d.recommended)}",
        "",
        *d.reasons,
    ]
    return "\n".join(lines)
