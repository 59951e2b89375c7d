"""One line → one classified record: the reference (pure-Python) line parser.

``classify_line`` recognises every framing the parser accepts and returns a
``Line``: a MAC record (AppArmor / SELinux) with its columns, an enrichment record of the
same event (SYSCALL, CWD, PROCTITLE, EOE, …), a loss report, a reject, or nothing. The
stream layer (``parsers.stream``) groups the records of one event and builds Arrow.

Framings (auto-detected per line):

* audit.log: ``[node=H ]type=T msg=audit(SEC.MSEC:SERIAL): body`` (T a name, a number,
  ``UNKNOWN[1503]``);
* kern.log / syslog: RFC 3164 (``Jan  2 15:09:04``), ISO 8601 with fractions and offsets,
  ``YYYY-MM-DD hh:mm:ss``, then ``host tag: [uptime] audit: type=1400 audit(…): body``;
* dmesg: ``[uptime] audit: type=1400 audit(…): body``;
* ``audit[pid]: AVC apparmor=…`` (journald's short rendering, no audit id) and
  ``dbus[pid]: apparmor=…`` (dbus-daemon's syslog, no audit id);
* issue 15: ``<5>`` printk levels, ``dmesg -T`` dates (any locale), OpenWrt ``logread``,
  rsyslog's ``kern.notice`` before the tag, a bare ``kernel:``, ``grep -H`` file names,
  ``ausearch -i`` output, bare ``AVC apparmor=…``, and an audit record after any prefix
  ending at a space or ``:``. What cannot prove kernel origin is ``unverified`` and
  suspect (``classify_line``).
"""

from __future__ import annotations

import calendar
import contextlib
import re
from dataclasses import dataclass, field
from typing import Any, Final

from armorwatch.parsers import fields as F
from armorwatch.parsers import schema as S
from armorwatch.parsers.framing import MAX_LINE_BYTES

# --- line kinds --------------------------------------------------------------------
MAC: Final = "mac"
AUX: Final = "aux"
LOSS: Final = "loss"
REJECT: Final = "reject"

# Reject reasons, written once (they land in the dead-letter file).
R_BAD_HEADER: Final = "malformed audit header"
# an audit record glued to text before it ("GARBAGEtype=AVC …"), no token boundary
R_BAD_PREFIX: Final = "unrecognised line prefix (no audit record after a space or ':')"
R_LEGACY: Final = "pre-2.6.36 AppArmor text format (REJECTING/PERMITTING/AUDITING/LOGPROF-HINT)"
R_BAD_HEX: Final = "malformed hex value"
R_UNTERMINATED: Final = "unterminated quoted value (truncated line)"
R_NO_EVENT: Final = "AppArmor record without apparmor= or operation="
R_TRUNCATED: Final = "truncated kernel AppArmor record (no pid=)"
R_BAD_LABEL: Final = "AppArmor label with control bytes (kernel logged garbage)"
R_BAD_SELINUX: Final = "malformed SELinux avc record"
R_BAD_JSON: Final = "malformed journald JSON entry"
R_EMPTY_BODY: Final = "MAC record with an empty body (no kernel writes one)"

# Line caps. The kernel's audit record limit is 8,970 bytes (libaudit MAX_AUDIT_MESSAGE_LENGTH:
# AUDIT_MESSAGE_TEXT_MAX 8,560 + header), so no real record line is longer than that plus its
# framing: node=, the ENRICHED tail (< 1 KiB), a syslog/dmesg prefix (date, a host name of
# at most 253 bytes, tag, [uptime]). 16 KiB admits every such line with room to spare.
MAX_LINE: Final = 16 << 10
# A `journalctl -o json` entry: the message JSON-escaped, or as an array of byte numbers
# (at most 4 characters a byte: 8,970 -> 35,880), plus journald's fields; for the audit
# transport an _AUDIT_FIELD_* copy of each value (as long again) -- under 80 KiB.
MAX_JSON_LINE: Final = 128 << 10
# The most of a too-long line kept in the dead letter (the rest is skipped): the most a
# reader holds of a line that has not ended (parsers.framing), so memory stays bounded.
MAX_KEEP: Final = MAX_LINE_BYTES
R_TOO_LONG: Final = (
    f"line longer than {MAX_LINE >> 10} KiB (an audit record is at most 8,970 bytes); "
    f"up to its first {MAX_KEEP >> 20} MiB kept"
)
R_TOO_LONG_JSON: Final = (
    f"journald JSON entry longer than {MAX_JSON_LINE >> 10} KiB; "
    f"up to its first {MAX_KEEP >> 20} MiB kept"
)

# Audit record types by number (those that matter here).
TYPE_NAMES: Final = {
    "1107": "USER_AVC",
    "1300": "SYSCALL",
    "1302": "PATH",
    "1307": "CWD",
    "1320": "EOE",
    "1327": "PROCTITLE",
    "1400": "AVC",
    "1401": "SELINUX_ERR",
    "1402": "AVC_PATH",
    "1500": "APPARMOR",
    "1501": "APPARMOR_AUDIT",
    "1502": "APPARMOR_ALLOWED",
    "1503": "APPARMOR_DENIED",
    "1504": "APPARMOR_HINT",
    "1505": "APPARMOR_STATUS",
    "1506": "APPARMOR_ERROR",
    "1507": "APPARMOR_KILL",
}
LEGACY_EVENT: Final = {
    "APPARMOR_AUDIT": S.AA_AUDIT,
    "APPARMOR_ALLOWED": S.AA_ALLOWED,
    "APPARMOR_DENIED": S.AA_DENIED,
    "APPARMOR_HINT": S.AA_HINT,
    "APPARMOR_STATUS": S.AA_STATUS,
    "APPARMOR_ERROR": S.AA_ERROR,
    "APPARMOR_KILL": S.AA_KILL,
}
AA_EVENTS: Final = frozenset(LEGACY_EVENT.values())
# Records of an event that enrich its MAC record, and the one that ends it.
ENRICH_TYPES: Final = frozenset({"SYSCALL", "CWD", "PROCTITLE", "EOE", "PATH"})
# Types that are a whole event by themselves (auditd: user-space messages, no syscall).
SINGLE_TYPES: Final = frozenset({"USER_AVC"})

