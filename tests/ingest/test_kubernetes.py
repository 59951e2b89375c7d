"""Kubernetes attribution: a fake /proc tree, a real kubelet on 127.0.0.1, the store."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from armorwatch.assembly import settings
from armorwatch.cli import main
from armorwatch.config import ConfigError
from armorwatch.ingest.kubernetes import (
    AttributingSink,
    KubeletClient,
    KubeletError,
    KubernetesConfig,
    KubernetesEnricher,
    ProcReader,
    cgroup_ids,
    container_id,
    pod_index,
)
from armorwatch.metrics import StatsCollector
from armorwatch.parsers import schema as S
from armorwatch.parsers.envelope import Envelope
from armorwatch.sinks.store import open_store

PODS_JSON = Path(__file__).with_name("kubelet_pods.json")
TICKS = os.sysconf("SC_CLK_TCK")
BTIME = 1_796_000_000  # boot, epoch seconds
RECORD_TS = dt.datetime.fromtimestamp(BTIME + 5000, dt.UTC)
HOST = "node-a"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.s3cr3t-token-value"

# container ids of tests/ingest/kubelet_pods.json
NGINX = "3f1c9a0e5b7d4e2f8a6c1b9d0e7f3a5c2b8d4e6f1a0c9b7d5e3f2a1c8b6d4e0f"
WEB_INIT = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d"
SHIPPER = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809"
API = "c0ffee00c0ffee11c0ffee22c0ffee33c0ffee44c0ffee55c0ffee66c0ffee77"
MIGRATE = "deadbeef00112233445566778899aabbccddeeff00112233445566778899aabb"
METRICS = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
UNLISTED = "f" * 64

POD_UID = "4c1b7f5e_2a9d_4e3b_9c8a_1f2e3d4c5b6a"  # the web pod's, as systemd spells it
OTHER_POD_UID = "00000000_1111_2222_3333_444444444444"


def cgroup_v2_containerd(cid: str, pod_uid: str = POD_UID) -> str:
    """What /proc/PID/cgroup holds for a containerd container (systemd driver, cgroup v2)."""
    return (
        "0::/kubepods.slice/kubepods-burstable.slice/"
        f"kubepods-burstable-pod{pod_uid}.slice/cri-containerd-{cid}.scope\n"
    )


class FakeProc:
    """A /proc tree as the kernel shows it: stat with btime, <pid>/stat and <pid>/cgroup."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        (root / "stat").write_text(
            "cpu  1 2 3 4 5 6 7 0 0 0\nctxt 12345\n"
            f"btime {BTIME}\nprocesses 4242\nprocs_running 1\n"
        )

    def add(self, pid: int, cgroup: str, started_after_boot_s: float = 100.0) -> None:
        """A running process ``pid`` in ``cgroup`` that started that long after boot."""
        d = self.root / str(pid)
        d.mkdir(exist_ok=True)
        start = int(started_after_boot_s * TICKS)
        rest = ["S", "1", str(pid), str(pid), "0", "-1", "4194560"] + ["0"] * 12 + [str(start)]
        rest += ["12345678", "345"] + ["0"] * 30
        (d / "stat").write_text(f"{pid} (nginx: worker) " + " ".join(rest) + "\n")
        (d / "cgroup").write_text(cgroup)


