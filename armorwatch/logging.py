"""Logging for the CLI and daemons: JSON lines for machines, plain text for people.

``setup_logging(level, fmt)`` configures the root logger once per process:

- ``fmt="json"``: one JSON object per line (orjson): ``ts`` (UTC, ISO 8601 with ms),
  ``level``, ``logger``, ``msg``, every ``extra={...}`` field, and ``exc`` with the
  traceback. For journald/Kubernetes/log shippers.
- ``fmt="plain"``: ``HH:MM:SS LEVEL logger: message key=value``.
- ``fmt="auto"`` (default): plain when the stream is a terminal, JSON otherwise, so a
  daemon under systemd or in a pod logs JSON without being told.

Messages and string fields may carry log-derived text (a path from an AVC), so both
formats pass them through ``parsers.sanitize.for_terminal`` / ``for_json``: no escape
sequences, line breaks or bidi overrides reach a terminal or a log line.

Repeats: WARNING and ERROR lines of ``aiokafka`` (which logs every failed connection
attempt, ~900 lines in 50 s after a broker restart), and our own lines logged with
``extra={"_ratelimit": True}`` (retry warnings), pass ``RepeatFilter``: the first line of
a kind (logger, level, message template with its digits masked) is written, the next
ones within ``repeat_window`` seconds (60) are counted, and one line
"<first message> … repeated N times in the last 60 s" follows when the window is over
(at the next log line after it, or at exit: ``flush_repeats``).

``add_arguments(parser)`` adds ``--log-level``, ``--log-format`` and
``--log-repeat-window`` to a subcommand; ``from_args(args)`` applies them.
``print_summary(args, text, fields)`` writes a command's exit summary: one JSON object
under ``--log-format json``, the plain line otherwise. ``progress`` (a TTY-only tqdm
bar) is re-exported from ``ingest.progress``.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import logging
import re
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any, Final

import orjson

from armorwatch.ingest.progress import on_terminal, progress, progress_bar
from armorwatch.parsers import sanitize

__all__ = [
    "FORMATS",
    "JsonFormatter",
    "PlainFormatter",
    "RepeatFilter",
    "add_arguments",
    "flush_repeats",
    "from_args",
    "print_summary",
    "progress",
    "progress_bar",
    "setup_logging",
]

FORMATS: Final = ("auto", "json", "plain")
REPEAT_WINDOW: Final = 60.0
"""Seconds over which repeated lines are counted instead of written."""
RATE_LIMITED_LOGGERS: Final = ("aiokafka", "kafka")
"""Third-party loggers whose WARNING/ERROR repeats are rate-limited."""
_DIGITS = re.compile(r"\d+")

# Attributes every LogRecord has; anything else came from `extra=`.
_STANDARD: Final = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")
    }


def _clean(value: Any, escape: Any) -> Any:
    if isinstance(value, str | bytes):
        return escape(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, dict):
        return {escape(str(k)): _clean(v, escape) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v, escape) for v in value]
    return escape(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per record; strings made visible (sanitize.for_json)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": sanitize.for_json(record.getMessage()),
        }
        for key, value in _extras(record).items():
            out.setdefault(sanitize.for_json(key), _clean(value, sanitize.for_json))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(out, default=str).decode()


class PlainFormatter(logging.Formatter):
    """``HH:MM:SS LEVEL logger: message key=value`` with terminal-safe strings."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of text (plus a traceback when there is one)."""
        when = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        line = (
            f"{when} {record.levelname:<7} {record.name}: "
            f"{sanitize.for_terminal(record.getMessage())}"
        )
        extras = _extras(record)
        if extras:
            line += " " + " ".join(
                f"{sanitize.for_terminal(k)}={_clean(v, sanitize.for_terminal)}"
                for k, v in extras.items()
            )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


@dataclass
class _Repeat:
    start: float
    first: str
    count: int = 0


