"""The alert window derives subject/object exactly as the store's views do."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def object_cases(path: Path) -> list[str]:
    """The ``CASE … END AS object`` expressions of a SQL file, comments and spacing removed."""
    text = re.sub(r"--[^\n]*", "", path.read_text())
    cases = re.findall(r"CASE\s(.*?)\sEND AS object\b", text, flags=re.S)
    return [" ".join(c.split()) for c in cases]


class TestSameDerivation:
    def test_object_expressions_match_the_store(self) -> None:
        """denials and complain_events compute `object` identically in both files.

        jobs may not import sinks, so the SQL is written twice; seeded signatures (from
        the store) and live ones (from the window) only compare when these agree.
        """
        store = object_cases(ROOT / "sinks" / "sql" / "views.sql")
        window = object_cases(ROOT / "jobs" / "sql" / "alert_window_views.sql")
        assert 2 == len(window)
        assert store[:2] == window


class TestSameNames:
    def test_store_views_match_the_window_tables(self, tmp_path: Path) -> None:
        """alert_store_views.sql gives a store the window's alert_* tables, column for column."""
        from jobs import sqlfiles
        from jobs.alerts import AlertEngine, AlertRules, AlertState
        from tests.jobs.alert_data import record, store

        con = store(tmp_path, [record(1)])
        sqlfiles.load("alert_store_views").execute(con)
        state = AlertState()
        engine = AlertEngine(AlertRules(), state)
        try:
            for name in ("alert_profile_status", "alert_forged"):
                in_store = [r[0] for r in con.execute(f"DESCRIBE {name}").fetchall()]
                in_window = [r[0] for r in engine._con.execute(f"DESCRIBE {name}").fetchall()]
                assert in_store == in_window, name
        finally:
            engine.close()
            state.close()
            con.close()
