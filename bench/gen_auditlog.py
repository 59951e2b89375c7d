"""Deterministic generator of a realistic auditd ``audit.log`` for the benchmark.

The default file has 1M lines (~255 MB), like the anchor file of
``../shared/design/performance.md``:

* ~30 % AppArmor records across all classes: file (every mask, exec with
  ``//null-`` targets), capability, network (inet/inet6 with addresses and ports),
  unix, signal, ptrace, dbus (``USER_AVC`` from dbus-daemon), mount / remount /
  umount / pivot_root, change_profile / change_hat, userns, io_uring, mqueue and
  STATUS (profile_load / replace / remove), DENIED / ALLOWED / AUDIT;
* ~0.6 % SELinux ``avc:`` records;
* the rest what auditd writes around them: SYSCALL, PATH, CWD, EXECVE, PROCTITLE,
  USER_* / CRED_* / LOGIN / SERVICE_* / BPF / NETFILTER_CFG ... in the ENRICHED
  format (the ``0x1d`` separator followed by the resolved names).

Records of one event share ``audit(SEC.MSEC:SERIAL)`` and come one after the other
(MAC record, then SYSCALL, ..., PROCTITLE last), as auditd writes them; now and
then a single-record userspace event lands between them, as it does on a busy host.
Untrusted strings are encoded as the kernel does (``audit_log_untrustedstring``:
hex when a byte is ``"``, below 0x21 or above 0x7e), so some names, comms and every
multi-argument proctitle are hex.

Every AppArmor line is in a form Debian 12's libapparmor 3.0.8 ``parse_record``
accepts (no ``class=``, unix ``addr=``, ``requested=``, USER_AVC ``subj=`` or
enrichment, which that version rejects), so the C baseline and our parser do the same
work. ``bench/run.py`` checks that every candidate line parses in C.

``--framing kern`` writes the same records as the kernel prints them to kern.log when
auditd is not running (``Mon dd hh:mm:ss host kernel: [uptime] audit: type=1400 …``);
``--framing short`` as ``journalctl -o short`` prints journald's audit transport
(``Mon dd hh:mm:ss host audit[pid]: AVC …``, no audit id).

Usage: ``python bench/gen_auditlog.py [--lines N] [--seed S] [--framing F] [-o PATH]``; by default
the file goes to ``bench/.data/`` (gitignored) and is reused when it already exists.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / ".data"
GENERATOR_VERSION = 1  # bump when the output changes, so cached files are rebuilt
BASE_TS = 1_762_300_800  # 2025-11-05 00:00:00 UTC
GS = "\x1d"  # the ENRICHED format's separator before the resolved names

# --- value pools --------------------------------------------------------------------
PROFILES = [
    ("/usr/sbin/cupsd", "cupsd"),
    ("/usr/sbin/cups-browsed", "cups-browsed"),
    ("snap.firefox.firefox", "firefox"),
    ("snap.firefox.firefox", "Isolated Web Co"),
    ("snap.firefox.firefox", "Web Content"),
    ("/usr/bin/evince", "evince"),
    ("/usr/sbin/mysqld", "mysqld"),
    ("/usr/sbin/named", "named"),
    ("/usr/sbin/ntpd", "ntpd"),
    ("/usr/sbin/tcpdump", "tcpdump"),
    ("/usr/sbin/rsyslogd", "rsyslogd"),
    ("/usr/lib/snapd/snap-confine", "snap-confine"),
    ("docker-default", "nginx"),
    ("docker-default", "python3"),
    ("libreoffice-soffice", "soffice.bin"),
    ("/usr/bin/man", "man"),
    ("nvidia_modprobe", "nvidia-modprobe"),
    ("lsb_release", "lsb_release"),
    ("ubuntu_pro_apt_news", "python3"),
    ("/usr/sbin/apache2//www.example.org", "apache2"),
    ("/usr/sbin/apache2//HANDLING_UNTRUSTED_INPUT", "apache2"),
    ("snap.lxd.daemon//&:lxd-c1_<var-snap-lxd-common-lxd>:unconfined", "lxd"),
    (":lxd-c1_<var-snap-lxd-common-lxd>:/usr/sbin/sshd", "sshd"),
    ("/usr/bin/foo bar", "foo bar"),  # a profile named after a path with a space: hex
]
PROFILE_WEIGHTS = [12, 3, 14, 6, 6, 4, 5, 3, 2, 2, 3, 3, 8, 4, 2, 2, 1, 2, 2, 3, 1, 2, 1, 1]
USERS = [(0, "root"), (1000, "alice"), (1001, "bob"), (33, "www-data"), (65534, "nobody")]
FILES = [
    "/etc/shadow",
    "/etc/passwd",
    "/etc/ssl/openssl.cnf",
    "/proc/{pid}/mounts",
    "/proc/{pid}/cgroup",
    "/sys/devices/system/cpu/online",
    "/sys/fs/cgroup/user.slice/",
    "/home/{user}/.config/kdeglobals",
    "/home/{user}/.cache/fontconfig/",
    "/home/{user}/Documents/report {n}.odt",
    "/home/{user}/Downloads/photo {n}.jpg",
    "/run/user/{uid}/bus",
    "/var/lib/mysql/ibdata1",
    "/var/log/cups/error_log",
    "/tmp/.X11-unix/X0",
    "/usr/share/icons/hicolor/index.theme",
    "/dev/shm/.org.chromium.{n}",
    "/var/tmp/portage/build-{n}/work/libfoo.so",
    "/snap/core22/{n}/usr/lib/x86_64-linux-gnu/",
    "/opt/app/data/\xe9t\xe9.txt",  # latin-1 bytes: not valid UTF-8, hex-encoded
]
FILE_OPS = [
    ("open", "r"),
    ("open", "w"),
    ("open", "rw"),
    ("open", "wc"),
    ("mknod", "c"),
    ("unlink", "d"),
    ("rmdir", "d"),
    ("mkdir", "c"),
    ("truncate", "wa"),
    ("file_mmap", "m"),
    ("file_mmap", "rm"),
    ("file_lock", "k"),
    ("link", "l"),
    ("chmod", "w"),
    ("chown", "w"),
    ("getattr", "r"),
    ("rename_src", "r"),
    ("rename_dest", "wc"),
    ("file_perm", "a"),
]
EXECS = ["/usr/bin/lsb_release", "/bin/sh", "/usr/bin/dbus-send", "/usr/bin/gpg", "/usr/bin/ps"]
CAPS = [
    (1, "dac_override"),
    (2, "dac_read_search"),
    (12, "net_admin"),
    (21, "sys_admin"),
    (19, "sys_ptrace"),
    (7, "setuid"),
    (6, "setgid"),
    (24, "sys_resource"),
    (38, "perfmon"),
]
NET = [
    ("create", "inet", "raw", 1),
    ("create", "inet6", "raw", 58),
    ("create", "netlink", "raw", 0),
    ("create", "packet", "raw", 768),
    ("create", "inet", "dgram", 17),
    ("connect", "inet", "stream", 6),
    ("sendmsg", "inet", "dgram", 17),
    ("bind", "inet6", "stream", 6),
    ("accept", "inet6", "stream", 6),
]
UNIX = [("connect", "stream"), ("sendmsg", "dgram"), ("bind", "stream"), ("listen", "stream")]
ARGV = [  # extra arguments on proctitle (the kernel keeps up to 128 bytes)
    [],
    ["-n"],
    ["-f", "/etc/cups/cupsd.conf"],
    [
        "-contentproc",
        "-childID",
        "7",
        "-isForBrowser",
        "-prefsLen",
        "31",
        "-prefMapSize",
        "244681",
        "-jsInitLen",
        "234236",
        "-parentBuildID",
        "20251101000000",
        "-appDir",
    ],
    ["--type=renderer", "--enable-crash-reporter", "--lang=en-US", "--num-raster-threads=2"],
]
SIGNALS = ["term", "kill", "hup", "usr1", "int", "cont"]
PTRACE = ["read", "trace", "readby", "tracedby"]
DBUS = [
    (
        "dbus_method_call",
        "system",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus",
        "Hello",
        "send",
        "org.freedesktop.DBus",
    ),
    (
        "dbus_method_call",
        "system",
        "/org/freedesktop/NetworkManager",
        "org.freedesktop.DBus.Properties",
        "GetAll",
        "send",
        "org.freedesktop.NetworkManager",
    ),
    (
        "dbus_method_call",
        "session",
        "/org/freedesktop/Notifications",
        "org.freedesktop.Notifications",
        "Notify",
        "send",
        "org.freedesktop.Notifications",
    ),
    (
        "dbus_signal",
        "system",
        "/org/freedesktop/login1",
        "org.freedesktop.login1.Manager",
        "SessionNew",
        "receive",
        "org.freedesktop.login1",
    ),
]
MOUNTS = [
    ("mount", "failed mntpnt match", "ext4", "/dev/sdb1", "rw, nosuid, nodev", "/mnt/usb/"),
    ("mount", "failed flags match", "tmpfs", "tmpfs", "rw, nosuid, nodev, noexec", "/run/x/"),
    ("remount", "failed flags match", None, None, "ro, remount, bind", "/"),
    ("umount", "failed mntpnt match", None, None, None, "/snap/core22/1/"),
    ("pivotroot", None, None, "/tmp/newroot/old/", None, "/tmp/newroot/"),
]
SE = [
    ("read", "httpd_t", "user_home_t", "file", "index.html"),
    ("write", "named_t", "etc_t", "file", "named.conf"),
    ("name_connect", "httpd_t", "mysqld_port_t", "tcp_socket", None),
    ("search", "sshd_t", "var_lib_t", "dir", "lib"),
]
SYSCALLS = {
    "open": (257, "openat"),
    "exec": (59, "execve"),
    "net": (41, "socket"),
    "cap": (54, "setsockopt"),
    "sig": (62, "kill"),
    "ptrace": (101, "ptrace"),
    "mount": (165, "mount"),
    "status": (1, "write"),
    "userns": (272, "unshare"),
    "uring": (425, "io_uring_setup"),
    "se": (257, "openat"),
    "stat": (262, "newfstatat"),
    "change": (1, "write"),
}


def untrusted(value: str | bytes) -> str:
    """Encode like the kernel's ``audit_log_untrustedstring``: hex or double-quoted."""
    raw = value.encode("latin-1") if isinstance(value, str) else value
    if any(b < 0x21 or b > 0x7E or b == 0x22 for b in raw):
        return raw.hex().upper()
    return '"' + raw.decode("ascii") + '"'


