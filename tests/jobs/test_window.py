"""jobs.window: durations, ISO times and where a window ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from armorwatch.jobs import window
from armorwatch.parsers import schema as S
from armorwatch.parsers.envelope import Envelope
from armorwatch.sinks.duckdb import DuckDBConfig, DuckDBSink, open_reader


class TestDurations:
    def test_units(self) -> None:
        """s, m, h, d and w are understood, fractions too."""
        got = [window.parse_duration(t) for t in ("90s", "30m", "24h", "7d", "2w", "1.5h")]
        assert [
            timedelta(seconds=90), timedelta(minutes=30), timedelta(hours=24),
            timedelta(days=7), timedelta(weeks=2), timedelta(minutes=90),
        ] == got  # fmt: skip

    @pytest.mark.parametrize("text", ["24", "0h", "-1d", "24 hours", "1y", ""])
    def test_bad_durations_are_errors(self, text: str) -> None:
        """Anything but a positive number and a unit is a WindowError."""
        with pytest.raises(window.WindowError):
            window.parse_duration(text)

    def test_since_takes_a_duration_or_an_iso_time(self) -> None:
        """A duration counts back from the end; a naive ISO time is UTC."""
        end = datetime(2025, 11, 23, 12, tzinfo=UTC)
        assert datetime(2025, 11, 22, 12, tzinfo=UTC) == window.since("24h", end)
        assert datetime(2025, 11, 1, tzinfo=UTC) == window.since("2025-11-01T00:00", end)
        with pytest.raises(window.WindowError):
            window.since("yesterday", end)


class TestWindowEnd:
    async def test_latest_is_the_newest_record(self, tmp_path: Path) -> None:
        """With anchor latest the window ends at the newest stored record."""
        db = tmp_path / "w.duckdb"
        row = {S.TS: 1_763_880_305_100, S.HOST: "h", S.SERIAL: 1, S.RECORD_TYPE: "AVC",
               S.ORDINAL: 0, S.RAW: b"x"}  # fmt: skip
        async with DuckDBSink(DuckDBConfig(path=db)) as sink:
            await sink.send(Envelope(records=S.batch_from_rows([row])))
        con, _ = open_reader(db)
        try:
            assert datetime(2025, 11, 23, 6, 45, 5, 100_000, tzinfo=UTC) == window.window_end(con)
            assert window.window_end(con, "now") > datetime(2026, 1, 1, tzinfo=UTC)
            with pytest.raises(window.WindowError):
                window.window_end(con, "yesterday")
        finally:
            con.close()
