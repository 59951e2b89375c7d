"""Forged-looking records (issue 19) drive no alert and no report section but their own.

`logger -t kernel` through journald, a USER_AVC with class="file", a repeated field: the
parser marks such records with a non-null ``suspect``. They must not raise "profile
unloaded", "switched to complain mode", "sensitive access" or a denial burst, must not
make a profile "still learning", must not keep a silent host alive nor make a live one
look silent; they raise one "kernel records forged from userspace" alert per host and
are counted per host in the report's loss and coverage section.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest

from armorwatch.alerting import load_rules
from armorwatch.cli import main
from armorwatch.jobs.alerts import Alert, AlertEngine, AlertState, evaluate
from armorwatch.jobs.summary import UNKNOWN_HOST, forged_records, summarize
from armorwatch.parsers import schema as S
from armorwatch.sinks.store import open_store
from tests.jobs.alert_data import T0, record, status, store

FORGED_RULE = "kernel-records-forged"
SHADOW = "/etc/shadow"


def forged(row: Mapping[str, Any], reason: str = S.SUSPECT_FROM_USERSPACE) -> dict[str, Any]:
    """``row`` as the parser stores a `logger -t kernel` journald entry of it."""
    raw = f"audit: type=1400 audit(0.0:{row[S.SERIAL]}): forged by uid 1000".encode()
    return {
        **row,
        S.SOURCE: S.SOURCE_JOURNALD,
        S.ORIGIN: S.ORIGIN_USERSPACE,
        S.SUSPECT: reason,
        S.RAW: raw,
    }


def trusted_rows() -> list[dict[str, Any]]:
    """Real kernel denials on web-01 and db-01, early and late (the window ends at ~404 s)."""
    rows = [record(i) for i in range(5)] + [record(400 + i) for i in range(5)]
    rows += [
        record(t, host="db-01", profile="/usr/sbin/postgres", name="/srv/pg/x") for t in (0, 400)
    ]
    return rows


def forgery_rows() -> list[dict[str, Any]]:
    """What a local user can write: every kind of record that used to raise an alert."""
    rows = [status(100, "profile_remove", "/usr/sbin/nginx")]  # "profile unloaded"
    rows += [record(110 + i, apparmor=S.AA_ALLOWED) for i in range(3)]  # "complain mode"
    rows += [record(120, name=SHADOW), record(121, name=SHADOW, apparmor=S.AA_ALLOWED)]
    rows += [record(130 + i * 0.5, name=f"/srv/www/f{i}") for i in range(150)]  # a burst
    rows += [record(125, name=SHADOW, **{S.RECORD_TYPE: "USER_AVC"})]  # USER_AVC class=file
    rows += [record(2000)]  # late: must not make web-01 / db-01 look silent
    out = [forged(r) for r in rows]
    out.append(forged(record(126), S.SUSPECT_DUPLICATE_FIELD))
    out.append(forged(record(300, host="ghost")))  # a host heard from only through forgeries
    return out


def fired(alerts: list[Alert]) -> list[tuple[str, str]]:
    """(rule, host) of each alert, sorted."""
    return sorted((a.rule, a.labels.get(S.HOST, "")) for a in alerts)


def web01_forged() -> int:
    """How many forged-looking records forgery_rows() holds for web-01."""
    return sum(1 for r in forgery_rows() if r[S.HOST] == "web-01")


class TestStoreAlerts:
    def test_control_same_rows_trusted_do_fire(self, tmp_path: Path) -> None:
        """The same rows without ``suspect`` raise every alert the forgeries must not."""
        rows = trusted_rows() + [
            {**r, S.SUSPECT: None, S.ORIGIN: S.ORIGIN_KERNEL}
            for r in forgery_rows()
            if r[S.TS] < record(2000)[S.TS]
        ]
        con = store(tmp_path, rows)
        rules = {a.rule for a in evaluate(con, load_rules())}
        assert {"profile-weakened", "sensitive-access", "denial-burst"} <= rules
        assert FORGED_RULE not in rules

    def test_only_the_forged_alert(self, tmp_path: Path) -> None:
        """Forgeries add exactly one forged alert per host to what the real records raise."""
        (tmp_path / "real").mkdir()
        real = fired(evaluate(store(tmp_path / "real", trusted_rows()), load_rules()))
        assert {"new-denial-signature"} == {rule for rule, _ in real}  # the two real objects
        con = store(tmp_path, trusted_rows() + forgery_rows())
        alerts = evaluate(con, load_rules())
        assert sorted([*real, (FORGED_RULE, "ghost"), (FORGED_RULE, "web-01")]) == fired(alerts)
        web = next(a for a in alerts if a.rule == FORGED_RULE and a.labels[S.HOST] == "web-01")
        assert "critical" == web.severity
        assert web01_forged() == web.count
        assert "kernel records forged from userspace on host web-01" in web.summary
        assert {S.SUSPECT_FROM_USERSPACE: web.count - 1, S.SUSPECT_DUPLICATE_FIELD: 1} == (
            web.detail["reasons"]
        )
        assert "forged by uid 1000" in web.detail["example"]

    def test_forgeries_alone_still_alert(self, tmp_path: Path) -> None:
        """A store holding only forged-looking records still raises the forged alert."""
        con = store(tmp_path, [forged(record(1)), forged(record(2, host="ghost"))])
        assert [(FORGED_RULE, "ghost"), (FORGED_RULE, "web-01")] == fired(
            evaluate(con, load_rules())
        )

    def test_forgery_keeps_no_host_alive(self, tmp_path: Path) -> None:
        """A host whose only recent records are forged is silent (dead-man fires)."""
        rows = [record(0, host="db-01"), record(5000)] + [
            forged(record(4000 + i, host="db-01")) for i in range(3)
        ]
        con = store(tmp_path, rows)
        assert [("host-silent", "db-01"), (FORGED_RULE, "db-01")] == fired(
            evaluate(con, load_rules())
        )


class TestStreamAlerts:
    def test_control_same_rows_trusted_do_fire(self) -> None:
        """In the window too, the rows without ``suspect`` raise what forgeries must not."""
        state = AlertState()
        engine = AlertEngine(load_rules(), state)
        now = time.time()
        rows = [
            {**r, S.SUSPECT: None, S.ORIGIN: S.ORIGIN_KERNEL}
            for r in forgery_rows()
            if r[S.TS] < record(2000)[S.TS] and r[S.HOST] == "web-01"
        ]
        try:
            engine.observe(S.batch_from_rows(trusted_rows()), None, now)
            engine.observe(S.batch_from_rows(rows), None, now + 1)
            engine.dirty = True
            changes = {a.labels.get("change") for a in engine.current_alerts()}
            assert {"unloaded", "complain"} <= changes
        finally:
            engine.close()
            state.close()

    def test_window_raises_only_the_forged_alert(self) -> None:
        """The continuous path: trusted denials first, then forgeries; only the forged alert."""
        state = AlertState()
        engine = AlertEngine(load_rules(), state)
        now = time.time()
        try:
            engine.observe(S.batch_from_rows(trusted_rows()), None, now)
            engine.observe(S.batch_from_rows(forgery_rows()), None, now + 1)
            # evaluate the whole window again: every rule over every row
            engine.dirty = True
            alerts = engine.current_alerts()
            assert [(FORGED_RULE, "ghost"), (FORGED_RULE, "web-01")] == fired(alerts)
            assert web01_forged() == next(a.count for a in alerts if a.labels[S.HOST] == "web-01")
            # heartbeats: forged records are no sign of life
            heard = {h for h, _ in state.silent_hosts(now + 10, 0)}
            assert {"web-01", "db-01"} == heard
        finally:
            engine.close()
            state.close()


class TestReport:
    def test_report_uses_no_forgery_but_counts_it(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`armorwatch report`: forgeries appear only as the per-host forged count."""
        store(tmp_path, trusted_rows() + forgery_rows()).close()
        out = tmp_path / "report"
        db = str(tmp_path / "store.duckdb")
        assert 0 == main(["report", "--db", db, "-o", str(out), "--format", "json,md,html"])
        data = orjson.loads((out / "report.json").read_bytes())
        assert [] == data["learning"] and [] == data["ready"] and [] == data["risky"]
        assert [10] == [g["current"] for g in data["grew"]]  # nginx's real denials only
        objects = {s["object"] for s in data["new_signatures"]}
        assert {"/srv/www/index.html", "/srv/pg/x"} == objects
        hosts = {h["host"]: h for h in data["hosts"]}
        assert web01_forged() == hosts["web-01"]["forged"]
        assert {S.SUSPECT_FROM_USERSPACE, S.SUSPECT_DUPLICATE_FIELD} == set(
            hosts["web-01"]["forged_reasons"]
        )
        assert 0 == hosts["db-01"]["forged"]
        assert 0 == hosts["ghost"]["records"] and 1 == hosts["ghost"]["forged"]
        assert len(forgery_rows()) == data["summary"]["forged"]
        assert 12 == data["summary"]["records"]
        md = (out / "report.md").read_text()
        assert SHADOW not in md and "/srv/www/f1" not in md
        assert "forged only" in md
        html = (out / "index.html").read_text()
        assert SHADOW not in html and "forged-looking records" in html

    def test_null_host_of_an_older_store(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A store written before hosts were always filled reports them as "(unknown host)"."""
        store(tmp_path, trusted_rows()).close()
        db = tmp_path / "store.duckdb"
        with open_store(db, read_only=False) as con:
            con.execute("UPDATE records SET host = NULL WHERE host = 'db-01'")
        out = tmp_path / "report"
        assert 0 == main(["report", "--db", str(db), "-o", str(out), "--format", "md,html,json"])
        md = (out / "report.md").read_text()
        assert "\\(unknown host\\)" in md  # Markdown-escaped
        data = orjson.loads((out / "report.json").read_bytes())
        assert UNKNOWN_HOST in {h["host"] for h in data["hosts"]}
        assert 0 == main(["alerts", "test", "--db", str(db)])


class TestSummary:
    def test_summary_leaves_forgeries_out_and_counts_them(self, tmp_path: Path) -> None:
        """`run`'s summary tables hold no forged record; forged_records counts them per host."""
        con = store(tmp_path, trusted_rows() + forgery_rows())
        found = summarize(con)
        assert 12 == sum(
            r[found.by_profile.columns.index("records")] for r in found.by_profile.rows
        )
        objects = {r[found.top_denials.columns.index("object")] for r in found.top_denials.rows}
        assert SHADOW not in objects
        counts = {(r[0], r[1]): r[2] for r in forged_records(con).rows}
        assert web01_forged() - 1 == counts[("web-01", S.SUSPECT_FROM_USERSPACE)]
        assert 1 == counts[("ghost", S.SUSPECT_FROM_USERSPACE)]
        assert counts == {(r[0], r[1]): r[2] for r in found.forged.rows}


# --- the real producer: `journalctl -o json` lines --------------------------------------

BOOT = "9d2e8f7a6b5c4d3e2f1a0b9c8d7e6f5a"
T = int(T0.timestamp())


def journal_entry(i: int, message: str, **fields: str) -> dict[str, str]:
    """One `journalctl -o json` entry of host web-01 (every value a string, as journald writes)."""
    usec = (T + i) * 1_000_000
    return {
        "__CURSOR": f"s=ab12cd34;i={i:x};b={BOOT};x={i:x}",
        "__REALTIME_TIMESTAMP": str(usec),
        "_BOOT_ID": BOOT,
        "_MACHINE_ID": "7e6d5c4b3a29180706f5e4d3c2b1a090",
        "_HOSTNAME": "web-01",
        "MESSAGE": message,
        **fields,
    }


def logger_kernel(i: int, body: str) -> dict[str, str]:
    """What `logger -t kernel "audit: ... BODY"` run by uid 1000 leaves in journald."""
    return journal_entry(
        i,
        f"audit: type=1400 audit({T + i}.000:{9000 + i}): {body}",
        _TRANSPORT="syslog",
        SYSLOG_IDENTIFIER="kernel",
        SYSLOG_FACILITY="1",
        PRIORITY="5",
        _UID="1000",
        _GID="1000",
        _PID="31337",
        _COMM="logger",
    )


def write_journal(path: Path) -> None:
    """A journal export: one real audit-transport AVC and the forgeries of issue 19."""
    nginx = 'profile="/usr/sbin/nginx" pid=4242 comm="nginx"'
    entries = [
        journal_entry(
            0,
            'AVC apparmor="DENIED" operation="open" class="file" profile="/usr/sbin/nginx" '
            'name="/srv/www/index.html" pid=900 comm="nginx" requested_mask="r" '
            'denied_mask="r" fsuid=33 ouid=0',
            _TRANSPORT="audit",
            SYSLOG_FACILITY="4",
            SYSLOG_IDENTIFIER="audit",
            _AUDIT_TYPE="1400",
            _AUDIT_TYPE_NAME="AVC",
            _AUDIT_ID="544",
            _PID="900",
        ),
        logger_kernel(
            10,
            'apparmor="STATUS" operation="profile_remove" profile="unconfined" '
            'name="/usr/sbin/nginx" pid=31337 comm="apparmor_parser"',
        ),
        logger_kernel(
            11,
            'apparmor="STATUS" operation="profile_replace" info="same as current profile, '
            'skipping" profile="unconfined" name="/usr/sbin/nginx" pid=31337 '
            'comm="apparmor_parser"',
        ),
        *(
            logger_kernel(
                20 + k,
                f'apparmor="ALLOWED" operation="open" class="file" {nginx} '
                f'name="/srv/www/new{k}" requested_mask="r" denied_mask="r" fsuid=33 ouid=0',
            )
            for k in range(3)
        ),
        logger_kernel(
            30,
            f'apparmor="DENIED" operation="open" class="file" {nginx} name="{SHADOW}" '
            'requested_mask="r" denied_mask="r" fsuid=33 ouid=0',
        ),
        journal_entry(
            40,
            'USER_AVC pid=31337 uid=0 auid=1000 ses=3 subj=unconfined msg=\'apparmor="DENIED" '
            f'operation="open" class="file" {nginx} name="{SHADOW}" requested_mask="r" '
            'denied_mask="r" fsuid=0 ouid=0 exe="/usr/bin/python3" sauid=0 hostname=? '
            "addr=? terminal=pts/0'",
            _TRANSPORT="audit",
            SYSLOG_FACILITY="4",
            SYSLOG_IDENTIFIER="audit",
            _AUDIT_TYPE="1107",
            _AUDIT_TYPE_NAME="USER_AVC",
            _AUDIT_ID="9040",
            _PID="31337",
        ),
    ]
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`armorwatch ARGS` as a subprocess."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("armorwatch")), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class TestJournaldEndToEnd:
    @pytest.mark.integration
    def test_logger_kernel_raises_only_the_forged_alert(self, tmp_path: Path) -> None:
        """`run` a journal export with `logger -t kernel` forgeries: only the forged alert."""
        journal = tmp_path / "journal.json"
        write_journal(journal)
        db = tmp_path / "aw.duckdb"
        done = cli("run", str(journal), "--db", str(db), "--no-report")
        assert 0 == done.returncode, done.stderr
        with open_store(db, read_only=True) as con:
            [(n, suspect)] = con.execute(
                "SELECT count(*), count(suspect) FROM records WHERE host = 'web-01'"
            ).fetchall()
        assert (8, 7) == (n, suspect)
        done = cli("alerts", "test", "--db", str(db))
        assert 0 == done.returncode, done.stderr
        assert FORGED_RULE in done.stdout
        assert "7 kernel records forged from userspace on host web-01" in done.stdout
        for rule in ("profile-weakened", "sensitive-access", "denial-burst", "host-silent"):
            assert rule not in done.stdout
        out = tmp_path / "report"
        done = cli("report", "--db", str(db), "-o", str(out), "--format", "json")
        assert 0 == done.returncode, done.stderr
        data = orjson.loads((out / "report.json").read_bytes())
        assert [] == data["learning"] and [] == data["risky"]
        assert [7] == [h["forged"] for h in data["hosts"] if h["host"] == "web-01"]