# AppArmor key → column. First occurrence of a key wins (a forged second apparmor= never
# overrides the first); several keys feed one column (requested_mask= / requested=).
AA_STR_KEYS: Final = {
    "apparmor": S.APPARMOR,
    "operation": S.OPERATION,
    "class": S.CLASS,
    "profile": S.PROFILE,
    "label": S.PROFILE,
    "peer": S.PEER,
    "peer_label": S.PEER_LABEL,
    "peer_profile": S.PEER_LABEL,
    "name": S.NAME,
    "target": S.NAME2,
    "name2": S.NAME2,
    "requested_mask": S.REQUESTED_MASK,
    "requested": S.REQUESTED_MASK,
    "denied_mask": S.DENIED_MASK,
    "denied": S.DENIED_MASK,
    "mask": S.DENIED_MASK,
    "comm": S.COMM,
    "exe": S.EXE,
    "info": S.INFO,
    "capname": S.CAPNAME,
    "family": S.FAMILY,
    "sock_type": S.SOCK_TYPE,
    "protocol": S.PROTOCOL,
    "addr": S.ADDR,
    "peer_addr": S.PEER_ADDR,
    "laddr": S.LADDR,
    "faddr": S.FADDR,
    "signal": S.SIGNAL,
    "bus": S.BUS,
    "path": S.PATH,
    "interface": S.INTERFACE,
    "member": S.MEMBER,
    "fstype": S.FSTYPE,
    "flags": S.FLAGS,
    "srcname": S.SRCNAME,
    "namespace": S.NAMESPACE,
    "execpath": S.EXECPATH,
    "attribute": S.ATTRIBUTE,
    "ns": S.NS,
    "method": S.MEMBER,  # dbus-broker says method= where dbus-daemon says member=
    "tcontext": S.PEER_LABEL,  # io_uring: the target label
    "saddr": S.LADDR,  # newer kernels name the local/foreign address saddr/daddr
    "daddr": S.FADDR,
}
AA_INT_KEYS: Final = {
    "pid": S.PID,
    "peer_pid": S.PEER_PID,
    "fsuid": S.FSUID,
    "ouid": S.OUID,
    "error": S.ERROR,
    "capability": S.CAPABILITY,
    "lport": S.LPORT,
    "fport": S.FPORT,
    "parent": S.PARENT,
    "task": S.TASK,
    "magic_token": S.MAGIC_TOKEN,
    "src": S.LPORT,
    "dest": S.FPORT,
}
SE_STR_KEYS: Final = {
    "comm": S.COMM,
    "exe": S.EXE,
    "name": S.NAME,
    "path": S.NAME,
    "scontext": S.SCONTEXT,
    "tcontext": S.TCONTEXT,
    "tclass": S.TCLASS,
    "laddr": S.LADDR,
    "faddr": S.FADDR,
    "saddr": S.LADDR,
    "daddr": S.FADDR,
    "interface": S.INTERFACE,
    "member": S.MEMBER,
}
SE_INT_KEYS: Final = {
    "pid": S.PID,
    "capability": S.CAPABILITY,
    "lport": S.LPORT,
    "fport": S.FPORT,
    "src": S.LPORT,
    "dest": S.FPORT,
}
# The kernel-written prefix of a USER_AVC (who really sent it).
SENDER_KEYS: Final = {"pid": S.SENDER_PID, "uid": S.SENDER_UID, "auid": S.SENDER_AUID}


class _LazyPattern:
    """``re.compile(*args)`` done at the first use, which puts the compiled pattern in
    its place among this module's globals (compiling all of them was ~25M instructions,
    ~6 ms, of every start-up; a stream the C scanner reads whole uses none of them)."""

    __slots__ = ("_args", "_name", "_pattern")

    def __init__(self, name: str, args: tuple[Any, ...]) -> None:
        self._name, self._args = name, args
        self._pattern: re.Pattern[Any] | None = None

    def __getattr__(self, attr: str) -> Any:
        if self._pattern is None:
            self._pattern = re.compile(*self._args)
            globals()[self._name] = self._pattern
        return getattr(self._pattern, attr)


def _lazy(name: str, *args: Any) -> Any:
    return _LazyPattern(name, args)


INT32_COLS: Final = frozenset({S.ERROR, S.CAPABILITY, S.LPORT, S.FPORT})
MAX_SEC: Final = 10**11  # audit(SEC…) beyond this is no timestamp (year 5138)
_LABEL_COLS: Final = (S.PROFILE, S.PEER_LABEL, S.PEER, S.NAMESPACE)
_CONTROL: Final[re.Pattern[str]] = _lazy("_CONTROL", r"[\x00-\x1f\x7f]")

# --- regular expressions (bytes) -------------------------------------------------------
# audit header: optional node=, type=T, optional msg=, audit(SEC.MSEC:SERIAL):
AUDIT_HDR: Final[re.Pattern[bytes]] = _lazy(
    "AUDIT_HDR",
    rb"(?:(?:node|host)=(?P<node>\S+) +)?type=(?P<type>[A-Z_0-9]+(?:\[\d+\])?) +(?:msg=)?"
    rb"audit\((?P<sec>\d+)\.(?P<ms>\d{3}):(?P<serial>\d+)\): ?",
)
# the same without type= (sepolgen's "kernel: audit(…): avc: …")
_BARE_HDR: Final[re.Pattern[bytes]] = _lazy(
    "_BARE_HDR", rb"audit\((?P<sec>\d+)\.(?P<ms>\d{3}):(?P<serial>\d+)\): ?"
)
_BODY_TYPE: Final[re.Pattern[bytes]] = _lazy("_BODY_TYPE", rb" *type=(\d+) ")
_LOOSE_HDR: Final[re.Pattern[bytes]] = _lazy(
    "_LOOSE_HDR", rb"(?:(?:node|host)=\S+ +)?type ?= ?\S+ +(?:msg=)?audit\("
)
# journald short rendering of the audit transport: "audit[633]: AVC apparmor=…"
_BARE_TYPE: Final[re.Pattern[bytes]] = _lazy("_BARE_TYPE", rb"([A-Z][A-Z_]+) ")
_SE_AVC: Final[re.Pattern[bytes]] = _lazy(
    "_SE_AVC", rb"avc: +(?P<res>denied|granted) +\{(?P<perms>[^}]*)\} +for +", re.ASCII
)
_LEGACY_TEXT: Final[re.Pattern[bytes]] = _lazy(
    "_LEGACY_TEXT", rb"(?:REJECTING|PERMITTING|AUDITING|LOGPROF-HINT) "
)
_CALLBACKS: Final[re.Pattern[bytes]] = _lazy(
    "_CALLBACKS", rb"(?P<fn>[\w.]+): (?P<n>\d+) callbacks suppressed"
)
_AUDIT_LOST: Final[re.Pattern[bytes]] = _lazy("_AUDIT_LOST", rb"audit_lost=(?P<n>\d+)")
_AUDIT_STARTS: Final = (b"type=", b"node=", b"host=")
# record types a bare line may start with ("AVC apparmor=…", `journalctl -o cat`)
_BARE_TYPES: Final = frozenset({"AVC", "USER_AVC", *LEGACY_EVENT})

