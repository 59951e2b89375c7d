"""deploy/: systemd units, Kubernetes manifests, example configs, the AppArmor profile."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from armorwatch.cli import build_parser
from armorwatch.commands.collect import CollectConfig
from armorwatch.commands.process import ProcessConfig
from armorwatch.config import from_mapping, load_toml
from armorwatch.jobs.report import ReportConfig

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SERVICES = sorted((DEPLOY / "systemd").glob("*.service"))
PROFILE = DEPLOY / "apparmor" / "armorwatch-collector"
BINARY = "/opt/armorwatch/bin/armorwatch"


def unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A unit file as {section: [(key, value), ...]} (keys may repeat, as in systemd)."""
    out: dict[str, list[tuple[str, str]]] = {}
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            out.setdefault(section, [])
            continue
        key, _, value = line.partition("=")
        out[section].append((key.strip(), value.strip()))
    return out


def values(path: Path, key: str, section: str = "Service") -> list[str]:
    """Every value of ``key`` in ``section``."""
    return [v for k, v in unit(path).get(section, []) if k == key]


def parses(argv: list[str]) -> str:
    """The subcommand armorwatch's own parser makes of ``argv`` (fails on unknown flags)."""
    args = build_parser().parse_args(argv)
    return str(args.command)


class TestSystemd:
    def test_three_services_and_a_timer(self) -> None:
        """Collector, processor and report services exist, with a nightly timer."""
        names = sorted(p.name for p in (DEPLOY / "systemd").iterdir())
        assert [
            "armorwatch-collector.service",
            "armorwatch-processor.service",
            "armorwatch-report.service",
            "armorwatch-report.timer",
        ] == names

    @pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
    def test_hardening(self, path: Path) -> None:
        """Every service runs unprivileged on a read-only system with no capabilities."""
        expected = {
            "NoNewPrivileges": ["yes"],
            "CapabilityBoundingSet": [""],
            "ProtectSystem": ["strict"],
            "ProtectHome": ["yes"],
            "PrivateTmp": ["yes"],
            "PrivateDevices": ["yes"],
            "User": ["armorwatch"],
        }
        assert expected == {k: values(path, k) for k in expected}

    @pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
    def test_exec_start_is_a_real_command_line(self, path: Path) -> None:
        """ExecStart parses with armorwatch's own CLI parser (no unknown flag)."""
        (exec_start,) = values(path, "ExecStart")
        argv = shlex.split(exec_start)
        assert BINARY == argv[0]
        expected = path.stem.removeprefix("armorwatch-").replace("collector", "collect")
        assert expected.replace("processor", "process") == parses(argv[1:])

    def test_collector_reads_logs_read_only_under_its_profile(self) -> None:
        """The collector sees /var/log read-only, runs confined, gets its secret as a credential."""
        path = DEPLOY / "systemd" / "armorwatch-collector.service"
        assert (["/var/log"], ["armorwatch-collector"], ["armorwatch"]) == (
            values(path, "ReadOnlyPaths"),
            values(path, "AppArmorProfile"),
            values(path, "StateDirectory"),
        )
        assert ["kafka-password:/etc/armorwatch/credentials/kafka-password"] == values(
            path, "LoadCredential"
        )

    def test_timer_is_nightly_and_persistent(self) -> None:
        """The timer fires daily and catches up after downtime."""
        timer = DEPLOY / "systemd" / "armorwatch-report.timer"
        assert (["*-*-* 06:00:00 UTC"], ["yes"], ["armorwatch-report.service"]) == (
            values(timer, "OnCalendar", "Timer"),
            values(timer, "Persistent", "Timer"),
            values(timer, "Unit", "Timer"),
        )


