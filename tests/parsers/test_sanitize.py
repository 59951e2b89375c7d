"""parsers.sanitize: every log-derived string is safe for its target (reliability.md G4)."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from armorwatch.parsers import sanitize

# Strings a hostile log can carry once hex-decoded (reliability.md §3.1, §3.4).
HOSTILE = [
    "/tmp/\x1b]0;pwned\x07\x1b[2J",
    "/etc/pass\x00wd",
    'line1\nFAKE: apparmor="ALLOWED"\r\n',
    "/home/u/\u202egnp.exe",
    "/x\u2066isolate\u2069\u2028\u2029",
    "/c1\x85\x9b31m",
    "<img src=x onerror=alert(1)>",
    "<!channel> <https://evil|click> & co",
    "**bold** _it_ `code` [l](http://e) | # h ~~s~~",
    "/tmp/f\udcffo",
    "back\\slash\\x1b",
    "\u200b\ufeff\u00ad\U000e0041",
]

FORBIDDEN = re.compile(
    "[\x00-\x1f\x7f\x80-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


class TestVisible:
    def test_plain_text_passes_unchanged(self) -> None:
        """A printable path without backslashes is returned as is."""
        assert "/usr/lib/x86_64-linux-gnu/libc.so.6" == sanitize.visible(
            "/usr/lib/x86_64-linux-gnu/libc.so.6"
        )

    def test_escapes_are_readable(self) -> None:
        """Controls, bidi overrides and backslashes become backslash escapes."""
        assert "a\\x1b[31mb\\nc\\u202ed\\\\e" == sanitize.visible("a\x1b[31mb\nc\u202ed\\e")

    def test_invalid_utf8_bytes_shown_as_hex(self) -> None:
        """Bytes that are not UTF-8 are shown as \\xNN, not dropped."""
        assert "/tmp/f\\xffo" == sanitize.visible(b"/tmp/f\xffo")

    def test_none_is_empty(self) -> None:
        """None (a null column) renders as the empty string."""
        assert "" == sanitize.visible(None)

    def test_backslash_makes_escaping_unambiguous(self) -> None:
        """A literal '\\x1b' text differs from a real ESC after escaping."""
        assert sanitize.visible("\\x1b") != sanitize.visible("\x1b")


class TestTargets:
    @pytest.mark.parametrize("s", HOSTILE)
    @pytest.mark.parametrize(
        "fn",
        [
            sanitize.for_terminal,
            sanitize.for_json,
            sanitize.for_html,
            sanitize.for_markdown,
            sanitize.for_slack,
        ],
    )
    def test_no_forbidden_characters(self, fn, s: str) -> None:
        """No target output contains C0/C1 controls, DEL, line separators, bidi or surrogates."""
        assert None is FORBIDDEN.search(fn(s))

    @pytest.mark.parametrize("s", HOSTILE)
    def test_html_has_no_raw_specials(self, s: str) -> None:
        """HTML output has no unescaped < > \" ' and every & starts an entity."""
        out = sanitize.for_html(s)
        assert None is re.search(r"[<>\"']", out)
        assert None is re.search(r"&(?!amp;|lt;|gt;|quot;|#x27;)", out)

    @pytest.mark.parametrize("s", HOSTILE)
    def test_html_round_trips_to_visible(self, s: str) -> None:
        """Unescaping the HTML gives back exactly the visible form."""
        assert sanitize.visible(s) == html.unescape(sanitize.for_html(s))

    def test_slack_entities(self) -> None:
        """Slack control characters & < > become entities, so no mention or link parses."""
        assert "&lt;!channel&gt; &lt;https://evil|click&gt; &amp; co" == sanitize.for_slack(
            "<!channel> <https://evil|click> & co"
        )

    def test_markdown_punctuation_escaped(self) -> None:
        """Emphasis, code, link and table characters are backslash-escaped."""
        assert "\\*\\*b\\*\\* \\_i\\_ \\`c\\` \\[l\\]\\(u\\) \\|" == sanitize.for_markdown(
            "**b** _i_ `c` [l](u) |"
        )

    def test_markdown_keeps_paths_readable(self) -> None:
        """Dots, dashes and slashes in a path are not escaped."""
        assert "/usr/lib/libc-2.so.6" == sanitize.for_markdown("/usr/lib/libc-2.so.6")

    @given(st.text())
    def test_property_no_forbidden(self, s: str) -> None:
        """For any text, terminal and Slack outputs contain no forbidden character."""
        assert None is FORBIDDEN.search(sanitize.for_terminal(s))
        assert None is FORBIDDEN.search(sanitize.for_slack(s))

    @given(st.text())
    def test_property_visible_is_reversible(self, s: str) -> None:
        """The visible form decodes back to the input, so no two inputs render the same."""
        assert s == _unescape(sanitize.visible(s))

    @given(st.binary())
    def test_property_bytes_reversible(self, b: bytes) -> None:
        """Arbitrary bytes (invalid UTF-8 included) decode back from the visible form."""
        assert b == _unescape(sanitize.visible(b)).encode("utf-8", "surrogateescape")


def _unescape(text: str) -> str:
    """Reference decoder of the visible form, written independently of the encoder."""
    named = {"\\": "\\", "n": "\n", "t": "\t", "r": "\r"}
    widths = {"x": 2, "u": 4, "U": 8}
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        kind = text[i + 1]
        if kind in named:
            out.append(named[kind])
            i += 2
            continue
        n = widths[kind]
        cp = int(text[i + 2 : i + 2 + n], 16)
        out.append(chr(0xDC00 + cp) if kind == "x" and cp >= 0x80 else chr(cp))
        i += 2 + n
    return "".join(out)


class TestTruncate:
    def test_truncates_with_marker(self) -> None:
        """A long string is cut to the limit including the marker."""
        assert "abc…" == sanitize.truncate("abcdefgh", 4)

    def test_short_string_unchanged(self) -> None:
        """A string within the limit is unchanged."""
        assert "abc" == sanitize.truncate("abc", 4)
