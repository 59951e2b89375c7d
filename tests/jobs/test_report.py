"""jobs.report: the nightly report's sections, its escaping and its all-or-nothing write."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import duckdb
import orjson
import pytest

from armorwatch.jobs import report as R
from armorwatch.jobs.report import suggestions
from armorwatch.parsers import schema as S
from armorwatch.parsers.envelope import Envelope

END = datetime(2025, 11, 23, 12, 0, tzinfo=UTC)
HOSTILE_PROFILE = "/opt/evil\u202egnp.exe"
HOSTILE_NAME = "/srv/<script>alert(1)</script>|x\x1b[31m"


def aa(
    ts: datetime,
    host: str,
    profile: str,
    name: str | None = None,
    decision: str = S.AA_DENIED,
    operation: str = "open",
    class_: str = "file",
    mask: str = "r",
    capname: str | None = None,
) -> dict[str, Any]:
    """One AppArmor record as a dict row."""
    return {
        S.TS: ts,
        S.HOST: host,
        S.BOOT_ID: "b1",
        S.SOURCE: S.SOURCE_AUDITLOG,
        S.RECORD_TYPE: "AVC",
        S.ORIGIN: S.ORIGIN_KERNEL,
        S.LSM: S.LSM_APPARMOR,
        S.APPARMOR: decision,
        S.OPERATION: operation,
        S.CLASS: class_,
        S.PROFILE: profile,
        S.NAME: name,
        S.REQUESTED_MASK: mask if name else None,
        S.DENIED_MASK: mask if name else None,
        S.CAPNAME: capname,
        S.ORDINAL: 0,
    }


def scenario() -> list[dict[str, Any]]:
    """A fleet with every report section populated, ending at END."""
    h = timedelta(hours=1)
    d = timedelta(days=1)
    rows = []
    # nginx: an old signature, two denials the day before, ten in the window, a new one
    rows.append(aa(END - 3 * d, "web-01", "/usr/sbin/nginx", "/etc/ssl/private/site.key"))
    rows += [aa(END - 30 * h, "web-01", "/usr/sbin/nginx", "/etc/ssl/private/site.key")] * 2
    rows += [
        aa(END - i * h, "web-01", "/usr/sbin/nginx", "/etc/ssl/private/site.key") for i in range(8)
    ]
    rows.append(aa(END - 2 * h, "web-01", "/usr/sbin/nginx", "/var/www/new.txt"))
    rows.append(aa(END - 3 * h, "web-01", "/usr/sbin/nginx", "/etc/shadow"))
    # myapp: complain mode, nothing new for ten days -> ready to enforce
    rows.append(aa(END - 10 * d, "web-01", "myapp", "/srv/data.db", S.AA_ALLOWED, mask="rw"))
    rows.append(
        aa(END - 10 * d, "web-01", "myapp", None, S.AA_ALLOWED, "capable", "cap", capname="chown")
    )
    rows += [
        aa(END - i * h, "web-01", "myapp", "/srv/data.db", S.AA_ALLOWED, mask="rw") for i in (1, 5)
    ]
    # learner: complain mode with a signature first seen yesterday -> still learning
    rows.append(aa(END - 10 * d, "web-01", "learner", "/etc/learner.conf", S.AA_ALLOWED))
    rows.append(aa(END - 20 * h, "web-01", "learner", "/var/lib/learner/x", S.AA_ALLOWED, mask="w"))
    # web-02 went silent three days ago -> blind
    rows.append(
        aa(
            END - 3 * d,
            "web-02",
            "/usr/sbin/cupsd",
            None,
            operation="capable",
            class_="cap",
            capname="net_admin",
        )
    )
    # hostile strings from a log
    rows.append(aa(END - 4 * h, "web-01", HOSTILE_PROFILE, HOSTILE_NAME))
    # SELinux on db-01
    rows.append(
        {
            S.TS: END - 6 * h,
            S.HOST: "db-01",
            S.BOOT_ID: "b2",
            S.SOURCE: S.SOURCE_JOURNALD,
            S.RECORD_TYPE: "AVC",
            S.ORIGIN: S.ORIGIN_KERNEL,
            S.LSM: S.LSM_SELINUX,
            S.SERESULT: S.SE_DENIED,
            S.SCONTEXT: "system_u:system_r:httpd_t:s0",
            S.TCONTEXT: "system_u:object_r:shadow_t:s0",
            S.TCLASS: "file",
            S.PERMS: ["read"],
            S.NAME: "shadow",
            S.ORDINAL: 0,
        }
    )
    # distinct serials so the store's de-duplication keeps every row
    for i, row in enumerate(rows):
        rows[i] = {**row, S.SERIAL: i + 1}
    return rows


LOSS_ROWS = [
    {
        S.TS: END - timedelta(hours=2),
        S.HOST: "web-01",
        S.BOOT_ID: "b1",
        S.SOURCE: S.SOURCE_AUDITLOG,
        S.KIND: S.LOSS_KERNEL_LOST,
        S.COUNT: 7,
        S.DETAIL: "audit: backlog limit exceeded",
    }
]


def build_store(
    rows: Iterable[Mapping[str, Any]], loss: Iterable[Mapping[str, Any]], path: Path
) -> duckdb.DuckDBPyConnection:
    """Write records and loss rows through the real DuckDBSink; open the file read-only."""
    duck = pytest.importorskip("armorwatch.sinks.duckdb")
    envelope = Envelope(
        records=S.batch_from_rows(rows), loss=S.batch_from_rows(loss, S.LOSS_SCHEMA), meta={}
    )

    async def write() -> None:
        sink = duck.DuckDBSink(duck.DuckDBConfig(path=path))
        await sink.send(envelope)
        await sink.close()

    asyncio.run(write())
    con, _ = duck.open_reader(path)
    return con


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    """The scenario in a read-only store, with one kernel loss record."""
    path = tmp_path_factory.mktemp("report") / "store.duckdb"
    con = build_store(scenario(), LOSS_ROWS, path)
    yield con
    con.close()


@pytest.fixture(scope="module")
def report(store: duckdb.DuckDBPyConnection) -> R.Report:
    """The report of the scenario, window ending at the newest record."""
    return R.build_report(store, R.ReportConfig(), now=END)


class TestWindow:
    def test_window_ends_at_newest_record(self, report: R.Report) -> None:
        """Without --until the window ends at the newest record, not at the clock."""
        assert (END, END - timedelta(hours=24)) == (report.window_end, report.window_start)

    def test_durations_parse(self) -> None:
        """Durations take s, m, h, d and w units."""
        assert [timedelta(hours=24), timedelta(days=7), timedelta(minutes=90)] == [
            R.parse_duration(x) for x in ("24h", "7d", "90m")
        ]

    def test_bad_duration_is_an_error(self) -> None:
        """A duration without a unit is refused with a clear message."""
        with pytest.raises(R.ReportError, match="bad duration"):
            R.parse_duration("24")

    def test_empty_store_is_an_error(self, tmp_path: Path) -> None:
        """A store without records cannot anchor a window."""
        con = build_store([], [], tmp_path / "empty.duckdb")
        with pytest.raises(R.ReportError, match="no records"):
            R.build_report(con)


class TestSections:
    def test_summary_counts(self, report: R.Report) -> None:
        """The headline counts cover the 24 h window only."""
        s = report.summary
        # denials: nginx 8+1+1, hostile 1, SELinux 1; ALLOWED: myapp 2, learner 1
        assert (12, 3, 2) == (s.denials, s.allowed, s.hosts)

    def test_ready_to_enforce(self, report: R.Report) -> None:
        """A complain profile quiet for ten days is ready; one with a day-old signature is not."""
        assert ["myapp"] == [c.subject for c in report.ready]
        assert ["learner"] == [c.subject for c in report.learning]

    def test_ready_profile_lists_missing_rules(self, report: R.Report) -> None:
        """The ready profile lists every ALLOWED signature it still lacks."""
        missing = {(s.klass, s.object, s.mask) for s in report.ready[0].missing}
        assert {("file", "/srv/data.db", "rw"), ("cap", "chown", "")} == missing

    def test_ready_profile_gets_rules_from_its_whole_history(self, report: R.Report) -> None:
        """The ready profile's rules cover the ten-day-old capability, not only the window."""
        if not report.suggestions.available:
            pytest.skip(f"armorwatch.jobs.suggest unavailable: {report.suggestions.note}")
        rules = report.ready[0].rules
        assert rules is not None
        assert ("myapp", True) == (rules.subject, any("chown" in ln for ln in rules.lines))

    def test_growth(self, report: R.Report) -> None:
        """nginx went from 2 denials the day before to 10."""
        assert [("/usr/sbin/nginx", 2, 10)] == [
            (g.subject, g.previous, g.current) for g in report.grew
        ]

    def test_new_signatures(self, report: R.Report) -> None:
        """Signatures first seen in the window are new; the old site.key is not."""
        new = {(s.subject, s.object) for s in report.new_signatures}
        assert ("/usr/sbin/nginx", "/var/www/new.txt") in new
        assert ("/usr/sbin/nginx", "/etc/ssl/private/site.key") not in new

    def test_risky(self, report: R.Report) -> None:
        """/etc/shadow is flagged with the reason from jobs.risky."""
        found = [(s.subject, s.object, s.risk, s.severity) for s in report.risky]
        assert ("/usr/sbin/nginx", "/etc/shadow", "password hashes", "critical") in found

    def test_coverage(self, report: R.Report) -> None:
        """web-02 reported before the window and not in it: blind."""
        assert ["web-02"] == [h.host for h in report.hosts if h.blind]
        assert {"web-01", "db-01"} == {h.host for h in report.hosts if not h.blind}

    def test_loss(self, report: R.Report) -> None:
        """The kernel loss record is summed per host and kind."""
        assert [("web-01", S.LOSS_KERNEL_LOST, 7)] == [
            (x.host, x.kind, x.lost) for x in report.loss
        ]

    def test_profile_pages(self, report: R.Report) -> None:
        """Every profile with events in the window gets a page; busiest first."""
        subjects = [p.subject for p in report.profiles]
        assert "/usr/sbin/nginx" == subjects[0]
        assert {"myapp", HOSTILE_PROFILE, "system_u:system_r:httpd_t:s0"} <= set(subjects)
        assert len(subjects) == len({p.slug for p in report.profiles})
        nginx = report.profiles[0]
        assert (("web-01",), 1) == (nginx.hosts, nginx.host_count)

    def test_suggestions_section_says_when_unavailable(
        self, store: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """When the suggestion engine fails the section says so rather than inventing rules."""

        def broken(*args: object, **kwargs: object) -> NoReturn:
            raise RuntimeError("engine down")

        monkeypatch.setattr(suggestions, "suggest", broken)
        section = R.suggested_rules(store, END)
        assert (False, ()) == (section.available, section.snippets)
        assert "Rule suggestion failed (RuntimeError: engine down)" in section.note
        assert {} == R.rules_to_enforce(store, ["myapp"])

    def test_suggested_rules_per_profile(self, report: R.Report) -> None:
        """With jobs.suggest installed, nginx gets a local/ snippet naming the new path."""
        if not report.suggestions.available:
            pytest.skip(f"armorwatch.jobs.suggest unavailable: {report.suggestions.note}")
        nginx = next(s for s in report.suggestions.snippets if s.subject == "/usr/sbin/nginx")
        assert "usr.sbin.nginx" == nginx.local_file
        assert any("/var/www/new.txt" in line for line in nginx.lines)
        page = next(p for p in report.profiles if p.subject == "/usr/sbin/nginx")
        assert nginx == page.rules


def text_of(report: R.Report) -> dict[str, str]:
    """Every rendered file as text."""
    out = {}
    for rel, content in R.render(report).items():
        out[rel] = content.decode() if isinstance(content, bytes) else content
    return out


BAD_CHARS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x80-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


class TestEscaping:
    def test_no_raw_control_or_bidi_characters(self, report: R.Report) -> None:
        """No rendered file carries a control, line-separator or bidi character from a log."""
        for rel, text in text_of(report).items():
            assert [] == BAD_CHARS.findall(text), rel

    def test_html_has_no_injected_markup(self, report: R.Report) -> None:
        """A <script> in a path shows as text in every HTML page."""
        for rel, text in text_of(report).items():
            if rel.endswith(".html"):
                assert "<script" not in text, rel
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text_of(report)["index.html"]

    def test_bidi_shown_as_escape(self, report: R.Report) -> None:
        """The right-to-left override in a profile name shows as \\u202e."""
        assert "/opt/evil\\u202egnp.exe" in text_of(report)["index.html"]

    def test_markdown_escapes_table_breakers(self, report: R.Report) -> None:
        """A | in a path cannot split a Markdown table cell."""
        md = text_of(report)["report.md"]
        assert "&lt;/script&gt;\\|x\\\\x1b\\[31m" in md

    def test_json_round_trips_escaped(self, report: R.Report) -> None:
        """The JSON parses and holds the visible form of hostile strings."""
        data = orjson.loads(R.render_json(report))
        objects = {s["object"] for s in data["new_signatures"]}
        assert "/srv/<script>alert(1)</script>|x\\x1b[31m" in objects

    def test_autoescape_is_on(self) -> None:
        """The HTML environment escapes by default (the static check of G4)."""
        assert R.html_environment().autoescape is True

    def test_html_is_self_contained(self, report: R.Report) -> None:
        """No script, stylesheet link or remote URL: the report opens offline."""
        for rel, text in text_of(report).items():
            if rel.endswith(".html"):
                assert [] == re.findall(r"<script|<link|src=|https?://", text), rel


class TestWrite:
    def test_writes_every_format(self, report: R.Report, tmp_path: Path) -> None:
        """HTML index, a page per profile, Markdown and JSON land under the directory."""
        paths = R.write_report(R.render(report), tmp_path / "out")
        names = {p.relative_to(tmp_path / "out").as_posix() for p in paths}
        assert {"index.html", "report.md", "report.json"} <= names
        assert len(report.profiles) == sum(1 for n in names if n.startswith("profiles/"))
        assert [] == [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]

    def test_failure_leaves_nothing_behind(self, tmp_path: Path) -> None:
        """A failed write removes its staging directory and writes no file."""
        out = tmp_path / "out"
        files: dict[str, Any] = {"index.html": "ok", "report.json": object()}
        with pytest.raises(TypeError):
            R.write_report(files, out)
        assert [] == list(out.iterdir())

    def test_unknown_format_is_refused(self, report: R.Report) -> None:
        """Asking for a format that does not exist is an error naming the choices."""
        with pytest.raises(R.ReportError, match="html, md, json"):
            R.render(report, ["pdf"])