@dataclass
class Kubelet:
    """A kubelet pods endpoint on 127.0.0.1: serves ``body`` with ``status``."""

    body: bytes
    status: int = 200
    trickle_s: float = 0.0
    """When > 0: the body goes 16 bytes at a time, this long apart (a stuck kubelet)."""
    requests: list[dict[str, str]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def kubelet() -> Iterator[Kubelet]:
    state = Kubelet(PODS_JSON.read_bytes())

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append({"path": self.path, **dict(self.headers)})
            body = state.body if self.path == "/pods" else b"404 page not found"
            code = state.status if self.path == "/pods" else 404
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not state.trickle_s:
                self.wfile.write(body)
                return
            try:
                for i in range(0, len(body), 16):
                    self.wfile.write(body[i : i + 16])
                    self.wfile.flush()
                    time.sleep(state.trickle_s)
            except OSError:  # the client gave up
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def proc(tmp_path: Path) -> FakeProc:
    p = FakeProc(tmp_path / "proc")
    p.add(101, cgroup_v2_containerd(NGINX))
    p.add(102, cgroup_v2_containerd(WEB_INIT))
    p.add(103, cgroup_v2_containerd(SHIPPER))
    p.add(201, f"0::/kubepods/besteffort/pod7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d/{API}\n")
    p.add(202, cgroup_v2_containerd(MIGRATE))
    p.add(203, cgroup_v2_containerd(METRICS))
    p.add(300, "0::/system.slice/cron.service\n")
    # a container of a pod the kubelet does not list
    p.add(400, cgroup_v2_containerd(UNLISTED, pod_uid=OTHER_POD_UID))
    # a container of the web pod whose id the pod's status does not list yet
    p.add(600, cgroup_v2_containerd(UNLISTED[:-1] + "e"))
    # pid 500 ran a container process at the record's time; that one exited and the
    # pid now runs a process started 2 hours after the record
    p.add(500, cgroup_v2_containerd(NGINX), started_after_boot_s=5000 + 7200)
    return p


def config(tmp_path: Path, url: str, **kw: Any) -> KubernetesConfig:
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    return KubernetesConfig(kubelet_url=url, token_file=token, proc_root=tmp_path / "proc", **kw)


def batch(pids: list[int | None], host: str | None = HOST) -> pa.RecordBatch:
    rows = [
        {S.TS: RECORD_TS, S.SERIAL: i, S.HOST: host, S.PID: pid, S.PROFILE: "k8s-web-nginx",
         S.APPARMOR: S.AA_DENIED, S.RAW: f"rec {i}".encode()}
        for i, pid in enumerate(pids)
    ]  # fmt: skip
    return S.batch_from_rows(rows)


def column(b: pa.RecordBatch, name: str) -> list[Any]:
    return b.column(name).to_pylist()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class TestCgroup:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (cgroup_v2_containerd(NGINX), NGINX),
            # CRI-O, cgroup v2, systemd driver
            (f"0::/kubepods.slice/kubepods-pod{POD_UID}.slice/crio-{API}.scope\n", API),
            # Docker (dockershim / cri-dockerd), cgroup v1, systemd driver
            (
                f"12:pids:/kubepods.slice/kubepods-besteffort.slice/docker-{API}.scope\n"
                f"11:memory:/kubepods.slice/kubepods-besteffort.slice/docker-{API}.scope\n"
                f"0::/kubepods.slice/kubepods-besteffort.slice/docker-{API}.scope\n",
                API,
            ),
            # cgroupfs driver, v1: /kubepods/<qos>/pod<uid>/<id>
            (
                f"5:cpuset:/kubepods/burstable/pod4c1b7f5e-2a9d-4e3b-9c8a-1f2e3d4c5b6a/{MIGRATE}\n",
                MIGRATE,
            ),
            # containerd's systemd driver on cgroup v1
            (
                "4:devices:/system.slice/containerd.service/"
                f"kubepods-burstable-pod{POD_UID}.slice:cri-containerd:{METRICS}\n",
                METRICS,
            ),
            # seen from inside a private cgroup namespace: relative, still the same scope
            (f"0::/../../kubepods-besteffort-pod{POD_UID}.slice/cri-containerd-{API}.scope\n", API),
            # a process in a sub-cgroup of the container (systemd inside the container)
            (f"0::/kubepods.slice/cri-containerd-{API}.scope/init.scope\n", API),
            ("0::/system.slice/sshd.service\n", None),
            ("0::/user.slice/user-1000.slice/session-3.scope\n", None),
            # CRI-O's conmon monitors a container from outside it: no container
            (f"0::/kubepods.slice/kubepods-pod{POD_UID}.slice/crio-conmon-{API}.scope\n", None),
            ("", None),
        ],
    )
    def test_container_id_of_each_runtime_and_driver(self, text: str, expected: str | None) -> None:
        """The container id is found in the cgroup path forms of containerd, CRI-O, Docker."""
        assert expected == container_id(text)

    @pytest.mark.parametrize(
        "text",
        [
            cgroup_v2_containerd(API),
            f"5:cpuset:/kubepods/burstable/pod{POD_UID.replace('_', '-')}/{API}\n",
            "4:devices:/system.slice/containerd.service/"
            f"kubepods-burstable-pod{POD_UID}.slice:cri-containerd:{API}\n",
            f"0::/kubepods.slice/kubepods-pod{POD_UID}.slice/crio-{API}.scope/init.scope\n",
        ],
    )
    def test_pod_uid_beside_the_container_id(self, text: str) -> None:
        """The pod's uid comes from the cgroup path too (dashes, whatever the driver wrote)."""
        assert (API, POD_UID.replace("_", "-")) == cgroup_ids(text)

    def test_no_pod_uid_outside_kubernetes(self) -> None:
        """A plain Docker container has an id and no pod."""
        assert (API, None) == cgroup_ids(f"0::/system.slice/docker-{API}.scope\n")


