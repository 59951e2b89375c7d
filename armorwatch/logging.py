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

``add_arguments(parser)`` adds ``--log-level`` and ``--log-format`` to a subcommand;
``from_args(args)`` applies them. ``progress`` (a TTY-only tqdm bar) is re-exported from
``ingest.progress``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any, Final

import orjson

from ingest.progress import on_terminal, progress, progress_bar
from parsers import sanitize

__all__ = [
    "FORMATS",
    "JsonFormatter",
    "PlainFormatter",
    "add_arguments",
    "from_args",
    "progress",
    "progress_bar",
    "setup_logging",
]

FORMATS: Final = ("auto", "json", "plain")

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


def setup_logging(
    level: str | int = "INFO", fmt: str = "auto", stream: IO[str] | None = None
) -> logging.Handler:
    """Send the root logger to ``stream`` (stderr) in ``fmt``; replaces earlier handlers."""
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r}: choose from {', '.join(FORMATS)}")
    stream = stream if stream is not None else sys.stderr
    if fmt == "auto":
        fmt = "plain" if on_terminal(stream) else "json"
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else PlainFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--log-level`` and ``--log-format`` to a subcommand's parser."""
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="least severe level logged (default INFO)",
    )
    parser.add_argument(
        "--log-format",
        default="auto",
        choices=FORMATS,
        help="json (one object per line), plain, or auto: plain on a terminal, else json",
    )


def from_args(args: argparse.Namespace) -> logging.Handler:
    """Apply ``--log-level`` / ``--log-format`` from parsed arguments."""
    return setup_logging(getattr(args, "log_level", "INFO"), getattr(args, "log_format", "auto"))