# syslog prefixes: timestamp, host, tag
_MON: Final = {m.encode(): i for i, m in enumerate(calendar.month_abbr) if m}
# rsyslog templates may put facility.severity ("kern.notice") between host and tag
_HOST_TAG: Final = (
    rb"(?:(?P<host>\S+) +)?(?:(?P<fac>[a-z]+\.[a-z0-9]+):? +)?"
    rb"(?P<tag>[^\s:\[]+)(?:\[\d+\])?: "
)
_RFC3164: Final[re.Pattern[bytes]] = _lazy(
    "_RFC3164",
    rb"(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d)"
    rb"(?P<frac>\.\d+)?(?P<tz>Z|[+-]\d\d:?\d\d)? +" + _HOST_TAG,
)
_ISO: Final[re.Pattern[bytes]] = _lazy(
    "_ISO",
    rb"(?P<y>\d{4})-(?P<mo>\d\d)-(?P<d>\d\d)[T ](?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d)"
    rb"(?P<frac>\.\d+)?(?P<tz>Z|[+-]\d\d:?\d\d)? +" + _HOST_TAG,
)
_DMESG: Final[re.Pattern[bytes]] = _lazy("_DMESG", rb"\[ *\d+\.\d+\] ")
# --- prefixes beyond syslog (issue 15); each is stripped and the rest classified ---
# printk level / syslog PRI: `dmesg -r`, /proc/kmsg, raw syslog ("<5>", "<13>")
_PRI: Final[re.Pattern[bytes]] = _lazy("_PRI", rb"<(?P<pri>\d{1,3})>")
# `dmesg -T` (day and month names in the reader's locale) and `dmesg --time-format iso`
_DMESG_T: Final[re.Pattern[bytes]] = _lazy(
    "_DMESG_T", rb"\[(?P<when>[^\]\n]{0,60}\d\d:\d\d:\d\d[^\]\n]{0,40})\] "
)
_CTIME: Final[re.Pattern[bytes]] = _lazy(
    "_CTIME",
    rb"(?:[A-Z][a-z]{2} +)?(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) "
    rb"(?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d) (?P<y>\d{4})",
)
# OpenWrt `logread`: ctime, then facility.severity, then the tag
_LOGREAD: Final[re.Pattern[bytes]] = _lazy(
    "_LOGREAD",
    rb"[A-Z][a-z]{2} +(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) "
    rb"(?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d) (?P<y>\d{4}) +(?P<fac>[a-z]+\.[a-z0-9]+) +"
    rb"(?P<tag>[^\s:\[]+)(?:\[\d+\])?: ",
)
# a syslog tag without date or host ("kernel: audit: …" pasted from a log)
# (only the kernel's: "audit: " alone is dmesg -t, and "audit[pid]: " proves nothing bare)
_BARE_TAG: Final[re.Pattern[bytes]] = _lazy("_BARE_TAG", rb"(?P<tag>kernel|kern\.[a-z0-9]+): ")
# `grep -H` (or `grep` over several files): "FILE:" glued to the line
_GREP_FILE: Final[re.Pattern[bytes]] = _lazy("_GREP_FILE", rb"[^\s:]+:(?=\S)")
# `ausearch -i`: the time rendered in the reader's locale (taken as UTC: the zone is not
# written), " : " after the header, values unquoted and interpreted
_AUSEARCH_HDR: Final[re.Pattern[bytes]] = _lazy(
    "_AUSEARCH_HDR",
    rb"(?:node=(?P<node>\S+) +)?type=(?P<type>[A-Z_0-9]+(?:\[\d+\])?) +msg=audit\("
    rb"(?P<date>\d{1,4}[/.-]\d\d?[/.-]\d{2,4}) (?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d)"
    rb"\.(?P<ms>\d{3}):(?P<serial>\d+)\) : ",
)
# where an audit record may start after a prefix nothing above reads: at a token boundary
_RECORD_AT: Final[re.Pattern[bytes]] = _lazy(
    "_RECORD_AT", rb"(?:(?<=[\s:])|^)(?:(?:(?:node|host)=\S+ +)?type=\S+ +(?:msg=)?)?audit\("
)


@dataclass(slots=True)
class Line:
    """What one input line is, with the values the stream layer needs."""

    kind: str | None = None
    """MAC, AUX, LOSS, REJECT, or None for a line that is none of our business."""
    cols: dict[str, Any] = field(default_factory=dict)
    """MAC: column → value. AUX: the enrichment columns it carries."""
    record_type: str | None = None
    node: str | None = None
    serial: int | None = None
    ts: int | None = None
    """Milliseconds since the epoch (UTC)."""
    reason: str | None = None
    """REJECT: why. LOSS: the loss kind."""
    count: int = 0
    """LOSS: how many were lost."""
    detail: str | None = None
    framed: bool = False
    """A syslog-style prefix (date/host/tag) was read: ``kernel_tag`` applies."""
    unproven: bool = False
    """Found after a prefix that cannot prove kernel origin (grep output, an unknown
    prefix, bare text, a non-kernel facility): never kernel origin, never grouped."""
    alone: bool = False
    """Emitted by itself, neither enriching nor enriched by other records of its event."""


# --- key=value tokeniser ---------------------------------------------------------------


# separators between fields: space, tab, and the newline libselinux once wrote into
# USER_AVC text ("tclass=dbus\n exe=…")
_WS: Final = frozenset(b" \t\n\r")


def tokenize(body: bytes) -> tuple[list[tuple[str, bytes, bool]], bytes, bool]:
    """``([(key, value, quoted)], enriched_tail, ok)`` of a record body.

    Values are ``"…"`` (no escapes: the kernel hex-encodes anything with a quote),
    ``'…'`` (USER_AVC ``msg='…'``, kept whole for a second pass) or run to the next
    space. Bare words (``avc:``, ``{``) are skipped. Text after the ENRICHED 0x1d
    separator is returned separately so its upper-case names never shadow the kernel's.
    ``ok`` is False when a quoted value is not terminated (a truncated line).
    """
    sep = body.find(b"\x1d")
    tail = b""
    if sep >= 0:
        body, tail = body[:sep], body[sep + 1 :]
    out: list[tuple[str, bytes, bool]] = []
    n = len(body)
    i = 0
    while i < n:
        c = body[i]
        if c in _WS:
            i += 1
            continue
        eq = -1
        j = i
        while j < n:
            cj = body[j]
            if cj == 0x3D:  # '='
                eq = j
                break
            if cj in _WS or cj == 0x22 or cj == 0x27:
                break
            j += 1
        if eq < 0:
            # a bare word: skip it
            while j < n and body[j] not in _WS:
                j += 1
            i = j
            continue
        key = body[i:eq].decode("ascii", "replace")
        v = eq + 1
        if v < n and body[v] in (0x22, 0x27):
            q = body[v]
            end = body.find(bytes((q,)), v + 1)
            if end < 0:
                out.append((key, body[v + 1 :], True))
                return out, tail, False
            out.append((key, body[v + 1 : end], True))
            i = end + 1
        else:
            end = v
            while end < n and body[end] not in _WS:
                end += 1
            out.append((key, body[v:end], False))
            i = end
    return out, tail, True