class TestPodIndex:
    def test_recorded_pod_list(self) -> None:
        """Each started container (init ones too) maps to its pod and the profile it asked for."""
        index = pod_index(json.loads(PODS_JSON.read_text()))
        got = {
            cid: (r.namespace, r.pod, r.container, r.apparmor)
            for cid, r in index.containers.items()
        }
        assert got == {
            # pod-level securityContext.appArmorProfile (Localhost)
            NGINX: ("shop", "web-7d9f8c6b5-x2x4q", "nginx", "localhost/k8s-web-nginx"),
            WEB_INIT: ("shop", "web-7d9f8c6b5-x2x4q", "init-perms", "localhost/k8s-web-nginx"),
            # the container's own field wins over the pod's
            SHIPPER: ("shop", "web-7d9f8c6b5-x2x4q", "log-shipper", "runtime/default"),
            # the beta annotation, per container; none for metrics
            API: ("billing", "legacy-api-0", "api", "localhost/legacy-api"),
            MIGRATE: ("billing", "legacy-api-0", "migrate", "unconfined"),
            METRICS: ("billing", "legacy-api-0", "metrics", None),
        }  # "debug" has no containerID yet: nothing to match
        assert index.pods[POD_UID.replace("_", "-")].pod == "web-7d9f8c6b5-x2x4q"

    def test_not_a_pod_list(self) -> None:
        """A document without items (an error Status) is a KubeletError, not an empty node."""
        with pytest.raises(KubeletError):
            pod_index({"kind": "Status", "status": "Failure", "code": 403})


