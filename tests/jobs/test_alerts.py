"""Alert rules over a DuckDB store (the `alerts test` path) and over new batches (streaming)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from armorwatch.alerting import load_rules
from armorwatch.config import ConfigError
from armorwatch.jobs.alerts import (
    KINDS,
    Alert,
    AlertEngine,
    AlertError,
    AlertRule,
    AlertRules,
    AlertState,
    evaluate,
    newest,
)
from armorwatch.jobs.errors import JobsError
from armorwatch.jobs.window import WindowError
from armorwatch.parsers import schema as S
from tests.jobs.alert_data import loss, record, status, store


def rules(*rs: AlertRule, **kw: Any) -> AlertRules:
    """A rule set of ``rs`` with the default grouping."""
    return AlertRules(rule=rs, **kw)


def fired(alerts: list[Alert]) -> list[tuple[str, dict[str, str], int]]:
    """(rule, labels, count) of each alert, sorted."""
    return sorted((a.rule, dict(a.labels), a.count) for a in alerts)


class TestRulesFile:
    def test_defaults_load(self) -> None:
        """The bundled default rules load and cover every kind."""
        assert set(KINDS) == {r.kind for r in load_rules().rule}

    def test_unknown_key_is_an_error(self, tmp_path: Path) -> None:
        """A typo in a rule is reported with the rule's key."""
        path = tmp_path / "rules.toml"
        path.write_text('[[rule]]\nname = "x"\nkind = "threshold"\nwindoww_s = 5\n')
        with pytest.raises(ConfigError, match="windoww_s"):
            load_rules(path)

    def test_bad_kind_is_an_error(self, tmp_path: Path) -> None:
        """An unknown rule kind is rejected with the list of kinds."""
        path = tmp_path / "rules.toml"
        path.write_text('[[rule]]\nname = "x"\nkind = "magic"\n')
        with pytest.raises(ConfigError, match="threshold"):
            load_rules(path)


class TestThreshold:
    def test_fires_at_min_count(self, tmp_path: Path) -> None:
        """120 denials in five minutes fire a 100-threshold; another profile's 5 do not."""
        rows = [record(i) for i in range(120)]
        rows += [record(i, profile="/usr/bin/man") for i in range(5)]
        con = store(tmp_path, rows)
        rule = AlertRule("burst", "threshold", window_s=300, min_count=100, by=("host", "profile"))
        expected = [("burst", {"host": "web-01", "profile": "/usr/sbin/nginx"}, 120)]
        assert expected == fired(evaluate(con, rules(rule)))

    def test_window_excludes_old(self, tmp_path: Path) -> None:
        """Denials older than the window do not count."""
        rows = [record(i) for i in range(60)] + [record(3600 + i) for i in range(60)]
        con = store(tmp_path, rows)
        rule = AlertRule("burst", "threshold", window_s=300, min_count=100)
        assert [] == evaluate(con, rules(rule))

    def test_kernel_only_ignores_userspace(self, tmp_path: Path) -> None:
        """USER_AVC text (forgeable) does not trigger a kernel_only rule."""
        rows = [record(i, **{S.ORIGIN: S.ORIGIN_USERSPACE}) for i in range(10)]
        con = store(tmp_path, rows)
        rule = AlertRule("burst", "threshold", min_count=5, kernel_only=True)
        assert [] == evaluate(con, rules(rule))


class TestSpike:
    def test_spike_over_baseline(self, tmp_path: Path) -> None:
        """60 denials in ten minutes after one an hour for six hours is a spike."""
        rows = [record(-3600 * h) for h in range(1, 7)] + [record(i) for i in range(60)]
        con = store(tmp_path, rows)
        rule = AlertRule(
            "spike",
            "spike",
            window_s=600,
            baseline_s=21600,
            factor=10,
            min_count=20,
            by=("host", "profile"),
        )
        [alert] = evaluate(con, rules(rule))
        assert (60, 6) == (alert.count, alert.detail["baseline"])

    def test_steady_rate_is_no_spike(self, tmp_path: Path) -> None:
        """The same rate in the window as in the baseline does not fire."""
        rows = [record(-60 * i) for i in range(0, 400)]
        con = store(tmp_path, rows)
        rule = AlertRule("spike", "spike", window_s=600, baseline_s=21600, factor=3, min_count=5)
        assert [] == evaluate(con, rules(rule))


