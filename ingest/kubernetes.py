"""Which container and pod a denial came from, on a Kubernetes node.

A record's subject ``pid`` (host pid namespace) → ``<proc_root>/<pid>/cgroup`` → the
container id in the cgroup path (containerd ``cri-containerd-<id>.scope``, CRI-O
``crio-<id>.scope``, Docker ``docker-<id>.scope``, cgroupfs ``/kubepods/.../pod<uid>/<id>``,
cgroup v1 and v2 alike) → the kubelet's pod list (``GET <kubelet>/pods``, a ``PodList``
whose ``status.containerStatuses[].containerID`` is ``containerd://<id>``) → the columns
``container_id``, ``pod_namespace``, ``pod_name``, ``container_name`` and
``pod_apparmor_profile`` (what the pod spec asked for: the container's
``securityContext.appArmorProfile``, else the pod's, else the beta annotation
``container.apparmor.security.beta.kubernetes.io/<container>``), beside ``profile`` (the
profile that decided): "asked for X, denied by Y".

Never a guess: ``k8s_lookup`` says how each record's lookup went (``parsers.schema``
``K8S_*``). A pid gone before the lookup is ``pid_exited``; a pid whose current process
started after the record is ``pid_reused`` (start time from ``<pid>/stat`` and ``btime``);
a record of another host (``node=``) is ``other_host``; in each case the columns stay null.

Never blocking ingest for long: one pods request per refresh, bounded by ``timeout_s``;
after a failure the kubelet is not asked again for ``retry_after_s`` and records flow
with ``kubelet_unavailable`` (the container id is still filled: it comes from /proc).
Container id → pod answers are cached (LRU of ``cache_size``, refreshed after
``cache_ttl_s``); a container id belongs to one pod for its whole life, so an expired
answer is still used while the kubelet cannot be asked.

``KubernetesEnricher.enrich(batch)`` returns the batch with those columns set;
``AttributingSink`` applies it to every envelope before the sink it wraps (the collector
is unchanged). The token is read from ``token_file`` at each request (projected tokens
rotate) and never logged.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import os
import re
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import httpx
import pyarrow as pa
import pyarrow.compute as pc

from armorwatch.parsers import schema as S
from armorwatch.parsers.delivery import Sink
from armorwatch.parsers.envelope import Envelope

log = logging.getLogger(__name__)

ANNOTATION_PREFIX: Final = "container.apparmor.security.beta.kubernetes.io/"
MAX_PODS_BYTES: Final = 64 << 20
"""A pods response larger than this is refused (a kubelet lists at most a few hundred)."""
# btime is whole seconds and starttime clock ticks: a process may look up to ~1 s younger
START_SLACK_S: Final = 1.0

_DICT = pa.dictionary(pa.int32(), pa.string())
_HEX_ID = r"[0-9a-f]{64}"
# One cgroup path component holding a container id, whatever the runtime and driver.
_COMPONENT = re.compile(
    rf"(?:(?:cri-containerd|crio|docker|libpod)-)?(?P<id>{_HEX_ID})(?:\.scope)?"
    # containerd's systemd driver on cgroup v1: kubepods-…-pod<uid>.slice:cri-containerd:<id>
    rf"|.*:(?:cri-containerd|crio|docker):(?P<id2>{_HEX_ID})"
)
_RUNTIME_PREFIX = re.compile(r"^[a-z0-9.+-]+://")
# The pod's cgroup: pod<uid> (cgroupfs) or kubepods-<qos>-pod<uid with _>.slice (systemd).
_POD_UID = re.compile(
    r"(?:^|-)pod(?P<uid>[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})"
    r"(?:\.slice)?"
)


@dataclasses.dataclass(frozen=True)
class KubernetesConfig:
    """Where the kubelet and /proc are, and how lookups are cached (``[collect.kubernetes]``)."""

    kubelet_url: str = "https://127.0.0.1:10250"
    """The kubelet: its authenticated port (https, needs ``token_file``) or the read-only
    port (``http://NODE:10255``, off on most clusters)."""
    kubelet_url_env: str | None = None
    """Environment variable holding the kubelet URL instead (a DaemonSet sets it from
    the node's IP, ``status.hostIP``); unset or empty: ``kubelet_url``."""
    token_file: Path | None = None
    """Bearer token (a projected service-account token), read at each request."""
    ca_file: Path | None = None
    """CA bundle of the kubelet's serving certificate; None: the system's trust store."""
    insecure_skip_tls_verify: bool = False
    """Accept any kubelet certificate (self-signed serving certs); the token is still sent."""
    proc_root: Path = Path("/proc")
    """The host's /proc (host pid namespace: ``hostPID`` or a hostPath mount of /proc)."""
    cache_size: int = 4096
    """Container ids whose pod is remembered (least recently used ones are dropped)."""
    cache_ttl_s: float = 300.0
    """Seconds before a remembered pod is asked for again."""
    unknown_ttl_s: float = 5.0
    """Seconds a container id the kubelet did not list is not asked for again."""
    timeout_s: float = 2.0
    """Longest a pods request may take (connect, read, whole body)."""
    retry_after_s: float = 10.0
    """After a failed pods request, records go without pod fields this long."""
    node_names: tuple[str, ...] = ()
    """More names this node's records carry (auditd ``node=`` when it differs from the
    Kubernetes node name); the collector's host always counts. Others: ``other_host``."""

    def __post_init__(self) -> None:
        _check_url("kubernetes.kubelet_url", self.kubelet_url)
        for name in ("cache_size", "cache_ttl_s", "timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"kubernetes.{name} must be > 0")
        for name in ("unknown_ttl_s", "retry_after_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"kubernetes.{name} must be >= 0")

    def url(self) -> str:
        """The kubelet base URL, without a trailing slash (``kubelet_url_env`` first);
        ValueError when the variable holds no http(s) URL."""
        env = os.environ.get(self.kubelet_url_env) if self.kubelet_url_env else None
        if env:
            _check_url(f"${self.kubelet_url_env}", env)
        return (env or self.kubelet_url).rstrip("/")


def _check_url(where: str, url: str) -> None:
    # no user:password@ either: credentials go in token_file, and the URL gets logged
    if not re.match(r"^https?://[^/\s@]+(/|$)", url):
        raise ValueError(f"{where}: use http(s)://HOST:PORT (no user info)")


@dataclasses.dataclass(frozen=True)
class PodRef:
    """The pod and container a container id belongs to, and the profile it asked for."""

    namespace: str
    pod: str
    container: str | None
    """None: the pod (found by the uid in the cgroup path) does not list the container yet."""
    apparmor: str | None


@dataclasses.dataclass
class KubernetesStats:
    """Counters of the enricher (``armorwatch_kubernetes_*``)."""

    records: int = 0
    """Records looked up."""
    lookups: dict[str, int] = dataclasses.field(default_factory=dict)
    """Records by outcome (k8s_lookup: attributed, pid_exited, kubelet_unavailable, ...)."""
    kubelet_requests: int = 0
    """Pods requests sent to the kubelet."""
    kubelet_errors: int = 0
    """Pods requests that failed (refused, timed out, not 200, not a PodList)."""
    cache_hits: int = 0
    """Container ids answered from the cache."""
    cache_evictions: int = 0
    """Container ids dropped from the full cache (least recently used)."""


class KubeletError(Exception):
    """The pods API could not be read (down, timeout, denied, not a PodList)."""


class PodCache:
    """Container id → PodRef, at most ``size`` entries, each fresh for ``ttl_s``.

    ``get`` returns the entry and whether it is still fresh; an expired entry stays (a
    container id never moves to another pod) until the least-recently-used rule drops it.
    """

    def __init__(self, size: int, ttl_s: float, clock: Callable[[], float] = time.monotonic):
        self.size, self.ttl_s, self._clock = size, ttl_s, clock
        self._items: collections.OrderedDict[str, tuple[PodRef, float]] = collections.OrderedDict()
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, cid: str) -> tuple[PodRef | None, bool]:
        """(entry, fresh) for ``cid``; (None, False) when it is not remembered."""
        hit = self._items.get(cid)
        if hit is None:
            return None, False
        self._items.move_to_end(cid)
        return hit[0], self._clock() < hit[1]

    def put(self, cid: str, ref: PodRef) -> None:
        """Remember ``ref`` for ``cid`` (fresh for ttl_s), dropping the least recently used."""
        self._items[cid] = (ref, self._clock() + self.ttl_s)
        self._items.move_to_end(cid)
        while len(self._items) > self.size:
            self._items.popitem(last=False)
            self.evictions += 1


# --- /proc ----------------------------------------------------------------------------
def container_id(cgroup_text: str) -> str | None:
    """The container id in the text of a ``/proc/<pid>/cgroup`` file, or None.

    Each line is ``ID:CONTROLLERS:PATH``; the deepest path component that holds a
    64-hex id wins (a container's own sub-cgroups sit below it).
    """
    return cgroup_ids(cgroup_text)[0]


def cgroup_ids(cgroup_text: str) -> tuple[str | None, str | None]:
    """(container id, pod uid) named by a ``/proc/<pid>/cgroup`` text; None for each
    that is not there. The pod uid is only looked for above a container's cgroup."""
    for line in cgroup_text.splitlines():
        path = line.split(":", 2)[-1]
        parts = path.split("/")
        for i in range(len(parts) - 1, -1, -1):
            m = _COMPONENT.fullmatch(parts[i])
            if m:
                cid = m["id"] or m["id2"]
                uid = None
                for above in reversed(parts[: i + 1]):  # v1 systemd: same component
                    u = _POD_UID.search(above)
                    if u:
                        uid = u["uid"].replace("_", "-")
                        break
                return cid, uid
    return None, None


def _start_ticks(stat_text: str) -> int | None:
    """Field 22 of a ``stat`` line (start time, clock ticks after boot), read after the
    comm's closing parenthesis (a comm may hold spaces and parentheses)."""
    try:
        return int(stat_text[stat_text.rindex(")") + 2 :].split()[19])
    except (ValueError, IndexError):
        return None


@dataclasses.dataclass(frozen=True)
class ProcResult:
    """What /proc says about one pid: a container id (or None) and the outcome."""

    container_id: str | None
    outcome: str
    """K8S_NOT_IN_CONTAINER, K8S_POD_UNKNOWN (a container: the pod is still to look up),
    K8S_PID_EXITED or K8S_PROC_UNREADABLE."""
    started: float | None = None
    """Epoch seconds the process now holding the pid started (None: not known)."""
    pod_uid: str | None = None
    """The pod's uid when the cgroup path names it (both drivers do on Kubernetes)."""


class ProcReader:
    """Reads container ids of pids from a /proc tree (the host's, or a test's)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._ticks = os.sysconf("SC_CLK_TCK")
        self._btime: float | None = None

    def btime(self) -> float | None:
        """Boot time in epoch seconds (``<root>/stat`` ``btime``), read once."""
        if self._btime is None:
            try:
                text = (self.root / "stat").read_text()
            except OSError:
                return None
            m = re.search(r"^btime (\d+)$", text, re.MULTILINE)
            self._btime = float(m[1]) if m else None
        return self._btime

    def lookup(self, pid: int) -> ProcResult:
        """The container of ``pid`` now; reading stat before and after the cgroup file
        notices a pid that exited or was reused in between."""
        base = self.root / str(pid)
        try:
            before = (base / "stat").read_text()
            cgroup = (base / "cgroup").read_text()
            after = (base / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            return ProcResult(None, S.K8S_PID_EXITED)
        except OSError as e:  # EACCES (hidepid), EIO: the pid is there, we cannot see it
            log.debug("reading %s: %s", base, e)
            return ProcResult(None, S.K8S_PROC_UNREADABLE)
        ticks = _start_ticks(after)
        if _start_ticks(before) != ticks:
            return ProcResult(None, S.K8S_PID_REUSED)
        btime = self.btime()
        started = btime + ticks / self._ticks if btime is not None and ticks is not None else None
        cid, uid = cgroup_ids(cgroup)
        if cid is None:
            return ProcResult(None, S.K8S_NOT_IN_CONTAINER, started)
        return ProcResult(cid, S.K8S_POD_UNKNOWN, started, uid)


# --- kubelet --------------------------------------------------------------------------
def _profile_text(spec: Any) -> str | None:
    """``securityContext.appArmorProfile`` as the annotation spells it, or None."""
    if not isinstance(spec, Mapping):
        return None
    kind = spec.get("type")
    if kind == "Localhost":
        return f"localhost/{spec.get('localhostProfile') or ''}"
    if kind == "RuntimeDefault":
        return "runtime/default"
    if kind == "Unconfined":
        return "unconfined"
    return None


def _sc_profile(obj: Mapping[str, Any]) -> str | None:
    sc = obj.get("securityContext")
    return _profile_text(sc.get("appArmorProfile")) if isinstance(sc, Mapping) else None


@dataclasses.dataclass(frozen=True)
class PodIndex:
    """A kubelet pod list, indexed: by container id, and by pod uid."""

    containers: dict[str, PodRef]
    """Container id (runtime prefix stripped) → its pod and container."""
    pods: dict[str, PodRef]
    """Pod uid → the pod (``container`` None): for a container started so recently that
    the pod's status does not list its id yet."""


def pod_index(podlist: Any) -> PodIndex:
    """The containers and pods of a kubelet ``PodList``.

    Init and ephemeral containers count: a denial of an init container is attributed too.
    Raises KubeletError when the document is not a PodList.
    """
    if not isinstance(podlist, Mapping) or not isinstance(podlist.get("items"), list):
        raise KubeletError("the pods response is not a PodList (no items)")
    out: dict[str, PodRef] = {}
    pods: dict[str, PodRef] = {}
    for pod in podlist["items"]:
        if not isinstance(pod, Mapping):
            continue
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        annotations = meta.get("annotations") or {}
        if isinstance(meta.get("uid"), str):
            pods[meta["uid"]] = PodRef(
                str(meta.get("namespace") or ""), str(meta.get("name") or ""), None, None
            )
        pod_profile = _sc_profile(spec)
        specs: dict[str, Mapping[str, Any]] = {}
        for key in ("initContainers", "containers", "ephemeralContainers"):
            for c in spec.get(key) or ():
                if isinstance(c, Mapping) and isinstance(c.get("name"), str):
                    specs[c["name"]] = c
        for key in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"):
            for st in status.get(key) or ():
                if not isinstance(st, Mapping):
                    continue
                name, cid = st.get("name"), st.get("containerID")
                if not isinstance(name, str) or not isinstance(cid, str) or not cid:
                    continue  # not started yet: no id to match
                asked = (
                    _sc_profile(specs.get(name, {}))
                    or pod_profile
                    or annotations.get(ANNOTATION_PREFIX + name)
                )
                out[_RUNTIME_PREFIX.sub("", cid)] = PodRef(
                    namespace=str(meta.get("namespace") or ""),
                    pod=str(meta.get("name") or ""),
                    container=name,
                    apparmor=asked if isinstance(asked, str) else None,
                )
    return PodIndex(out, pods)


class KubeletClient:
    """``GET <kubelet>/pods`` with the configured token, CA and timeout."""

    def __init__(self, config: KubernetesConfig) -> None:
        self.config = config
        verify: ssl.SSLContext | bool
        if config.insecure_skip_tls_verify:
            verify = False
        elif config.ca_file is not None:
            verify = ssl.create_default_context(cafile=str(config.ca_file))
        else:
            verify = True
        self._client = httpx.AsyncClient(
            verify=verify, timeout=config.timeout_s, trust_env=False, follow_redirects=False
        )

    async def pods(self) -> PodIndex:
        """The node's containers and pods; raises KubeletError on any failure."""
        headers = {"Accept": "application/json"}
        if self.config.token_file is not None:
            try:
                token = self.config.token_file.read_text().strip()
            except OSError as e:
                raise KubeletError(f"token file {self.config.token_file}: {e.strerror}") from e
            headers["Authorization"] = f"Bearer {token}"
        try:
            url = self.config.url() + "/pods"
        except ValueError as e:
            raise KubeletError(str(e)) from e
        try:
            # httpx's timeout bounds each read; this bounds the whole (a trickling body)
            async with asyncio.timeout(self.config.timeout_s):
                resp = await self._client.get(url, headers=headers)
        except TimeoutError as e:
            raise KubeletError(f"GET {url}: no answer within {self.config.timeout_s} s") from e
        except httpx.HTTPError as e:  # refused, timeout, TLS: never the token
            raise KubeletError(f"GET {url}: {type(e).__name__}: {e}") from e
        if resp.status_code != 200:
            raise KubeletError(f"GET {url}: HTTP {resp.status_code}")
        if len(resp.content) > MAX_PODS_BYTES:
            raise KubeletError(f"GET {url}: response over {MAX_PODS_BYTES} bytes")
        try:
            doc = resp.json()
        except ValueError as e:
            raise KubeletError(f"GET {url}: not JSON: {e}") from e
        return pod_index(doc)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


# --- the enricher ---------------------------------------------------------------------
class KubernetesEnricher:
    """Sets the Kubernetes columns of record batches (see the module docstring)."""

    def __init__(
        self,
        config: KubernetesConfig,
        hosts: Iterable[str | None] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.hosts = frozenset(h for h in (*hosts, *config.node_names) if h)
        """Host names that are this node: rows of any other host are not looked up."""
        self.stats = KubernetesStats()
        self.proc = ProcReader(config.proc_root)
        self.kubelet = KubeletClient(config)
        self.cache = PodCache(config.cache_size, config.cache_ttl_s, clock)
        self._clock = clock
        self._unknown: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._down_until = 0.0
        self._failing = False
        self._pods: dict[str, PodRef] = {}
        """Pod uid → pod, from the last pod list (one node's pods: bounded by the kubelet)."""

    async def __aenter__(self) -> KubernetesEnricher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the kubelet client."""
        await self.kubelet.aclose()

    async def _refresh(self, wanted: set[str]) -> dict[str, PodRef] | None:
        """Ask the kubelet once for the ids in ``wanted``: those it lists (also cached);
        None when it cannot be asked (down, or failed within ``retry_after_s``)."""
        now = self._clock()
        if now < self._down_until:
            return None
        self.stats.kubelet_requests += 1
        try:
            index = await self.kubelet.pods()
        except KubeletError as e:
            self.stats.kubelet_errors += 1
            self._down_until = now + self.config.retry_after_s
            # once per outage at WARNING: a kubelet down for an hour is not 360 lines
            log.log(
                logging.DEBUG if self._failing else logging.WARNING,
                "kubelet pods API failed (%s); records go without pod fields, retried every"
                " %.0f s (armorwatch_kubernetes_kubelet_errors_total counts it)",
                e, self.config.retry_after_s,
            )  # fmt: skip
            self._failing = True
            return None
        if self._failing:
            log.info("kubelet pods API answers again")
            self._failing = False
        self._pods = index.pods
        found = {cid: index.containers[cid] for cid in wanted if cid in index.containers}
        for cid in wanted:
            ref = found.get(cid)
            if ref is not None:
                self.cache.put(cid, ref)
                self._unknown.pop(cid, None)
            else:
                self._unknown[cid] = now + self.config.unknown_ttl_s
                self._unknown.move_to_end(cid)
                while len(self._unknown) > self.config.cache_size:
                    self._unknown.popitem(last=False)
        self.stats.cache_evictions = self.cache.evictions
        return found

    async def pods_of(self, ids: Iterable[str]) -> tuple[dict[str, PodRef], bool]:
        """PodRef of each id the kubelet (or the cache) knows, and whether it could be asked."""
        now = self._clock()
        found: dict[str, PodRef] = {}
        wanted: set[str] = set()
        stale: dict[str, PodRef] = {}
        for cid in ids:
            ref, fresh = self.cache.get(cid)
            if ref is not None and fresh:
                self.stats.cache_hits += 1
                found[cid] = ref
                continue
            if ref is not None:
                stale[cid] = ref
            elif self._unknown.get(cid, 0.0) > now:
                continue  # listed as unknown a moment ago: pod_unknown without asking
            wanted.add(cid)
        if not wanted:
            return found, True
        listed = await self._refresh(wanted)
        if listed is None:
            # a container id never moves to another pod: an expired answer is still right
            return {**found, **stale}, False
        return {**found, **listed}, True

    async def enrich(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """``batch`` with the K8S_FIELDS columns set (replaced, or appended when absent).

        /proc is read once per distinct pid, the kubelet asked at most once per batch;
        the per-row work is Arrow compute (a 100k-row batch is not a Python loop).
        """
        if batch.num_rows == 0:
            return _with_columns(batch, {n: pa.nulls(0, pa.string()) for n in S.K8S_COLUMNS})
        pid = batch.column(S.PID)
        local = self._local_mask(batch.column(S.HOST))
        has_pid = pc.fill_null(pc.greater(pid, 0), False)
        looked_up = pc.and_(local, has_pid)
        # distinct pids in order of first appearance: the cache's recency follows records
        pids: list[int] = pc.unique(pc.filter(pid, looked_up)).to_pylist()
        # ~3 small reads per pid: off the event loop, which the sources' tailers share
        procs = await asyncio.to_thread(lambda: [self.proc.lookup(p) for p in pids])
        ids = list(dict.fromkeys(p.container_id for p in procs if p.container_id))
        pods, reachable = await self.pods_of(ids) if ids else ({}, True)

        # one value per distinct pid, then taken for each row
        per_pid: dict[str, list[Any]] = {n: [] for n in S.K8S_COLUMNS}
        for p in procs:
            ref = pods.get(p.container_id) if p.container_id else None
            if p.container_id and ref is None and p.pod_uid:
                ref = self._pods.get(p.pod_uid)  # the pod, not the container: a fact too
            outcome = p.outcome
            if p.container_id and ref is not None:
                outcome = S.K8S_ATTRIBUTED if ref.container else S.K8S_CONTAINER_UNLISTED
            elif p.container_id and not reachable:
                outcome = S.K8S_KUBELET_UNAVAILABLE
            for name, value in (
                (S.CONTAINER_ID, p.container_id),
                (S.POD_NAMESPACE, ref and ref.namespace),
                (S.POD_NAME, ref and ref.pod),
                (S.CONTAINER_NAME, ref and ref.container),
                (S.POD_APPARMOR_PROFILE, ref and ref.apparmor),
                (S.K8S_LOOKUP, outcome),
            ):
                per_pid[name].append(value)
        at = pc.if_else(looked_up, pc.index_in(pid, value_set=pa.array(pids, pa.int64())), None)
        started = pc.take(pa.array([p.started for p in procs], pa.float64()), at)
        when = pc.divide(batch.column(S.TS).cast(pa.int64()), 1000.0)
        # the process holding the pid now started after the record: not the one it names
        reused = pc.fill_null(pc.greater(started, pc.add(when, START_SLACK_S)), False)
        none = pa.scalar(None, pa.string())
        cols = {
            n: pc.if_else(reused, none, pc.take(pa.array(v, pa.string()), at))
            for n, v in per_pid.items()
        }
        outcome = pc.if_else(reused, S.K8S_PID_REUSED, cols[S.K8S_LOOKUP])
        outcome = pc.if_else(has_pid, outcome, S.K8S_NO_PID)
        cols[S.K8S_LOOKUP] = pc.if_else(local, outcome, S.K8S_OTHER_HOST)
        self.stats.records += batch.num_rows
        for item in pc.value_counts(cols[S.K8S_LOOKUP]).to_pylist():
            key = str(item["values"])
            self.stats.lookups[key] = self.stats.lookups.get(key, 0) + item["counts"]
        return _with_columns(batch, cols)

    def _local_mask(self, host: pa.Array) -> pa.Array:
        """Per row: whether the record is this node's (no host stamped counts as ours)."""
        if not self.hosts:
            return pa.array([True] * len(host), pa.bool_())
        if isinstance(host, pa.DictionaryArray):
            ours = pa.array([v in self.hosts for v in host.dictionary.to_pylist()], pa.bool_())
            return pc.fill_null(pc.take(ours, host.indices), True)
        return pc.fill_null(pc.is_in(host, value_set=pa.array(sorted(self.hosts))), True)


def _with_columns(batch: pa.RecordBatch, values: Mapping[str, pa.Array]) -> pa.RecordBatch:
    """``batch`` with each K8S_FIELDS column replaced by ``values`` (appended if absent)."""
    arrays = list(batch.columns)
    fields = list(batch.schema)
    for name, typ, _ in S.K8S_FIELDS:
        arr = values[name]
        col = arr.dictionary_encode() if typ == _DICT else arr.cast(typ)
        at = batch.schema.get_field_index(name)
        if at < 0:
            arrays.append(col)
            fields.append(pa.field(name, typ))
        else:
            arrays[at] = col
    return pa.RecordBatch.from_arrays(
        arrays, schema=pa.schema(fields, metadata=batch.schema.metadata)
    )


class AttributingSink:
    """A sink that sets the Kubernetes columns of each envelope, then sends it on."""

    def __init__(self, sink: Sink, enricher: KubernetesEnricher) -> None:
        self.sink = sink
        self.enricher = enricher
        self.stats = enricher.stats

    async def send(self, envelope: Envelope) -> None:
        """Attribute the records, then deliver through the inner sink (its return is the ack)."""
        if envelope.records.num_rows:
            records = await self.enricher.enrich(envelope.records)
            envelope = dataclasses.replace(envelope, records=records)
        await self.sink.send(envelope)

    async def close(self) -> None:
        """Close the inner sink (the enricher is closed by whoever opened it)."""
        await self.sink.close()
