"""AppArmor rule text from denial records: escaping, labels, one raw rule per event.

This is aa-logprof's ``from_hashlog`` step (AppArmor utils 5.0.2, see
``design/rule-suggestion.md`` §4) without the interactive parts:

- ``classify(ev)`` sorts a record into a rule class in aa-logprof's order (exec before
  userns, mqueue, io_uring, mount, unix, change_profile, file, capability, network, …).
- ``build(ev)`` turns one event (a mapping keyed by ``parsers.schema`` column names)
  into a ``Raw`` rule, or a ``Skip`` saying why no rule applies.
- ``aare(s)`` escapes a literal for an AARE (``\\ ? * [ ] { } " !`` get a backslash,
  control characters become ``\\xHH``, and so does every byte that was not UTF-8: names
  are read with ``surrogateescape``, see ``exact_name``) and ``quoted(s)`` adds double
  quotes when the value holds whitespace or anything outside a conservative safe set. Every
  log-derived token goes through them (or through a keyword check), so a hostile name
  such as ``x, /** rwx`` can never become rule syntax.
- ``split_label(label)`` splits ``:ns:a//b`` and stacked ``a//&b`` labels.
- ``aare_regex(pattern)`` compiles an AARE (variables already expanded) to a Python
  regex, for coverage/replay checks; ``\\xHH`` escapes match the same bytes ``aare``
  wrote them for. Building it, ``literal_prefix`` and ``path_matches`` are linear in the
  length of the pattern and path.
- ``exact_name(name, token)`` recovers the exact bytes of a ``name=`` value from the
  raw line when the stored text is ambiguous.
- ``build`` never makes a rule from a value holding a NUL byte or longer than any
  kernel record can hold (``VALUE_MAX``): the kernel cannot log either.

File rules carry their decoded path, owner flag and permission set so the caller can
merge events on (path, owner) and generalise before ``render_file``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final

from armorwatch.parsers import fields as F
from armorwatch.parsers import schema as S

# Rule classes, written once.
FILE: Final = "file"
EXEC: Final = "exec"
CAPABILITY: Final = "capability"
NETWORK: Final = "network"
UNIX: Final = "unix"
SIGNAL: Final = "signal"
PTRACE: Final = "ptrace"
DBUS: Final = "dbus"
MOUNT: Final = "mount"
PIVOT_ROOT: Final = "pivot_root"
CHANGE_PROFILE: Final = "change_profile"
USERNS: Final = "userns"
IO_URING: Final = "io_uring"
MQUEUE: Final = "mqueue"
HAT: Final = "change_hat"
# Rule classes AppArmor 3.0.8's parser does not know at all (rule-suggestion.md §2
# "version gap").
NEWER_CLASSES: Final = frozenset({USERNS, IO_URING, MQUEUE})

# aa-logprof's file permission letters, in its rendering order.
FILE_PERMS: Final = "mrwalk"
# The kernel's audit record limit (MAX_AUDIT_MESSAGE_LENGTH, bytes). A value fits in one
# record: quoted at most this long, hex-encoded half as many bytes, whose text shows an
# undecodable byte as 4 characters (\\xNN); so no kernel value's text is longer than
# VALUE_MAX. A longer one is forged-looking, and refusing it keeps hostile input of any
# size from the pattern matchers.
KERNEL_RECORD_MAX: Final = 8970
VALUE_MAX: Final = 2 * KERNEL_RECORD_MAX

_AARE_SPECIAL: Final = frozenset('\\?*[]{}"!')
# What aare() may rewrite: AARE syntax, controls, DEL and every non-ASCII character (the
# callback keeps printable ones); plain ASCII runs are copied in one piece.
_AARE_REWRITE: Final = re.compile(r'[\\?*\[\]{}"!\x00-\x1f\x7f-\U0010ffff]')
# Characters a token may hold without quotes (AARE syntax included: in our tokens it is
# either escaped or an intended glob); anything else (space, comma, quote, non-ASCII,
# '#', parentheses, …) makes us quote the token.
_SAFE_UNQUOTED = re.compile(r"^[A-Za-z0-9_./@:+~%^<>=&*?!{}\[\]\\-]+$")
_KEYWORD = re.compile(r"^[a-z0-9_]+$")
_MOUNT_OPT = re.compile(r"^[a-z0-9_.=-]+$")

_FILE_OPS: Final = frozenset(
    {
        "open", "create", "mknod", "unlink", "rmdir", "mkdir", "rename_src", "rename_dest",
        "link", "truncate", "chmod", "chown", "getattr", "setattr", "xattr", "exec",
        "file_mmap", "file_lock", "file_mprotect", "file_receive", "file_perm",
        "file_inherit", "inode_permission", "connect", "sendmsg", "recvmsg", "accept",
        "bind", "listen", "getsockname", "getpeername", "getsockopt", "setsockopt",
        "socket_create", "socket_connect", "post_create", "remove_xattr", "setxattr",
        "getxattr", "listxattr", "removexattr", "mmap", "symlink", "rename",
    }
)
# Accesses after which aa-logprof drops the peer of a network rule.
_NET_NO_PEER: Final = frozenset(
    {"create", "bind", "listen", "shutdown", "getattr", "setattr", "getopt", "setopt"}
)


def _aare_char(m: re.Match[str]) -> str:
    ch = m.group(0)
    cp = ord(ch)
    if ch == "\\":
        # '\\x5c', not '\\\\': the 3.0.8 lexer mis-reads '\\\\' before a space or a
        # closing quote in several rule types.
        return "\\x5c"
    if ch in _AARE_SPECIAL:
        return "\\" + ch
    if cp < 0x20 or cp == 0x7F:
        return f"\\x{cp:02x}"
    if 0xDC80 <= cp <= 0xDCFF:
        # surrogateescape: a byte that was not UTF-8; apparmor_parser reads \\xHH as that byte
        return f"\\x{cp - 0xDC00:02x}"
    if not ch.isprintable():
        # bidi overrides, zero-width and other invisible characters: their UTF-8 bytes
        return "".join(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
    return ch


def aare(s: str) -> str:
    """Escape a literal string for use inside an AARE (quoting is separate)."""
    return _AARE_REWRITE.sub(_aare_char, s)


def quoted(token: str) -> str:
    """``token`` (already AARE-escaped) in double quotes unless it is plainly safe."""
    # Printable non-ASCII (UTF-8 names like Müsik) stays unquoted, as aa-logprof writes it.
    ascii_part = token if token.isascii() else "".join(
        c for c in token if ord(c) < 0x80 or not c.isprintable() or c.isspace()
    )
    escaped_space = re.search(r"\\x(09|0a|0b|0c|0d)", token, re.IGNORECASE)
    awkward = '"' in token or escaped_space
    if ascii_part and _SAFE_UNQUOTED.match(ascii_part) and not awkward:
        return token
    return f'"{token}"'


def path_token(literal: str) -> str:
    """A literal path/name as a rule token: escaped, quoted when needed (always with
    whitespace, even the tab/newline that the escaping turns into ``\\xHH``)."""
    tok = aare(literal)
    return f'"{tok}"' if any(c.isspace() for c in literal) else quoted(tok)


def keyword(value: str | None) -> str | None:
    """``value`` if it is a plain lower-case keyword (cap, family, signal, access), else None."""
    if value and _KEYWORD.match(value):
        return value
    return None


@dataclass(frozen=True)
class Label:
    """One confining profile named by a (possibly namespaced, hat or stacked) label."""

    namespace: str | None
    """The ``ns`` of ``:ns:profile``; None for the host's own namespace."""
    path: tuple[str, ...]
    """Profile, then hat/child names: ``a//b`` → ('a', 'b')."""
    stack: tuple[str, ...] = ()
    """All components when the label was a stack ``a//&b`` (else empty)."""
    null_child: str | None = None
    """``x`` of a complain-mode ``a//null-x`` child (its events are attributed to ``a``)."""

    @property
    def name(self) -> str:
        """The full profile name, ``a//b`` for a child, with ``:ns:`` when namespaced."""
        base = "//".join(self.path)
        return f":{self.namespace}:{base}" if self.namespace else base


