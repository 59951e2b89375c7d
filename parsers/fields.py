"""Field-level decoding shared by the pure-Python and the C scanner paths.

Everything here works on one value at a time and is applied either per record (the
pure-Python path) or once per *distinct* value of a dictionary column (the fast path),
so its cost does not grow with the number of lines.

Decoding rules, written once:

* **Hex**: the kernel writes an untrusted string (``name=``, ``comm=``, ``profile=``,
  ``proctitle=`` …) in double quotes when it is clean, and as upper-case hex *without*
  quotes when it contains a space, a quote, a control or a non-ASCII byte. So a value is
  decoded only when it is unquoted, of even length, ``[0-9A-F]+``, its key is one the
  kernel hex-encodes, and the decoded bytes contain at least one byte the kernel would
  have escaped. Anything else is kept verbatim (``/00000000`` stays as it is), except
  an unquoted value of such a key made only of upper-case hex digits but of odd length
  (``name=2F657``): hex cut short, which the record parsers reject (``is_bad_hex``).
* **Text**: decoded bytes are UTF-8; bytes that are not valid UTF-8 become ``\\xNN``
  escapes (Python's ``backslashreplace``), so nothing is lost silently and nothing
  raises. The byte-exact original line is always in the ``raw`` column.
"""

from __future__ import annotations

import re
from typing import Final

# Keys whose values the kernel (or auditd's libaudit) writes with audit_log_untrustedstring
# or audit_log_n_hex: the only ones that may be hex-encoded.
HEX_KEYS: Final = frozenset(
    {
        "name",
        "name2",
        "target",
        "comm",
        "exe",
        "profile",
        "label",
        "peer",
        "peer_label",
        "peer_profile",
        "namespace",
        "srcname",
        "fstype",
        "execpath",
        "cwd",
        "proctitle",
        "addr",
        "peer_addr",
        "path",
        "info",
        "interface",
        "member",
        "bus",
        "data",
        "key",
        "attribute",
    }
)

_HEX_RE: Final = re.compile(rb"\A(?:[0-9A-F]{2})+\Z")
_UPPER_HEXCHARS: Final = frozenset(b"0123456789ABCDEF")


def needs_escape(raw: bytes) -> bool:
    """Whether the kernel would have hex-encoded ``raw`` (audit_string_contains_control)."""
    return any(b < 0x21 or b > 0x7E or b == 0x22 for b in raw)


def text(raw: bytes) -> str:
    """UTF-8 text of ``raw``; invalid bytes become ``\\xNN`` escapes, never an error."""
    return raw.decode("utf-8", "backslashreplace")


def is_bad_hex(value: bytes) -> bool:
    """An unquoted value made only of upper-case hex digits but of odd length: kernel hex
    cut short (``name=2F657``), whatever its length.

    Callers ask only for keys the kernel hex-encodes, whose clean values it always quotes:
    an unquoted value of such a key is hex, or one of the kernel's own words (``addr=none``,
    ``key=(null)``), which have a lower-case letter or punctuation and are never judged.
    """
    return len(value) % 2 == 1 and all(c in _UPPER_HEXCHARS for c in value)


def unhex(value: bytes) -> bytes | None:
    """The bytes behind a kernel hex encoding, or None when ``value`` is not one."""
    if not _HEX_RE.match(value):
        return None
    raw = bytes.fromhex(value.decode("ascii"))
    return raw if needs_escape(raw) else None


def decode_value(key: str, value: bytes, quoted: bool) -> str:
    """The text of one key=value value, hex-decoded where the kernel hex-encodes."""
    if not quoted and key in HEX_KEYS:
        raw = unhex(value)
        if raw is not None:
            return text(raw)
    return text(value)


def decode_proctitle(value: bytes, quoted: bool) -> str:
    """A PROCTITLE: hex of argv joined by NUL bytes, shown with spaces like ps(1)."""
    raw = value
    if not quoted and _HEX_RE.match(value):
        raw = bytes.fromhex(value.decode("ascii"))
    return text(raw.rstrip(b"\x00").replace(b"\x00", b" "))


# --- AppArmor labels ------------------------------------------------------------------

_MODE_SUFFIX: Final = re.compile(r" \((?:enforce|complain|kill|unconfined|prompt|user)\)\Z")


def split_label(label: str) -> tuple[str | None, list[str] | None, str | None, str | None]:
    """``(namespace, stack parts, parent, child)`` of an AppArmor label.

    ``:ns:profile`` / ``:ns://profile`` carry a namespace; ``a//&b`` is a stack (every
    part listed, namespaces included as written); ``a//b//c`` is a hat/child chain of the
    first stack part: parent ``a``, child the innermost ``c`` (``null-…`` included).
    """
    label = _MODE_SUFFIX.sub("", label)
    parts = label.split("//&")
    stack = parts if len(parts) > 1 else None
    first = parts[0]
    ns: str | None = None
    if first.startswith(":"):
        end = first.find(":", 1)
        if end > 0:
            ns = first[1:end]
            first = first[end + 1 :]
            if first.startswith("//"):
                first = first[2:]
    parent: str | None = None
    child: str | None = None
    if "//" in first:
        chain = first.split("//")
        parent, child = chain[0], chain[-1]
    return ns, stack, parent, child


# --- network values ----------------------------------------------------------------

# libapparmor's protocol names for the numbers AppArmor logs (its own table, not
# /etc/protocols), so `protocol=6` reads `tcp` exactly as aa-logprof shows it.
PROTOCOLS: Final = {
    0: "ip",
    1: "icmp",
    2: "igmp",
    4: "ipip",
    6: "tcp",
    8: "egp",
    12: "pup",
    17: "udp",
    22: "idp",
    29: "tp",
    33: "dccp",
    41: "ipv6",
    46: "rsvp",
    47: "gre",
    50: "esp",
    51: "ah",
    58: "icmpv6",
    92: "mtp",
    94: "beetph",
    98: "encap",
    103: "pim",
    108: "comp",
    132: "sctp",
    136: "udplite",
    137: "mpls",
    255: "raw",
    262: "mptcp",
}


def protocol_name(value: str) -> str:
    """``tcp`` for ``6``; ``unknown(N)`` for numbers without a name; names unchanged."""
    if value.isdigit():
        return PROTOCOLS.get(int(value), f"unknown({int(value)})")
    return value


def numeric_name(value: str) -> str:
    """``unknown(N)`` for a bare number where a name is expected (sock_type=1234)."""
    return f"unknown({int(value)})" if value.isdigit() else value


_DEC: Final = re.compile(r"[+-]?[0-9]+")


def to_int(value: str, bits: int = 64) -> int | None:
    """A signed decimal field, or None when it is not one or does not fit in ``bits``."""
    if not _DEC.fullmatch(value):
        return None
    n = int(value, 10)
    limit = 1 << (bits - 1)
    return n if -limit <= n < limit else None