@pytest.mark.integration
class TestEnricher:
    async def test_denials_attributed_and_the_rest_marked(
        self, tmp_path: Path, kubelet: Kubelet, proc: FakeProc
    ) -> None:
        """Container processes get their pod; host, exited, reused and foreign pids a marker."""
        pids = [101, 102, 103, 201, 202, 203, 300, 400, 500, 999, None, 101, 600]
        async with KubernetesEnricher(config(tmp_path, kubelet.url), hosts=[HOST]) as enricher:
            out = await enricher.enrich(batch(pids))
            foreign = await enricher.enrich(batch([101], host="other-node"))
        assert column(out, S.K8S_LOOKUP) == [
            *[S.K8S_ATTRIBUTED] * 6,
            S.K8S_NOT_IN_CONTAINER,
            S.K8S_POD_UNKNOWN,
            S.K8S_PID_REUSED,
            S.K8S_PID_EXITED,
            S.K8S_NO_PID,
            S.K8S_ATTRIBUTED,
            S.K8S_CONTAINER_UNLISTED,
        ]
        assert column(out, S.CONTAINER_ID) == [
            NGINX, WEB_INIT, SHIPPER, API, MIGRATE, METRICS, None, UNLISTED, None, None, None,
            NGINX, UNLISTED[:-1] + "e",
        ]  # fmt: skip
        assert column(out, S.POD_NAME)[:6] == ["web-7d9f8c6b5-x2x4q"] * 3 + ["legacy-api-0"] * 3
        assert column(out, S.POD_NAMESPACE)[3] == "billing"
        assert column(out, S.CONTAINER_NAME)[:6] == [
            "nginx", "init-perms", "log-shipper", "api", "migrate", "metrics",
        ]  # fmt: skip
        assert column(out, S.POD_APPARMOR_PROFILE)[:6] == [
            "localhost/k8s-web-nginx", "localhost/k8s-web-nginx", "runtime/default",
            "localhost/legacy-api", "unconfined", None,
        ]  # fmt: skip
        assert all(v is None for v in column(out, S.POD_NAME)[6:11])
        # just started: the pod is known by its uid, the container not yet (never guessed)
        assert [column(out, c)[12] for c in (S.POD_NAME, S.CONTAINER_NAME)] == [
            "web-7d9f8c6b5-x2x4q", None,
        ]  # fmt: skip
        assert column(out, S.POD_APPARMOR_PROFILE)[12] is None
        # the record's own columns are untouched; ours have the schema's types
        assert column(out, S.PID) == pids
        for name, typ, _ in S.K8S_FIELDS:
            assert out.schema.field(name).type == typ
        assert column(foreign, S.K8S_LOOKUP) == [S.K8S_OTHER_HOST]
        assert column(foreign, S.CONTAINER_ID) == [None]
        # one pods request answered every container; the token went as a bearer token
        assert 1 == len(kubelet.requests)
        assert kubelet.requests[0]["Authorization"] == f"Bearer {TOKEN}"
        assert enricher.stats.lookups[S.K8S_ATTRIBUTED] == 7
        assert enricher.stats.lookups[S.K8S_PID_EXITED] == 1
        assert enricher.stats.records == 14
        # node_names: the same node under the name auditd writes in node=
        cfg = config(tmp_path, kubelet.url, node_names=("node-a.example.internal",))
        async with KubernetesEnricher(cfg, hosts=[HOST]) as other:
            fqdn = await other.enrich(batch([101], host="node-a.example.internal"))
        assert column(fqdn, S.K8S_LOOKUP) == [S.K8S_ATTRIBUTED]

    async def test_kubelet_down_records_flow_with_container_ids(
        self, tmp_path: Path, proc: FakeProc, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Kubelet refused: pod fields null, marked, counted; not asked again for a while."""
        cfg = config(tmp_path, closed_port_url())
        with caplog.at_level(logging.DEBUG):
            async with KubernetesEnricher(cfg, hosts=[HOST]) as enricher:
                first = await enricher.enrich(batch([101, 300]))
                await enricher.enrich(batch([101]))
                last = await enricher.enrich(batch([201]))
        assert column(first, S.K8S_LOOKUP) == [S.K8S_KUBELET_UNAVAILABLE, S.K8S_NOT_IN_CONTAINER]
        assert column(first, S.CONTAINER_ID) == [NGINX, None]
        assert column(first, S.POD_NAME) == [None, None]
        assert column(last, S.K8S_LOOKUP) == [S.K8S_KUBELET_UNAVAILABLE]
        assert column(last, S.CONTAINER_ID) == [API]
        # three batches, one request: retry_after_s keeps a down kubelet off the path
        assert enricher.stats.kubelet_requests == 1
        assert enricher.stats.kubelet_errors == 1
        assert "kubelet pods API failed" in caplog.text
        assert TOKEN not in caplog.text
        # what an operator scrapes
        stats = StatsCollector()
        stats.add("kubernetes", enricher)
        registry = CollectorRegistry()
        registry.register(stats)
        text = generate_latest(registry).decode()
        assert 'armorwatch_kubernetes_kubelet_errors_total{component="kubernetes"} 1.0' in text
        assert (
            'armorwatch_kubernetes_lookups_total{component="kubernetes",'
            'key="kubelet_unavailable"} 3.0'
        ) in text

    async def test_kubelet_that_never_answers_times_out(
        self, tmp_path: Path, proc: FakeProc
    ) -> None:
        """A kubelet that accepts and never answers costs one timeout, then records flow."""
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(8)  # accepted by the kernel, never read nor answered
            url = f"http://127.0.0.1:{listener.getsockname()[1]}"
            cfg = config(tmp_path, url, timeout_s=0.2)
            async with KubernetesEnricher(cfg, hosts=[HOST]) as enricher:
                out = await enricher.enrich(batch([101]))
        assert column(out, S.K8S_LOOKUP) == [S.K8S_KUBELET_UNAVAILABLE]
        assert enricher.stats.kubelet_errors == 1

    async def test_trickling_kubelet_is_cut_at_timeout(
        self, tmp_path: Path, kubelet: Kubelet, proc: FakeProc
    ) -> None:
        """A body that keeps coming slowly is cut at timeout_s in all, not per read."""
        kubelet.trickle_s = 0.02  # each read is quick; the whole would take ~10 s
        cfg = config(tmp_path, kubelet.url, timeout_s=0.3)
        async with KubernetesEnricher(cfg, hosts=[HOST]) as enricher:
            out = await enricher.enrich(batch([101]))
        assert column(out, S.K8S_LOOKUP) == [S.K8S_KUBELET_UNAVAILABLE]
        assert enricher.stats.kubelet_errors == 1

    async def test_http_error_and_garbage_count_as_failures(
        self, tmp_path: Path, kubelet: Kubelet, proc: FakeProc
    ) -> None:
        """401 from the kubelet and a body that is not a PodList are failures, not 'no pods'."""
        kubelet.status = 401
        cfg = config(tmp_path, kubelet.url, retry_after_s=0)
        async with KubernetesEnricher(cfg, hosts=[HOST]) as enricher:
            denied = await enricher.enrich(batch([101]))
            kubelet.status, kubelet.body = 200, b"<html>proxy error</html>"
            garbage = await enricher.enrich(batch([101]))
        assert column(denied, S.K8S_LOOKUP) == [S.K8S_KUBELET_UNAVAILABLE]
        assert column(garbage, S.K8S_LOOKUP) == [S.K8S_KUBELET_UNAVAILABLE]
        assert enricher.stats.kubelet_errors == 2

    async def test_cache_evicts_least_recently_used(
        self, tmp_path: Path, kubelet: Kubelet, proc: FakeProc
    ) -> None:
        """With room for two containers, a third evicts the oldest, which is asked for again."""
        cfg = config(tmp_path, kubelet.url, cache_size=2)
        async with KubernetesEnricher(cfg, hosts=[HOST]) as enricher:
            await enricher.enrich(batch([101, 201]))  # NGINX, API: one request
            await enricher.enrich(batch([101, 201]))  # both cached
            assert 1 == len(kubelet.requests)
            await enricher.enrich(batch([202]))  # MIGRATE: evicts NGINX (least recently used)
            assert 2 == len(kubelet.requests)
            assert enricher.stats.cache_evictions == 1
            out = await enricher.enrich(batch([101]))  # NGINX again: asked for again
            assert 3 == len(kubelet.requests)
        assert column(out, S.CONTAINER_NAME) == ["nginx"]
        assert len(enricher.cache) == 2
        assert enricher.stats.cache_hits == 2

    async def test_batch_with_more_containers_than_the_cache_holds(
        self, tmp_path: Path, kubelet: Kubelet, proc: FakeProc
    ) -> None:
        """A small cache bounds memory only: every container of one batch is attributed."""
        cfg = config(tmp_path, kubelet.url, cache_size=2)
        async with KubernetesEnricher(cfg, hosts=[HOST]) as enricher:
            out = await enricher.enrich(batch([101, 102, 103, 201, 202, 203]))
        assert column(out, S.K8S_LOOKUP) == [S.K8S_ATTRIBUTED] * 6
        assert 1 == len(kubelet.requests)
        assert len(enricher.cache) == 2

    async def test_ttl_refreshes_and_expired_answer_serves_while_kubelet_down(
        self, tmp_path: Path, kubelet: Kubelet, proc: FakeProc
    ) -> None:
        """After the TTL the kubelet is asked again; if it fails, the old answer still holds."""
        now = [1000.0]
        cfg = config(tmp_path, kubelet.url, cache_ttl_s=60, retry_after_s=0)
        async with KubernetesEnricher(cfg, hosts=[HOST], clock=lambda: now[0]) as enricher:
            await enricher.enrich(batch([101]))
            now[0] += 30
            await enricher.enrich(batch([101]))
            assert 1 == len(kubelet.requests)
            now[0] += 31
            kubelet.status = 503
            out = await enricher.enrich(batch([101]))
        assert 2 == len(kubelet.requests)
        # a container id never changes pods: the expired answer is still right
        assert column(out, S.K8S_LOOKUP) == [S.K8S_ATTRIBUTED]
        assert column(out, S.POD_NAME) == ["web-7d9f8c6b5-x2x4q"]

    async def test_unlisted_container_not_asked_for_again_at_once(
        self, tmp_path: Path, kubelet: Kubelet, proc: FakeProc
    ) -> None:
        """A container the kubelet does not list is pod_unknown; asked again after unknown_ttl_s."""
        now = [1000.0]
        cfg = config(tmp_path, kubelet.url, unknown_ttl_s=5)
        async with KubernetesEnricher(cfg, hosts=[HOST], clock=lambda: now[0]) as enricher:
            for _ in range(3):
                out = await enricher.enrich(batch([400]))
            assert 1 == len(kubelet.requests)
            now[0] += 6
            await enricher.enrich(batch([400]))
            assert 2 == len(kubelet.requests)
        assert column(out, S.K8S_LOOKUP) == [S.K8S_POD_UNKNOWN]
        assert column(out, S.CONTAINER_ID) == [UNLISTED]

    async def test_kubelet_url_from_environment(
        self, tmp_path: Path, kubelet: Kubelet, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """kubelet_url_env names the variable a DaemonSet fills from status.hostIP."""
        monkeypatch.setenv("ARMORWATCH_TEST_KUBELET", kubelet.url)
        cfg = config(tmp_path, "http://192.0.2.1:10255", kubelet_url_env="ARMORWATCH_TEST_KUBELET")
        client = KubeletClient(cfg)
        try:
            assert 6 == len((await client.pods()).containers)
            monkeypatch.setenv("ARMORWATCH_TEST_KUBELET", "$(HOST_IP):10250")  # not expanded
            with pytest.raises(KubeletError, match="ARMORWATCH_TEST_KUBELET"):
                await client.pods()
        finally:
            await client.aclose()


class TestSinkAndConfig:
    @pytest.mark.integration
    async def test_sink_sends_attributed_envelopes(
        self, tmp_path: Path, kubelet: Kubelet, proc: FakeProc
    ) -> None:
        """AttributingSink hands the inner sink the envelope with the columns set."""
        sent: list[Envelope] = []

        class ListSink:
            async def send(self, envelope: Envelope) -> None:
                sent.append(envelope)

            async def close(self) -> None:
                pass

        async with KubernetesEnricher(config(tmp_path, kubelet.url), hosts=[HOST]) as e:
            sink = AttributingSink(ListSink(), e)
            await sink.send(Envelope(records=batch([201]), meta={"source": "auditd"}))
            await sink.send(Envelope())  # loss-only / empty envelopes pass as they are
            await sink.close()
        assert column(sent[0].records, S.POD_NAME) == ["legacy-api-0"]
        assert sent[0].meta == {"source": "auditd"}
        assert sent[1].records.num_rows == 0

    def test_config_table_unknown_key_and_no_token_in_repr(self, tmp_path: Path) -> None:
        """[collect.kubernetes] loads; an unknown key names its path; the config holds no token."""
        good = tmp_path / "good.toml"
        good.write_text(
            "[collect.kubernetes]\n"
            'kubelet_url = "https://10.0.0.11:10250"\n'
            'token_file = "/var/run/secrets/tokens/kubelet-token"\n'
            'proc_root = "/host/proc"\ncache_size = 100\n'
        )
        k = settings.load(good).collect.kubernetes
        assert k is not None and k.cache_size == 100 and k.proc_root == Path("/host/proc")
        assert settings.load(None).collect.kubernetes is None  # off by default
        bad = tmp_path / "bad.toml"
        bad.write_text('[collect.kubernetes]\nkubelet_token = "abc"\n')
        with pytest.raises(ConfigError, match=r"collect\.kubernetes\.kubelet_token"):
            settings.load(bad)
        for url in ("10.0.0.11:10250", "https://admin:hunter2@10.0.0.11:10250"):
            with pytest.raises(ValueError, match="kubelet_url") as raised:
                KubernetesConfig(kubelet_url=url)
            assert "hunter2" not in str(raised.value)


@pytest.mark.integration
@pytest.mark.skipif(
    S.CONTAINER_ID not in S.COLUMNS,
    reason="the Kubernetes columns are not in MAC_SCHEMA yet (needs parsers/fast.py to "
    "fill columns the scanner does not produce with nulls)",
)
def test_collect_fills_the_columns_in_the_store(
    tmp_path: Path, kubelet: Kubelet, proc: FakeProc, capsys: pytest.CaptureFixture[str]
) -> None:
    """`armorwatch collect --once` with [collect.kubernetes] stores attributed denials."""
    sec = int(RECORD_TS.timestamp())
    lines = [
        f'type=AVC msg=audit({sec}.120:881): apparmor="DENIED" operation="open" '
        f'class="file" profile="k8s-web-nginx" name="/etc/shadow" pid=101 comm="nginx" '
        'requested_mask="r" denied_mask="r" fsuid=101 ouid=0',
        f'type=AVC msg=audit({sec}.250:882): apparmor="DENIED" operation="capable" '
        f'class="cap" profile="legacy-api" pid=201 comm="api" capability=12 '
        'capname="net_admin"',
        f'type=AVC msg=audit({sec}.300:883): apparmor="DENIED" operation="open" '
        f'class="file" profile="/usr/sbin/cron" name="/etc/x" pid=300 comm="cron" '
        'requested_mask="r" denied_mask="r" fsuid=0 ouid=0',
        f'type=AVC msg=audit({sec}.400:884): apparmor="DENIED" operation="open" '
        f'class="file" profile="k8s-web-nginx" name="/etc/y" pid=999 comm="gone" '
        'requested_mask="r" denied_mask="r" fsuid=0 ouid=0',
    ]
    log = tmp_path / "audit.log"
    log.write_text("\n".join(lines) + "\n")
    token = tmp_path / "token"
    token.write_text(TOKEN)
    cfg = tmp_path / "collector.toml"
    cfg.write_text(
        f'[collect]\nsources = ["auditd"]\nhost = "{HOST}"\n'
        f'[collect.auditd]\npath = "{log}"\n'
        f'[collect.kubernetes]\nkubelet_url = "{kubelet.url}"\ntoken_file = "{token}"\n'
        f'proc_root = "{tmp_path / "proc"}"\n'
    )
    db = tmp_path / "store.duckdb"
    argv = ["collect", "--config", str(cfg), "--once", "--state-dir", str(tmp_path / "state"),
            "--db", str(db)]  # fmt: skip
    assert 0 == main(argv)
    assert TOKEN not in capsys.readouterr().out
    con = open_store(db, read_only=True)
    try:
        rows = con.execute(
            f"SELECT {S.PID}, {S.PROFILE}, {S.CONTAINER_ID}, {S.POD_NAMESPACE}, {S.POD_NAME},"
            f" {S.CONTAINER_NAME}, {S.POD_APPARMOR_PROFILE}, {S.K8S_LOOKUP}"
            " FROM records ORDER BY serial"
        ).fetchall()
    finally:
        con.close()
    assert rows == [
        (101, "k8s-web-nginx", NGINX, "shop", "web-7d9f8c6b5-x2x4q", "nginx",
         "localhost/k8s-web-nginx", S.K8S_ATTRIBUTED),
        (201, "legacy-api", API, "billing", "legacy-api-0", "api", "localhost/legacy-api",
         S.K8S_ATTRIBUTED),
        (300, "/usr/sbin/cron", None, None, None, None, None, S.K8S_NOT_IN_CONTAINER),
        (999, "k8s-web-nginx", None, None, None, None, None, S.K8S_PID_EXITED),
    ]  # fmt: skip


def test_real_process_then_exited(tmp_path: Path) -> None:
    """The real /proc: a live child is in our own cgroup; once reaped, its pid is pid_exited."""
    reader = ProcReader(Path("/proc"))
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)  # fmt: skip
    try:
        alive = reader.lookup(child.pid)
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait()
    ours = container_id(Path("/proc/self/cgroup").read_text())
    assert alive.container_id == ours
    assert alive.outcome == (S.K8S_NOT_IN_CONTAINER if ours is None else S.K8S_POD_UNKNOWN)
    assert alive.started is not None and alive.started <= time.time() + 1
    assert reader.lookup(child.pid).outcome == S.K8S_PID_EXITED


@pytest.mark.skipif(S.CONTAINER_ID in S.COLUMNS, reason="the columns are in MAC_SCHEMA")
def test_collect_refuses_attribution_while_records_lack_the_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Until MAC_SCHEMA has the columns, collect stops at start (exit 2), not at the store."""
    log = tmp_path / "audit.log"
    log.write_text("")
    cfg = tmp_path / "collector.toml"
    cfg.write_text(
        f'[collect]\nsources = ["auditd"]\n[collect.auditd]\npath = "{log}"\n'
        '[collect.kubernetes]\nkubelet_url = "http://127.0.0.1:10255"\n'
    )
    argv = ["collect", "--config", str(cfg), "--once", "--state-dir", str(tmp_path / "state"),
            "--db", str(tmp_path / "store.duckdb")]  # fmt: skip
    assert 2 == main(argv)
    assert "no Kubernetes columns" in capsys.readouterr().err