def enriched(tail: bytes) -> dict[str, str]:
    """The ENRICHED tail's interpreted values (``SYSCALL=openat``, ``AUID="alice"``)."""
    toks, _, _ = tokenize(tail)
    return {k: F.text(v) for k, v, _ in toks}


# --- timestamps -------------------------------------------------------------------------


def _tz_offset_s(tz: bytes | None) -> int:
    if not tz or tz == b"Z":
        return 0
    sign = -1 if tz[:1] == b"-" else 1
    digits = tz[1:].replace(b":", b"")
    return sign * (int(digits[:2]) * 3600 + int(digits[2:4]) * 60)


def _frac_ms(frac: bytes | None) -> int:
    return int((frac[1:] + b"000")[:3]) if frac else 0


def syslog_ts(m: re.Match[bytes], year: int) -> int:
    """Milliseconds of a syslog timestamp match (RFC 3164 lacks a year: ``year`` fills it)."""
    g = m.groupdict()
    if "y" in g:
        y, mo, d = int(g["y"]), int(g["mo"]), int(g["d"])
    else:
        y, mo, d = year, _MON.get(g["mon"], 1), int(g["day"])
    try:
        secs = calendar.timegm((y, mo, d, int(g["h"]), int(g["m"]), int(g["s"]), 0, 0, 0))
    except (ValueError, OverflowError):
        return 0
    return (secs - _tz_offset_s(g["tz"])) * 1000 + _frac_ms(g["frac"])


# --- the line classifier ------------------------------------------------------------------


# apparmor= as a key, not the tail of another key (subj_apparmor=)
_AA_KEY: Final[re.Pattern[bytes]] = _lazy("_AA_KEY", rb"(?:^|[\s'])apparmor=")


def has_aa(body: bytes) -> bool:
    """Whether ``body`` has an ``apparmor=`` key."""
    return b"apparmor=" in body and _AA_KEY.search(body) is not None


def _mac_looking(line: bytes) -> bool:
    return (
        has_aa(line)
        or b"avc: " in line
        or b"type=APPARMOR" in line
        or (b"type=15" in line and b"audit(" in line)
        or b"UNKNOWN[15" in line
    )


# Bytes no text log line holds: C0 controls except tab, LF, CR, ESC (terminal colours) and
# GS (auditd's ENRICHED separator). The kernel hex-encodes them inside records.
_BINARY: Final[re.Pattern[bytes]] = _lazy("_BINARY", rb"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c\x1e\x1f]")


def is_binary(line: bytes) -> bool:
    """Whether ``line`` holds a byte no text log has (random or binary data)."""
    return _BINARY.search(line) is not None


def may_matter(line: bytes) -> bool:
    """False only when ``classify_line(line)`` is an empty ``Line()``: a cheap test that
    lets the stream skip the classifier for lines without a keyword (junk, other programs)."""
    return (
        b"audit" in line  # headers, audit_lost=, "kauditd_printk_skb: N callbacks …"
        or b"apparmor=" in line
        or b"avc: " in line
        or b"APPARMOR" in line
        or b"UNKNOWN[15" in line
        or len(line) > MAX_LINE
    )


def too_long(line: bytes, reason: str = R_TOO_LONG) -> Line:
    """A line over its cap: no kernel wrote it. Rejected (its first MAX_KEEP bytes kept by
    the caller) when it looks like a record, else nothing (never the time of a clock)."""
    head = line[:MAX_KEEP]
    if head[:5] in _AUDIT_STARTS or _mac_looking(head):
        return Line(kind=REJECT, reason=reason)
    return Line()


def classify_line(
    line: bytes, year: int, trusted_kernel: bool | None = None, kernel_tag: bool = True
) -> Line:
    """Classify one line (without its newline) of any text framing.

    ``trusted_kernel`` overrides origin detection (journald knows the transport). Every
    line that starts with an audit header carries its time, whatever it turns out to be
    (reject, loss, ignored): it advances the event clock of the grouping.

    ``kernel_tag``: whether a syslog tag (``kernel:``, ``audit:``) proves where a line came
    from. True for kern.log (glibc maps LOG_KERN from user space to LOG_USER); False for a
    general syslog file, where anyone can ``logger -t kernel``: its MAC records get origin
    ``unverified`` and are marked suspect.
    """
    if len(line) > MAX_LINE:
        return too_long(line)  # and no time: the scanner never parses such a line either
    res = _classify(line, year, trusted_kernel)
    if res.unproven and trusted_kernel is not True:
        # a record of unproven origin never passes for the kernel's, never enriches a
        # kernel record (its SYSCALL/PROCTITLE are ignored), never reports kernel loss
        if res.kind in (AUX, LOSS):
            return Line()
        if res.kind == MAC:
            res.alone = True
            if res.cols.get(S.ORIGIN) == S.ORIGIN_KERNEL:
                res.cols[S.ORIGIN] = S.ORIGIN_UNVERIFIED
                res.cols.setdefault(S.SUSPECT, S.SUSPECT_UNPROVEN)
    if (
        not kernel_tag
        and trusted_kernel is None
        and res.kind == MAC
        and res.cols.get(S.ORIGIN) == S.ORIGIN_KERNEL
        and res.framed
    ):
        res.cols[S.ORIGIN] = S.ORIGIN_UNVERIFIED
        res.cols.setdefault(S.SUSPECT, S.SUSPECT_UNVERIFIED)
    if res.ts is None and line[:5] in (b"type=", b"node=", b"host="):
        hm = AUDIT_HDR.match(line)
        if hm is not None and len(hm.group("sec")) <= 11:
            res.ts = int(hm.group("sec")) * 1000 + int(hm.group("ms"))
    return res


def _ctime_ts(m: re.Match[bytes]) -> int | None:
    """Milliseconds of a ctime-like match (English month name, year); None when unread."""
    mon = _MON.get(m.group("mon"))
    if mon is None:
        return None
    try:
        secs = calendar.timegm(
            (int(m.group("y")), mon, int(m.group("day")), int(m.group("h")),
             int(m.group("m")), int(m.group("s")), 0, 0, 0)
        )  # fmt: skip
    except (ValueError, OverflowError):
        return None
    return secs * 1000


