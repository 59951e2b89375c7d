"""Pure text functions (no I/O), here so sinks and jobs can both use them.

Escape log-derived strings for the place they are shown: terminal, JSON, HTML, Markdown, Slack.

Every string that came out of a log line is attacker-influenced: the kernel passes
``< > & \\ * [ ] ! ' ;`` unencoded and hex-encodes the rest, which our decoder turns
back into arbitrary bytes (reliability.md §0.5, §3.4). So before a value reaches a
human it goes through exactly one of the functions here, chosen by the target:

- ``for_terminal(s)`` / ``for_json(s)``: the *visible* form. Every character that is not
  printable (C0 and C1 controls, DEL, ESC, U+2028/2029, bidi overrides U+202A–202E and
  isolates U+2066–2069, zero-width and other format characters, lone surrogates) becomes
  a backslash escape (``\\x1b``, ``\\u202e``), and a backslash becomes ``\\\\`` so the
  escaping is unambiguous. Plain text passes unchanged.
- ``for_html(s)``: visible form, then ``& < > " '`` as entities (safe in text and in
  quoted attributes).
- ``for_markdown(s)``: visible form, then ``& < >`` as entities (inline HTML) and the
  Markdown punctuation that can start emphasis, code, links, tables or headings
  backslash-escaped.
- ``for_slack(s)``: visible form, then ``& < >`` as entities, which Slack requires and
  which neutralises ``<!channel>`` and ``<url|text>``.

All functions take ``str``, ``bytes`` (decoded as UTF-8, invalid bytes shown as
``\\xNN``) or ``None`` (→ ``""``) and are pure. ``truncate`` caps a length (cut first, then escape,
so an escape or entity is never cut in half).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "for_html",
    "for_json",
    "for_markdown",
    "for_slack",
    "for_terminal",
    "is_visible_safe",
    "truncate",
    "visible",
]

_NAMED: Final = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\\": "\\\\"}

# Markdown punctuation that can change rendering anywhere in a line (CommonMark allows a
# backslash before any ASCII punctuation). `.`, `-` and `/` are left alone: after newlines
# are escaped they cannot start a list, and escaping them would make paths unreadable.
_MD_SPECIAL: Final = re.compile(r"([`*_{}\[\]()#+!|~=:^$])")


def _escape_char(ch: str) -> str:
    named = _NAMED.get(ch)
    if named is not None:
        return named
    cp = ord(ch)
    if 0xDC80 <= cp <= 0xDCFF:  # surrogateescape: the original undecodable byte
        return f"\\x{cp - 0xDC00:02x}"
    if cp < 0x80:  # C1 controls get \u0085, so \x80-\xff always means a raw byte
        return f"\\x{cp:02x}"
    if cp < 0x10000:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


def _as_str(s: str | bytes | None) -> str:
    if s is None:
        return ""
    if isinstance(s, bytes | bytearray | memoryview):
        return bytes(s).decode("utf-8", "surrogateescape")
    return str(s)


def visible(s: str | bytes | None) -> str:
    """Backslash-escape every non-printable character (and the backslash itself)."""
    text = _as_str(s)
    # Fast path: most paths and profile names are plain printable text.
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(ch if (ch.isprintable() and ch != "\\") else _escape_char(ch) for ch in text)


def is_visible_safe(s: str) -> bool:
    """True when ``s`` contains no character ``visible`` would escape (except ``\\``)."""
    return s.isprintable()


def for_terminal(s: str | bytes | None) -> str:
    """For a terminal, a log file or plain text: no escape sequences, no line breaks."""
    return visible(s)


def for_json(s: str | bytes | None) -> str:
    """For a JSON string value: valid UTF-8 (no lone surrogates) with no raw U+2028/202E."""
    return visible(s)


def for_html(s: str | bytes | None) -> str:
    """For HTML text or a quoted attribute value."""
    return (
        visible(s)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#x27;")
    )


def for_markdown(s: str | bytes | None) -> str:
    """For inline Markdown text (including a table cell)."""
    text = visible(s).replace("\\", "\\\\")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def for_slack(s: str | bytes | None) -> str:
    """For Slack ``mrkdwn`` text: ``& < >`` become entities as Slack's docs require."""
    return visible(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(s: str, limit: int, marker: str = "…") -> str:
    """Cap ``s`` at ``limit`` characters, marking the cut (apply to the raw text, then escape)."""
    if limit <= 0:
        return ""
    if len(s) <= limit:
        return s
    return s[: max(0, limit - len(marker))] + marker