class TestFirstSeen:
    def test_only_new_signatures(self, tmp_path: Path) -> None:
        """A signature seen before the window is old; pid-numbered paths are one signature."""
        rows = [
            record(-7200, name="/srv/old"),
            record(10, name="/srv/old"),
            record(20, name="/proc/123/status"),
            record(30, name="/proc/456/status", host="web-02"),
        ]
        con = store(tmp_path, rows)
        rule = AlertRule("new", "first_seen", window_s=3600)
        [alert] = evaluate(con, rules(rule))
        labels = {
            "host": "web-01",
            "profile": "/usr/sbin/nginx",
            "class": "file",
            "object": "/proc/*/status",
        }
        assert (labels, 2, 2) == (dict(alert.labels), alert.count, alert.detail["hosts"])

    def test_state_remembers_signatures(self, tmp_path: Path) -> None:
        """With a state, a signature alerts once across evaluations."""
        con = store(tmp_path, [record(10, name="/srv/new")])
        state = AlertState(tmp_path / "state.sqlite")
        rule = AlertRule("new", "first_seen", window_s=3600)
        first = evaluate(con, rules(rule), state=state)
        second = evaluate(con, rules(rule), state=state)
        assert (1, 0) == (len(first), len(second))


class TestSeed:
    def test_seeded_signatures_are_not_new(self, tmp_path: Path) -> None:
        """Signatures already in the store do not fire first-seen on the streaming path."""
        con = store(tmp_path, [record(1, name="/srv/old")])
        engine = AlertEngine(rules(AlertRule("new", "first_seen")), AlertState())
        assert 1 == engine.seed_signatures(con)
        engine.add(
            S.batch_from_rows([record(2, name="/srv/old"), record(3, name="/srv/new")]),
            None,
            now=0.0,
        )
        assert ["/srv/new"] == [a.labels["object"] for a in engine.current_alerts()]


class TestClockSkew:
    def test_future_host_cannot_blind_windows(self) -> None:
        """A host stamping records a year ahead does not push others out of the window."""
        now = record(0)[S.TS].timestamp()
        engine = AlertEngine(rules(AlertRule("s", "sensitive")), AlertState(), max_future_s=300.0)
        future = record(365 * 86400, host="skewed", name="/srv/x")
        engine.add(S.batch_from_rows([future]), None, now=now)
        engine.add(S.batch_from_rows([record(1, name="/etc/shadow")]), None, now=now + 1)
        assert ["/etc/shadow"] == [a.labels["object"] for a in engine.current_alerts()]


class TestWindowBound:
    def test_flood_trims_oldest(self) -> None:
        """A window table never holds more than max_rows; the trimmed rows are counted."""
        engine = AlertEngine(rules(AlertRule("s", "sensitive")), AlertState(), max_rows=150)
        for b in range(3):
            engine.add(S.batch_from_rows([record(b * 100 + i) for i in range(100)]), None, 0.0)
        [(n, oldest)] = engine._con.execute(
            "SELECT count(*), epoch_ms(min(ts)) FROM denials"
        ).fetchall()
        assert (150, 150) == (n, engine.stats.trimmed)
        assert record(150)[S.TS].timestamp() * 1000 == oldest


class TestSensitive:
    def test_shadow_and_ptrace(self, tmp_path: Path) -> None:
        """/etc/shadow is critical; a ptrace denial is a (milder) warning."""
        rows = [
            record(1, name="/etc/shadow"),
            record(2, class_="ptrace", name=None, **{S.PEER: "unconfined", S.OPERATION: "ptrace"}),
            record(3, name="/srv/harmless"),
        ]
        con = store(tmp_path, rows)
        alerts = evaluate(con, rules(AlertRule("s", "sensitive", severity="critical")))
        got = sorted((a.labels["object"], a.severity) for a in alerts)
        assert [("/etc/shadow", "critical"), ("unconfined", "warning")] == got

    def test_complain_mode_access(self, tmp_path: Path) -> None:
        """A complain-mode ALLOWED read of an SSH key alerts as allowed."""
        rows = [record(1, name="/home/ann/.ssh/id_ed25519", apparmor=S.AA_ALLOWED)]
        con = store(tmp_path, rows)
        [alert] = evaluate(con, rules(AlertRule("s", "sensitive")))
        assert ("allowed", "user SSH keys") == (alert.detail["decision"], alert.detail["reason"])