def _classify(line: bytes, year: int, trusted_kernel: bool | None, depth: int = 0) -> Line:
    """Read the framing prefixes a line may carry, then classify the record after them.

    In order: a printk level / syslog PRI (``<5>``), a syslog date + host (+ rsyslog's
    facility.severity) + tag, OpenWrt ``logread``'s ctime + facility + tag, or a bare
    ``kernel:`` tag; then a dmesg ``[uptime]`` or ``dmesg -T`` ``[date]``; then ``audit: ``.
    What the prefixes say (host, time, tag) is kept; the record's own header time wins.
    """
    ts_frame: int | None = None
    host: str | None = None
    tag: bytes | None = None
    fac: bytes | None = None
    framed = unproven = False
    rest = line
    pm = _PRI.match(rest)
    if pm is not None:
        rest = rest[pm.end() :]
        # facility 0 is the kernel's; user space cannot log with it through /dev/kmsg
        unproven = int(pm.group("pri")) >= 8
    m = _RFC3164.match(rest) if rest[:1].isalpha() else None
    if m is None and rest[:1].isdigit():
        m = _ISO.match(rest)
    if m is not None:
        ts_frame = syslog_ts(m, year)
        host = m.group("host").decode("utf-8", "backslashreplace") if m.group("host") else None
        tag, fac = m.group("tag"), m.group("fac")
        rest = rest[m.end() :]
    else:
        lm = _LOGREAD.match(rest) if rest[:1].isalpha() else None
        if lm is not None:
            ts_frame = _ctime_ts(lm)
            tag, fac = lm.group("tag"), lm.group("fac")
            rest = rest[lm.end() :]
        else:
            # a bare "kernel: " (journald MESSAGE of syslog transport has none of this)
            tm = _BARE_TAG.match(rest)
            if tm is not None:
                tag = tm.group("tag")
                rest = rest[tm.end() :]
    if tag is not None:
        framed = True
        if tag.startswith(b"kern"):  # kernel, kern.notice (socklog), kern.warn …
            tag = b"kernel"
        if fac is not None and not fac.startswith(b"kern") and tag == b"kernel":
            unproven = True  # "user.notice kernel:": the facility says user space
    dm = _DMESG.match(rest)
    if dm is not None:
        rest = rest[dm.end() :]
    elif rest[:1] == b"[":
        dt = _DMESG_T.match(rest)
        if dt is not None:
            # local time of the reader, names in its locale: read when English, as UTC
            if ts_frame is None:
                ct = _CTIME.match(dt.group("when"))
                ts_frame = _ctime_ts(ct) if ct is not None else None
            rest = rest[dt.end() :]
    if rest.startswith(b"audit: "):
        rest = rest[7:]
    res = _record(line, rest, ts_frame, host, tag, trusted_kernel, year, depth)
    res.framed = res.framed or framed
    res.unproven = res.unproven or unproven
    return res


def _record(
    line: bytes,
    rest: bytes,
    ts_frame: int | None,
    host: str | None,
    tag: bytes | None,
    trusted_kernel: bool | None,
    year: int,
    depth: int,
) -> Line:
    """Classify ``rest``: what follows the framing prefixes read off ``line``."""
    # loss reports come from the kernel's own printk lines ("kauditd_printk_skb: 7
    # callbacks suppressed", "audit: audit_lost=12 …"): never from an audit record or
    # another program, whose text anyone can fill with such words
    printk = (
        trusted_kernel is not False
        and (tag is None or tag == b"kernel")
        and not rest.startswith(_AUDIT_STARTS)
    )
    if printk and b"callbacks suppressed" in rest:
        cm = _CALLBACKS.match(rest)
        if cm is not None and b"audit" in cm.group("fn"):
            return Line(
                kind=LOSS,
                reason=S.LOSS_CALLBACKS_SUPPRESSED,
                count=int(cm.group("n")),
                detail=cm.group("fn").decode("ascii", "replace"),
                ts=ts_frame,
                node=host,
            )
        return Line()
    if printk and rest.startswith(b"audit_lost="):
        lm = _AUDIT_LOST.match(rest)
        if lm is not None and int(lm.group("n")) > 0:
            return Line(
                kind=LOSS,
                reason=S.LOSS_KERNEL_LOST,
                count=int(lm.group("n")),
                detail=F.text(rest[:200]),
                ts=ts_frame,
                node=host,
            )

    # the audit header starts the record after the prefixes read; a record further in
    # (grep output, an unknown prefix) is looked for below and never trusted as kernel
    hm = AUDIT_HDR.match(rest)
    if hm is not None:
        rtype = hm.group("type").decode("ascii")
        rtype = TYPE_NAMES.get(rtype, rtype)
        if rtype.startswith("UNKNOWN["):
            rtype = TYPE_NAMES.get(rtype[8:-1], rtype)
        node = hm.group("node")
        if len(hm.group("sec")) > 11 or len(hm.group("serial")) > 19:
            return Line(kind=REJECT, reason=R_BAD_HEADER)
        ts = int(hm.group("sec")) * 1000 + int(hm.group("ms"))
        serial = int(hm.group("serial"))
        body = rest[hm.end() :]
        origin_kernel = trusted_kernel
        if origin_kernel is None:
            origin_kernel = tag is None or tag == b"kernel" or tag == b"audit"
        node_s = node.decode("utf-8", "backslashreplace") if node else host
        res = audit_record(rtype, body, ts, serial, node_s, origin_kernel)
        if res.kind == REJECT and res.ts is None:
            res.ts = ts  # as a rejected audit.log line: the header's time (engines agree)
        if res.node is None:
            res.node = node_s
        return res
    bm = _BARE_HDR.match(rest)
    if bm is not None:
        # "kernel: audit(…): avc: …" (sepolgen) and 2007's "audit(…): type=1503 …"
        if len(bm.group("sec")) > 11 or len(bm.group("serial")) > 19:
            return Line(kind=REJECT, reason=R_BAD_HEADER)
        ts = int(bm.group("sec")) * 1000 + int(bm.group("ms"))
        origin_kernel = trusted_kernel
        if origin_kernel is None:
            origin_kernel = tag is None or tag == b"kernel"
        body = rest[bm.end() :]
        rtype = "AVC"
        tm = _BODY_TYPE.match(body)
        if tm is not None:
            rtype = TYPE_NAMES.get(tm.group(1).decode(), rtype)
        res = audit_record(rtype, body, ts, int(bm.group("serial")), host, origin_kernel)
        if res.node is None:
            res.node = host
        return res
    am = _AUSEARCH_HDR.match(rest) if rest[:5] in _AUDIT_STARTS else None
    if am is not None:
        return _ausearch(am, rest, trusted_kernel)
    if not _mac_looking(rest):
        return Line()
    if tag == b"audit" or (tag is None and trusted_kernel is not None):
        am = _BARE_TYPE.match(rest)
        if am is not None:
            # journald's rendering of the audit transport ("audit[633]: AVC apparmor=…"):
            # no audit id
            rtype = am.group(1).decode("ascii")
            origin_kernel = trusted_kernel if trusted_kernel is not None else True
            return audit_record(rtype, rest[am.end() :], ts_frame, None, host, origin_kernel)
    elif tag is None and rest is line:
        am = _BARE_TYPE.match(rest)
        if am is not None and am.group(1).decode("ascii") in _BARE_TYPES:
            # "AVC apparmor=…" (`journalctl -o cat`): the kernel's record type, but any
            # program's message prints the same, so the origin stays unproven
            res = audit_record(am.group(1).decode("ascii"), rest[am.end() :], None, None,
                               None, True)  # fmt: skip
            res.unproven = True
            return res
    if _LOOSE_HDR.match(rest):
        return Line(kind=REJECT, reason=R_BAD_HEADER, node=host)
    if depth == 0 and rest is line:
        gm = _GREP_FILE.match(line)
        if gm is not None:
            # `grep -H`: "FILE:" then a line of any framing; the file name proves nothing
            sub = _classify(line[gm.end() :], year, trusted_kernel, depth + 1)
            if sub.kind is not None:
                sub.unproven = True
                return sub
    fm = _RECORD_AT.search(rest, 1)
    if fm is not None and depth < 2:
        # a record after a prefix nothing above reads: its header's time, no origin proof
        # (a syslog tag read before the prefix still says user space when it is not kernel:)
        sub = _record(rest[fm.start() :], rest[fm.start() :], ts_frame, host, tag,
                      trusted_kernel, year, depth + 1)  # fmt: skip
        sub.unproven = True
        return sub
    if b"audit(" in rest:
        return Line(kind=REJECT, reason=R_BAD_PREFIX, node=host)
    if has_aa(rest):
        # dbus-daemon's own syslog line (no audit id): user space by construction
        start = _AA_KEY.search(rest).end() - 9  # type: ignore[union-attr]
        return audit_record("USER_AVC", rest[start:], ts_frame, None, host, False, inner=True)
    if b"avc: " in rest and _SE_AVC.search(rest):
        start = rest.find(b"avc: ")
        return audit_record("USER_AVC", rest[start:], ts_frame, None, host, False, inner=True)
    return Line()


