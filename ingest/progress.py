"""Progress bars for backfill, replay and long reports: shown only on a terminal.

``progress(iterable, total, desc)`` wraps an iterable in a tqdm bar when standard error
is a TTY and returns it unchanged otherwise, so daemons and CI logs never get carriage
returns and bar redraws. ``progress_bar(total, desc, unit)`` is the same for code that
counts by hand (bytes read from a file): it returns an object with ``update(n)`` and
``close()`` (a no-op one when not on a terminal).

It lives in ``ingest`` because collectors (which may not import ``armorwatch``) need it;
``armorwatch.logging`` re-exports it for the CLI. (``jobs`` may not import ``ingest``:
jobs take a ``progress`` callable from their caller instead.)
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import IO, Any, Protocol, TypeVar

T = TypeVar("T")


class Bar(Protocol):
    """What ``progress_bar`` returns."""

    def update(self, n: float = 1) -> Any:
        """Advance by ``n`` units."""

    def close(self) -> None:
        """Finish the bar."""


class _NoBar:
    def update(self, n: float = 1) -> None:
        return None

    def close(self) -> None:
        return None

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def on_terminal(stream: IO[str] | None = None) -> bool:
    """Whether ``stream`` (default: standard error) is an interactive terminal."""
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed stream
        return False


def progress(
    iterable: Iterable[T],
    total: int | None = None,
    desc: str | None = None,
    stream: IO[str] | None = None,
) -> Iterable[T]:
    """``iterable`` with a progress bar on a terminal, or ``iterable`` itself otherwise."""
    if not on_terminal(stream):
        return iterable
    from tqdm import tqdm

    return tqdm(
        iterable,
        total=total,
        desc=desc,
        file=stream if stream is not None else sys.stderr,
        leave=False,
        dynamic_ncols=True,
    )


def progress_bar(
    total: float | None = None,
    desc: str | None = None,
    unit: str = "it",
    stream: IO[str] | None = None,
    position: int | None = None,
) -> Bar:
    """A bar to ``update(n)`` by hand (unit "B" scales bytes), a no-op off a terminal.
    ``position``: the terminal line of this bar among several drawn at once (0 = top)."""
    if not on_terminal(stream):
        return _NoBar()
    from tqdm import tqdm

    bar: Bar = tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=unit == "B",
        unit_divisor=1024 if unit == "B" else 1000,
        file=stream if stream is not None else sys.stderr,
        leave=False,
        dynamic_ncols=True,
        position=position,
    )
    return bar