_NS = re.compile(r"^:([^:]+):(.*)$", re.DOTALL)


def _one_label(part: str, stack: tuple[str, ...]) -> Label | None:
    ns = None
    m = _NS.match(part)
    if m:
        ns, part = m.group(1), m.group(2)
    part = part.removeprefix("//")
    pieces = [p for p in part.split("//") if p]
    if not pieces:
        return None
    null = None
    for i, p in enumerate(pieces):
        if p.startswith("null-"):
            null = p.removeprefix("null-")
            pieces = pieces[:i]
            break
    if not pieces:
        return None
    return Label(namespace=ns, path=tuple(pieces), stack=stack, null_child=null)


def split_label(label: str | None) -> list[Label]:
    """The profiles a record's label names; a stack gives one Label per component.

    ``unconfined`` (alone or as a stack component) confines nothing and is left out;
    a trailing `` (complain)``/`` (enforce)`` mode suffix is removed.
    """
    if not label:
        return []
    label = re.sub(r" \((complain|enforce|kill|unconfined|prompt)\)$", "", label.strip())
    parts = [p for p in label.split("//&") if p]
    stack = tuple(parts) if len(parts) > 1 else ()
    out = []
    for part in parts:
        lab = _one_label(part, stack)
        if lab is not None and lab.path != ("unconfined",):
            out.append(lab)
    return out


