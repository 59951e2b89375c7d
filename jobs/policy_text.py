"""AppArmor policy text as statements, shared by ``jobs.abstractions`` and ``jobs.installed``.

``statements(text)`` splits a policy text on ``{``, ``}`` and ``,`` (not on lines), so a
``} else {``, a one-line ``if $x { /a r, }`` and a header whose ``{`` is on the next line
all read the same. ``evaluate`` decides an ``if`` condition from the ``$bool = true|false``
and ``@{VAR}`` definitions seen; ``taken`` decides a branch of an if/else chain.
"""

from __future__ import annotations

import re
from typing import Final

INCLUDE: Final = re.compile(r"^\s*#?include(?:\s+if\s+exists)?\s+[<\"]([^>\"]+)[>\"]")
"""An include line (``include``, ``#include``, ``include if exists``); group 1: the name.
``# include`` (a blank after ``#``) is a comment to apparmor_parser, as in the usage
examples at the top of abstractions/xdg-open."""
BOOL_DEF: Final = re.compile(r"^\$([A-Za-z0-9_]+)\s*=\s*(true|false)$")
"""A boolean definition statement: ``$name = true``."""
VAR_DEF: Final = re.compile(r"^@\{([A-Za-z0-9_]+)\}\s*\+?=")
"""A variable definition statement: ``@{NAME} = …`` or ``+=``."""
_STATEMENT_TOKEN: Final = re.compile(r'(?:"(?:[^"\\]|\\.)*"|[^\s"])+|"')


_COMMENT: Final = re.compile(r"(?:^|(?<=[\s,]))#")


def strip_comment(line: str) -> str:
    """``line`` without its ``# comment`` and surrounding blanks (``#include`` kept).

    A ``#`` inside a word is no comment: ``owner @{HOME}/.config/#[0-9]* rw,``
    (abstractions/kde-globals-write) is a rule, as apparmor_parser reads it.
    """
    s = line.strip()
    if s.startswith("#include"):
        return s[1:]
    m = _COMMENT.search(s)
    return s[: m.start()].strip() if m else s


def statements(text: str) -> list[tuple[str, str]]:
    """The statements of a policy text as (terminator, text): ``{`` for a block header,
    ``}`` for a block end, ``,`` for a rule, ``""`` for a line statement (an include, a
    variable definition). Comments are dropped; a statement may span lines (a header
    whose ``{`` is on the next line), and several may share one (``if $x { /a r, }``);
    a ``,`` inside parentheses (``flags=(a, b)``, dbus lists) ends nothing."""
    out: list[tuple[str, str]] = []
    words: list[str] = []
    # the statement's text as written: whole earlier lines, and this line from `start`
    segs: list[str] = []
    start = end = -1
    parens = 0

    def flush(kind: str) -> None:
        nonlocal words, parens, segs, start
        text = " ".join([*segs, line[start:end]] if start >= 0 else segs)
        out.append((kind, text))
        words, segs, start, parens = [], [], -1, 0

    for raw in text.splitlines():
        if raw.lstrip().startswith("#") and not INCLUDE.match(raw):
            continue  # a comment, even one that starts "# include the …"
        line = strip_comment(raw)
        start = -1
        for m in _STATEMENT_TOKEN.finditer(line):
            tok = m.group()
            if tok in ("{", "}") and parens <= 0:
                if tok == "}" and words:
                    flush("")
                flush(tok)
                continue
            words.append(tok)
            if start < 0:
                start = m.start()
            end = m.end()
            if not tok.startswith(("/", "@", '"')):  # a path's '(' is a literal
                parens += tok.count("(") - tok.count(")")
            if tok.endswith(",") and parens <= 0:
                flush(",")
        if words and (INCLUDE.match(" ".join(words)) or (
                words[0].startswith(("@{", "$")) and "=" in " ".join(words))):
            flush("")  # line statements have no terminator
        elif start >= 0:
            segs.append(line[start:end])
            start = -1
    if words:
        line = ""
        flush("")
    return out


def evaluate(cond: list[str], bools: dict[str, bool], defined: set[str]) -> bool | None:
    """The value of an ``if`` condition (``[not] $b``, ``[not] defined @{V}|$b``), None
    when it names a boolean this file does not set or is not of that form."""
    neg = False
    while cond[:1] == ["not"]:
        neg, cond = not neg, cond[1:]
    value: bool | None = None
    if len(cond) == 2 and cond[0] == "defined":
        var = cond[1]
        if var.startswith("@{") and var.endswith("}"):
            value = var[2:-1] in defined
        elif var.startswith("$"):
            value = var[1:] in bools
    elif len(cond) == 1 and cond[0].startswith("$"):
        value = bools.get(cond[0][1:])
    return None if value is None else value != neg


def branch_condition(words: list[str]) -> list[str]:
    """The condition words of an ``if C {`` / ``else if C {`` header, [] for ``else {``."""
    if words[:1] == ["if"]:
        return words[1:]
    return words[2:] if words[1:2] == ["if"] else []


def taken(own: bool | None, before: list[bool | None]) -> bool | None:
    """Whether a branch is taken, from its own condition's value (True for ``else``) and
    those of the branches before it in its if/else chain (None: undecided)."""
    # an else branch is taken when every condition before it is false
    if any(v is True for v in before):
        return False
    if any(v is None for v in before) and own is not False:
        return None
    return own