class TestProfileChange:
    def test_unloaded_and_complain(self, tmp_path: Path) -> None:
        """profile_remove fires 'unloaded'; ALLOWED after DENIED of a profile fires 'complain'."""
        rows = [
            record(-600, profile="/usr/bin/evince"),
            record(10, profile="/usr/bin/evince", apparmor=S.AA_ALLOWED),
            record(20, profile="/usr/bin/never-denied", apparmor=S.AA_ALLOWED),
            status(30, "profile_remove", "/usr/sbin/cupsd"),
            status(40, "profile_replace", "/usr/sbin/nginx"),
        ]
        con = store(tmp_path, rows)
        alerts = evaluate(con, rules(AlertRule("p", "profile_change", window_s=300)))
        got = sorted((a.labels["profile"], a.labels["change"]) for a in alerts)
        assert [("/usr/bin/evince", "complain"), ("/usr/sbin/cupsd", "unloaded")] == got

    def test_stream_remembers_enforcing(self) -> None:
        """The engine fires 'complain' when the DENIED that proved enforcing left the window."""
        engine = AlertEngine(rules(AlertRule("p", "profile_change", window_s=300)), AlertState())
        engine.add(S.batch_from_rows([record(0, profile="/usr/bin/evince")]), None, now=0.0)
        assert [] == engine.current_alerts()
        later = record(3600, profile="/usr/bin/evince", apparmor=S.AA_ALLOWED)
        engine.add(S.batch_from_rows([later]), None, now=3600.0)
        [alert] = engine.current_alerts()
        assert {"host": "web-01", "profile": "/usr/bin/evince", "change": "complain"} == dict(
            alert.labels
        )


class TestLoss:
    def test_kinds_filtered_and_summed(self, tmp_path: Path) -> None:
        """Loss of the listed kinds is summed per host and kind; other kinds are ignored."""
        con = store(
            tmp_path,
            [record(0)],
            [
                loss(10, S.LOSS_KERNEL_LOST, 40),
                loss(20, S.LOSS_KERNEL_LOST, 2),
                loss(30, S.LOSS_PARSE_REJECT, 9),
                loss(40, S.LOSS_ROTATED_AWAY, 1000, host="web-02"),
            ],
        )
        rule = AlertRule("lost", "loss", loss_kinds=(S.LOSS_KERNEL_LOST, S.LOSS_ROTATED_AWAY))
        got = sorted(
            (a.labels["host"], a.labels["kind"], a.count) for a in evaluate(con, rules(rule))
        )
        expected = [("web-01", "kernel_lost", 42), ("web-02", "rotated_away_unread", 1000)]
        assert expected == got


class TestDeadman:
    def test_silent_host_in_store(self, tmp_path: Path) -> None:
        """A host whose last record is 2 h older than the fleet's newest is silent."""
        rows = [record(-7200, host="db-01"), record(0, host="web-01")]
        con = store(tmp_path, rows)
        [alert] = evaluate(con, rules(AlertRule("dead", "deadman", silence_s=900)))
        assert ({"host": "db-01"}, 7200) == (dict(alert.labels), alert.detail["silent_s"])

    def test_tick_on_wall_clock(self, tmp_path: Path) -> None:
        """The streaming engine alerts when a host's heartbeats stop, and not before."""
        engine = AlertEngine(rules(AlertRule("dead", "deadman", silence_s=60)), AlertState())
        engine.observe(S.batch_from_rows([record(0, host="web-09")]), None, now=1000.0)
        assert [] == engine.tick(1030.0)
        [(_, note)] = engine.tick(1100.0)
        assert {"host": "web-09", "profile": ""} == dict(note.group)
        assert "deadman" == note.alerts[0].kind