@dataclass
class GenStats:
    """What one generated file holds (written beside it as ``.json``)."""

    lines: int = 0
    bytes: int = 0
    apparmor: int = 0  # lines carrying an AppArmor record (kernel AVC + dbus USER_AVC)
    selinux: int = 0
    events: int = 0
    seed: int = 0
    framing: str = "audit"
    version: int = GENERATOR_VERSION
    by_type: dict[str, int] = field(default_factory=dict)
    by_class: dict[str, int] = field(default_factory=dict)


class _Gen:
    """One generator run: the random source, the clock and the serial counter."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.ms = 0
        self.serial = 1000
        self.by_type: Counter[str] = Counter()
        self.by_class: Counter[str] = Counter()

    # identity of one event
    def stamp(self) -> str:
        self.ms += self.rng.randint(0, 400)
        self.serial += 1
        sec, msec = divmod(self.ms, 1000)
        return f"audit({BASE_TS + sec}.{msec:03d}:{self.serial})"

    def rec(self, rtype: str, stamp: str, body: str) -> str:
        self.by_type[rtype] += 1
        return f"type={rtype} msg={stamp}: {body}"

    # --- the records around the MAC record ---------------------------------------
    def syscall(
        self,
        stamp: str,
        kind: str,
        comm: str,
        exe: str,
        subj: str,
        user: tuple[int, str],
        success: bool = False,
    ) -> str:
        r = self.rng
        nr, name = SYSCALLS[kind]
        uid, uname = user
        auid, auname = (uid, uname) if uid >= 1000 else (4294967295, "unset")
        ret = "yes exit=3" if success else "no exit=-13"
        body = (
            f"arch=c000003e syscall={nr} success={ret} a0=ffffff9c a1={r.getrandbits(44):x} "
            f"a2=80000 a3=0 items={1 if kind in ('open', 'stat') else 0} ppid={r.randint(1, 9000)} "
            f"pid={r.randint(300, 400000)} auid={auid} uid={uid} gid={uid} euid={uid} suid={uid} "
            f"fsuid={uid} egid={uid} sgid={uid} fsgid={uid} tty=(none) ses={r.randint(1, 40)} "
            f"comm={untrusted(comm)} exe={untrusted(exe)} subj={subj} key=(null)"
            f'{GS}ARCH=x86_64 SYSCALL={name} AUID="{auname}" UID="{uname}" GID="{uname}" '
            f'EUID="{uname}" SUID="{uname}" FSUID="{uname}" EGID="{uname}" SGID="{uname}" '
            f'FSGID="{uname}"'
        )
        return self.rec("SYSCALL", stamp, body)

    def proctitle(self, stamp: str, argv: list[str]) -> str:
        return self.rec("PROCTITLE", stamp, "proctitle=" + untrusted("\0".join(argv)))

    def path(self, stamp: str, item: int, name: str, user: tuple[int, str]) -> str:
        r = self.rng
        body = (
            f"item={item} name={untrusted(name)} inode={r.randint(2, 9_000_000)} dev=fd:01 "
            f"mode=0100644 ouid={user[0]} ogid={user[0]} rdev=00:00 nametype=NORMAL cap_fp=0 "
            f'cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0{GS}OUID="{user[1]}" OGID="{user[1]}"'
        )
        return self.rec("PATH", stamp, body)

    def filename(self, user: tuple[int, str]) -> str:
        r = self.rng
        home = user[1] if user[0] >= 1000 else "alice"
        return r.choice(FILES).format(
            pid=r.randint(1, 99999), user=home, uid=user[0] or 1000, n=r.randint(1, 999)
        )

    # --- AppArmor records -------------------------------------------------------
    def apparmor(self, stamp: str) -> tuple[list[str], str, str, str, tuple[int, str]]:
        """One kernel AppArmor AVC (sometimes two); returns lines, kind, comm, exe, user."""
        r = self.rng
        prof, comm = r.choices(PROFILES, PROFILE_WEIGHTS)[0]
        user = r.choice(USERS)
        decision = r.choices(["DENIED", "ALLOWED", "AUDIT"], [70, 25, 5])[0]
        head = f'apparmor="{decision}" operation='

        def masks(m: str) -> str:  # AUDIT records carry no denied_mask
            return f'requested_mask="{m}"' + ("" if decision == "AUDIT" else f' denied_mask="{m}"')

        owner = f"fsuid={user[0]} ouid={user[0]}"
        # ENRICHED: auditd appends the resolved ids after a 0x1d at the end of the record
        enriched = f'{GS}FSUID="{user[1]}" OUID="{user[1]}"'
        if r.random() < 0.15:  # not every host runs log_format=ENRICHED
            enriched = ""
        cls = r.choices(
            [
                "file",
                "exec",
                "cap",
                "net",
                "unix",
                "signal",
                "ptrace",
                "mount",
                "change",
                "userns",
                "uring",
                "mqueue",
                "status",
            ],
            [46, 6, 9, 8, 5, 4, 3, 3, 2, 4, 1, 1, 8],
        )[0]
        self.by_class[cls] += 1
        while cls in ("exec", "change") and " " in prof:  # 3.0.8 rejects a hex target=
            prof, comm = r.choices(PROFILES, PROFILE_WEIGHTS)[0]
        exe = prof if prof.startswith("/") and "//" not in prof else f"/usr/bin/{comm}"
        who = f"profile={untrusted(prof)}"
        pid = f"pid={r.randint(300, 400000)} comm={untrusted(comm)}"
        kind = "open"
        if cls == "file":
            op, m = r.choice(FILE_OPS)
            target = f' target="{self.filename(user)}"' if op == "link" else ""
            body = (
                f'{head}"{op}" {who} name={untrusted(self.filename(user))} {pid} '
                f"{masks(m)} {owner}{target}{enriched}"
            )
        elif cls == "exec":
            name = r.choice(EXECS)
            body = (
                f'{head}"exec" {who} name="{name}" {pid} {masks("x")} {owner} '
                f"target={untrusted(prof + '//null-' + name)}{enriched}"
            )
            kind = "exec"
        elif cls == "cap":
            nr, cap = r.choice(CAPS)
            body = f'{head}"capable" {who} {pid} capability={nr}  capname="{cap}"'
            kind = "cap"
        elif cls == "net":
            op, fam, st, proto = r.choice(NET)
            m = {
                "create": "create",
                "connect": "connect",
                "sendmsg": "send",
                "bind": "bind",
                "accept": "accept",
            }[op]
            addrs = ""
            if fam.startswith("inet") and op != "create":
                if fam == "inet":
                    addrs = (
                        f" laddr=10.0.{r.randint(0, 9)}.{r.randint(1, 254)} "
                        f"lport={r.randint(1024, 65535)} faddr=192.0.2.{r.randint(1, 254)} "
                        f"fport={r.choice([53, 80, 443, 5353])}"
                    )
                else:
                    addrs = (
                        f" laddr=::1 lport={r.choice([22, 80, 143])} faddr=::1 "
                        f"fport={r.randint(1024, 65535)}"
                    )
            body = (
                f'{head}"{op}" {who} {pid}{addrs} family="{fam}" sock_type="{st}" '
                f"protocol={proto} {masks(m)}"
            )
            kind = "net"
        elif cls == "unix":
            op, st = r.choice(UNIX)
            m = {
                "connect": "send receive connect",
                "sendmsg": "send",
                "bind": "bind",
                "listen": "listen",
            }[op]
            body = (
                f'{head}"{op}" {who} {pid} family="unix" sock_type="{st}" protocol=0 '
                f'{masks(m)} peer="{r.choice(["unconfined", "/usr/sbin/sshd", "snapd"])}"'
            )
            kind = "net"
        elif cls == "signal":
            m = r.choice(["send", "receive"])
            body = (
                f'{head}"signal" {who} {pid} {masks(m)} signal={r.choice(SIGNALS)} '
                f'peer="{r.choice(["unconfined", "/usr/bin/pulseaudio", "snap.firefox.firefox"])}"'
            )
            kind = "sig"
        elif cls == "ptrace":
            body = (
                f'{head}"ptrace" {who} {pid} {masks(r.choice(PTRACE))} '
                f'peer="{r.choice(["unconfined", "/usr/bin/gdb", "/usr/bin/ps"])}"'
            )
            kind = "ptrace"
        elif cls == "mount":
            op, info, fstype, src, flags, name = r.choice(MOUNTS)
            parts = [f'{head}"{op}"']
            if info:
                parts.append(f'info="{info}" error=-13')
            parts += [who, f'name="{name}"', pid]
            if fstype:
                parts.append(f'fstype="{fstype}"')
            if src:
                parts.append(f'srcname="{src}"')
            if flags:
                parts.append(f'flags="{flags}"')
            body = " ".join(parts)
            kind = "mount"
        elif cls == "change":
            if r.random() < 0.5:
                tgt = prof.split("//")[0] + "//" + r.choice(["webapp", "worker"])
                body = (
                    f'{head}"change_profile" {who} name={untrusted(tgt)} {pid} '
                    f"target={untrusted(tgt)}"
                )
            else:
                tgt = prof.split("//")[0] + "//HANDLING_UNTRUSTED_INPUT"
                body = f'{head}"change_hat" {who} {pid} target={untrusted(tgt)}'
            kind = "change"
        elif cls == "userns":
            body = (
                f'{head}"userns_create" info="Userns create restricted - failed to find '
                f'unprivileged_userns profile" error=-13 profile="unconfined" {pid} '
                f'{masks("userns_create")} target="unprivileged_userns"'
            )
            kind = "userns"
        elif cls == "uring":
            body = (
                f'{head}"{r.choice(["uring_sqpoll", "uring_override"])}" {who} {pid} '
                f"{masks(r.choice(['sqpoll', 'override_creds']))}"
            )
            kind = "uring"
        elif cls == "mqueue":
            body = (
                f'{head}"open" {who} name="/mq-{r.randint(1, 99)}" {pid} '
                f"{masks(r.choice(['read create', 'write', 'read']))} {owner}{enriched}"
            )
        else:
            op = r.choices(["profile_load", "profile_replace", "profile_remove"], [3, 6, 1])[0]
            info = ' info="same as current profile, skipping"' if r.random() < 0.3 else ""
            label = r.choices(PROFILES, PROFILE_WEIGHTS)[0][0].split("//")[0]
            body = (
                f'apparmor="STATUS" operation="{op}"{info} profile="unconfined" '
                f"name={untrusted(label)} pid={r.randint(300, 400000)} "
                f'comm="apparmor_parser"'
            )
            comm, exe, user, kind = (
                "apparmor_parser",
                "/usr/sbin/apparmor_parser",
                USERS[0],
                "status",
            )
        lines = [self.rec("AVC", stamp, body)]
        return lines, kind, comm, exe, user

    def event(self) -> tuple[list[str], int, int]:
        """One auditd event: its lines, and how many of them are AppArmor / SELinux."""
        r = self.rng
        what = r.choices(
            ["aa", "dbus", "se", "watch", "execve", "user"], [320, 25, 7, 40, 15, 200]
        )[0]
        if what == "user":
            return self.user_event(), 0, 0
        stamp = self.stamp()
        if what == "aa":
            lines, kind, comm, exe, user = self.apparmor(stamp)
            aa = 1
            if r.random() < 0.04:  # two MAC records in one event (e.g. a file and its parent)
                more, *_ = self.apparmor(stamp)
                lines += more
                aa += 1
            if r.random() < 0.45 or kind == "status":  # syscall auditing on: the context
                if r.random() < 0.03:  # a userspace event slips in between
                    lines.append("\n".join(self.user_event()))
                prof_subj = "unconfined" if kind == "status" else comm.replace(" ", "_")
                lines.append(self.syscall(stamp, kind, comm, exe, prof_subj, user))
                if kind == "open" and r.random() < 0.3:
                    lines.append(self.rec("CWD", stamp, f"cwd={untrusted('/home/' + user[1])}"))
                    lines.append(self.path(stamp, 0, self.filename(user), user))
                argv = [exe] + (
                    ["--replace", "/etc/apparmor.d/x"] if kind == "status" else r.choice(ARGV)
                )
                lines.append(self.proctitle(stamp, argv))
            return lines, aa, 0
        if what == "dbus":
            op, bus, path, iface, member, mask, name = r.choice(DBUS)
            prof, _ = r.choices(PROFILES, PROFILE_WEIGHTS)[0]
            decision = r.choices(["DENIED", "ALLOWED"], [80, 20])[0]
            peer = f' peer_label="{r.choice(["unconfined", "/usr/sbin/NetworkManager"])}"'
            body = (
                f"pid={r.choice([812, 1130])} uid=103 auid=4294967295 ses=4294967295 "
                f'msg=\'apparmor="{decision}" operation="{op}"  bus="{bus}" path="{path}" '
                f'interface="{iface}" member="{member}" mask="{mask}" name="{name}" '
                f"pid={r.randint(300, 400000)} label={untrusted(prof)}{peer} "
                f'exe="/usr/bin/dbus-daemon" sauid=103 hostname=? addr=? terminal=?\''
            )
            self.by_class["dbus"] += 1
            return [self.rec("USER_AVC", stamp, body)], 1, 0
        if what == "se":
            perm, stype, ttype, tclass, name = r.choice(SE)
            obj = (
                f'name="{name}" dev="dm-0" ino={r.randint(2, 9_000_000)}'
                if name
                else f"dest={r.choice([3306, 5432])}"
            )
            comm = stype.removesuffix("_t")
            body = (
                f"avc:  denied  {{ {perm} }} for  pid={r.randint(300, 400000)} "
                f'comm="{comm}" {obj} scontext=system_u:system_r:{stype}:s0 '
                f"tcontext=system_u:object_r:{ttype}:s0 tclass={tclass} "
                f"permissive={r.choice([0, 0, 0, 1])}"
            )
            user = USERS[0]
            lines = [
                self.rec("AVC", stamp, body),
                self.syscall(
                    stamp, "se", comm, f"/usr/sbin/{comm}", f"system_u:system_r:{stype}:s0", user
                ),
                self.proctitle(stamp, [f"/usr/sbin/{comm}", "-D"]),
            ]
            return lines, 0, 1
        if what == "watch":  # a file watch rule (-w /etc/passwd -p wa)
            user = r.choice(USERS)
            comm = r.choice(["vim", "sed", "cp", "python3", "useradd"])
            lines = [
                self.syscall(
                    stamp, "open", comm, f"/usr/bin/{comm}", "unconfined", user, success=True
                ),
                self.rec("CWD", stamp, f"cwd={untrusted('/home/' + user[1])}"),
            ]
            lines += [
                self.path(stamp, i, n, user)
                for i, n in enumerate(["/etc/", "/etc/passwd"][: r.randint(1, 2)])
            ]
            lines.append(self.proctitle(stamp, [comm, "/etc/passwd"]))
            return lines, 0, 0
        if what == "execve":
            user = r.choice(USERS)
            prog = r.choice(["ls", "cat", "grep", "curl", "git"])
            args = [prog, *r.choice([["-l", "/tmp"], ["--version"], ["-s", "http://x.org/a b"]])]
            argtxt = " ".join(f"a{i}={untrusted(a)}" for i, a in enumerate(args))
            lines = [
                self.syscall(
                    stamp, "exec", prog, f"/usr/bin/{prog}", "unconfined", user, success=True
                ),
                self.rec("EXECVE", stamp, f"argc={len(args)} {argtxt}"),
                self.rec("CWD", stamp, f"cwd={untrusted('/home/' + user[1])}"),
                self.path(stamp, 0, f"/usr/bin/{prog}", USERS[0]),
                self.path(stamp, 1, "/lib64/ld-linux-x86-64.so.2", USERS[0]),
                self.proctitle(stamp, args),
            ]
            return lines, 0, 0
        raise AssertionError(what)

    def user_event(self) -> list[str]:
        """One single-record userspace event (PAM, sudo, systemd, BPF, netfilter)."""
        r = self.rng
        stamp = self.stamp()
        uid, uname = r.choice(USERS)
        kind = r.choices(
            [
                "USER_ACCT",
                "CRED_ACQ",
                "USER_START",
                "USER_END",
                "CRED_DISP",
                "USER_AUTH",
                "USER_LOGIN",
                "LOGIN",
                "USER_CMD",
                "SERVICE_START",
                "SERVICE_STOP",
                "BPF",
                "NETFILTER_CFG",
                "CRED_REFR",
            ],
            [10, 10, 10, 10, 10, 6, 3, 4, 6, 12, 10, 8, 2, 4],
        )[0]
        exe = r.choice(["/usr/bin/sudo", "/usr/sbin/cron", "/usr/sbin/sshd", "/usr/bin/su"])
        addr = r.choice(["?", "192.0.2.10", "2001:db8::7"])
        tail = f'{GS}UID="root" AUID="{uname}"'
        if kind == "LOGIN":
            body = (
                f"pid={r.randint(300, 400000)} uid=0 subj=unconfined old-auid=4294967295 "
                f"auid={uid} tty=(none) old-ses=4294967295 ses={r.randint(1, 40)} res=1"
                f'{GS}AUID="{uname}"'
            )
        elif kind == "BPF":
            body = f"prog-id={r.randint(10, 999)} op={r.choice(['LOAD', 'UNLOAD'])}"
        elif kind == "NETFILTER_CFG":
            body = (
                f"table=filter:{r.randint(2, 90)} family=2 entries={r.randint(1, 40)} "
                f"op=nft_register_chain pid={r.randint(300, 9000)} subj=unconfined "
                f'comm="iptables"'
            )
        elif kind.startswith("SERVICE_"):
            unit = r.choice(
                [
                    "systemd-tmpfiles-clean",
                    "apt-daily",
                    "man-db",
                    "fwupd",
                    "user@1000",
                    "snapd.snap-repair",
                    "motd-news",
                ]
            )
            body = (
                f"pid=1 uid=0 auid=4294967295 ses=4294967295 subj=unconfined msg='unit={unit} "
                f'comm="systemd" exe="/usr/lib/systemd/systemd" hostname=? addr=? terminal=? '
                f'res=success\'{GS}UID="root" AUID="unset"'
            )
        elif kind == "USER_CMD":
            cmd = untrusted(r.choice(["apt update", "systemctl restart nginx", "ls"]))
            body = (
                f"pid={r.randint(300, 400000)} uid={uid} auid={uid} ses={r.randint(1, 40)} "
                f'subj=unconfined msg=\'cwd="/home/{uname}" cmd={cmd} exe="/usr/bin/sudo" '
                f"terminal=pts/0 res=success'{tail}"
            )
        else:
            op = {
                "USER_ACCT": "PAM:accounting",
                "CRED_ACQ": "PAM:setcred",
                "CRED_REFR": "PAM:setcred",
                "CRED_DISP": "PAM:setcred",
                "USER_START": "PAM:session_open",
                "USER_END": "PAM:session_close",
                "USER_AUTH": "PAM:authentication",
                "USER_LOGIN": "login",
            }[kind]
            body = (
                f"pid={r.randint(300, 400000)} uid=0 auid={uid} ses={r.randint(1, 40)} "
                f"subj=unconfined msg='op={op} grantors=pam_unix,pam_permit "
                f'acct="{uname}" exe="{exe}" hostname={addr} addr={addr} terminal=ssh '
                f"res=success'{tail}"
            )
        return [self.rec(kind, stamp, body)]


# audit record type numbers, for the kernel's printk rendering (kern.log)
TYPE_NUMS = {
    "USER_AUTH": 1100, "USER_ACCT": 1101, "CRED_ACQ": 1103, "CRED_DISP": 1104,
    "USER_START": 1105, "USER_END": 1106, "USER_AVC": 1107, "CRED_REFR": 1110,
    "USER_LOGIN": 1112, "USER_CMD": 1123, "SERVICE_START": 1130, "SERVICE_STOP": 1131,
    "LOGIN": 1006, "SYSCALL": 1300, "PATH": 1302, "CWD": 1307, "EXECVE": 1309,
    "NETFILTER_CFG": 1325, "PROCTITLE": 1327, "BPF": 1334, "AVC": 1400,
}  # fmt: skip
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
BOOT_TS = BASE_TS - 3 * 86400  # the generated host booted three days before the log starts


def to_kern(line: str, host: str = "web-01") -> str:
    """An audit.log line as the kernel prints it to kern.log when auditd is not running.

    ``Nov  5 00:00:01 web-01 kernel: [259201.123000] audit: type=1400 audit(…): body``;
    the ENRICHED tail is auditd's, so it is dropped.
    """
    rtype, _, rest = line[5:].partition(" msg=")
    rest = rest.split(GS, 1)[0]
    stamp = rest[6 : rest.index(")")]
    sec, msec = stamp.split(":")[0].split(".")
    t = time.gmtime(int(sec))
    up = int(sec) - BOOT_TS
    return (
        f"{MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} "
        f"{host} kernel: [{up:6d}.{msec}000] audit: type={TYPE_NUMS[rtype]} {rest}"
    )


def to_short(line: str, host: str = "web-01") -> str:
    """An audit.log line as ``journalctl -o short`` prints the entry journald's audit
    transport stored for it: ``Nov 05 00:00:01 web-01 audit[4410]: AVC body`` (``audit[pid]``
    when the record names a pid, else ``audit``), no audit id; the ENRICHED tail is
    auditd's, so dropped."""
    rtype, _, rest = line[5:].partition(" msg=")
    rest = rest.split(GS, 1)[0]
    stamp, _, body = rest[6:].partition("): ")
    t = time.gmtime(int(stamp.split(".")[0]))
    pid = re.search(r"(?:^| )pid=(\d+)", body)
    tag = f"audit[{pid[1]}]" if pid else "audit"
    return (
        f"{MONTHS[t.tm_mon - 1]} {t.tm_mday:02d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} "
        f"{host} {tag}: {rtype} {body}"
    )


