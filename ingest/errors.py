"""Errors of the collectors. A collector never dies on *input*; these are about sources
and state it cannot use at all.

    IngestError
    ├── SourceError            a source cannot be opened or run (missing binary, bad path)
    │   └── JournalCursorError the stored journald cursor is unusable (reported as a gap)
    └── CheckpointError        the checkpoint file cannot be written, or has a newer version
"""

from __future__ import annotations


class IngestError(Exception):
    """Base of all ingest errors."""


class SourceError(IngestError):
    """A source cannot be opened or run."""


class JournalCursorError(SourceError):
    """journalctl refused the stored cursor (malformed, or from another journal)."""


class CheckpointError(IngestError):
    """The checkpoint cannot be written, or was written by a newer armorwatch."""