def is_null_label(label: str | None) -> bool:
    """True for a complain-mode null profile (``…//null-…``), skipped as a peer."""
    if not label:
        return False
    return "//null-" in label or label.startswith("null-")


@dataclass(frozen=True)
class Raw:
    """One raw (ungeneralised) rule built from one event."""

    kind: str
    """Rule class (FILE, CAPABILITY, …)."""
    text: str
    """The rule as aa-logprof writes it, with its final comma."""
    path: str | None = None
    """FILE/EXEC: the decoded path (for merging and generalisation)."""
    perms: frozenset[str] = field(default_factory=frozenset)
    """FILE: permission letters from FILE_PERMS."""
    owner: bool = False
    """FILE: the rule carries ``owner`` (fsuid == ouid)."""
    exec_mode: str | None = None
    """EXEC: ``ix``/``Px`` suggested for the target."""
    fallback: str | None = None
    """Older-parser form of ``text`` (e.g. no access list on network rules)."""
    match_name: str | None = None
    """The object name risky-access checks look at (path, peer, capability)."""


@dataclass(frozen=True)
class Skip:
    """Why an event yields no rule."""

    reason: str


def _s(ev: Mapping[str, Any], col: str) -> str | None:
    v = ev.get(col)
    if v is None:
        return None
    v = str(v)
    return v if v != "" else None


def _mask_words(mask: str | None) -> list[str]:
    if not mask:
        return []
    return sorted({w for w in re.split(r"[\s,]+", mask) if w})


def classify(ev: Mapping[str, Any]) -> str | None:
    """The rule class of one AppArmor record, in aa-logprof's order; None if unknown."""
    op = _s(ev, S.OPERATION) or ""
    cls = _s(ev, S.CLASS) or ""
    denied = _s(ev, S.DENIED_MASK) or ""
    if op == "exec":
        return EXEC
    if cls == "namespace" or op.startswith("userns_") or denied.startswith("userns_"):
        return USERNS
    if cls.endswith("mqueue"):
        return MQUEUE
    if cls == "io_uring" or op.startswith("uring_"):
        return IO_URING
    if cls == "mount" or op in ("mount", "umount", "remount"):
        return PIVOT_ROOT if op == "pivotroot" else MOUNT
    if op == "pivotroot":
        return PIVOT_ROOT
    family = _s(ev, S.FAMILY)
    if cls == "net" and family == "unix":
        return UNIX
    if op in ("change_onexec", "change_profile"):
        return CHANGE_PROFILE
    if cls == "file":
        return FILE
    if op == "capable" or cls in ("cap", "capability"):
        return CAPABILITY
    if (op in _FILE_OPS or op.startswith("inode_")) and cls not in ("net",):
        is_net = bool(family and _s(ev, S.SOCK_TYPE) and _s(ev, S.PROTOCOL))
        if not is_net and (denied or op == "file_lock"):
            return FILE
        if is_net:
            return UNIX if family == "unix" else NETWORK
    if cls == "net" or family:
        return NETWORK
    if op == "change_hat":
        return HAT
    if op == "ptrace" or cls == "ptrace":
        return PTRACE
    if op == "signal" or cls == "signal":
        return SIGNAL
    if op.startswith("dbus_") or cls == "dbus":
        return DBUS
    return None