def _ausearch(m: re.Match[bytes], rest: bytes, trusted_kernel: bool | None) -> Line:
    """An `ausearch -i` record: interpreted values, the time in the reader's locale.

    The date is month/day/year with "/" (the C and en_US locales), day.month.year with
    "." and year-month-day with "-"; the clock is local time of an unknown zone, read as
    UTC. Values are text (never hex). Such records are not grouped into events.
    """
    parts = re.split(rb"[/.-]", m.group("date"))
    if m.group("date")[4:5] == b"-":
        y, mo, d = parts
    elif b"." in m.group("date"):
        d, mo, y = parts
    else:
        mo, d, y = parts
    year = int(y) + (2000 if len(y) == 2 else 0)
    try:
        secs = calendar.timegm(
            (year, int(mo), int(d), int(m.group("h")), int(m.group("m")), int(m.group("s")),
             0, 0, 0)
        )  # fmt: skip
    except (ValueError, OverflowError):
        return Line(kind=REJECT, reason=R_BAD_HEADER)
    if len(m.group("serial")) > 19:
        return Line(kind=REJECT, reason=R_BAD_HEADER)
    ts = secs * 1000 + int(m.group("ms"))
    rtype = m.group("type").decode("ascii")
    rtype = TYPE_NAMES.get(rtype, rtype)
    node = m.group("node").decode("utf-8", "backslashreplace") if m.group("node") else None
    origin = trusted_kernel if trusted_kernel is not None else True
    res = audit_record(rtype, rest[m.end() :], ts, int(m.group("serial")), node, origin,
                       interpreted=True)  # fmt: skip
    if res.node is None:
        res.node = node
    res.alone = True
    return res


def audit_record(
    rtype: str,
    body: bytes,
    ts: int | None,
    serial: int | None,
    node: str | None,
    origin_kernel: bool,
    inner: bool = False,
    interpreted: bool = False,
) -> Line:
    """Turn one audit record (header already split off) into a Line.

    ``interpreted``: values are text as ``ausearch -i`` prints them (never hex-decoded).
    """
    if rtype in ENRICH_TYPES:
        return _aux(rtype, body, ts, serial, node, interpreted)
    legacy = LEGACY_EVENT.get(rtype)
    is_user = rtype == "USER_AVC"
    if not body.strip() and (rtype in ("AVC", "USER_AVC") or legacy is not None):
        return Line(kind=REJECT, reason=R_EMPTY_BODY)  # not a silent drop
    if not (
        legacy is not None
        or has_aa(body)
        or b"avc: " in body
        or rtype in ("APPARMOR", "UNKNOWN[1500]")
    ):
        return Line(node=node, serial=serial, ts=ts, record_type=rtype)
    if _LEGACY_TEXT.match(body.lstrip()) or rtype in ("APPARMOR", "UNKNOWN[1500]"):
        return Line(kind=REJECT, reason=R_LEGACY)

    cols: dict[str, Any] = {}
    sender: dict[str, Any] = {}
    if is_user and not inner:
        # the kernel-written prefix up to msg='…' identifies the sender; the inner text
        # is whatever the sending process chose to write
        start = body.find(b"msg='")
        if start < 0:
            return Line(node=node, serial=serial, ts=ts, record_type=rtype)
        toks, _, _ = tokenize(body[:start])
        for k, v, _q in toks:
            col = SENDER_KEYS.get(k)
            if col is not None and col not in sender:
                sender[col] = F.to_int(F.text(v), 64)
        end = body.rfind(b"'")
        if end <= start + 4:
            end = len(body)  # libapparmor accepts a msg=' cut at the line end
        body = body[start + 5 : end]
        origin_kernel = False
    if is_user:
        # libaudit appends "exe=… sauid=… hostname=? addr=? terminal=?" to the sender's
        # text: keep exe, and never let that trailer's addr= pass for a unix address
        cut = body.rfind(b" exe=")
        if cut >= 0:
            toks, _, _ = tokenize(body[cut:])
            for k, v, q in toks:
                if k == "exe":
                    sender[S.EXE] = F.decode_value(k, v, q)
                    break
            body = body[:cut]

    sem = _SE_AVC.search(body)
    if sem is None and legacy is None and not has_aa(body):
        # SELinux notices ("avc:  received policyload notice", "op=setenforce"): not a
        # permission decision
        return Line(node=node, serial=serial, ts=ts, record_type=rtype)
    if sem is not None and b"apparmor=" not in body[: sem.start()]:
        line = _selinux(sem, body, cols, interpreted)
    else:
        line = _apparmor(body, cols, legacy, is_user or not origin_kernel, interpreted)
    if line is not None:
        return line
    cols.update(sender)
    cols[S.RECORD_TYPE] = rtype
    cls = class_of(cols)
    if cls is not None:
        cols[S.MEDIATION_CLASS] = cls
    cols[S.ORIGIN] = S.ORIGIN_KERNEL if origin_kernel else S.ORIGIN_USERSPACE
    if not origin_kernel and S.SUSPECT not in cols and kernel_mediated(cols):
        # only the kernel decides file, network, capability … accesses: such a record
        # written from userspace (USER_AVC text, `logger -t kernel`) is an imitation
        cols[S.SUSPECT] = S.SUSPECT_FROM_USERSPACE
    return Line(kind=MAC, cols=cols, record_type=rtype, node=node, serial=serial, ts=ts)