def ptrace_batches(n_batches: int, per_batch: int, host: str = "web-01") -> list[pa.RecordBatch]:
    """A ptrace loop: the same denial, ``n_batches`` × ``per_batch`` times, 10 ms apart."""
    out = []
    for b in range(n_batches):
        rows = [
            record(
                (b * per_batch + i) * 0.01,
                host=host,
                profile="/usr/bin/gdb",
                class_="ptrace",
                name=None,
                **{S.PEER: "/usr/sbin/sshd", S.OPERATION: "ptrace"},
            )
            for i in range(per_batch)
        ]
        out.append(S.batch_from_rows(rows))
    return out


class TestStorm:
    def test_ptrace_loop_is_one_notification(self) -> None:
        """5,000 ptrace denials over 50 batches yield one notification for the group."""
        engine = AlertEngine(load_rules(), AlertState())
        notes = []
        for i, batch in enumerate(ptrace_batches(50, 100)):
            for key, n in engine.observe(batch, None, now=1000.0 + i):
                engine.grouper.commit(key, n)
                notes.append(n)
        assert 1 == len(notes)
        group = dict(notes[0].group)
        assert {"host": "web-01", "profile": "/usr/bin/gdb"} == group
        assert 49 <= engine.stats.suppressed

    def test_groups_split_by_host(self) -> None:
        """The same storm on two hosts gives one notification per host."""
        engine = AlertEngine(load_rules(), AlertState())
        notes = []
        for host in ("web-01", "web-02"):
            for batch in ptrace_batches(5, 100, host=host):
                for key, n in engine.observe(batch, None, now=1000.0):
                    engine.grouper.commit(key, n)
                    notes.append(n)
        assert ["web-01", "web-02"] == sorted(n.group["host"] for n in notes)


class TestSuppressionState:
    def test_survives_restart(self, tmp_path: Path) -> None:
        """After a restart on the same state file, a still-firing group is not re-sent."""
        path = tmp_path / "alerts.sqlite"
        batch = S.batch_from_rows([record(1, name="/etc/shadow")])
        first = AlertEngine(load_rules(), AlertState(path))
        [(key, note)] = first.observe(batch, None, now=1000.0)
        first.grouper.commit(key, note)
        first.state.close()
        second = AlertEngine(load_rules(), AlertState(path))
        assert [] == second.observe(batch, None, now=1060.0)

    def test_uncommitted_is_replanned_with_same_id(self, tmp_path: Path) -> None:
        """A notification not committed (crash before hand-off) is planned again, same id."""
        batch = S.batch_from_rows([record(1, name="/etc/shadow")])
        engine = AlertEngine(load_rules(), AlertState(tmp_path / "a.sqlite"))
        [(_, a)] = engine.observe(batch, None, now=1000.0)
        [(_, b)] = engine.observe(batch, None, now=1001.0)
        assert a.id == b.id

    def test_repeat_and_group_interval(self) -> None:
        """A firing group repeats after repeat_interval; a new alert joins after group_interval."""
        rs = rules(
            AlertRule("s", "sensitive", window_s=86400),
            AlertRule("burst", "threshold", window_s=86400, min_count=3, by=("host", "profile")),
            group_interval_s=60,
            repeat_interval_s=3600,
        )
        engine = AlertEngine(rs, AlertState())

        def run(rows: list[dict[str, Any]], now: float) -> list[str]:
            out = []
            for key, n in engine.observe(S.batch_from_rows(rows), None, now):
                engine.grouper.commit(key, n)
                out.append(n.id.rsplit("_", 1)[1] + ":" + ",".join(a.rule for a in n.alerts))
            return out

        assert ["1:s"] == run([record(1, name="/etc/shadow")], 1000.0)
        assert [] == run([record(2, name="/srv/a"), record(3, name="/srv/b")], 1010.0)
        assert ["2:burst,s"] == run([record(4, name="/srv/c")], 1070.0)
        assert [] == run([record(5, name="/srv/d")], 2000.0)
        assert ["3:burst,s"] == run([record(6, name="/srv/e")], 1070.0 + 3600)