def file_perms(mask: str | None) -> tuple[frozenset[str], frozenset[str]] | str:
    """(owner-part, other-part) permissions of a file mask, or an error text.

    ``c``/``d`` become ``w``; ``x`` next to other letters is dropped (the exec event
    carries it); old ``w::r`` masks split into owner and other parts.
    """
    if not mask:
        return "no denied mask"
    owner_part, sep, other = mask.partition("::")
    parts = (owner_part, other) if sep else (mask, "")
    out = []
    for part in parts:
        perms = set()
        for ch in part:
            if ch in "cd":
                perms.add("w")
            elif ch in FILE_PERMS:
                perms.add(ch)
            elif ch in "xXiIpPuUnNC" or ch.isspace():
                continue
            else:
                return f"unknown mode {ch!r} in {mask!r}"
        out.append(frozenset(perms))
    return out[0], out[1]


def perms_text(perms: frozenset[str] | set[str]) -> str:
    """Permission letters in aa-logprof order, ``a`` dropped when ``w`` is present."""
    p = set(perms)
    if "w" in p:
        p.discard("a")
    return "".join(ch for ch in FILE_PERMS if ch in p)


def render_file(path_aare: str, perms: frozenset[str] | set[str], owner: bool) -> str:
    """``[owner ]<path> <perms>,`` with an already escaped AARE path."""
    return f"{'owner ' if owner else ''}{quoted(path_aare)} {perms_text(perms)},"


def _is_owner(ev: Mapping[str, Any]) -> bool:
    fsuid, ouid = ev.get(S.FSUID), ev.get(S.OUID)
    return fsuid is not None and ouid is not None and int(fsuid) == int(ouid)


_BLOB_HEX: Final = re.compile(r"\\x([0-9A-Fa-f]{2})")
_KERNEL_HEX: Final = re.compile(rb"[0-9A-F]+")


def exact_name(name: str | None, token: str | None) -> str | Skip | None:
    """The exact bytes of a ``name=`` value, as text decoded with ``surrogateescape``.

    ``name`` is the store's text, where a byte that is not UTF-8 reads ``\\xNN``, the same
    as a literal backslash and ``xNN``. Without a backslash it is exact. With one, the
    bytes come from ``token``: the record's first ``name=`` token in its byte-exact raw
    line, as DuckDB renders a BLOB (printable ASCII but the backslash as itself, every
    other byte ``\\xHH``). The kernel writes a name holding any byte outside 0x21-0x7e as
    upper-case hex, anything else in double quotes (escaped once more in journald's
    JSON). The bytes are used only when they decode to ``name`` exactly as the parser
    decodes them; otherwise they are unknown and a Skip says so.
    """
    if name is None or "\\" not in name:
        return name
    unknown = Skip("the exact bytes of a name holding a backslash could not be recovered "
                   "from its raw line")
    if not token:
        return unknown
    tb = _BLOB_HEX.sub(lambda m: chr(int(m.group(1), 16)), token).encode("latin-1")
    hx = _KERNEL_HEX.match(tb)
    if hx and len(hx.group(0)) % 2 == 0:
        b = bytes.fromhex(hx.group(0).decode("ascii"))
        if F.text(b) == name:
            return b.decode("utf-8", "surrogateescape")
    quoted_forms = (f'"{name}"', '\\"' + json.dumps(name)[1:-1] + '\\"')
    if any(tb.startswith(q.encode("utf-8", "surrogateescape")) for q in quoted_forms):
        return name  # quoted by the kernel: printable ASCII, the backslash is literal
    return unknown


def build(ev: Mapping[str, Any], *, exec_targets: frozenset[str] = frozenset()) -> Raw | Skip:
    """The raw rule for one AppArmor event (ALLOWED or DENIED), or why there is none.

    ``exec_targets`` are the profile names loaded in the fleet: an exec of such a
    path gets ``Px`` (aa-logprof's default when a profile exists), else ``ix``.
    """
    for col, v in ev.items():
        # Defence in depth (the parser flags such records suspect and the SQL drops them):
        # the kernel writes neither, so neither may ever become a rule.
        if isinstance(v, str) and "\x00" in v:
            return Skip(f"NUL byte in {col} (the kernel cannot log one: forged-looking)")
        if isinstance(v, str) and len(v) > VALUE_MAX:
            return Skip(f"{col} longer than a kernel audit record can hold: forged-looking")
    kind = classify(ev)
    if kind is None:
        return Skip(f"unclassified operation {_s(ev, S.OPERATION)!r}")
    builder = _BUILDERS.get(kind)
    if builder is None:
        return Skip(f"{kind} records do not map to a rule")
    if kind == EXEC:
        return _exec(ev, exec_targets)
    return builder(ev)


