"""The shipped pod-attribution deployment: the DaemonSet's mounts, the kustomize component."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from armorwatch.assembly import settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPONENT = DEPLOY / "k8s" / "attribution"


def collector_pod() -> dict[str, Any]:
    doc = yaml.safe_load((DEPLOY / "k8s" / "collector-daemonset.yaml").read_text())
    return dict(doc["spec"]["template"]["spec"])


def test_component_config_is_the_base_plus_the_kubernetes_table() -> None:
    """The component's collector.toml is deploy/config's, byte for byte, plus one table."""
    base = (DEPLOY / "config" / "collector.toml").read_text()
    ours = (COMPONENT / "collector.toml").read_text()
    assert ours.startswith(base)
    assert "[collect.kubernetes]" in ours[len(base) :]
    k = settings.load(COMPONENT / "collector.toml").collect.kubernetes
    assert k is not None
    assert (k.proc_root, k.kubelet_url_env) == (Path("/host/proc"), "KUBELET_URL")


def test_daemonset_mounts_host_proc_read_only_and_names_the_kubelet() -> None:
    """/proc of the host at the config's proc_root, read-only; KUBELET_URL from hostIP."""
    spec = collector_pod()
    k = settings.load(COMPONENT / "collector.toml").collect.kubernetes
    assert k is not None
    volumes = {v["name"]: v for v in spec["volumes"]}
    (mount,) = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "host-proc"]
    assert volumes["host-proc"]["hostPath"]["path"] == "/proc"
    assert (Path(mount["mountPath"]), mount["readOnly"]) == (k.proc_root, True)
    env = {e["name"]: e for e in spec["containers"][0]["env"]}
    assert env["HOST_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.hostIP"
    assert env["KUBELET_URL"]["value"] == "https://$(HOST_IP):10250"


def test_component_token_is_where_the_config_reads_it() -> None:
    """The patch projects the token and CA into the folder token_file and ca_file name."""
    k = settings.load(COMPONENT / "collector.toml").collect.kubernetes
    assert k is not None and k.token_file is not None and k.ca_file is not None
    patch = yaml.safe_load((COMPONENT / "daemonset-patch.yaml").read_text())
    spec = patch["spec"]["template"]["spec"]
    (mount,) = spec["containers"][0]["volumeMounts"]
    assert Path(mount["mountPath"]) == k.token_file.parent == k.ca_file.parent
    rbac = list(yaml.safe_load_all((COMPONENT / "rbac.yaml").read_text()))
    sa = next(d for d in rbac if d["kind"] == "ServiceAccount")
    assert spec["serviceAccountName"] == sa["metadata"]["name"]
    role = next(d for d in rbac if d["kind"] == "ClusterRole")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["nodes/pods"], "verbs": ["get"]}]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl missing")
def test_component_renders_with_kustomize(tmp_path: Path) -> None:
    """deploy/ with the component turned on renders: the collector runs as its account."""
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy)
    with (copy / "kustomization.yaml").open("a") as f:
        f.write("components:\n  - k8s/attribution\n")
    out = subprocess.run(
        ["kubectl", "kustomize", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    docs = {f"{d['kind']}/{d['metadata']['name']}": d for d in yaml.safe_load_all(out.stdout)}
    ds = docs["DaemonSet/armorwatch-collector"]["spec"]["template"]["spec"]
    assert ds["serviceAccountName"] == "armorwatch-collector"
    assert ds["automountServiceAccountToken"] is False
    (cm,) = [d for k, d in docs.items() if k.startswith("ConfigMap/armorwatch-config")]
    assert "[collect.kubernetes]" in cm["data"]["collector.toml"]
    assert "ClusterRoleBinding/armorwatch-kubelet-pods" in docs
