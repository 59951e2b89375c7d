"""The report as people see it: rendered by headless Chromium, and written by the CLI."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import duckdb
import orjson
import pytest

from armorwatch.cli import main
from armorwatch.jobs import report as R
from tests.jobs.test_report import END, LOSS_ROWS, build_store, scenario

CHROMIUM = Path("/usr/bin/chromium")


def screenshot(page: Path, png: Path, profile_dir: Path, height: int = 2000) -> None:
    """Render ``page`` with headless Chromium into ``png`` (no network, throwaway profile)."""
    subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile_dir}",
            f"--screenshot={png}",
            f"--window-size=1280,{height}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=90,
    )


def ink(png: Path) -> tuple[int, float]:
    """(distinct colours, share of pixels that differ from the page background)."""
    from PIL import Image

    with Image.open(png) as img:
        rgb = img.convert("RGB").resize((320, 500))
        colours = rgb.getcolors(320 * 500) or []
    background = max(count for count, _ in colours)
    return len(colours), 1 - background / (320 * 500)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The scenario's report written to a directory."""
    base = tmp_path_factory.mktemp("rendered")
    con = build_store(scenario(), LOSS_ROWS, base / "store.duckdb")
    report = R.build_report(con, R.ReportConfig(), now=END)
    con.close()
    R.write_report(R.render(report), base / "out")
    yield base / "out"


@pytest.mark.integration
@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed")
class TestChromium:
    def test_index_renders_with_content(self, written: Path, tmp_path: Path) -> None:
        """The index renders to a screenshot with text, charts and colour, not a blank page."""
        png = tmp_path / "index.png"
        screenshot(written / "index.html", png, tmp_path / "chromium")
        colours, share = ink(png)
        assert png.stat().st_size > 20_000
        assert colours > 20, colours
        assert share > 0.05, share

    def test_profile_page_renders_with_content(self, written: Path, tmp_path: Path) -> None:
        """A per-profile page renders, not blank."""
        page = next((written / "profiles").glob("usr_sbin_nginx-*.html"))
        png = tmp_path / "profile.png"
        screenshot(page, png, tmp_path / "chromium", height=1400)
        colours, share = ink(png)
        assert colours > 20, colours
        assert share > 0.05, share


class TestCommand:
    def test_writes_report_and_prints_paths(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`armorwatch report` reads the store read-only and prints where the files are."""
        db = tmp_path / "store.duckdb"
        build_store(scenario(), LOSS_ROWS, db).close()
        out = tmp_path / "out"
        rc = main(["report", "--db", str(db), "-o", str(out), "--log-format", "plain"])
        printed = capsys.readouterr().out
        assert 0 == rc
        assert f"  {out / 'index.html'}" in printed.splitlines()
        assert "12 denials" in printed
        data = orjson.loads((out / "report.json").read_bytes())
        assert "2025-11-23T12:00:00+00:00" == data["window_end"]

    def test_since_and_format(self, tmp_path: Path) -> None:
        """--since widens the window and --format json writes only the JSON."""
        db = tmp_path / "store.duckdb"
        build_store(scenario(), LOSS_ROWS, db).close()
        out = tmp_path / "out"
        assert 0 == main(
            ["report", "--db", str(db), "-o", str(out), "--since", "7d", "--format", "json"]
        )
        # the suggested snippets' rules/ files come with every format
        assert ["report.json"] == sorted(p.name for p in out.iterdir() if p.name != "rules")
        data = orjson.loads((out / "report.json").read_bytes())
        assert [] == [h["host"] for h in data["hosts"] if h["records"] == 0]

    def test_until_moves_the_window(self, tmp_path: Path) -> None:
        """--until ends the window at a given time; the report then sees only older records."""
        db = tmp_path / "store.duckdb"
        build_store(scenario(), LOSS_ROWS, db).close()
        out = tmp_path / "out"
        rc = main(["report", "--db", str(db), "-o", str(out), "--until", "2025-11-21T00:00:00Z"])
        assert 0 == rc
        data = orjson.loads((out / "report.json").read_bytes())
        # only the two denials of 2025-11-20 12:00 (nginx site.key, cupsd net_admin)
        assert ("2025-11-21T00:00:00+00:00", 2) == (data["window_end"], data["summary"]["denials"])

    def test_bad_since_is_a_usage_error(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A duration without a unit exits 2 with a message, before touching the store."""
        assert 2 == main(["report", "--db", str(tmp_path / "none.duckdb"), "--since", "24"])
        assert "bad duration" in capsys.readouterr().err

    def test_missing_store_is_an_error(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A store that does not exist exits 2 and says where it looked."""
        assert 2 == main(["report", "--db", str(tmp_path / "none.duckdb"), "-o", str(tmp_path)])
        assert "none.duckdb" in capsys.readouterr().err

    def test_config_file(self, tmp_path: Path) -> None:
        """A [report] table sets ReportConfig; an unknown key is a usage error."""
        db = tmp_path / "store.duckdb"
        build_store(scenario(), LOSS_ROWS, db).close()
        good = tmp_path / "good.toml"
        good.write_text('[report]\nquiet_days = 30\nsince = "2d"\n')
        out = tmp_path / "out"
        assert 0 == main(["report", "--db", str(db), "-o", str(out), "--config", str(good)])
        data = orjson.loads((out / "report.json").read_bytes())
        assert (30, "2d", []) == (
            data["config"]["quiet_days"],
            data["window"],
            [c["subject"] for c in data["ready"]],
        )
        bad = tmp_path / "bad.toml"
        bad.write_text("[report]\nquiet_dayz = 30\n")
        assert 2 == main(["report", "--db", str(db), "-o", str(out), "--config", str(bad)])


class TestSamples:
    def test_report_of_the_bundled_samples(
        self, sample_store: duckdb.DuckDBPyConnection, tmp_path: Path
    ) -> None:
        """The samples' report covers the three hosts and flags nginx reading /etc/shadow."""
        report = R.build_report(sample_store, R.ReportConfig(since="7d"), now=END)
        assert {"web-01", "web-02", "db-01"} == {h.host for h in report.hosts if not h.blind}
        risky = {(s.subject, s.object) for s in report.risky}
        assert ("/usr/sbin/nginx", "/etc/shadow") in risky
        files = R.write_report(R.render(report), tmp_path / "out")
        assert shutil.disk_usage(tmp_path).free > 0 and files