def _file(ev: Mapping[str, Any]) -> Raw | Skip:
    name = _s(ev, S.NAME)
    if not name:
        return Skip("file record without a name")
    if not name.startswith("/") and not name.startswith("@"):
        return Skip(f"relative or disconnected path {name!r}")
    info = _s(ev, S.INFO) or ""
    if "disconnected path" in info:
        return Skip("disconnected path (consider flags=(attach_disconnected))")
    got = file_perms(_s(ev, S.DENIED_MASK) or _s(ev, S.REQUESTED_MASK))
    if isinstance(got, str):
        return Skip(got)
    owner_part, other_part = got
    owner = _is_owner(ev)
    if "::" in (_s(ev, S.DENIED_MASK) or _s(ev, S.REQUESTED_MASK) or ""):
        # Old 'owner::other' masks say directly which part applies.
        owner = bool(owner_part) and not other_part
    perms = owner_part | other_part
    if not perms:
        return Skip("exec-only file mask (the exec event carries it)")
    return Raw(
        kind=FILE,
        text=render_file(aare(name), perms, owner),
        path=name,
        perms=perms,
        owner=owner,
        match_name=name,
    )


def _exec(ev: Mapping[str, Any], exec_targets: frozenset[str]) -> Raw | Skip:
    name = _s(ev, S.NAME)
    if not name or not name.startswith("/"):
        return Skip("exec record without an absolute target")
    mode = "Px" if name in exec_targets else "ix"
    perms = "Px" if mode == "Px" else "mrix"
    return Raw(
        kind=EXEC,
        text=f"{path_token(name)} {perms},",
        path=name,
        exec_mode=mode,
        match_name=name,
    )


def _capability(ev: Mapping[str, Any]) -> Raw | Skip:
    # Old (type=1503) records put the capability in name=.
    cap = keyword(_s(ev, S.CAPNAME) or _s(ev, S.NAME))
    if not cap:
        return Skip("capability record without a valid capname")
    return Raw(kind=CAPABILITY, text=f"capability {cap},", match_name=cap)


def _access(words: list[str]) -> str:
    return words[0] if len(words) == 1 else "(" + ", ".join(words) + ")"


def _network(ev: Mapping[str, Any]) -> Raw | Skip:
    family = keyword(_s(ev, S.FAMILY))
    sock_type = keyword(_s(ev, S.SOCK_TYPE))
    if not family:
        return Skip("network record without a valid family")
    words = _mask_words(_s(ev, S.REQUESTED_MASK) or _s(ev, S.DENIED_MASK))
    if any(keyword(w) is None for w in words):
        return Skip("network record with an unexpected access word")
    head = ["network"]
    if words:
        head.append("(" + ", ".join(words) + ")")
    head.append(family)
    if sock_type:
        head.append(sock_type)
    base = " ".join(head[:1] + head[2:] if words else head)
    extra = []
    laddr, lport = _s(ev, S.LADDR), ev.get(S.LPORT)
    faddr, fport = _s(ev, S.FADDR), ev.get(S.FPORT)
    if laddr and re.fullmatch(r"[0-9a-fA-F:.]+", laddr):
        extra.append(f"ip={laddr}")
    if lport is not None:
        extra.append(f"port={int(lport)}")
    peer = []
    if not (words and set(words) <= _NET_NO_PEER):
        if faddr and re.fullmatch(r"[0-9a-fA-F:.]+", faddr):
            peer.append(f"ip={faddr}")
        if fport is not None:
            peer.append(f"port={int(fport)}")
    if peer:
        extra.append("peer=(" + " ".join(peer) + ")")
    text = " ".join(head + extra) + ","
    # AppArmor 3.0.8 knows neither access lists nor ip/port conditionals on network rules.
    fallback = base + "," if (words or extra) else None
    raw = sock_type in ("raw", "packet") or family == "packet"
    match = "raw socket" if raw else None
    return Raw(kind=NETWORK, text=text, fallback=fallback, match_name=match)


