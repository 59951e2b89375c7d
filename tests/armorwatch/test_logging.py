"""armorwatch.logging: JSON lines for daemons, plain text on a terminal, TTY-only progress."""

from __future__ import annotations

import argparse
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


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        """The current time."""
        return self.now


def json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    """Every JSON log line written to ``stream``."""
    return [orjson.loads(x) for x in stream.getvalue().splitlines()]


def repeat_logging(stream: io.StringIO, clock: Clock) -> awlog.RepeatFilter:
    """JSON logging to ``stream`` with the repeat filter on the fake ``clock``."""
    handler = awlog.setup_logging("INFO", "json", stream)
    (repeats,) = [f for f in handler.filters if isinstance(f, awlog.RepeatFilter)]
    repeats.clock = clock
    return repeats


class TestRepeats:
    def test_aiokafka_flood_is_one_line_then_a_summary(self, restore_root: None) -> None:
        """900 aiokafka errors in 50 s are written once, then one "repeated 899 times" line."""
        stream, clock = io.StringIO(), Clock()
        repeats = repeat_logging(stream, clock)
        kafka = logging.getLogger("aiokafka.conn")
        for i in range(900):
            kafka.error("Unable connect to node with id %d: [Errno 111] port %d", 1, 9000 + i)
            clock.now += 50 / 900
        assert 1 == len(json_lines(stream))
        clock.now += 11  # the window is over: the next line brings the summary
        logging.getLogger("armorwatch.x").info("Still here.")
        lines = json_lines(stream)
        assert (899, "aiokafka.conn", "ERROR") == (
            lines[1]["repeated"],
            lines[1]["logger"],
            lines[1]["level"],
        )
        assert "repeated 899 times in the last 60 s" in str(lines[1]["msg"])
        assert "Still here." == lines[2]["msg"]
        assert 899 == repeats.suppressed

    def test_own_retry_warnings_are_limited_and_flushed_at_exit(self, restore_root: None) -> None:
        """A warning logged with _ratelimit repeats once; flush_repeats writes the count."""
        stream, clock = io.StringIO(), Clock()
        repeat_logging(stream, clock)
        log = logging.getLogger("armorwatch.ingest.collector")
        for wait in (0.5, 1.0, 2.0):
            log.warning("Retrying in %.1f s.", wait, extra={"_ratelimit": True})
            clock.now += 1
        awlog.flush_repeats()
        lines = json_lines(stream)
        assert ["Retrying in 0.5 s.", 2] == [lines[0]["msg"], lines[1]["repeated"]]
        assert "_ratelimit" not in lines[0]

    def test_other_warnings_and_info_lines_are_never_limited(self, restore_root: None) -> None:
        """Our own warnings without _ratelimit, and INFO lines of aiokafka, all pass."""
        stream, clock = io.StringIO(), Clock()
        repeat_logging(stream, clock)
        for _ in range(3):
            logging.getLogger("armorwatch.ingest.tail").warning("Truncation detected (in place).")
            logging.getLogger("aiokafka").info("Joined group.")
        assert 6 == len(json_lines(stream))

    def test_window_zero_turns_it_off(self, restore_root: None) -> None:
        """--log-repeat-window 0 writes every line."""
        stream = io.StringIO()
        awlog.setup_logging("INFO", "json", stream, repeat_window=0)
        for _ in range(5):
            logging.getLogger("aiokafka").error("Unable to connect.")
        assert 5 == len(json_lines(stream))


class TestSummary:
    def test_json_object_under_log_format_json(self) -> None:
        """With --log-format json the exit summary is one JSON object with its figures."""
        out = io.StringIO()
        args = argparse.Namespace(log_format="json")
        awlog.print_summary(args, "collected 3 MAC records", {"records": 3}, stream=out)
        assert {"summary": "collected 3 MAC records", "records": 3} == orjson.loads(out.getvalue())

    def test_plain_text_otherwise(self) -> None:
        """Without --log-format json the summary stays the plain sentence."""
        out = io.StringIO()
        for fmt in ("plain", "auto"):
            args = argparse.Namespace(log_format=fmt)
            awlog.print_summary(args, "collected 3 MAC records", {"records": 3}, stream=out)
        assert "collected 3 MAC records\n" * 2 == out.getvalue()
