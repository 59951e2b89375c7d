"""The Prometheus endpoint of ``collect`` and ``process``: counters read at scrape time.

Components never import a metrics library: each keeps a plain ``stats`` attribute (a
dataclass of ints, or a dict of counters). ``StatsCollector`` holds references to the
components and turns their ``stats`` into metric families when Prometheus scrapes, so
there is no second copy of any counter and nothing to update on the hot path.

Families (text exposition format, ``/metrics``):

- ``armorwatch_records_total{source,lsm,apparmor}`` and
  ``apparmor_denials_total{profile,class}``: counted by ``RecordCounter`` from the
  envelopes it observes (after they were stored/acknowledged). Label values come from
  logs, so distinct label sets are capped (``max_series``); the rest is counted under
  ``profile="_other"`` and ``armorwatch_metric_series_dropped_total`` says how often.
- ``armorwatch_loss_total{source,kind}``: records lost, summed from loss rows.
- ``armorwatch_lag_bytes{component,...}`` (tailers: bytes written but not yet read),
  ``armorwatch_queue_depth{component,...}`` (envelopes waiting for the sink),
  ``armorwatch_rejects_total{component,...}`` (lines the parser rejected),
  ``armorwatch_webhook_deliveries_total`` / ``armorwatch_webhook_failures_total``
  (delivered / dead-lettered webhook messages): well-known ``stats`` fields.
- Every other numeric ``stats`` field ``f`` of a component added as ``kind`` becomes
  ``armorwatch_<kind>_<f>_total`` (a counter) or ``armorwatch_<kind>_<f>`` (a gauge,
  for current-value fields such as ``pending_rows``); a dict field becomes one family
  with a ``key`` label.

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
import dataclasses
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from parsers import schema as S
from parsers.envelope import Envelope

OTHER: Final = "_other"

# Fields that are current values, not running totals.
GAUGE_FIELDS: Final = frozenset(
    {"queue_depth", "pending_rows", "lag_bytes", "lag_seconds", "lag_messages", "in_flight"}
)
# Well-known fields → (family, help, is_counter), shared by every component that has them.
WELL_KNOWN: Final[dict[str, tuple[str, str, bool]]] = {
    "lag_bytes": ("armorwatch_lag_bytes", "Bytes written to a source but not read yet.", False),
    "lag_seconds": ("armorwatch_lag_seconds", "Age of the oldest unprocessed input.", False),
    "lag_messages": ("armorwatch_lag_messages", "Messages behind the log end.", False),
    "queue_depth": ("armorwatch_queue_depth", "Envelopes waiting for the sink.", False),
    "rejects": ("armorwatch_rejects", "Lines the parser rejected (dead-lettered).", True),
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
            denied = pc.equal(table[S.APPARMOR].cast(pa.string()), S.AA_DENIED)
            den = table.filter(pc.fill_null(denied, False))
            for key, n in _groups(den, (S.PROFILE, S.CLASS)):
                updates.append((self.denials, key, n))
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

    def families(self) -> Iterator[Metric]:
        """The record, denial and loss families, from a consistent copy."""
        with self._lock:
            records, denials, loss = dict(self.records), dict(self.denials), dict(self.loss)
            dropped = self.series_dropped
        fam = CounterMetricFamily(
            "armorwatch_records",
            "MAC records stored, by source, LSM and AppArmor decision.",
            labels=("source", "lsm", "apparmor"),
        )
        for key, n in sorted(records.items()):
            fam.add_metric(list(key), n)
        yield fam
        fam = CounterMetricFamily(
            "apparmor_denials",
            "AppArmor DENIED records stored, by profile and class.",
            labels=("profile", "class"),
        )
        for dkey, n in sorted(denials.items()):
            fam.add_metric(list(dkey), n)
        yield fam
        fam = CounterMetricFamily(
            "armorwatch_loss", "Records lost, by source and kind.", labels=("source", "kind")
        )
        for lkey, n in sorted(loss.items()):
            fam.add_metric(list(lkey), n)
        yield fam
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
            for field, value in _fields(comp.obj.stats):
                if webhook and field in WEBHOOK_FIELDS:
                    name, help_ = WEBHOOK_FIELDS[field]
                    sample(name, help_, True, labels, value)
                elif field in WELL_KNOWN:
                    name, help_, counter = WELL_KNOWN[field]
                    sample(name, help_, counter, labels, value)
                elif isinstance(value, Mapping):
                    for key, v in value.items():
                        if isinstance(v, int | float) and not isinstance(v, bool):
                            sample(
                                f"armorwatch_{comp.kind}_{_metric_name(field)}",
                                f"{comp.kind} stats.{field} by key.",
                                True,
                                {**labels, "key": str(key)},
                                v,
                            )
                else:
                    gauge = field in GAUGE_FIELDS
                    sample(
                        f"armorwatch_{comp.kind}_{_metric_name(field)}",
                        f"{comp.kind} stats.{field}.",
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