def default_path(lines: int, seed: int, framing: str = "audit") -> Path:
    """Where the cached file for (lines, seed, framing) lives."""
    stem = {"audit": "audit", "kern": "kern", "short": "short"}[framing]
    return DATA_DIR / f"{stem}-{lines}-s{seed}-v{GENERATOR_VERSION}.log"


def generate(
    path: Path,
    lines: int = 1_000_000,
    seed: int = 1,
    progress: Callable[[int], None] | None = None,
    framing: str = "audit",
) -> GenStats:
    """Write exactly ``lines`` lines to ``path`` (atomically) and return what it holds.

    ``framing`` "audit" writes auditd's audit.log; "kern" writes the same records as the
    kernel prints them to kern.log (RFC 3164 syslog prefix, ``[uptime] audit: type=N``);
    "short" as ``journalctl -o short`` prints journald's audit transport (``to_short``).
    """
    if framing not in ("audit", "kern", "short"):
        raise ValueError(f"framing must be audit, kern or short, not {framing!r}")
    gen = _Gen(seed)
    stats = GenStats(seed=seed, framing=framing)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    buf: list[str] = []
    with open(tmp, "wb") as out:
        while stats.lines < lines:
            recs, aa, se = gen.event()
            text = "\n".join(recs)
            if framing != "audit":
                render = to_kern if framing == "kern" else to_short
                text = "\n".join(render(ln) for ln in text.split("\n"))
            n = text.count("\n") + 1
            if stats.lines + n > lines:  # end on an event boundary: draw a shorter event
                continue
            stats.events += 1
            stats.lines += n
            stats.apparmor += aa
            stats.selinux += se
            buf.append(text)
            if len(buf) >= 4096:
                data = ("\n".join(buf) + "\n").encode("latin-1")
                stats.bytes += len(data)
                out.write(data)
                buf.clear()
                if progress:
                    progress(stats.lines)
        if buf:
            data = ("\n".join(buf) + "\n").encode("latin-1")
            stats.bytes += len(data)
            out.write(data)
    os.replace(tmp, path)
    stats.by_type = dict(sorted(gen.by_type.items()))
    stats.by_class = dict(sorted(gen.by_class.items()))
    path.with_suffix(".json").write_text(json.dumps(asdict(stats), indent=1) + "\n")
    return stats


