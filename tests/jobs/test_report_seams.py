"""jobs.report's seams: the error tree, the profile list bound in SQL, the suggest calls."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from armorwatch.jobs import report as R
from armorwatch.jobs.errors import JobsError
from armorwatch.jobs.report import queries, suggestions
from armorwatch.jobs.suggest import SuggestResult
from tests.jobs.test_report import END, LOSS_ROWS, build_store, scenario


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    """The report tests' scenario in a read-only store."""
    con = build_store(scenario(), LOSS_ROWS, tmp_path_factory.mktemp("seams") / "s.duckdb")
    yield con
    con.close()


def test_report_error_is_a_jobs_error_and_a_value_error() -> None:
    """One error tree for jobs; callers catching ValueError still catch it."""
    assert issubclass(R.ReportError, JobsError)
    assert issubclass(R.ReportError, ValueError)


def test_open_window_ends_at_the_newest_record(store: duckdb.DuckDBPyConnection) -> None:
    """Without an end the window ends at the newest record and spans the length before it."""
    w = queries.open_window(store, timedelta(hours=24), None)
    assert (END - timedelta(hours=24), END) == (w.since, w.until)


def test_profile_hosts_only_for_the_subjects_bound(store: duckdb.DuckDBPyConnection) -> None:
    """The profile list is a SQL parameter: rows come back for those profiles only."""
    w = queries.open_window(store, timedelta(hours=24), None)
    assert ["myapp"] == list(queries.profile_hosts(store, w, ["myapp", "no-such-profile"]))
    assert {} == queries.profile_hosts(store, w, [])


class FakeSuggest:
    """Records each call; fails for the profiles named in ``fail``, else suggests nothing."""

    def __init__(self, fail: frozenset[str] = frozenset()) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail = fail

    def __call__(
        self,
        con: duckdb.DuckDBPyConnection,
        since: datetime | None = None,
        profile: str | None = None,
    ) -> SuggestResult:
        self.calls.append({"since": since, "profile": profile})
        if profile in self.fail:
            raise RuntimeError(f"engine down for {profile}")
        return SuggestResult(profiles=[], selinux=[], since=None, parser=None)


def test_rules_to_enforce_asks_per_profile_whole_history(
    store: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whole history (no since) for at most MAX_READY_RULES profiles; a failure skips one."""
    fake = FakeSuggest(fail=frozenset({"p1"}))
    monkeypatch.setattr(suggestions, "suggest", fake)
    names = [f"p{i}" for i in range(R.MAX_READY_RULES + 5)]
    assert {} == R.rules_to_enforce(store, names)
    assert [{"since": None, "profile": p} for p in names[: R.MAX_READY_RULES]] == fake.calls


def test_unchecked_rules_say_so(
    store: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without apparmor_parser (result.parser None) the section says the rules are unchecked."""
    monkeypatch.setattr(suggestions, "suggest", FakeSuggest())
    section = R.suggested_rules(store, END)
    assert (True, ()) == (section.available, section.snippets)
    assert "NOT checked: apparmor_parser is not installed" in section.note


def test_more_keeps_the_order_lists_were_cut_in(store: duckdb.DuckDBPyConnection) -> None:
    """Profiles, then each page's signatures, then the index's lists (the JSON's key order)."""
    config = R.ReportConfig(since="7d", max_profile_pages=1, max_rows=1, index_rows=1)
    report = R.build_report(store, config, now=END)
    rank = {"profiles": 0, "new_signatures": 2, "risky": 3}
    keys = list(report.more)
    assert {"profiles", "new_signatures"} <= set(keys)
    assert any(k.startswith("signatures ") for k in keys)
    assert sorted(keys, key=lambda k: rank.get(k, 1)) == keys


def test_write_report_leaves_no_staging(tmp_path: Path) -> None:
    """Written files land under the directory; the private staging directory is gone."""
    written = R.write_report({"a/b.txt": "x", "c.json": b"{}"}, tmp_path)
    assert [tmp_path / "a/b.txt", tmp_path / "c.json"] == written
    assert ["a", "c.json"] == sorted(p.name for p in tmp_path.iterdir())