def _unix(ev: Mapping[str, Any]) -> Raw | Skip:
    words = _mask_words(_s(ev, S.DENIED_MASK))
    if not words:
        return Skip("unix record without a denied mask")
    if any(keyword(w) is None for w in words):
        return Skip("unix record with an unexpected access word")
    parts = ["unix", "(" + ", ".join(words) + ")"]
    sock_type = keyword(_s(ev, S.SOCK_TYPE))
    if sock_type:
        parts.append(f"type={sock_type}")
    addr = _s(ev, S.ADDR)
    if addr and addr != "none":
        parts.append(f"addr={path_token(addr)}")
    peer_addr = _s(ev, S.PEER_ADDR)
    if peer_addr and peer_addr != "none":
        parts.append(f"peer=(addr={path_token(peer_addr)})")
    return Raw(kind=UNIX, text=" ".join(parts) + ",", match_name=addr or peer_addr)


def _peer(ev: Mapping[str, Any]) -> str | None:
    return _s(ev, S.PEER) or _s(ev, S.PEER_LABEL)


def _signal(ev: Mapping[str, Any]) -> Raw | Skip:
    words = _mask_words(_s(ev, S.DENIED_MASK) or _s(ev, S.REQUESTED_MASK))
    peer = _peer(ev)
    if not words or any(keyword(w) is None for w in words):
        return Skip("signal record without a valid mask")
    if peer and is_null_label(peer):
        return Skip("signal to a null-complain peer")
    parts = ["signal", "(" + " ".join(words) + ")" if len(words) > 1 else words[0]]
    sig = _s(ev, S.SIGNAL)
    if sig:
        if not keyword(sig):
            return Skip(f"unexpected signal name {sig!r}")
        parts.append(f"set={sig}")
    if peer:
        parts.append(f"peer={path_token(peer)}")
    return Raw(kind=SIGNAL, text=" ".join(parts) + ",", match_name=peer)


def _ptrace(ev: Mapping[str, Any]) -> Raw | Skip:
    words = _mask_words(_s(ev, S.DENIED_MASK))
    peer = _peer(ev)
    if not peer or not words:
        return Skip("ptrace record without peer or denied mask")
    if is_null_label(peer):
        return Skip("ptrace of a null-complain peer")
    if any(keyword(w) is None for w in words):
        return Skip("ptrace record with an unexpected access word")
    access = "(" + " ".join(words) + ")" if len(words) > 1 else words[0]
    return Raw(kind=PTRACE, text=f"ptrace {access} peer={path_token(peer)},", match_name=peer)


def _dbus(ev: Mapping[str, Any]) -> Raw | Skip:
    words = _mask_words(_s(ev, S.DENIED_MASK) or _s(ev, S.REQUESTED_MASK))
    if len(words) != 1 or words[0] not in ("send", "receive", "bind", "eavesdrop"):
        return Skip(f"dbus record with mask {words!r}")
    access = words[0]
    bus = _s(ev, S.BUS)
    parts = ["dbus", access]
    if bus:
        parts.append(f"bus={path_token(bus)}")
    if access in ("send", "receive"):
        for col, key in ((S.PATH, "path"), (S.INTERFACE, "interface"), (S.MEMBER, "member")):
            v = _s(ev, col)
            if v:
                parts.append(f"{key}={path_token(v)}")
        peer = _s(ev, S.PEER_LABEL) or _s(ev, S.PEER)
        if peer:
            parts.append(f"peer=(label={path_token(peer)})")
    elif access == "bind":
        name = _s(ev, S.NAME)
        if name:
            parts.append(f"name={path_token(name)}")
    return Raw(kind=DBUS, text=" ".join(parts) + ",")


