"""The Prometheus endpoint of ``collect`` and ``process``: counters read at scrape time.

Components never import a metrics library: each keeps a plain ``stats`` attribute (a
dataclass of ints, or a dict of counters). ``StatsCollector`` holds references to the
components and turns their ``stats`` into metric families when Prometheus scrapes, so
there is no second copy of any counter and nothing to update on the hot path.

Families (text exposition format, ``/metrics``):

- ``armorwatch_records_total{source,lsm,apparmor}`` and
  ``apparmor_denials_total{profile,class}`` (also as ``apparmor_violations_total``, the
  name PrometheusRules for AppArmor use): counted by ``RecordCounter`` from the
  envelopes it observes (after they were stored/acknowledged). Label values come from
  logs, so distinct label sets are capped (``max_series``); the rest is counted under
  ``profile="_other"`` and ``armorwatch_metric_series_dropped_total`` says how often.
- ``armorwatch_loss_total{source,kind}``: records lost, summed from loss rows.
- ``armorwatch_lag_bytes{component,...}`` (tailers: bytes written but not yet read),
  ``armorwatch_queue_depth{component,...}`` (envelopes waiting for the sink),
  ``armorwatch_rejects_total{component,...}`` (lines the parser rejected),
  ``armorwatch_webhook_deliveries_total`` / ``armorwatch_webhook_failures_total``
  (delivered / dead-lettered webhook messages): well-known ``stats`` fields.
- ``armorwatch_send_retries_total{component}``: failed deliveries that were retried, by
  the collector (``send_retries``) or inside the Kafka sink (``kafka_sink`` ``retries``).
- ``armorwatch_last_record_timestamp_seconds{host,source}``: event time of the newest
  record stored per host and source (staleness: ``time() - this``).
- ``armorwatch_lag_messages{component,partition}``: the processor's consumer lag
  (highwater - position of each assigned partition).
- Every other numeric ``stats`` field ``f`` of a component added as ``kind`` becomes
  ``armorwatch_<kind>_<f>_total`` (a counter) or ``armorwatch_<kind>_<f>`` (a gauge,
  for current-value fields such as ``pending_rows``); a dict field becomes one family
  with a ``key`` label. Help texts are the stats classes' field docstrings (read once
  per class), else ``FIELD_HELP``.

Scrape-time values: before reading ``stats``, a component's ``refresh_stats()`` (when it
has one) is called on the scraping thread, so figures such as ``lag_bytes`` (file size
minus read offset) and ``queue_depth`` are current even while the pipeline is blocked
(broker down). ``refresh_stats`` only reads (stat, qsize) and must not raise for races.

Wiring (in a command)::

    metrics = armorwatch.metrics.from_args(args)      # None without --metrics-addr
    if metrics:
        metrics.add("tail", tailer, path=str(path))    # extra kwargs are constant labels
        metrics.add("collector", collector)
        observers.append(metrics.records.observe)      # an async Envelope observer
    ...
    metrics.close()

Errors: ``MetricsError`` (bad ``--metrics-addr``, port in use).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import itertools
import logging
import re
import textwrap
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from armorwatch.parsers import schema as S
from armorwatch.parsers.envelope import Envelope

log = logging.getLogger(__name__)

OTHER: Final = "_other"

# Fields that are current values, not running totals.
GAUGE_FIELDS: Final = frozenset(
    {
        "queue_depth",
        "pending_rows",
        "lag_bytes",
        "lag_seconds",
        "lag_messages",
        "in_flight",
        "pending_messages",
        "connected",
    }
)
# Well-known fields → (family, help, is_counter), shared by every component that has them.
WELL_KNOWN: Final[dict[str, tuple[str, str, bool]]] = {
    "lag_bytes": ("armorwatch_lag_bytes", "Bytes written to a source but not read yet.", False),
    "lag_seconds": ("armorwatch_lag_seconds", "Age of the oldest unprocessed input.", False),
    "lag_messages": ("armorwatch_lag_messages", "Messages behind the log end.", False),
    "queue_depth": ("armorwatch_queue_depth", "Envelopes waiting for the sink.", False),
    "rejects": ("armorwatch_rejects", "Lines the parser rejected (dead-lettered).", True),
    "send_retries": (
        "armorwatch_send_retries",
        "Failed deliveries to the sink that were retried (grows while the sink is down).",
        True,
    ),
}
# (kind, field) → family: a field whose meaning is shared under another name.
KIND_FIELDS: Final[dict[tuple[str, str], str]] = {("kafka_sink", "retries"): "send_retries"}
# Label name of a dict field's keys (default ``key``).
KEY_LABELS: Final[dict[str, str]] = {"lag_messages": "partition"}
# Help of stats fields that have no docstring in their dataclass.
FIELD_HELP: Final[dict[str, str]] = {
    "collector.chunks": "Chunks (runs of whole lines) read from the sources.",
    "collector.bytes": "Bytes read from the sources and handed to the parser.",
    "collector.checkpoints": "Checkpoint writes (each fsynced) after acknowledged sends.",
    "collector.by_kind": "Records lost, by loss kind (truncated counts bytes).",
    "source.bytes_read": "Bytes read from the source.",
    "source.files_opened": "Files (live or rotated) opened by the tailer.",
    "source.rotations": "Rotations of the tailed file detected (renamed away).",
    "source.truncations": "Truncations of the tailed file detected (copytruncate, in place).",
    "source.copies_recovered": "Truncated files whose unread rest was read from a copy.",
    "source.deletions": "Times the tailed file was deleted.",
    "source.rotated_away": "Files rotated away before they were read to their end.",
    "source.nul_bytes_skipped": "NUL bytes skipped (a stale writer's hole).",
    "source.long_lines": "Lines longer than max_line_bytes, cut into pieces.",
    "source.entries": "Journal entries read from journalctl.",
}

WEBHOOK_FIELDS: Final[dict[str, tuple[str, str]]] = {
    "delivered": ("armorwatch_webhook_deliveries", "Webhook messages delivered."),
    "dead_lettered": ("armorwatch_webhook_failures", "Webhook messages that failed for good."),
}


class MetricsError(ValueError):
    """The metrics endpoint cannot start: a bad address or a port in use."""


def _metric_name(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", text).strip("_").lower()


class RecordCounter:
    """Counts stored records by (source, lsm, apparmor), denials by (profile, class), loss.

    ``observe(envelope)`` is an async observer (for the in-process transport and the
    Kafka source); ``count(records, loss)`` is the same, synchronous. Grouping is done
    by Arrow, one pass per batch.
    """

    def __init__(self, max_series: int = 2000) -> None:
        self.max_series = max_series
        self.records: dict[tuple[str, str, str], int] = {}
        self.denials: dict[tuple[str, str], int] = {}
        self.loss: dict[tuple[str, str], int] = {}
        self.last_ts: dict[tuple[str, str], float] = {}
        """Newest record's event time (epoch s) per (host, source); never in the future."""
        self.series_dropped = 0
        self._lock = threading.Lock()  # scrapes run on the HTTP server's thread

    async def observe(self, envelope: Envelope) -> None:
        """Count one stored envelope."""
        self.count(envelope.records, envelope.loss)

    def count(self, records: pa.RecordBatch | None, loss: pa.RecordBatch | None = None) -> None:
        """Count a MAC_SCHEMA batch and a LOSS_SCHEMA batch (either may be None)."""
        updates: list[tuple[dict[Any, int], tuple[str, ...], int]] = []
        if records is not None and records.num_rows:
            table = pa.Table.from_batches([records])
            for key, n in _groups(table, (S.SOURCE, S.LSM, S.APPARMOR)):
                updates.append((self.records, key, n))
            # Only trusted records drive the denial families (alerted on) and the
            # staleness gauge: a forged-looking one (`logger -t kernel`, a USER_AVC of an
            # unprivileged process) must neither page nor make a silent host look alive.
            trusted = table.filter(pc.is_null(table[S.SUSPECT]))
            denied = pc.equal(trusted[S.APPARMOR].cast(pa.string()), S.AA_DENIED)
            den = trusted.filter(pc.fill_null(denied, False))
            for key, n in _groups(den, (S.PROFILE, S.CLASS)):
                updates.append((self.denials, key, n))
            newest = _newest(trusted)
        else:
            newest = []
        if loss is not None and loss.num_rows:
            table = pa.Table.from_batches([loss])
            sums = table.group_by([S.SOURCE, S.KIND]).aggregate([(S.COUNT, "sum")])
            for row in sums.to_pylist():
                key = (row[S.SOURCE] or "", row[S.KIND] or "")
                updates.append((self.loss, key, int(row[f"{S.COUNT}_sum"] or 0)))
        with self._lock:
            for target, key, n in updates:
                if key not in target and len(target) >= self.max_series:
                    self.series_dropped += 1
                    key = (*key[:-1], OTHER) if target is not self.denials else (OTHER, key[1])
                target[key] = target.get(key, 0) + n
            now = time.time()  # a forged or skewed future ts must not hide silence
            for key, ts in newest:
                if key not in self.last_ts and len(self.last_ts) >= self.max_series:
                    self.series_dropped += 1
                    continue
                self.last_ts[key] = max(self.last_ts.get(key, 0.0), min(ts, now))

    def families(self) -> Iterator[Metric]:
        """The record, denial and loss families, from a consistent copy."""
        with self._lock:
            records, denials, loss = dict(self.records), dict(self.denials), dict(self.loss)
            last_ts = dict(self.last_ts)
            dropped = self.series_dropped
        fam = CounterMetricFamily(
            "armorwatch_records",
            "MAC records stored, by source, LSM and AppArmor decision.",
            labels=("source", "lsm", "apparmor"),
        )
        for key, n in sorted(records.items()):
            fam.add_metric(list(key), n)
        yield fam
        # apparmor_violations: the same counts under the name the container world's
        # PrometheusRules use (deploy/monitoring alerts on it).
        for name, help_ in (
            ("apparmor_denials", "AppArmor DENIED records stored, by profile and class."),
            ("apparmor_violations", "The same as apparmor_denials_total (a common name)."),
        ):
            fam = CounterMetricFamily(name, help_, labels=("profile", "class"))
            for dkey, n in sorted(denials.items()):
                fam.add_metric(list(dkey), n)
            yield fam
        fam = CounterMetricFamily(
            "armorwatch_loss", "Records lost, by source and kind.", labels=("source", "kind")
        )
        for lkey, n in sorted(loss.items()):
            fam.add_metric(list(lkey), n)
        yield fam
        gauge = GaugeMetricFamily(
            "armorwatch_last_record_timestamp_seconds",
            "Event time of the newest record stored, by host and source (staleness: "
            "time() minus this).",
            labels=("host", "source"),
        )
        for tkey, ts in sorted(last_ts.items()):
            gauge.add_metric(list(tkey), ts)
        yield gauge
        yield CounterMetricFamily(
            "armorwatch_metric_series_dropped",
            "Counts folded into '_other' because a family had too many label sets.",
            value=dropped,
        )


