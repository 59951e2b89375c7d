"""armorwatch.logging: JSON lines for daemons, plain text on a terminal, TTY-only progress."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest

from armorwatch import logging as awlog


class FakeTTY(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        """Always a terminal."""
        return True


@pytest.fixture
def restore_root() -> Iterator[None]:
    """Put the root logger's handlers and level back after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


class TestJson:
    def test_one_object_per_line_with_extras(self, restore_root: None) -> None:
        """A record becomes one JSON line with ts, level, logger, msg and extra fields."""
        stream = io.StringIO()
        awlog.setup_logging("INFO", "json", stream)
        logging.getLogger("armorwatch.test").warning("Lag is high.", extra={"lag_s": 12.5})
        lines = stream.getvalue().splitlines()
        assert 1 == len(lines)
        data = orjson.loads(lines[0])
        assert ("WARNING", "armorwatch.test", "Lag is high.", 12.5) == (
            data["level"],
            data["logger"],
            data["msg"],
            data["lag_s"],
        )
        assert data["ts"].endswith("+00:00")

    def test_log_derived_text_is_made_visible(self, restore_root: None) -> None:
        """A bidi override or escape sequence from a log shows as a backslash escape."""
        stream = io.StringIO()
        awlog.setup_logging("INFO", "json", stream)
        logging.getLogger("t").info("Denied %s.", "/tmp/\u202eexe\x1b[2J", extra={"p": "a\nb"})
        data = orjson.loads(stream.getvalue())
        assert ("Denied /tmp/\\u202eexe\\x1b[2J.", "a\\nb") == (data["msg"], data["p"])

    def test_exception_is_included(self, restore_root: None) -> None:
        """logging.exception adds the traceback under exc."""
        stream = io.StringIO()
        awlog.setup_logging("INFO", "json", stream)
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("t").exception("It failed.")
        assert "RuntimeError: boom" in orjson.loads(stream.getvalue())["exc"]


class TestAuto:
    def test_json_when_not_a_terminal(self, restore_root: None) -> None:
        """auto picks JSON for a pipe or file (a daemon under systemd)."""
        handler = awlog.setup_logging("INFO", "auto", io.StringIO())
        assert isinstance(handler.formatter, awlog.JsonFormatter)

    def test_plain_on_a_terminal(self, restore_root: None) -> None:
        """auto picks plain text on a terminal, still with escapes."""
        stream = FakeTTY()
        awlog.setup_logging("INFO", "auto", stream)
        logging.getLogger("t").info("Name %s.", "x\x1b]0;pwn\x07")
        assert stream.getvalue().rstrip("\n").endswith("INFO    t: Name x\\x1b]0;pwn\\x07.")

    def test_unknown_format_is_refused(self) -> None:
        """A format that does not exist is an error naming the choices."""
        with pytest.raises(ValueError, match="auto, json, plain"):
            awlog.setup_logging("INFO", "xml", io.StringIO())


class TestProgress:
    def test_passthrough_off_a_terminal(self) -> None:
        """Off a terminal the iterable itself comes back: no bar, no output."""
        items = [1, 2, 3]
        stream = io.StringIO()
        assert items is awlog.progress(items, 3, "x", stream=stream)
        assert "" == stream.getvalue()

    def test_bar_on_a_terminal(self) -> None:
        """On a terminal every item still comes through, and a bar is drawn."""
        stream = FakeTTY()
        assert [1, 2, 3] == list(awlog.progress([1, 2, 3], 3, "files", stream=stream))
        assert "files" in stream.getvalue()

    def test_manual_bar(self) -> None:
        """progress_bar counts by hand on a terminal and is a silent no-op otherwise."""
        quiet = io.StringIO()
        bar = awlog.progress_bar(100, "bytes", "B", stream=quiet)
        bar.update(50)
        bar.close()
        loud = FakeTTY()
        bar = awlog.progress_bar(100, "bytes", "B", stream=loud)
        bar.update(50)
        bar.close()
        assert ("", True) == (quiet.getvalue(), "bytes" in loud.getvalue())
