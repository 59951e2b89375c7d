"""deploy/k8s as a multi-processor setup: two processors and the report share one lake."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from armorwatch.commands.process import ProcessConfig
from armorwatch.config import from_mapping, load_toml
from armorwatch.sinks.store import parse_spec
from tests.deploy.test_deploy import DEPLOY, manifests, parses, pod

K8S_PROCESSOR = DEPLOY / "k8s" / "processor.toml"


def processor_store() -> str:
    """The store of the processors' config (k8s/processor.toml), as the processor reads it."""
    data = load_toml(K8S_PROCESSOR)
    cfg = from_mapping(ProcessConfig, data["process"], "process.")
    return str(cfg.store.path)


def container(name: str) -> dict[str, Any]:
    return dict(pod(manifests()[name])["containers"][0])


def mounts(name: str) -> dict[str, str]:
    """mountPath → claim name of the PVC-backed volumes of ``name``'s pod."""
    spec = pod(manifests()[name])
    claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"]
        for v in spec["volumes"]
        if "persistentVolumeClaim" in v
    }
    return {
        m["mountPath"]: claims[m["name"]]
        for m in container(name)["volumeMounts"]
        if m["name"] in claims
    }


def password_env(name: str) -> dict[str, Any]:
    (env,) = [e for e in container(name).get("env", []) if e["name"] == "PGPASSWORD"]
    return dict(env)


class TestSharedLake:
    def test_processor_config_names_a_postgresql_store(self) -> None:
        """k8s/processor.toml loads into ProcessConfig and its store is a PostgreSQL-catalog
        lake on the armorwatch-postgres Service, with no password in the URL."""
        store = parse_spec(processor_store())
        assert "postgres" == store.kind
        assert "host='armorwatch-postgres' " in store.catalog
        assert "user='armorwatch'" in store.catalog
        assert "password" not in store.catalog

    def test_processor_config_is_the_shared_one_but_for_the_store(self) -> None:
        """k8s/processor.toml is deploy/config/processor.toml (systemd's, tested there) except
        its header comment and the store path: the two cannot drift apart."""
        shared = (DEPLOY / "config" / "processor.toml").read_text().splitlines()
        k8s = K8S_PROCESSOR.read_text().splitlines()
        body = lambda lines: lines[lines.index("[process]") :]  # noqa: E731
        changed = [(a, b) for a, b in zip(body(shared), body(k8s), strict=True) if a != b]
        assert 1 == len(changed)
        assert all(line.startswith("path = ") for line in changed[0])

    def test_two_replicas_of_one_consumer_group(self) -> None:
        """The Deployment runs two replicas of `process` with the config naming one group."""
        proc = manifests()["Deployment/armorwatch-processor"]
        args = container("Deployment/armorwatch-processor")["args"]
        cfg = from_mapping(ProcessConfig, load_toml(K8S_PROCESSOR)["process"], "process.")
        assert (2, "process", "/etc/armorwatch/processor.toml") == (
            proc["spec"]["replicas"],
            parses(args),
            args[args.index("--config") + 1],
        )
        assert "--group" not in args and cfg.kafka.group_id

    def test_data_path_is_on_the_shared_volume(self) -> None:
        """The lake's data path is on the ReadWriteMany claim every processor replica and the
        report CronJob mount at the same place."""
        data = parse_spec(processor_store()).data_path
        objs = manifests()
        claim = objs["PersistentVolumeClaim/armorwatch-store"]
        assert ["ReadWriteMany"] == claim["spec"]["accessModes"]
        for name in ("Deployment/armorwatch-processor", "CronJob/armorwatch-report"):
            (mount,) = [m for m, c in mounts(name).items() if c == "armorwatch-store"]
            assert data.startswith(mount.rstrip("/") + "/"), (name, mount, data)

    def test_report_reads_the_same_lake(self) -> None:
        """The report CronJob's --db is the processors' store URL."""
        args = container("CronJob/armorwatch-report")["args"]
        assert "report" == parses(args)
        assert (
            parse_spec(processor_store()).catalog
            == parse_spec(args[args.index("--db") + 1]).catalog
        )

    @pytest.mark.parametrize(
        "name", ["Deployment/armorwatch-processor", "CronJob/armorwatch-report"]
    )
    def test_catalog_password_comes_from_the_secret(self, name: str) -> None:
        """Clients get PGPASSWORD from the armorwatch-postgres Secret, never a literal."""
        env = password_env(name)
        assert "value" not in env
        assert {"name": "armorwatch-postgres", "key": "password"} == env["valueFrom"][
            "secretKeyRef"
        ]

    def test_catalog_server_reads_the_password_from_the_secret(self) -> None:
        """The StatefulSet's server takes its password from a file of the same Secret, and
        no manifest holds a password value."""
        name = "StatefulSet/armorwatch-postgres"
        env = {e["name"]: e.get("value") for e in container(name)["env"]}
        volumes = {v["name"]: v for v in pod(manifests()[name])["volumes"]}
        (secret,) = [v["secret"] for v in volumes.values() if "secret" in v]
        assert "armorwatch-postgres" == secret["secretName"]
        assert env["POSTGRES_PASSWORD_FILE"].startswith("/run/secrets/postgres/")
        assert "POSTGRES_PASSWORD" not in env
        for obj in manifests().values():
            text = yaml.safe_dump(obj).lower()
            assert "password: " not in text

    def test_service_selects_the_catalog_pods(self) -> None:
        """The Service armorwatch-postgres (the URL's host) selects the StatefulSet's pods."""
        objs = manifests()
        svc = objs["Service/armorwatch-postgres"]["spec"]
        labels = objs["StatefulSet/armorwatch-postgres"]["spec"]["template"]["metadata"]["labels"]
        assert svc["selector"].items() <= labels.items()
        assert [5432] == [p["port"] for p in svc["ports"]]

    @pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
    def test_kustomize_renders_the_k8s_processor_config(self, tmp_path: Path) -> None:
        """`kubectl kustomize deploy/` renders, and its ConfigMap's processor.toml is
        k8s/processor.toml."""
        out = subprocess.run(
            ["kubectl", "kustomize", str(DEPLOY)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        docs = [d for d in yaml.safe_load_all(out) if d]
        (cm,) = [d for d in docs if d["kind"] == "ConfigMap"]
        assert K8S_PROCESSOR.read_text() == cm["data"]["processor.toml"]
        assert {"StatefulSet", "Service", "Deployment", "CronJob", "DaemonSet"} <= {
            d["kind"] for d in docs
        }