class RepeatFilter(logging.Filter):
    """Writes the first of a run of equal WARNING/ERROR lines, counts the rest for
    ``window`` seconds, then writes one "… repeated N times" line (see the module doc).

    Applies to records of ``loggers`` (prefix match) and to records with a true
    ``_ratelimit`` attribute. Keyed by logger, level and message template with digits
    masked; at most ``max_keys`` runs are tracked (the oldest is summarised first).
    """

    def __init__(
        self,
        handler: logging.Handler,
        window: float = REPEAT_WINDOW,
        loggers: tuple[str, ...] = RATE_LIMITED_LOGGERS,
        max_keys: int = 256,
        clock: Any = time.monotonic,
    ) -> None:
        super().__init__()
        self.handler = handler
        self.window = window
        self.loggers = loggers
        self.max_keys = max_keys
        self.clock = clock
        self.suppressed = 0
        """Lines not written (counted in a summary instead)."""
        self._runs: dict[tuple[str, int, str], _Repeat] = {}
        self._lock = threading.RLock()
        self._next_sweep = 0.0

    def _applies(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or getattr(record, "_repeat_summary", False):
            return False
        if getattr(record, "_ratelimit", False):
            return True
        return any(record.name == p or record.name.startswith(p + ".") for p in self.loggers)

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a repeat within the window; True (and due summaries first) else."""
        if self.window <= 0:
            return True
        now = self.clock()
        due: list[tuple[tuple[str, int, str], _Repeat]] = []
        passed = True
        with self._lock:
            if now >= self._next_sweep:
                self._next_sweep = now + 1.0
                for old_key, old_run in list(self._runs.items()):
                    if now - old_run.start >= self.window:
                        del self._runs[old_key]
                        if old_run.count:
                            due.append((old_key, old_run))
            if self._applies(record):
                msg = record.msg if isinstance(record.msg, str) else str(record.msg)
                key = (record.name, record.levelno, _DIGITS.sub("N", msg))
                run: _Repeat | None = self._runs.get(key)
                if run is not None and now - run.start >= self.window:
                    del self._runs[key]
                    if run.count:
                        due.append((key, run))
                    run = None
                if run is None:
                    if len(self._runs) >= self.max_keys:
                        lru_key = next(iter(self._runs))
                        lru = self._runs.pop(lru_key)
                        if lru.count:
                            due.append((lru_key, lru))
                    try:
                        first = record.getMessage()
                    except Exception:  # bad %-args: the handler reports it when formatting
                        first = msg
                    self._runs[key] = _Repeat(now, first)
                else:
                    run.count += 1
                    self.suppressed += 1
                    passed = False
        for key, run in due:
            self._emit(key, run, now)
        return passed

    def flush(self) -> None:
        """Write the summaries of every run with repeats (at exit)."""
        now = self.clock()
        with self._lock:
            runs, self._runs = list(self._runs.items()), {}
        for key, run in runs:
            if run.count:
                self._emit(key, run, now)

    def _emit(self, key: tuple[str, int, str], run: _Repeat, now: float) -> None:
        name, level, _ = key
        first = run.first if len(run.first) <= 300 else run.first[:300] + "…"
        seconds = min(self.window, max(now - run.start, 0.0))
        record = logging.LogRecord(
            name,
            level,
            __file__,
            0,
            "%s … repeated %d times in the last %.0f s",
            (first, run.count, seconds),
            None,
        )
        record.repeated = run.count
        record._repeat_summary = True
        if getattr(getattr(self.handler, "stream", None), "closed", False):
            return  # at exit, or a replaced handler whose stream was closed
        self.handler.handle(record)


_FILTERS: list[RepeatFilter] = []


def flush_repeats() -> None:
    """Write pending "repeated N times" summaries (called at exit, and by commands)."""
    for f in list(_FILTERS):
        with contextlib.suppress(OSError, ValueError):  # the stream is gone at exit
            f.flush()


atexit.register(flush_repeats)


def setup_logging(
    level: str | int = "INFO",
    fmt: str = "auto",
    stream: IO[str] | None = None,
    repeat_window: float = REPEAT_WINDOW,
) -> logging.Handler:
    """Send the root logger to ``stream`` (stderr) in ``fmt``; replaces earlier handlers.
    Repeated WARNING/ERROR lines are rate-limited per ``repeat_window`` (0: off)."""
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r}: choose from {', '.join(FORMATS)}")
    stream = stream if stream is not None else sys.stderr
    if fmt == "auto":
        fmt = "plain" if on_terminal(stream) else "json"
    flush_repeats()
    _FILTERS.clear()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else PlainFormatter())
    repeats = RepeatFilter(handler, repeat_window)
    handler.addFilter(repeats)
    _FILTERS.append(repeats)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler


def add_arguments(parser: argparse.ArgumentParser, default_level: str = "INFO") -> None:
    """Add ``--log-level`` and ``--log-format`` to a subcommand's parser."""
    parser.add_argument(
        "--log-level",
        default=default_level,
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help=f"least severe level logged (default {default_level})",
    )
    parser.add_argument(
        "--log-format",
        default="auto",
        choices=FORMATS,
        help="json (one object per line), plain, or auto: plain on a terminal, else json",
    )
    parser.add_argument(
        "--log-repeat-window",
        type=float,
        default=REPEAT_WINDOW,
        metavar="SECONDS",
        help="write a repeated warning once per SECONDS, then how often it repeated "
        f"(default {REPEAT_WINDOW:.0f}; 0 writes every line)",
    )


def from_args(args: argparse.Namespace) -> logging.Handler:
    """Apply ``--log-level`` / ``--log-format`` from parsed arguments."""
    return setup_logging(
        getattr(args, "log_level", "INFO"),
        getattr(args, "log_format", "auto"),
        repeat_window=getattr(args, "log_repeat_window", REPEAT_WINDOW),
    )


def print_summary(
    args: argparse.Namespace, text: str, fields: dict[str, Any], stream: IO[str] | None = None
) -> None:
    """A command's exit summary on ``stream`` (stdout): under an explicit ``--log-format
    json`` one JSON object (``fields`` plus ``summary``: ``text``), else ``text`` (``auto``
    too: stdout is read by people and scripts that parse the line, whatever stderr is).
    Pending repeat summaries are written first, so the summary is the last line."""
    flush_repeats()
    out = stream if stream is not None else sys.stdout
    if getattr(args, "log_format", "auto") == "json":
        line = orjson.dumps({"summary": text, **fields}, default=str).decode()
    else:
        line = text
    print(line, file=out, flush=True)
