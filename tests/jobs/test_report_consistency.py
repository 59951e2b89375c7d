"""`armorwatch report` never contradicts itself: one "before enforcing" everywhere, silent
hosts whatever the window, dated time axes, no developer text, cut lists that say where
the rest is."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from armorwatch.cli import main
from armorwatch.jobs.report import charts
from tests.jobs.test_report import END, LOSS_ROWS, aa, build_store, scenario


def write(tmp_path: Path, *extra: str, rows: list[dict[str, Any]] | None = None) -> Path:
    """The scenario (or ``rows``) stored and reported through the CLI; the output directory."""
    db = tmp_path / "store.duckdb"
    build_store(rows if rows is not None else scenario(), LOSS_ROWS, db).close()
    out = tmp_path / "out"
    rc = main(["report", "--db", str(db), "-o", str(out), "--log-format", "plain", *extra])
    assert 0 == rc
    return out


def many(serial: int) -> list[dict[str, Any]]:
    """Five new denial signatures of /usr/bin/many in the scenario's last minutes."""
    rows = [
        aa(END - timedelta(minutes=i), "web-01", "/usr/bin/many", f"/srv/f{i}x")
        for i in range(1, 6)
    ]
    return [{**r, "serial": serial + i} for i, r in enumerate(rows)]


def text(html: str) -> str:
    """The visible text of a page, tags dropped and whitespace folded."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def pre_blocks(html: str) -> list[str]:
    """The rule snippets (``<pre class="rules">``) of a page."""
    return re.findall(r'<pre class="rules">(.*?)</pre>', html, re.S)


class TestBeforeEnforcing:
    def test_index_profile_page_and_json_show_the_same_rules(self, tmp_path: Path) -> None:
        """The ready profile's snippet is the same text on the index, on its page and in JSON."""
        out = write(tmp_path)
        data = orjson.loads((out / "report.json").read_bytes())
        ready = data["ready"][0]
        if ready["rules"] is None:
            pytest.skip("jobs.suggest suggested nothing here (not installed or failed)")
        index = (out / "index.html").read_text()
        page = next((out / "profiles").glob("myapp-*.html")).read_text()
        listed = next(s for s in data["suggestions"]["snippets"] if s["subject"] == "myapp")
        snippet = "\n".join(listed["lines"])
        index_myapp = [b for b in pre_blocks(index) if "myapp" in b]
        # shown twice on the index (ready section, suggestions section), identically
        assert {snippet} == {b.strip("\n") for b in index_myapp}
        assert [snippet] == [b.strip("\n") for b in pre_blocks(page)]
        # the suggestions section holds the whole-history rules, not a window-only snippet,
        # and so does the rules/ file every page links to
        listed = next(s for s in data["suggestions"]["snippets"] if s["subject"] == "myapp")
        assert ("myapp", snippet) == (ready["rules"], "\n".join(listed["lines"]))
        assert snippet + "\n" == (out / listed["file"]).read_text()
        # both pages give the same counts in the same words
        n = ready["missing_total"]
        sentence = f"Enforcing it as is would deny {n} accesses it made in complain mode"
        assert sentence in text(index) and sentence in text(page)

    def test_no_developer_text(self, tmp_path: Path) -> None:
        """No page names the Python module that made the rules."""
        out = write(tmp_path)
        for path in [out / "index.html", out / "report.md", *(out / "profiles").iterdir()]:
            assert "jobs.suggest" not in path.read_text(), path


class TestSilentHosts:
    @pytest.mark.parametrize("since", ["24h", "7d"])
    def test_silent_host_reported_whatever_the_window(self, tmp_path: Path, since: str) -> None:
        """web-02, silent for three days, is silent in the 24-hour and the 7-day report alike."""
        out = write(tmp_path, "--since", since)
        data = orjson.loads((out / "report.json").read_bytes())
        silent = {h["host"]: h["silent_for"] for h in data["hosts"] if h["blind"]}
        assert {"web-02": 3 * 86400.0} == silent
        assert 1 == data["summary"]["blind_hosts"]
        page = text((out / "index.html").read_text())
        assert "silent for 3 d" in page

    def test_loss_report_is_a_sign_of_life(self, tmp_path: Path) -> None:
        """A host whose only recent news is a loss report is not silent (as the alert rules)."""
        rows = scenario()
        loss = [
            {**LOSS_ROWS[0], "host": "web-02", "ts": END - timedelta(hours=1)},
            *LOSS_ROWS,
        ]
        db = tmp_path / "store.duckdb"
        build_store(rows, loss, db).close()
        assert 0 == main(["report", "--db", str(db), "-o", str(tmp_path / "o"), "--format", "json"])
        data = orjson.loads((tmp_path / "o" / "report.json").read_bytes())
        assert [] == [h["host"] for h in data["hosts"] if h["blind"]]


class TestChartsAndLists:
    def test_week_axis_labels_carry_dates(self, tmp_path: Path) -> None:
        """A 7-day chart's labels name the day; none is a bare time repeated across days."""
        out = write(tmp_path, "--since", "7d", "--format", "html")
        svg = (out / "index.html").read_text().split("<svg", 1)[1].split("</svg>", 1)[0]
        texts = re.findall(r"<text [^>]*>([^<]+)</text>", svg)
        labels = [t for t in texts if not re.fullmatch(r"[\d.]+", t)]  # not the y axis
        assert labels and all(re.match(r"[A-Z][a-z]{2} \d\d", t) for t in labels), labels

    def test_day_axis_names_the_date_once_per_day(self) -> None:
        """A 24-hour axis names the date at its start and where the day changes."""
        start = datetime(2025, 11, 22, 12, 0, tzinfo=UTC)
        buckets = [start + timedelta(hours=i) for i in range(25)]
        labels = dict(charts.time_labels(buckets, 3600, 3))
        assert "Nov 22 12:00" == labels[0]
        assert "Nov 23 00:00" == labels[12]
        assert "15:00" == labels[3]

    def test_cut_list_says_how_many_and_which_query_lists_the_rest(self, tmp_path: Path) -> None:
        """Past index_rows the index says "Showing 2 of N" with a query that lists them all."""
        rows = scenario() + many(1000)
        cfg = tmp_path / "report.toml"
        cfg.write_text("[report]\nindex_rows = 2\n")
        out = write(tmp_path, "--config", str(cfg), rows=rows)
        page = text((out / "index.html").read_text())
        m = re.search(
            r"Showing 2 of (\d+)\. The rest: (armorwatch query new-denials .+?) Risky", page
        )
        assert m, page[:3000]
        assert int(m.group(1)) > 5
        assert "--param limit=" in m.group(2) and "--param until=2025-11-23T12:00:00Z" in m.group(2)

    def test_profile_counts_are_totals_not_the_cut(self, tmp_path: Path) -> None:
        """A profile page cut at max_rows still counts every signature (index and page)."""
        rows = scenario() + many(2000)
        cfg = tmp_path / "report.toml"
        cfg.write_text("[report]\nmax_rows = 2\n")
        out = write(tmp_path, "--config", str(cfg), rows=rows)
        page = text(next((out / "profiles").glob("usr_bin_many-*.html")).read_text())
        assert "5 signatures" in page and "Showing 2 of 5." in page
        assert "--param profile=/usr/bin/many" in page
        assert "Lists cut at" not in page
