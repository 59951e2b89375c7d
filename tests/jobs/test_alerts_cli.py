"""`armorwatch alerts test|rules` end to end, and continuous alerting in the pipeline."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import shlex
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import standardwebhooks

from armorwatch.alerting import AlertingObserver, load_rules
from armorwatch.cli import main
from armorwatch.jobs.alerts import AlertEngine, AlertState
from armorwatch.parsers import schema as S
from armorwatch.parsers.envelope import Envelope
from armorwatch.pipeline import InProcessTransport
from armorwatch.sinks.duckdb import DuckDBConfig, DuckDBSink
from armorwatch.sinks.webhook import WebhookConfig, WebhookSink
from tests.jobs.alert_data import record, store
from tests.sinks.webhook_server import receiver

SECRET = "whsec_" + base64.b64encode(b"cli-secret-0123456789abcdef").decode()
EVIL = "/etc/shadow\x1b]0;pwned\x07\u202e"


def hostile_store(tmp_path: Path) -> Path:
    """A store with a sensitive denial whose profile carries terminal escapes and bidi."""
    rows = [record(i, name="/etc/shadow", profile="/usr/bin/x\x1b[2J\u202e") for i in range(3)]
    rows.append(record(5, name=EVIL, host="web-02"))
    store(tmp_path, rows).close()
    return tmp_path / "store.duckdb"


def dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """(stdout, stderr) of `alerts test --webhook URL --dry-run` over the hostile store."""
    db = hostile_store(tmp_path)
    url = "http://127.0.0.1:9/never"
    assert 0 == main(["alerts", "test", "--db", str(db), "--webhook", url, "--dry-run"])
    out, err = capsys.readouterr()
    return out, err


@contextlib.asynccontextmanager
async def alerting_pipeline(
    tmp_path: Path, url: str
) -> AsyncIterator[tuple[WebhookSink, AlertingObserver, InProcessTransport]]:
    """An in-process store pipeline whose alerting observer notifies the receiver at ``url``."""
    sink = WebhookSink(
        WebhookConfig(
            url=url,
            state_dir=tmp_path / "wh",
            allow_cidrs=("127.0.0.1/32",),
            secret_env=None,
        )
    )
    await sink.open()
    engine = AlertEngine(load_rules(), AlertState(tmp_path / "alerts.sqlite"))
    observer = AlertingObserver(engine, sink)
    store_sink = DuckDBSink(DuckDBConfig(path=tmp_path / "db.duckdb"))
    async with InProcessTransport(store_sink, observers=[observer]) as transport:
        yield sink, observer, transport


class TestAlertsRules:
    def test_lists_rules(self, capsys: pytest.CaptureFixture[str]) -> None:
        """`alerts rules` prints the grouping line and one line per bundled rule."""
        assert 0 == main(["alerts", "rules"])
        out = capsys.readouterr().out.splitlines()
        assert out[0].startswith("group_by=host,profile")
        assert len(load_rules().rule) + 1 == len(out)


class TestAlertsTest:
    def test_prints_escaped(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Alerts are printed with every control and bidi character escaped."""
        db = hostile_store(tmp_path)
        assert 0 == main(["alerts", "test", "--db", str(db)])
        out = capsys.readouterr().out
        assert "sensitive-access" in out
        for raw in ("\x1b", "\x07", "\u202e"):
            assert raw not in out
        assert "\\x1b[2J\\u202e" in out

    def test_missing_db_is_exit_2(self, tmp_path: Path) -> None:
        """A missing store is an I/O error (exit code 2)."""
        assert 2 == main(["alerts", "test", "--db", str(tmp_path / "none.duckdb")])

    def test_dry_run_prints_bodies(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--dry-run prints the JSON bodies that would be sent, and sends nothing."""
        out, _ = dry_run(tmp_path, capsys)
        lines = [ln for ln in out.splitlines() if ln.startswith("{")]
        messages = [orjson.loads(ln) for ln in lines]
        assert messages and all(m["schema"] == "armorwatch.alert/1" for m in messages)

    def test_dry_run_stdout_is_pure_json(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """With --dry-run every stdout line is a JSON body (`| jq` works); the text is on stderr."""
        out, err = dry_run(tmp_path, capsys)
        assert out.strip() and all(orjson.loads(ln) for ln in out.splitlines())
        assert "notification(s)" in err and "sensitive-access" in err

    def test_alert_names_the_command_that_shows_its_records(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Each alert carries an `armorwatch query` command; run, it shows the raw lines."""
        raw = b'type=AVC msg=audit(1.0:7): apparmor="DENIED" name="/etc/shadow" comm="nginx"'
        rows = [record(i, name="/etc/shadow", pid=4242, raw=raw) for i in range(3)]
        store(tmp_path, rows).close()
        db = str(tmp_path / "store.duckdb")
        url = "http://127.0.0.1:9/never"
        assert 0 == main(["alerts", "test", "--db", db, "--webhook", url, "--dry-run"])
        messages = [orjson.loads(ln) for ln in capsys.readouterr().out.splitlines()]
        [sensitive] = [a for m in messages for a in m["alerts"] if a["rule"] == "sensitive-access"]
        command = sensitive["investigate"]
        assert command.startswith("armorwatch query raw-lines ")
        argv = [*shlex.split(command)[1:], "--db", db, "--format", "json"]
        assert 0 == main(argv)
        found = [orjson.loads(ln) for ln in capsys.readouterr().out.splitlines()]
        assert 3 == len(found)
        assert {(4242, "nginx")} == {(r["pid"], r["comm"]) for r in found}
        assert base64.b64decode(found[0]["raw"]) == raw

    def test_silence_in_human_units(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A silent host's alert reads "5 h 32 min", not a count of seconds."""
        gap = 5 * 3600 + 32 * 60 + 43
        store(tmp_path, [record(-gap, host="db-01"), record(0, host="web-01")]).close()
        assert 0 == main(["alerts", "test", "--db", str(tmp_path / "store.duckdb")])
        out = capsys.readouterr().out
        assert "host silent for 5 h 32 min" in out and f"{gap}s" not in out

    def test_silence_of_replayed_logs_is_info_and_says_why(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Old logs, and a host whose history is shorter than its silence, are no outage."""
        store(tmp_path, [record(-7200, host="db-01"), record(0, host="web-01")]).close()
        assert 0 == main(["alerts", "test", "--db", str(tmp_path / "store.duckdb")])
        out = capsys.readouterr().out
        assert "[info] db-01: host silent for 2 h" in out
        assert "too little history" in out and "replayed or stale logs" in out

    def test_silence_of_a_live_host_is_critical(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A host that reported for hours and stopped 3 h before now is a plain critical alert."""
        now = datetime.now(UTC)
        rows = [
            record(0, host="db-01", **{S.TS: now - timedelta(minutes=m)})
            for m in range(180, 600, 10)
        ]
        rows.append(record(0, host="web-01", **{S.TS: now}))
        store(tmp_path, rows).close()
        assert 0 == main(["alerts", "test", "--db", str(tmp_path / "store.duckdb")])
        out = capsys.readouterr().out
        line = next(ln for ln in out.splitlines() if ln.startswith("[critical] db-01"))
        assert line.endswith("host silent for 3 h (no records, no loss reports)"), line

    def test_host_flag_evaluates_only_that_host(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--host (repeatable or a comma list) keeps only those hosts' records; a host the
        store never heard of is an error, not "no alerts"."""
        rows = [record(i, name="/etc/shadow", host="web-01") for i in range(3)]
        rows += [record(i, name="/etc/shadow", host="web-02") for i in range(3)]
        store(tmp_path, rows).close()
        db = str(tmp_path / "store.duckdb")

        def hosts(*argv: str) -> set[str]:
            assert 0 == main(["alerts", "test", "--db", db, *argv])
            lines = capsys.readouterr().out.splitlines()
            return {ln.split()[1].rstrip(":") for ln in lines if ln.startswith("[")}

        assert {"web-01", "web-02"} == hosts()
        assert {"web-02"} == hosts("--host", "web-02")
        assert {"web-01", "web-02"} == hosts("--host", "web-01,web-02")
        assert {"web-01", "web-02"} == hosts("--host", "web-01", "--host", "web-02")
        assert 2 == main(["alerts", "test", "--db", db, "--host", "web-03"])
        assert "no record of host 'web-03' in the store (hosts: web-01, web-02)" in (
            capsys.readouterr().err
        )

    def test_ssrf_refusal_says_how_to_allow(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A receiver on a private address is refused with a pointer to --allow."""
        db = hostile_store(tmp_path)
        url = "http://127.0.0.1:9/never"
        code = main(["alerts", "test", "--db", str(db), "--webhook", url, "--timeout", "5"])
        err = capsys.readouterr().err
        assert 1 == code
        assert "--allow CIDR" in err

    @pytest.mark.integration
    def test_sends_signed(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """--webhook delivers each notification, signed, to a real receiver."""
        db = hostile_store(tmp_path)
        secret = tmp_path / "secret"
        secret.write_text(SECRET)
        with receiver() as rx:
            code = main(
                [
                    "alerts", "test", "--db", str(db), "--webhook", rx.url,
                    "--secret-file", str(secret), "--allow", "127.0.0.1/32",
                ]
            )  # fmt: skip
        assert 0 == code
        assert 2 == len(rx.requests)
        ref = standardwebhooks.Webhook(SECRET)
        for req in rx.requests:
            body = ref.verify(req.body, req.headers)
            assert b"\x1b" not in req.body and "\u202e".encode() not in req.body
            assert body["alerts"]

    @pytest.mark.integration
    def test_refuses_loopback_without_allow(self, tmp_path: Path) -> None:
        """Without --allow, a loopback receiver is refused and the exit code is 1."""
        db = hostile_store(tmp_path)
        with receiver() as rx:
            assert 1 == main(["alerts", "test", "--db", str(db), "--webhook", rx.url])
        assert 0 == len(rx.requests)


class TestPipelineAlerting:
    @pytest.mark.integration
    async def test_storm_to_one_webhook(self, tmp_path: Path) -> None:
        """A 5,000-denial ptrace loop through the in-process pipeline reaches the receiver once."""
        with receiver() as rx:
            async with alerting_pipeline(tmp_path, rx.url) as (sink, observer, transport):
                for b in range(50):
                    rows = [
                        record((b * 100 + i) * 0.01, profile="/usr/bin/gdb", class_="ptrace",
                               name=None, **{S.PEER: "/usr/sbin/sshd"})
                        for i in range(100)
                    ]  # fmt: skip
                    await transport.send(Envelope(records=S.batch_from_rows(rows)))
            assert await sink.drain(5.0)
            await asyncio.sleep(0.1)
            await observer.close()
        assert 0 == transport.observer_errors
        assert 1 == len(rx.requests)
        body = orjson.loads(rx.requests[0].body)
        assert {"host": "web-01", "profile": "/usr/bin/gdb"} == body["group"]


class TestResolved:
    @pytest.mark.integration
    async def test_group_that_stops_firing_is_resolved(self, tmp_path: Path) -> None:
        """A group whose denials stop gets a "resolved" notification at the real receiver."""
        with receiver() as rx:
            async with alerting_pipeline(tmp_path, rx.url) as (sink, observer, transport):
                rows = [
                    record(i * 0.01, profile="/usr/bin/gdb", class_="ptrace", name=None,
                           **{S.PEER: "/usr/sbin/sshd"})
                    for i in range(100)
                ]  # fmt: skip
                await transport.send(Envelope(records=S.batch_from_rows(rows)))
                await observer.flush()
                # an hour later only another host reports: gdb's windows hold nothing
                later = [record(3600, host="web-02", name="/srv/www/index.html")]
                await transport.send(Envelope(records=S.batch_from_rows(later)))
                await observer.flush()
            assert await sink.drain(5.0)
            await observer.close()
        bodies = [orjson.loads(r.body) for r in rx.requests]
        gdb = [b for b in bodies if b["group"] == {"host": "web-01", "profile": "/usr/bin/gdb"}]
        assert ["firing", "resolved"] == [b["status"] for b in gdb]
        resolved = gdb[1]
        assert [] == resolved["alerts"] and "no longer firing" in resolved["summary"]
        assert gdb[0]["id"] != resolved["id"]


class TestOpenAlerting:
    def test_from_config_with_seed(self, tmp_path: Path) -> None:
        """open_alerting builds the observer from its config and seeds known signatures."""
        from armorwatch.alerting import AlertingConfig, open_alerting
        from armorwatch.config import from_mapping

        con = store(tmp_path, [record(1, name="/srv/old")])
        cfg = from_mapping(AlertingConfig, {"state_dir": str(tmp_path / "st"), "tick_s": 60})

        async def run() -> list[str]:
            observer = await open_alerting(cfg, con)
            try:
                batch = S.batch_from_rows([record(2, name="/srv/old"), record(3, name="/srv/n")])
                await observer(Envelope(records=batch))
                await observer.flush()
                return [a.labels["object"] for n in observer.sent for a in n.alerts]
            finally:
                await observer.close()

        assert ["/srv/n"] == asyncio.run(run())
