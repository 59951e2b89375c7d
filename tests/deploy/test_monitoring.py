"""deploy/monitoring: the PrometheusRule and the Grafana dashboard over armorwatch's metrics.

Every metric name they use must be one a real endpoint serves (scraped here over HTTP
from a ``MetricsServer`` with the profile-state poller and the components ``collect``
and ``process`` register); the PromQL is checked and the alerts are unit-tested with
``promtool`` when it is installed (Debian package ``prometheus``; or ``PROMTOOL=path``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from armorwatch import metrics as M
from armorwatch.ingest.collector import CollectorStats
from armorwatch.ingest.tail import TailStats
from armorwatch.parsers import schema as S
from armorwatch.profile_state import ProfileStatePoller
from armorwatch.sinks.webhook import WebhookStats

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
RULE = MONITORING / "prometheus-rule.yaml"
DASHBOARD = MONITORING / "grafana-dashboard.json"
# Our families all start with these; PromQL functions and labels never do.
METRIC = re.compile(r"\b(?:apparmor|armorwatch)_[a-z0-9_]+\b")
TS = datetime(2025, 11, 23, 12, 0, tzinfo=UTC)


def rule_doc() -> dict[str, Any]:
    """The PrometheusRule manifest."""
    doc = yaml.safe_load(RULE.read_text())
    assert isinstance(doc, dict)
    return doc


def rules() -> list[dict[str, Any]]:
    """Every rule of every group."""
    return [r for g in rule_doc()["spec"]["groups"] for r in g["rules"]]


def dashboard_exprs() -> list[str]:
    """The PromQL of every dashboard panel target and query variable."""
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    for var in dash["templating"]["list"]:
        if var["type"] == "query":
            exprs.append(var["definition"])
    return exprs


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Sample names a real endpoint serves, with every component ``collect``/``process``
    adds, the profile-state poller, and the record counter fed one denial and one loss."""
    root = tmp_path_factory.mktemp("apparmor")
    (root / "profiles").write_text("/usr/sbin/nginx (enforce)\n")
    poller = ProfileStatePoller(root)
    assert poller.poll()
    srv = M.MetricsServer("127.0.0.1:0")
    try:
        srv.registry.register(poller)
        srv.add("collector", SimpleNamespace(stats=CollectorStats()))
        srv.add("source", SimpleNamespace(stats=TailStats()), name="auditd")
        srv.add("webhook", SimpleNamespace(stats=WebhookStats()))
        row = {
            S.TS: TS,
            S.HOST: "web-01",
            S.SOURCE: S.SOURCE_AUDITLOG,
            S.LSM: S.LSM_APPARMOR,
            S.APPARMOR: S.AA_DENIED,
            S.PROFILE: "/usr/sbin/nginx",
            S.CLASS: "file",
        }
        loss = {
            S.TS: TS,
            S.HOST: "web-01",
            S.SOURCE: S.SOURCE_AUDITLOG,
            S.KIND: S.LOSS_KERNEL_LOST,
            S.COUNT: 3,
        }
        srv.records.count(S.batch_from_rows([row]), S.batch_from_rows([loss], S.LOSS_SCHEMA))
        text = httpx.get(f"http://127.0.0.1:{srv.port}/metrics", timeout=10).text
    finally:
        srv.close()
    return {s.name for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_prometheus_rule_shape() -> None:
    """A PrometheusRule whose alerts have unique names, a severity and a summary."""
    doc = rule_doc()
    assert "monitoring.coreos.com/v1" == doc["apiVersion"]
    assert "PrometheusRule" == doc["kind"]
    names = [r["alert"] for r in rules()]
    assert len(names) == len(set(names))
    for r in rules():
        assert r["labels"]["severity"] in {"info", "warning", "critical"}, r["alert"]
        assert r["annotations"]["summary"], r["alert"]
    # The four the issue asks for.
    assert {
        "AppArmorViolations",
        "AppArmorProfileNotLoaded",
        "ArmorwatchHostSilent",
        "ArmorwatchRecordsLost",
    } <= set(names)


def test_rule_metric_names_are_exported(exported: set[str]) -> None:
    """Every metric an alert reads is served by armorwatch (apparmor_violations_total too)."""
    for r in rules():
        used = set(METRIC.findall(r["expr"]))
        assert used, r["alert"]
        assert used <= exported, (r["alert"], sorted(used - exported))


def test_dashboard_metric_names_are_exported(exported: set[str]) -> None:
    """Every metric a dashboard panel or variable reads is served by armorwatch."""
    exprs = dashboard_exprs()
    assert len(exprs) >= 10
    for expr in exprs:
        used = set(METRIC.findall(expr))
        assert used, expr
        assert used <= exported, (expr, sorted(used - exported))


def test_dashboard_shape() -> None:
    """A Grafana dashboard: unique panel ids, a datasource variable every target uses."""
    dash = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    assert "datasource" in {v["name"] for v in dash["templating"]["list"]}
    for p in dash["panels"]:
        for t in p.get("targets", []):
            assert "${datasource}" == t["datasource"]["uid"], p["title"]
        pos = p["gridPos"]
        assert pos["x"] + pos["w"] <= 24, p["title"]


@pytest.fixture(scope="module")
def promtool() -> str:
    """The promtool binary, or a skip saying how to get it."""
    # make puts one beside the venv's python (extracted from Debian's prometheus package).
    beside = Path(sys.executable).with_name("promtool")
    path = (
        os.environ.get("PROMTOOL")
        or shutil.which("promtool")
        or (str(beside) if beside.is_file() else None)
    )
    if not path:
        pytest.skip("promtool not installed (make setup, apt-get install prometheus, "
                    "or PROMTOOL=path)")
    return path


def run_promtool(promtool: str, *args: str) -> str:
    """Run promtool; fail with its output unless it exits 0."""
    done = subprocess.run(
        [promtool, *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert 0 == done.returncode, done.stdout + done.stderr
    return done.stdout


def test_promtool_checks_rules(promtool: str, tmp_path: Path) -> None:
    """`promtool check rules` accepts the rule groups (PromQL, durations, templates)."""
    path = tmp_path / "armorwatch.rules.yaml"
    path.write_text(yaml.safe_dump(rule_doc()["spec"]))
    out = run_promtool(promtool, "check", "rules", str(path))
    assert f"SUCCESS: {len(rules())} rules found" in out


def test_promtool_checks_dashboard_queries(promtool: str, tmp_path: Path) -> None:
    """Every dashboard query parses as PromQL (Grafana's variables substituted)."""
    exprs = [
        e.replace("$__rate_interval", "5m").replace("$instance", ".*")
        for e in dashboard_exprs()
        if not e.startswith("label_values(")  # Grafana's function, not PromQL
    ]
    group = {
        "name": "dashboard",
        "rules": [{"record": f"dashboard:q{i}", "expr": e} for i, e in enumerate(exprs)],
    }
    path = tmp_path / "dashboard.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [group]}))
    run_promtool(promtool, "check", "rules", str(path))


def alert(**labels: str) -> dict[str, Any]:
    """One expected alert of a promtool unit test (job aw)."""
    return {"exp_labels": {"job": "aw", **labels}}


def series(metric: str, values: str, **labels: str) -> dict[str, str]:
    """One input series of a promtool unit test (job aw)."""
    inner = ",".join(f'{k}="{v}"' for k, v in {"job": "aw", **labels}.items())
    return {"series": f"{metric}{{{inner}}}", "values": values}


def case(at: str, name: str, *alerts: dict[str, Any]) -> dict[str, Any]:
    """Expect exactly ``alerts`` firing for ``name`` at ``at``."""
    return {"eval_time": at, "alertname": name, "exp_alerts": list(alerts)}


def unit_test() -> dict[str, Any]:
    """Six hosts, each showing one condition, over two hours of one-minute samples."""
    loaded = "apparmor_profile_loaded"
    return {
        "interval": "1m",
        "input_series": [
            # h1: nginx denies; cupsd unloaded at 30m; sshd enforce → complain at 30m.
            series("apparmor_violations_total", "0+60x120", instance="h1",
                   profile="nginx", **{"class": "file"}),
            series("armorwatch_profile_state_up", "1x120", instance="h1"),
            series(loaded, "1x120", instance="h1", namespace="root",
                   profile="armorwatch-collector", mode="enforce"),
            series(loaded, "1x30 _x90", instance="h1", namespace="root", profile="cupsd",
                   mode="enforce"),
            series(loaded, "1x30 _x90", instance="h1", namespace="root", profile="sshd",
                   mode="enforce"),
            series(loaded, "_x30 1x90", instance="h1", namespace="root", profile="sshd",
                   mode="complain"),
            series("armorwatch_collector_bytes_total", "0+100x120", instance="h1",
                   component="collector"),
            series("armorwatch_loss_total", "0x20 7x100", instance="h1", source="auditd",
                   kind="kernel_lost"),
            # h2: securityfs unreadable; a profile vanishing there is not alerted on.
            series("armorwatch_profile_state_up", "1x10 0x110", instance="h2"),
            series(loaded, "1x10 _x110", instance="h2", namespace="root", profile="x",
                   mode="enforce"),
            # h3: the collector's own profile is not loaded.
            series("armorwatch_profile_state_up", "1x120", instance="h3"),
            # h4: the collector stops being scraped at 30m.
            series("armorwatch_collector_bytes_total", "0+100x30 _x90", instance="h4",
                   component="collector"),
            # h5: scraped, but reads nothing.
            series("armorwatch_collector_bytes_total", "100x120", instance="h5",
                   component="collector"),
            # p1: a processor whose webhook fails once at 20m.
            series("armorwatch_webhook_failures_total", "0x20 1x100", instance="p1",
                   component="webhook"),
        ],
        "alert_rule_test": [
            case("25m", "ArmorwatchRecordsLost",
                 alert(instance="h1", source="auditd", kind="kernel_lost",
                       severity="warning")),
            case("50m", "ArmorwatchRecordsLost"),
            case("25m", "ArmorwatchWebhookFailing",
                 alert(instance="p1", severity="warning")),
            case("5m", "AppArmorViolations"),
            case("50m", "AppArmorViolations",
                 alert(instance="h1", profile="nginx", severity="warning")),
            case("50m", "AppArmorProfileNotLoaded",
                 alert(instance="h1", namespace="root", profile="cupsd",
                       severity="critical")),
            case("50m", "AppArmorProfileLeftEnforce",
                 alert(instance="h1", namespace="root", profile="sshd",
                       severity="warning")),
            case("50m", "ArmorwatchCollectorProfileNotEnforced",
                 alert(instance="h3", severity="warning")),
            case("50m", "ArmorwatchProfileStateUnreadable",
                 alert(instance="h2", severity="warning")),
            case("50m", "ArmorwatchHostSilent",
                 alert(instance="h4", severity="critical")),
            case("110m", "ArmorwatchHostSilent",
                 alert(instance="h4", severity="critical")),
            case("50m", "ArmorwatchHostStale",
                 alert(instance="h5", severity="warning")),
        ],
    }  # fmt: skip


def quiet_host_test() -> dict[str, Any]:
    """Five-minute samples over two days: one host's newest record stays at time 0."""
    return {
        "interval": "5m",
        "input_series": [
            # Event times in seconds since the epoch, as the gauge holds them.
            {"series": 'armorwatch_last_record_timestamp_seconds{host="h6",source="auditd"}',
             "values": "0x576"},
            {"series": 'armorwatch_last_record_timestamp_seconds{host="h7",source="auditd"}',
             "values": "0+300x576"},
        ],
        "alert_rule_test": [
            case("12h", "ArmorwatchHostNoRecords"),
            case("30h", "ArmorwatchHostNoRecords",
                 {"exp_labels": {"host": "h6", "severity": "info"}}),
        ],
    }  # fmt: skip


def test_promtool_alert_unit_tests(promtool: str, tmp_path: Path) -> None:
    """Each alert fires for the host showing its condition, and for no other."""
    spec = rule_doc()["spec"]
    for g in spec["groups"]:
        for r in g["rules"]:
            r.pop("annotations", None)  # the unit test checks expressions and labels
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(spec))
    test = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [unit_test(), quiet_host_test()],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test))
    out = run_promtool(promtool, "test", "rules", str(tmp_path / "test.yaml"))
    assert "SUCCESS" in out


def test_every_alert_has_a_unit_test() -> None:
    """No alert in the rule file goes without a promtool case."""
    cases = [*unit_test()["alert_rule_test"], *quiet_host_test()["alert_rule_test"]]
    tested = {c["alertname"] for c in cases}
    assert {r["alert"] for r in rules()} == tested