class TestStreamMatchesStore:
    def test_same_alerts_both_paths(self, tmp_path: Path) -> None:
        """The in-memory window and the store's views raise the same alerts on the same rows."""
        rows = [record(i, name="/etc/shadow") for i in range(3)]
        rows += [
            record(10 + i * 0.1, class_="ptrace", name=None, **{S.PEER: "unconfined"})
            for i in range(150)
        ]
        rows += [
            record(20, name="/proc/77/fd/3", host="web-02"),
            record(21, class_="capability", name=None, **{S.CAPNAME: "sys_admin"}),
            record(22, class_="net", name=None, **{S.FAMILY: "inet", S.SOCK_TYPE: "stream"}),
            record(-600, profile="/usr/bin/evince"),
            record(23, profile="/usr/bin/evince", apparmor=S.AA_ALLOWED),
            status(30, "profile_remove", "/usr/sbin/cupsd"),
        ]
        rs = load_rules()

        def key(alerts: list[Alert]) -> set[tuple[str, tuple[tuple[str, str], ...], int]]:
            return {
                (a.rule, tuple(sorted(a.labels.items())), a.count)
                for a in alerts
                if a.kind != "deadman"
            }

        from_store = key(evaluate(store(tmp_path, rows), rs, state=AlertState()))
        engine = AlertEngine(rs, AlertState())
        engine.add(S.batch_from_rows(rows), None, now=0.0)
        from_window = key(engine.current_alerts())
        assert 5 <= len(from_store)
        assert from_store == from_window


class TestWindowEnd:
    def test_future_rows_ignored(self, tmp_path: Path) -> None:
        """The default window end ignores times far beyond the wall clock."""
        con = store(tmp_path, [record(0), record(10 * 365 * 86400, host="skewed")])
        expected = record(0)[S.TS].timestamp()
        assert expected == newest(con, now=expected + 60).timestamp()  # type: ignore[union-attr]

    def test_loss_shortly_after_records_counts(self, tmp_path: Path) -> None:
        """A loss row 20 s after the last record moves the window end; one a day later does not."""
        con = store(
            tmp_path,
            [record(0)],
            [loss(20, S.LOSS_KERNEL_LOST, 3), loss(86400, S.LOSS_KERNEL_LOST, 3, host="x")],
        )
        assert 20.0 == newest(con).timestamp() - record(0)[S.TS].timestamp()  # type: ignore[union-attr]


class TestSamples:
    def test_bundled_samples(self, sample_store: duckdb.DuckDBPyConnection) -> None:
        """On the bundled logs (records only): db-01's dac_override, and web-01 silent since."""
        got = {(a.rule, a.labels.get("host")) for a in evaluate(sample_store, load_rules())}
        expected = {("sensitive-access", "db-01"), ("host-silent", "web-01")}
        assert expected <= got


class TestAlertOf:
    def test_takes_name_kind_and_severity_from_rule(self) -> None:
        """Alert.of copies the rule's name, kind and severity and keeps the facts it is given."""
        rule = AlertRule("burst", "threshold", severity="critical")
        alert = Alert.of(
            rule, {"host": "h"}, count=3, first_ms=1, last_ms=2, summary="s", detail={"x": 1}
        )
        expected = Alert("burst", "threshold", "critical", {"host": "h"}, 3, 1, 2, "s", {"x": 1})
        assert expected == alert

    def test_severity_override(self) -> None:
        """An explicit severity replaces the rule's."""
        rule = AlertRule("dead", "deadman", severity="critical")
        alert = Alert.of(
            rule, {}, count=0, first_ms=None, last_ms=None, summary="", detail={}, severity="info"
        )
        assert "info" == alert.severity


class TestErrors:
    def test_one_error_base(self) -> None:
        """Rule and window errors are JobsErrors and still ValueErrors (callers catch either)."""
        assert issubclass(AlertError, JobsError) and issubclass(AlertError, ValueError)
        assert issubclass(WindowError, JobsError) and issubclass(WindowError, ValueError)
        with pytest.raises(JobsError, match="min_count"):
            AlertRule("x", "threshold", min_count=0)