@pytest.fixture
def verifiable_units(tmp_path: Path) -> Iterator[Path]:
    """The units with ExecStart pointed at an existing binary, as systemd-analyze requires."""
    binary = shutil.which("true") or "/bin/true"
    for path in (DEPLOY / "systemd").iterdir():
        (tmp_path / path.name).write_text(path.read_text().replace(BINARY, binary))
    yield tmp_path


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
class TestSystemdAnalyze:
    def test_units_verify_cleanly(self, verifiable_units: Path) -> None:
        """systemd-analyze verify finds no unknown key or bad value in any unit."""
        files = sorted(str(p) for p in verifiable_units.iterdir())
        run = subprocess.run(
            ["systemd-analyze", "verify", *files], capture_output=True, text=True, timeout=60
        )
        complaints = [ln for ln in run.stderr.splitlines() if str(verifiable_units) in ln]
        assert (0, []) == (run.returncode, complaints)

    @pytest.mark.parametrize("name", [p.name for p in SERVICES])
    def test_exposure_is_low(self, verifiable_units: Path, name: str) -> None:
        """systemd-analyze security rates every service's exposure 2.0 or lower ("OK")."""
        run = subprocess.run(
            ["systemd-analyze", "security", "--offline=yes", str(verifiable_units / name)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", run.stdout)
        assert m is not None, run.stdout + run.stderr
        assert float(m.group(1)) <= 2.0


def manifests() -> dict[str, dict[str, Any]]:
    """Every Kubernetes object in deploy/k8s, keyed by kind/name."""
    out = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            out[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return out


def pod(obj: dict[str, Any]) -> dict[str, Any]:
    """The pod spec of a DaemonSet, Deployment or CronJob."""
    if obj["kind"] == "CronJob":
        return dict(obj["spec"]["jobTemplate"]["spec"]["template"]["spec"])
    return dict(obj["spec"]["template"]["spec"])


class TestKubernetes:
    def test_objects(self) -> None:
        """A collector DaemonSet, a processor Deployment, a report CronJob, their shared
        volume and the lake's PostgreSQL catalog (StatefulSet + Service)."""
        assert {
            "Namespace/armorwatch",
            "DaemonSet/armorwatch-collector",
            "Deployment/armorwatch-processor",
            "PersistentVolumeClaim/armorwatch-store",
            "CronJob/armorwatch-report",
            "StatefulSet/armorwatch-postgres",
            "Service/armorwatch-postgres",
        } == set(manifests())

    def test_collector_host_paths_are_read_only(self) -> None:
        """Audit log, journal and machine-id are read-only; only the state dir is writable."""
        spec = pod(manifests()["DaemonSet/armorwatch-collector"])
        host_paths = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"] if "hostPath" in v}
        mounts = {
            m["name"]: m.get("readOnly", False) for m in spec["containers"][0]["volumeMounts"]
        }
        writable = sorted(host_paths[n] for n in host_paths if not mounts[n])
        assert ["/var/lib/armorwatch"] == writable
        assert {"/var/log/audit", "/var/log/journal", "/run/log/journal", "/etc/machine-id"} <= set(
            host_paths.values()
        )

    @pytest.mark.parametrize(
        "name",
        [
            "DaemonSet/armorwatch-collector",
            "Deployment/armorwatch-processor",
            "CronJob/armorwatch-report",
            "StatefulSet/armorwatch-postgres",
        ],
    )
    def test_restricted_security_context(self, name: str) -> None:
        """Non-root, no privilege escalation, read-only root, no capabilities, seccomp on."""
        spec = pod(manifests()[name])
        ctx = spec["containers"][0]["securityContext"]
        assert (True, "RuntimeDefault", False, True, ["ALL"], False) == (
            spec["securityContext"]["runAsNonRoot"],
            spec["securityContext"]["seccompProfile"]["type"],
            ctx["allowPrivilegeEscalation"],
            ctx["readOnlyRootFilesystem"],
            ctx["capabilities"]["drop"],
            spec["automountServiceAccountToken"],
        )

    def test_collector_runs_under_its_apparmor_profile(self) -> None:
        """The DaemonSet asks for the node-local armorwatch-collector profile."""
        spec = pod(manifests()["DaemonSet/armorwatch-collector"])
        assert {"type": "Localhost", "localhostProfile": "armorwatch-collector"} == spec[
            "securityContext"
        ]["appArmorProfile"]

    @pytest.mark.parametrize(
        ("name", "command"),
        [
            ("DaemonSet/armorwatch-collector", "collect"),
            ("Deployment/armorwatch-processor", "process"),
            ("CronJob/armorwatch-report", "report"),
        ],
    )
    def test_args_are_real_command_lines(self, name: str, command: str) -> None:
        """Container args parse with armorwatch's own CLI parser."""
        assert command == parses(pod(manifests()[name])["containers"][0]["args"])

    @pytest.mark.parametrize(
        "name", ["DaemonSet/armorwatch-collector", "Deployment/armorwatch-processor"]
    )
    def test_metrics_port_is_the_one_scraped(self, name: str) -> None:
        """--metrics-addr, the metrics containerPort and the scrape annotation name one port."""
        obj = manifests()[name]
        container = pod(obj)["containers"][0]
        args = container["args"]
        listen = int(args[args.index("--metrics-addr") + 1].rsplit(":", 1)[1])
        (port,) = [p["containerPort"] for p in container["ports"] if p["name"] == "metrics"]
        annotated = int(obj["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"])
        assert (listen, listen) == (port, annotated)

    def test_two_processors_and_no_overlapping_reports(self) -> None:
        """Two processor replicas (one lake, PostgreSQL catalog) rolled one at a time;
        reports never overlap."""
        objs = manifests()
        proc = objs["Deployment/armorwatch-processor"]["spec"]
        cron = objs["CronJob/armorwatch-report"]["spec"]
        assert (2, "RollingUpdate", "Forbid") == (
            proc["replicas"],
            proc["strategy"]["type"],
            cron["concurrencyPolicy"],
        )

    def test_kustomization_files_exist(self) -> None:
        """kustomization.yaml names only files that exist (its ConfigMap is deploy/config
        and k8s/processor.toml, a ``key=path`` entry)."""
        k = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
        generated = [f.split("=")[-1] for g in k["configMapGenerator"] for f in g["files"]]
        files = k["resources"] + generated
        assert [] == [f for f in files if not (DEPLOY / f).is_file()]


CONFIGS = [
    ("collector.toml", CollectConfig, "collect"),
    ("processor.toml", ProcessConfig, "process"),
    ("report.toml", ReportConfig, "report"),
]


class TestConfigs:
    @pytest.mark.parametrize(("name", "cls", "table"), CONFIGS, ids=[c[0] for c in CONFIGS])
    def test_loads_into_the_real_config(self, name: str, cls: type, table: str) -> None:
        """Each example loads into its dataclass with no unknown key."""
        data = load_toml(DEPLOY / "config" / name)
        assert [table] == list(data)
        assert isinstance(from_mapping(cls, data[table], f"{table}."), cls)

    @pytest.mark.parametrize(("name", "cls", "table"), CONFIGS, ids=[c[0] for c in CONFIGS])
    def test_every_key_is_commented(self, name: str, cls: type, table: str) -> None:
        """Every setting has a comment right above it or on its line."""
        lines = (DEPLOY / "config" / name).read_text().splitlines()
        bare = [
            line
            for prev, line in zip(["#", *lines], lines, strict=False)
            if re.match(r"^[a-z_]+ = ", line) and not prev.startswith("#") and "#" not in line
        ]
        assert [] == bare

    def test_no_secret_values(self) -> None:
        """Passwords are referenced by file or environment variable, never written inline."""
        for path in (DEPLOY / "config").glob("*.toml"):
            active = [ln for ln in path.read_text().splitlines() if not ln.startswith("#")]
            assert [] == [ln for ln in active if re.match(r"^\s*\w*(password|secret)\s*=", ln)]


def compile_profile(path: Path) -> subprocess.CompletedProcess[str]:
    """apparmor_parser -Q -K: compile only, no kernel load, no cache."""
    parser = shutil.which("apparmor_parser") or "/sbin/apparmor_parser"
    return subprocess.run(
        [parser, "-Q", "-K", str(path)], capture_output=True, text=True, timeout=120
    )


def rules(text: str) -> list[str]:
    """The rule lines of a profile (comments and blank lines dropped)."""
    return [ln.split("#", 1)[0].strip() for ln in text.splitlines() if ln.split("#", 1)[0].strip()]


class TestAppArmorProfile:
    @pytest.mark.integration
    @pytest.mark.skipif(
        shutil.which("apparmor_parser") is None and not Path("/sbin/apparmor_parser").exists(),
        reason="apparmor_parser missing",
    )
    def test_compiles(self, tmp_path: Path) -> None:
        """The profile compiles with apparmor_parser -Q -K; a broken copy does not."""
        assert (0, "") == (compile_profile(PROFILE).returncode, "")
        broken = tmp_path / "broken"
        broken.write_text(
            PROFILE.read_text().replace("network inet stream,", "network inet stream")
        )
        assert 0 != compile_profile(broken).returncode

    def test_enforce_mode(self) -> None:
        """No complain, kill or unconfined flag: the profile enforces."""
        assert [] == re.findall(r"flags\s*=\s*\([^)]*(complain|unconfined)", PROFILE.read_text())

    def test_writes_only_its_state_dir(self) -> None:
        """Every allow rule with w/a/k permission is under /var/lib/armorwatch."""
        writing = [
            r
            for r in rules(PROFILE.read_text())
            if re.fullmatch(r"(owner\s+)?[/@]\S*\s+[a-z]*[wak][a-z]*,", r)
        ]
        assert [] != writing
        assert [] == [r for r in writing if not r.startswith("/var/lib/armorwatch/")]

    def test_denies_shell_ptrace_and_secrets(self) -> None:
        """Shells, tracing, /etc/shadow and mounts are explicitly denied."""
        text = "\n".join(rules(PROFILE.read_text()))
        for rule in (
            "deny /{usr/,}bin/{,ba,da,z,k,c,tc,fi,mk,pdk}sh x,",
            "deny ptrace (trace),",
            "deny capability sys_ptrace,",
            "deny /etc/{shadow,gshadow}{,-} r,",
            "deny mount,",
        ):
            assert rule in text

    def test_network_is_tcp_only(self) -> None:
        """The only network rules allow TCP (brokers, metrics); journalctl gets none."""
        net = [r for r in rules(PROFILE.read_text()) if r.startswith(("network", "deny network"))]
        assert ["network inet stream,", "network inet6 stream,", "deny network,"] == net