def ensure(
    lines: int = 1_000_000, seed: int = 1, path: Path | None = None, framing: str = "audit"
) -> tuple[Path, GenStats]:
    """The generated file for (lines, seed, framing), built once, then reused from the cache."""
    path = path or default_path(lines, seed, framing)
    meta = path.with_suffix(".json")
    if path.is_file() and meta.is_file():
        stats = GenStats(**json.loads(meta.read_text()))
        if (
            stats.lines == lines
            and stats.framing == framing
            and stats.version == GENERATOR_VERSION
            and stats.bytes == path.stat().st_size
        ):
            return path, stats
    return path, generate(path, lines, seed, framing=framing)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines to write (default 1M)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("-o", "--output", type=Path, help="output file (default bench/.data/...)")
    ap.add_argument(
        "--framing",
        choices=["audit", "kern", "short"],
        default="audit",
        help="audit.log (default), the kernel's kern.log rendering or journalctl -o short's "
        "of journald's audit transport",
    )
    ap.add_argument("--force", action="store_true", help="rebuild even if cached")
    args = ap.parse_args(argv)
    path = args.output or default_path(args.lines, args.seed, args.framing)
    if args.force:
        stats = generate(path, args.lines, args.seed, framing=args.framing)
    else:
        path, stats = ensure(args.lines, args.seed, path, args.framing)
    print(
        f"{path}: {stats.lines} lines, {stats.bytes / 1e6:.1f} MB, "
        f"AppArmor {stats.apparmor} ({100 * stats.apparmor / stats.lines:.1f} %), "
        f"SELinux {stats.selinux} ({100 * stats.selinux / stats.lines:.2f} %)",
        file=sys.stderr,
    )
    print(json.dumps(asdict(stats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