def _groups(table: pa.Table, columns: tuple[str, ...]) -> Iterable[tuple[tuple[str, ...], int]]:
    plain = pa.table({c: table[c].cast(pa.string()) for c in columns})
    counted = plain.group_by(list(columns)).aggregate([([], "count_all")])
    for row in counted.to_pylist():
        yield tuple(row[c] or "" for c in columns), int(row["count_all"])


def _newest(table: pa.Table) -> list[tuple[tuple[str, str], float]]:
    """((host, source), newest ts in epoch seconds) of a MAC_SCHEMA table."""
    plain = pa.table(
        {
            S.HOST: table[S.HOST].cast(pa.string()),
            S.SOURCE: table[S.SOURCE].cast(pa.string()),
            S.TS: table[S.TS].cast(pa.int64()),  # ms since the epoch
        }
    )
    out = []
    for row in plain.group_by([S.HOST, S.SOURCE]).aggregate([(S.TS, "max")]).to_pylist():
        ms = row[f"{S.TS}_max"]
        if ms is not None:
            out.append(((row[S.HOST] or "", row[S.SOURCE] or ""), ms / 1000.0))
    return out


_DOCS: dict[type, dict[str, str]] = {}


def field_docs(cls: type) -> dict[str, str]:
    """The attribute docstrings of a dataclass's fields (the string after each field),
    parsed once per class."""
    if cls not in _DOCS:
        _DOCS[cls] = _parse_field_docs(cls)
    return _DOCS[cls]