def _apparmor(
    body: bytes, cols: dict[str, Any], legacy: str | None, user: bool, interpreted: bool = False
) -> Line | None:
    """Fill AppArmor columns from a body; a Line when the record must be rejected."""
    toks, _tail, ok = tokenize(body)
    if not ok:
        return Line(kind=REJECT, reason=R_UNTERMINATED)
    seen: set[str] = set()
    for key, value, quoted in toks:
        quoted = quoted or interpreted
        col = AA_STR_KEYS.get(key)
        if col is not None or key in AA_INT_KEYS:
            _note_key(key, value, quoted or col is None or col in cols, seen, cols)
        if col is not None:
            if col in cols:
                continue
            if not quoted and key in F.HEX_KEYS and F.is_bad_hex(value):
                return Line(kind=REJECT, reason=R_BAD_HEX)
            if not quoted and value == b"none" and key in ("addr", "peer_addr"):
                continue  # unix socket without an address
            cols[col] = F.decode_value(key, value, quoted)
            if key == "label":
                cols[S.LABEL] = cols[col]
            continue
        icol = AA_INT_KEYS.get(key)
        if icol is not None and icol not in cols:
            iv = F.to_int(F.text(value), 32 if icol in INT32_COLS else 64)
            if iv is not None:
                cols[icol] = iv
    event = cols.get(S.APPARMOR)
    if event is None:
        if legacy is None:
            return Line(kind=REJECT, reason=R_NO_EVENT)
        cols[S.APPARMOR] = legacy
    elif event not in AA_EVENTS:
        return Line(kind=REJECT, reason=R_NO_EVENT)
    if S.OPERATION not in cols and cols[S.APPARMOR] != S.AA_STATUS and legacy is None:
        return Line(kind=REJECT, reason=R_NO_EVENT)
    if not user and legacy is None and S.PID not in cols:
        return Line(kind=REJECT, reason=R_TRUNCATED)
    # labels come from policy text: control bytes mean the kernel logged garbage memory
    # (LP: #1689667, a ptrace target); file names (name=, a link's target=) may hold any
    # byte and are never judged
    label_cols = (*_LABEL_COLS, S.NAME2) if cols.get(S.OPERATION) == "ptrace" else _LABEL_COLS
    for col in label_cols:
        v = cols.get(col)
        if v is not None and _CONTROL.search(v):
            return Line(kind=REJECT, reason=R_BAD_LABEL)
    cols[S.LSM] = S.LSM_APPARMOR
    if S.PROTOCOL in cols:
        cols[S.PROTOCOL] = F.protocol_name(cols[S.PROTOCOL])
    if S.SOCK_TYPE in cols:
        cols[S.SOCK_TYPE] = F.numeric_name(cols[S.SOCK_TYPE])
    prof = cols.get(S.PROFILE)
    if prof is not None:
        ns, stack, parent, child = F.split_label(prof)
        if ns is not None:
            cols[S.PROFILE_NS] = ns
        if stack is not None:
            cols[S.PROFILE_STACK] = stack
        if parent is not None:
            cols[S.PROFILE_PARENT] = parent
            cols[S.PROFILE_CHILD] = child
    return None


def _note_key(
    key: str, value: bytes, no_hex: bool, seen: set[str], cols: dict[str, Any]
) -> None:
    """Flag what the kernel never writes: a key twice in one record, a NUL in a path.

    The first value of a repeated key is kept (a forged second ``apparmor=`` never wins);
    the record is marked suspect so that it drives no alert and no rule. ``no_hex``: the
    value is not one that will be hex-decoded into a column (quoted, or not stored).
    """
    if S.SUSPECT in cols:
        return
    if key in seen:
        cols[S.SUSPECT] = S.SUSPECT_DUPLICATE_FIELD
        return
    seen.add(key)
    if not no_hex and key in F.HEX_KEYS:
        raw = F.unhex(value)
        if raw is not None and b"\x00" in raw:
            cols[S.SUSPECT] = S.SUSPECT_NUL_IN_PATH


# --- mediation class (records without class=) -------------------------------------------
# operation -> class, as libapparmor's aa_log_record and aa-logprof classify them; class
# names are the kernel's (what newer kernels log as class=)
_OP_CLASS: Final = {
    **dict.fromkeys(
        ("open", "exec", "mknod", "mkdir", "rmdir", "unlink", "link", "rename_src",
         "rename_dest", "chmod", "chown", "getattr", "setattr", "truncate", "symlink",
         "file_perm", "file_lock", "file_mmap", "file_mprotect", "file_receive",
         "file_inherit", "inode_permission", "sysctl",
         # the kernel audits domain changes as file mediation (aa_audit_file)
         "change_hat", "change_profile", "change_onexec"),
        "file",
    ),
    **dict.fromkeys(
        ("create", "post_create", "bind", "connect", "listen", "accept", "sendmsg",
         "recvmsg", "getsockname", "getpeername", "getsockopt", "setsockopt",
         "sock_shutdown", "socket_create", "socket_bind", "socket_connect",
         "socket_listen", "socket_accept", "socket_sendmsg", "socket_recvmsg",
         "socket_getsockname", "socket_getpeername", "socket_getsockopt",
         "socket_setsockopt", "socket_shutdown"),
        "net",
    ),
    **dict.fromkeys(("mount", "umount", "pivotroot", "remount"), "mount"),
    **dict.fromkeys(("uring_sqpoll", "uring_override"), "io_uring"),
    "capable": "cap",
    "signal": "signal",
    "ptrace": "ptrace",
    "setrlimit": "rlimits",
    "userns_create": "namespace",
}  # fmt: skip
# presence bits of the fields the class is derived from when the operation does not say
BIT_CAPNAME: Final = 1
BIT_SIGNAL: Final = 2
BIT_DBUS: Final = 4  # bus=
BIT_MOUNT: Final = 8  # fstype= or srcname=
BIT_SOCKET: Final = 16  # family= or sock_type=
BIT_FILE: Final = 32  # name=, requested_mask= or denied_mask=
CLASS_BITS: Final = (
    (BIT_CAPNAME, (S.CAPNAME,)),
    (BIT_SIGNAL, (S.SIGNAL,)),
    (BIT_DBUS, (S.BUS,)),
    (BIT_MOUNT, (S.FSTYPE, S.SRCNAME)),
    (BIT_SOCKET, (S.FAMILY, S.SOCK_TYPE)),
    (BIT_FILE, (S.NAME, S.REQUESTED_MASK, S.DENIED_MASK)),
)