def _mount(ev: Mapping[str, Any]) -> Raw | Skip:
    op = _s(ev, S.OPERATION) or ""
    name = _s(ev, S.NAME)
    if op == "umount":
        if not name:
            return Skip("umount without a mount point")
        return Raw(kind=MOUNT, text=f"umount {path_token(name)},", match_name=name)
    parts = ["mount"]
    fstype = _s(ev, S.FSTYPE)
    if fstype:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", fstype):
            return Skip(f"unexpected fstype {fstype!r}")
        parts.append(f"fstype={fstype}")
    flags = [f for f in re.split(r"[\s,]+", _s(ev, S.FLAGS) or "") if f]
    if any(not _MOUNT_OPT.match(f) for f in flags):
        return Skip("mount record with unexpected flags")
    if flags:
        parts.append("options=(" + ", ".join(sorted(set(flags))) + ")")
    src = _s(ev, S.SRCNAME)
    if src:
        parts.append(path_token(src))
    if name:
        parts.extend(["->", path_token(name)])
    return Raw(kind=MOUNT, text=" ".join(parts) + ",", match_name=name)


def _pivot_root(ev: Mapping[str, Any]) -> Raw | Skip:
    name = _s(ev, S.NAME)
    src = _s(ev, S.SRCNAME)
    if not name:
        return Skip("pivot_root without a new root")
    parts = ["pivot_root"]
    if src:
        parts.append(f"oldroot={path_token(src)}")
    parts.append(path_token(name))
    return Raw(kind=PIVOT_ROOT, text=" ".join(parts) + ",", match_name=name)


def _change_profile(ev: Mapping[str, Any]) -> Raw | Skip:
    target = _s(ev, S.NAME2)
    if not target:
        return Skip("change_profile without a target")
    return Raw(
        kind=CHANGE_PROFILE, text=f"change_profile -> {path_token(target)},", match_name=target
    )


def _userns(ev: Mapping[str, Any]) -> Raw | Skip:
    words = _mask_words(_s(ev, S.DENIED_MASK) or _s(ev, S.REQUESTED_MASK))
    words = [w.removeprefix("userns_") for w in words]
    if not words or any(keyword(w) is None for w in words):
        return Skip("userns record without a mask")
    return Raw(kind=USERNS, text=f"userns {_access(words)},")


def _io_uring(ev: Mapping[str, Any]) -> Raw | Skip:
    words = _mask_words(_s(ev, S.DENIED_MASK) or _s(ev, S.REQUESTED_MASK))
    if not words or any(keyword(w) is None for w in words):
        return Skip("io_uring record without a mask")
    parts = ["io_uring", _access(words)]
    label = _s(ev, S.TCONTEXT) or _s(ev, S.PEER_LABEL)  # the parser files tcontext= as peer
    if label:
        parts.append(f"label={path_token(label)}")
    return Raw(kind=IO_URING, text=" ".join(parts) + ",")


def _mqueue(ev: Mapping[str, Any]) -> Raw | Skip:
    words = _mask_words(_s(ev, S.DENIED_MASK) or _s(ev, S.REQUESTED_MASK))
    if not words or any(keyword(w) is None for w in words):
        return Skip("mqueue record without a mask")
    cls = _s(ev, S.CLASS) or ""
    mtype = "sysv" if cls.startswith("sysv") else "posix"
    parts = ["mqueue", _access(words) if len(words) == 1 else "(" + " ".join(words) + ")"]
    parts.append(f"type={mtype}")
    name = _s(ev, S.NAME)
    if name:
        parts.append(path_token(name))
    return Raw(kind=MQUEUE, text=" ".join(parts) + ",", match_name=name)


def _hat(ev: Mapping[str, Any]) -> Raw | Skip:
    return Skip("change_hat requests name a hat to add; not a rule")


_BUILDERS: Final = {
    FILE: _file,
    EXEC: _file,  # dispatched to _exec in build()
    CAPABILITY: _capability,
    NETWORK: _network,
    UNIX: _unix,
    SIGNAL: _signal,
    PTRACE: _ptrace,
    DBUS: _dbus,
    MOUNT: _mount,
    PIVOT_ROOT: _pivot_root,
    CHANGE_PROFILE: _change_profile,
    USERNS: _userns,
    IO_URING: _io_uring,
    MQUEUE: _mqueue,
    HAT: _hat,
}


_HEX_ESC = re.compile(r"\\x[0-9a-fA-F]{2}")


def _hex_run(pat: str, i: int) -> tuple[str, int]:
    """Decode consecutive ``\\xHH`` escapes at ``i`` as UTF-8 (bytes, as aare() wrote them)."""
    raw = bytearray()
    while (m := _HEX_ESC.match(pat, i)) is not None:
        raw.append(int(m.group(0)[2:], 16))
        i = m.end()
    return raw.decode("utf-8", "surrogateescape"), i