def _parse_field_docs(cls: type) -> dict[str, str]:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return {}
    out: dict[str, str] = {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    for stmt, nxt in itertools.pairwise(body):
        if (
            isinstance(stmt, ast.AnnAssign)
            and isinstance(stmt.target, ast.Name)
            and isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            out[stmt.target.id] = " ".join(nxt.value.value.split())
    return out


def field_help(kind: str, stats: Any, field: str) -> str:
    """A family's help: the field's docstring, ``FIELD_HELP``, or a generic sentence."""
    doc = field_docs(type(stats)).get(field) if not isinstance(stats, Mapping) else None
    if doc:
        return doc
    known = FIELD_HELP.get(f"{kind}.{field}")
    if known:
        return known
    return f"{field.replace('_', ' ').capitalize()} of the {kind.replace('_', ' ')}."


@dataclasses.dataclass
class _Component:
    kind: str
    obj: Any
    labels: dict[str, str]


class StatsCollector(Collector):
    """A prometheus_client collector that reads components' ``stats`` when scraped."""

    def __init__(self, max_series: int = 2000) -> None:
        self.records = RecordCounter(max_series)
        self._components: list[_Component] = []
        self._lock = threading.Lock()

    def add(self, kind: str, component: Any, **labels: str) -> None:
        """Expose ``component.stats`` as ``armorwatch_<kind>_*`` with constant ``labels``."""
        if not hasattr(component, "stats"):
            raise TypeError(f"{kind}: {type(component).__name__} has no stats attribute")
        with self._lock:
            self._components.append(_Component(_metric_name(kind), component, dict(labels)))

    def collect(self) -> Iterator[Metric]:
        """All families, built from the current values (called on every scrape)."""
        yield from self.records.families()
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
        label_names: dict[str, tuple[str, ...]] = {}

        def sample(name: str, help_: str, counter: bool, labels: dict[str, str], v: float) -> None:
            names = tuple(sorted(labels))
            fam = families.get(name)
            if fam is None:
                fam = (
                    CounterMetricFamily(name, help_, labels=names)
                    if counter
                    else GaugeMetricFamily(name, help_, labels=names)
                )
                families[name] = fam
                label_names[name] = names
            elif label_names[name] != names:
                return  # same field, different label sets: keep the first shape
            fam.add_metric([labels[k] for k in names], v)

        with self._lock:
            components = list(self._components)
        for comp in components:
            labels = {"component": comp.kind, **comp.labels}
            webhook = comp.kind.startswith("webhook")
            refresh = getattr(comp.obj, "refresh_stats", None)
            if callable(refresh):
                try:
                    refresh()
                except Exception:  # a race with the pipeline: keep the last values
                    log.debug("refresh_stats of %s failed", comp.kind, exc_info=True)
            stats = comp.obj.stats
            for field, value in _fields(stats):
                shared = KIND_FIELDS.get((comp.kind, field), field)
                if webhook and field in WEBHOOK_FIELDS:
                    name, help_ = WEBHOOK_FIELDS[field]
                    sample(name, help_, True, labels, value)
                elif shared in WELL_KNOWN and isinstance(value, Mapping):
                    name, help_, counter = WELL_KNOWN[shared]
                    key_label = KEY_LABELS.get(shared, "key")
                    for key, v in value.items():
                        if isinstance(v, int | float) and not isinstance(v, bool):
                            sample(name, help_, counter, {**labels, key_label: str(key)}, v)
                elif shared in WELL_KNOWN:
                    name, help_, counter = WELL_KNOWN[shared]
                    sample(name, help_, counter, labels, value)
                elif isinstance(value, Mapping):
                    gauge = field in GAUGE_FIELDS
                    key_label = KEY_LABELS.get(field, "key")
                    for key, v in value.items():
                        if isinstance(v, int | float) and not isinstance(v, bool):
                            sample(
                                f"armorwatch_{comp.kind}_{_metric_name(field)}",
                                field_help(comp.kind, stats, field),
                                not gauge,
                                {**labels, key_label: str(key)},
                                v,
                            )
                else:
                    gauge = field in GAUGE_FIELDS
                    sample(
                        f"armorwatch_{comp.kind}_{_metric_name(field)}",
                        field_help(comp.kind, stats, field),
                        not gauge,
                        labels,
                        value,
                    )
        yield from families.values()


def _fields(stats: Any) -> Iterator[tuple[str, Any]]:
    """(name, value) of a stats object's numeric and dict fields."""
    if dataclasses.is_dataclass(stats) and not isinstance(stats, type):
        items: Iterable[tuple[str, Any]] = (
            (f.name, getattr(stats, f.name)) for f in dataclasses.fields(stats)
        )
    elif isinstance(stats, Mapping):
        items = stats.items()
    else:
        items = ((k, v) for k, v in vars(stats).items() if not k.startswith("_"))
    for name, value in items:
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, int | float):
            yield name, value
        elif isinstance(value, Mapping):
            yield name, dict(value)


def parse_addr(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9100`` for IPv6, ``:9100`` for every address) → (host, port)."""
    m = re.fullmatch(r"\[([0-9a-fA-F:.]+)\]:(\d+)|([^:\[\]]*):(\d+)", text.strip())
    if not m:
        raise MetricsError(f"--metrics-addr {text!r}: use HOST:PORT, e.g. 127.0.0.1:9464")
    host = m.group(1) or m.group(3) or "0.0.0.0"
    port = int(m.group(2) or m.group(4))
    if not 0 <= port <= 65535:
        raise MetricsError(f"--metrics-addr {text!r}: port out of range")
    return host, port


class MetricsServer:
    """The HTTP endpoint (a daemon thread) serving one ``StatsCollector`` at /metrics."""

    def __init__(self, addr: str, collector: StatsCollector | None = None) -> None:
        host, port = parse_addr(addr)
        self.collector = collector or StatsCollector()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        try:
            self._httpd, self._thread = start_http_server(port, host, registry=self.registry)
        except OSError as e:
            raise MetricsError(f"cannot serve metrics on {addr}: {e}") from e
        self.host = host
        self.port = int(self._httpd.server_address[1])
        """The bound port (useful with port 0)."""

    @property
    def records(self) -> RecordCounter:
        """The envelope counter; pass ``records.observe`` as an observer."""
        return self.collector.records

    def add(self, kind: str, component: Any, **labels: str) -> None:
        """Expose a component's ``stats`` (see ``StatsCollector.add``)."""
        self.collector.add(kind, component, **labels)

    def close(self) -> None:
        """Stop serving and free the port."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--metrics-addr HOST:PORT`` to a subcommand."""
    parser.add_argument(
        "--metrics-addr",
        default=None,
        metavar="HOST:PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics (off by default)",
    )


def from_args(args: argparse.Namespace) -> MetricsServer | None:
    """Start the endpoint when ``--metrics-addr`` was given; None otherwise."""
    addr = getattr(args, "metrics_addr", None)
    return MetricsServer(addr) if addr else None