def derive_class(operation: str | None, family: str | None, bits: int) -> str | None:
    """The mediation class of an AppArmor record without class=: from its operation,
    else from the fields it has (``bits``, see CLASS_BITS). None when nothing says
    (a STATUS record). The C engine calls this once per distinct (operation, family,
    bits), so both engines agree by construction."""
    op = operation or ""
    if op.startswith("profile_"):
        return None  # policy loads (STATUS): no access was mediated
    cls = _OP_CLASS.get(op)
    if cls is None and op.startswith("dbus"):
        cls = "dbus"
    if cls == "net" or (cls is None and bits & BIT_SOCKET):
        return "unix" if family == "unix" else "net"
    if cls is not None:
        return cls
    for bit, name in (
        (BIT_CAPNAME, "cap"),
        (BIT_SIGNAL, "signal"),
        (BIT_DBUS, "dbus"),
        (BIT_MOUNT, "mount"),
        (BIT_FILE, "file"),
    ):
        if bits & bit:
            return name
    return None


def class_of(cols: dict[str, Any]) -> str | None:
    """MEDIATION_CLASS of a MAC record's columns: class=, else tclass, else derived."""
    cls = cols.get(S.CLASS)
    if cls is None:
        cls = cols.get(S.TCLASS)
    if cls is not None:
        return str(cls)
    if cols.get(S.LSM) != S.LSM_APPARMOR:
        return None
    bits = 0
    for bit, names in CLASS_BITS:
        if any(cols.get(n) is not None for n in names):
            bits |= bit
    return derive_class(cols.get(S.OPERATION), cols.get(S.FAMILY), bits)


def kernel_mediated(cols: dict[str, Any]) -> bool:
    """Whether the access a record describes is decided by the kernel (not dbus & co.)."""
    cls = cols.get(S.CLASS) or cols.get(S.TCLASS)
    if cls is not None:
        return cls not in S.USERSPACE_CLASSES and not cls.startswith("x_")
    return not str(cols.get(S.OPERATION) or "").startswith("dbus")


def _selinux(
    sem: re.Match[bytes], body: bytes, cols: dict[str, Any], interpreted: bool = False
) -> Line | None:
    """Fill SELinux columns from ``avc: denied { … } for k=v …``."""
    toks, _tail, ok = tokenize(body[sem.end() :])
    if not ok:
        return Line(kind=REJECT, reason=R_UNTERMINATED)
    cols[S.LSM] = S.LSM_SELINUX
    cols[S.SERESULT] = sem.group("res").decode("ascii")
    cols[S.PERMS] = [F.text(p) for p in sem.group("perms").split()]
    seen: set[str] = set()
    for key, value, quoted in toks:
        quoted = quoted or interpreted
        col = SE_STR_KEYS.get(key)
        if col is not None or key in SE_INT_KEYS:
            _note_key(key, value, quoted or col is None or col in cols, seen, cols)
        if col is not None:
            if col not in cols:
                if not quoted and key in F.HEX_KEYS and F.is_bad_hex(value):
                    return Line(kind=REJECT, reason=R_BAD_HEX)
                cols[col] = F.decode_value(key, value, quoted)
            continue
        icol = SE_INT_KEYS.get(key)
        if icol is not None:
            if icol not in cols:
                iv = F.to_int(F.text(value), 32 if icol in INT32_COLS else 64)
                if iv is not None:
                    cols[icol] = iv
            continue
        if key == "permissive" and S.PERMISSIVE not in cols:
            cols[S.PERMISSIVE] = value == b"1"
        elif key == "ioctlcmd" and S.IOCTLCMD not in cols:
            with contextlib.suppress(ValueError):  # ioctlcmd=asdf: not a number, null
                cols[S.IOCTLCMD] = int(value, 0)
    if S.SCONTEXT not in cols or S.TCLASS not in cols:
        return Line(kind=REJECT, reason=R_BAD_SELINUX)
    return None


def _aux(
    rtype: str,
    body: bytes,
    ts: int | None,
    serial: int | None,
    node: str | None,
    interpreted: bool = False,
) -> Line:
    """An enrichment record (SYSCALL / CWD / PROCTITLE / PATH / EOE) of an event."""
    cols: dict[str, Any] = {}
    if rtype == "PROCTITLE" and interpreted:
        # ausearch -i prints the command line with its spaces, unquoted
        at = body.find(b"proctitle=")
        if at >= 0:
            cols[S.PROCTITLE] = F.text(body[at + 10 :])
    elif rtype == "SYSCALL":
        toks, tail, _ = tokenize(body)
        for key, value, quoted in toks:
            quoted = quoted or interpreted
            if key == "syscall" and S.SYSCALL not in cols:
                cols[S.SYSCALL] = F.text(value)
            elif key == "exe" and S.EXE not in cols:
                cols[S.EXE] = F.decode_value(key, value, quoted)
            elif key == "uid" and S.UID not in cols:
                cols[S.UID] = F.to_int(F.text(value), 64)
            elif key == "auid" and S.AUID not in cols:
                cols[S.AUID] = F.to_int(F.text(value), 64)
        if tail:
            en = enriched(tail)
            if "SYSCALL" in en:
                cols[S.SYSCALL] = en["SYSCALL"]
    elif rtype == "CWD":
        toks, _, _ = tokenize(body)
        for key, value, quoted in toks:
            if key == "cwd":
                cols[S.CWD] = F.decode_value(key, value, quoted or interpreted)
                break
    elif rtype == "PROCTITLE":
        toks, _, _ = tokenize(body)
        for key, value, quoted in toks:
            if key == "proctitle":
                cols[S.PROCTITLE] = F.decode_proctitle(value, quoted)
                break
    return Line(kind=AUX, cols=cols, record_type=rtype, node=node, serial=serial, ts=ts)