# Where aare_regex must look closer (',' and '}' only matter inside '{}'); the plain runs
# between them are escaped in one piece.
_AARE_META: Final = re.compile(r"[\\*?\[{},]")
# Where the literal prefix of an AARE ends (or an escape needs decoding).
_PREFIX_STOP: Final = re.compile(r"[\\*?\[{]|@\{")


@cache
def aare_regex(pattern: str) -> re.Pattern[str]:
    """A compiled regex for an AARE with no variables (``*``, ``**``, ``?``, ``[]``, ``{}``).

    Repeated slashes are collapsed on both sides, as AppArmor does. Building it is linear
    in the pattern's length (plain runs are escaped at once, a ']' search is reused).
    """
    out: list[str] = []
    i = 0
    depth = 0
    close = -1  # the last ']' found: still the next one while it lies ahead
    no_close = False  # no ']' after the last search start: none after any later '[' either
    pat = re.sub(r"/+", "/", pattern)  # variables are substituted before this (as text)
    n = len(pat)
    while i < n:
        m = _AARE_META.search(pat, i)
        k = m.start() if m else n
        if k > i:
            out.append(re.escape(pat[i:k]))
            i = k
            continue
        ch = pat[i]
        if ch == "\\" and i + 1 < n:
            nxt = pat[i + 1]
            if nxt == "x" and _HEX_ESC.match(pat, i):
                lit, i = _hex_run(pat, i)
                out.append(re.escape(lit))
                continue
            out.append(re.escape(nxt))
            i += 2
            continue
        if pat.startswith("**", i):
            out.append(".*")
            i += 2
        elif ch == "*":
            out.append("[^/]*")
            i += 1
        elif ch == "?":
            out.append("[^/]")
            i += 1
        elif ch == "[":
            if close < i + 2 and not no_close:
                close = pat.find("]", i + 2)
                no_close = close < 0
            j = close if close >= i + 2 else -1
            if j < 0:
                out.append(re.escape(ch))
                i += 1
                continue
            body = pat[i + 1 : j]
            neg = body.startswith("^")
            body = body[1:] if neg else body
            body = body.replace("\\", "\\\\").replace("[", "\\[")
            out.append(f"[{'^' if neg else ''}{body}]")
            i = j + 1
        elif ch == "{":
            out.append("(?:")
            depth += 1
            i += 1
        elif ch == "}" and depth:
            out.append(")")
            depth -= 1
            i += 1
        elif ch == "," and depth:
            out.append("|")
            i += 1
        else:
            out.append(re.escape(ch))
            i += 1
    return re.compile("".join(out), re.DOTALL)


@cache
def _literal_split(pattern: str) -> tuple[str, str]:
    """(the literal text every match starts with, the slash-collapsed rest of the pattern)."""
    out: list[str] = []
    i = 0
    pat = re.sub(r"/+", "/", pattern)
    n = len(pat)
    while i < n:
        m = _PREFIX_STOP.search(pat, i)
        k = m.start() if m else n
        out.append(pat[i:k])
        i = k
        if i >= n or pat[i] != "\\":
            break
        if i + 1 >= n:  # a trailing lone backslash is a literal one, as in aare_regex
            out.append("\\")
            i += 1
            break
        if pat[i + 1] == "x" and _HEX_ESC.match(pat, i):
            lit, i = _hex_run(pat, i)
            out.append(lit)
            continue
        out.append(pat[i + 1])
        i += 2
    return "".join(out), pat[i:]


def path_matches(pattern: str, path: str) -> bool:
    """Whether an AARE (no variables) matches a literal path.

    The literal prefix is compared as text and only the rest goes through a regex, so a
    long literal pattern never has to be compiled.
    """
    if "//" in path:
        path = re.sub(r"/+", "/", path)
    prefix, rest = _literal_split(pattern)
    if not path.startswith(prefix):
        return False
    if not rest:
        return len(path) == len(prefix)
    return aare_regex(rest).fullmatch(path, len(prefix)) is not None


def literal_prefix(pattern: str) -> str:
    """The literal text every match of an AARE (no variables) starts with.

    Used to index patterns: a path can only match when it starts with this prefix.
    """
    return _literal_split(pattern)[0]
