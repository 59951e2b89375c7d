"""The one registry of source kinds: which name builds which ingest source.

``collect`` follows sources (``--source``, ``[collect] sources``, ``[collect.NAME]``);
``run`` reads files once (``[[run.inputs]] kind``). Both resolve their words here, so a
kind has one canonical name; ``audit`` and ``syslog`` (``run``'s words before the two
vocabularies were merged) stay accepted as aliases of ``auditd`` and ``kernlog``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from armorwatch.config import ConfigError
from armorwatch.ingest.auditd_file import AuditdFileConfig, AuditdFileSource
from armorwatch.ingest.base import Source
from armorwatch.ingest.detect import AUDITD, JOURNALD, KERNLOG
from armorwatch.ingest.journal_json import JournalJsonFileConfig, JournalJsonFileSource
from armorwatch.ingest.journald import JournaldConfig, JournaldSource
from armorwatch.ingest.kernlog import KernLogConfig, KernLogSource

JOURNAL_JSON = "journal-json"
AUTO = "auto"


@dataclass(frozen=True)
class SourceKind:
    """One kind of source: its names, its ingest class and that class's config."""

    name: str
    """Canonical name (``ingest.detect``'s words; ``[collect.NAME]`` for a followed kind)."""
    source: Callable[..., Source]
    """Called as ``source(config, name)``."""
    config: Callable[..., Any]
    """Its frozen config dataclass; a file read once gets ``config(path=...)``."""
    aliases: tuple[str, ...] = ()
    followed: bool = True
    """``collect`` can follow it (its settings are the ``[collect.NAME]`` table)."""
    file: bool = True
    """``run`` can read one file of it once."""


SOURCES = (
    SourceKind(AUDITD, AuditdFileSource, AuditdFileConfig, aliases=("audit",)),
    SourceKind(KERNLOG, KernLogSource, KernLogConfig, aliases=("syslog",)),
    SourceKind(JOURNALD, JournaldSource, JournaldConfig, file=False),
    SourceKind(JOURNAL_JSON, JournalJsonFileSource, JournalJsonFileConfig, followed=False),
)
_BY_WORD = {word: k for k in SOURCES for word in (k.name, *k.aliases)}

FOLLOWED = tuple(k.name for k in SOURCES if k.followed)
"""Canonical names ``collect`` follows."""
FOLLOWED_WORDS = tuple(w for w, k in _BY_WORD.items() if k.followed)
"""Every word ``--source`` and ``[collect] sources`` accept (names, then aliases)."""
FILE_WORDS = tuple(w for w, k in _BY_WORD.items() if k.file)
"""Every word ``[[run.inputs]] kind`` accepts besides ``auto``."""

# ``auto``: the first needle found in the lower-cased file name decides; else audit.log.
_KIND_BY_FILE_NAME = (
    ("journal", JOURNAL_JSON),
    ("json", JOURNAL_JSON),
    ("kern", KERNLOG),
    ("syslog", KERNLOG),
    ("messages", KERNLOG),
    ("dmesg", KERNLOG),
)


def followed(word: str) -> str:
    """The canonical name of a kind ``collect`` follows; ConfigError for any other word."""
    kind = _BY_WORD.get(word)
    if kind is None or not kind.followed:
        hint = " (a file kind: `run` reads it)" if kind is not None else ""
        raise ConfigError(f"unknown source {word!r}{hint}; use one of {', '.join(FOLLOWED_WORDS)}")
    return kind.name


def file_kind(word: str, path: Path) -> str:
    """The canonical kind of the file ``path`` read once: ``word``, or from its name (auto)."""
    if word == AUTO:
        name = path.name.lower()
        return next((k for needle, k in _KIND_BY_FILE_NAME if needle in name), AUDITD)
    kind = _BY_WORD.get(word)
    if kind is None or not kind.file:
        hint = " (followed through journalctl by `collect`)" if kind is not None else ""
        raise ConfigError(
            f"{path}: unknown input kind {word!r}{hint}; use {AUTO}, {', '.join(FILE_WORDS)}"
        )
    return kind.name


def follow_source(name: str, config: Any) -> Source:
    """The source that follows kind ``name`` with its settings ``config``."""
    return _BY_WORD[name].source(config, name)


def file_source(kind: str, path: Path, name: str) -> Source:
    """The source that reads the one file ``path`` of kind ``kind`` from its start."""
    spec = _BY_WORD[kind]
    return spec.source(spec.config(path=path), name)
