"""armorwatch.metrics: stats read at scrape time, served over HTTP in the text format."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from armorwatch import metrics as M
from armorwatch.ingest.collector import CollectorStats
from armorwatch.ingest.journald import JournaldStats
from armorwatch.ingest.kafka import KafkaSourceStats
from armorwatch.ingest.tail import TailStats
from armorwatch.parsers import schema as S
from armorwatch.parsers.envelope import Envelope
from armorwatch.sinks.duckdb import DuckDBStats
from armorwatch.sinks.kafka import KafkaSinkStats
from armorwatch.sinks.webhook import WebhookStats

TS = datetime(2025, 11, 23, 12, 0, tzinfo=UTC)


def record(apparmor: str, profile: str, class_: str = "file", source: str = S.SOURCE_AUDITLOG):
    """One AppArmor record row."""
    return {
        S.TS: TS,
        S.HOST: "web-01",
        S.SOURCE: source,
        S.LSM: S.LSM_APPARMOR,
        S.APPARMOR: apparmor,
        S.PROFILE: profile,
        S.CLASS: class_,
    }


def envelope() -> Envelope:
    """Three denials of two profiles, one ALLOWED, and a kernel loss of 7."""
    rows = [
        record(S.AA_DENIED, "/usr/sbin/nginx"),
        record(S.AA_DENIED, "/usr/sbin/nginx"),
        record(S.AA_DENIED, "/usr/sbin/cupsd", "cap", S.SOURCE_KERNLOG),
        record(S.AA_ALLOWED, "myapp"),
    ]
    loss = [
        {
            S.TS: TS,
            S.HOST: "web-01",
            S.SOURCE: S.SOURCE_AUDITLOG,
            S.KIND: S.LOSS_KERNEL_LOST,
            S.COUNT: 7,
        }
    ]
    return Envelope(
        records=S.batch_from_rows(rows), loss=S.batch_from_rows(loss, S.LOSS_SCHEMA), meta={}
    )


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} from the text exposition format."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.fixture
def server() -> Iterator[M.MetricsServer]:
    """An endpoint on a free loopback port."""
    srv = M.MetricsServer("127.0.0.1:0")
    yield srv
    srv.close()


def scrape(srv: M.MetricsServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """GET /metrics over HTTP and parse it with prometheus_client's parser."""
    response = httpx.get(f"http://127.0.0.1:{srv.port}/metrics", timeout=10)
    assert 200 == response.status_code
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


@pytest.mark.integration
class TestEndpoint:
    async def test_records_and_denials_by_label(self, server: M.MetricsServer) -> None:
        """Observed envelopes are counted by source/lsm/apparmor and denials by profile/class."""
        await server.records.observe(envelope())
        got = scrape(server)
        assert (
            2.0
            == got[
                (
                    "armorwatch_records_total",
                    (("apparmor", "DENIED"), ("lsm", "apparmor"), ("source", "audit.log")),
                )
            ]
        )
        assert (
            2.0
            == got[("apparmor_denials_total", (("class", "file"), ("profile", "/usr/sbin/nginx")))]
        )
        assert (
            1.0
            == got[("apparmor_denials_total", (("class", "cap"), ("profile", "/usr/sbin/cupsd")))]
        )
        assert (
            7.0
            == got[("armorwatch_loss_total", (("kind", "kernel_lost"), ("source", "audit.log")))]
        )

    def test_component_stats_are_read_at_scrape_time(self, server: M.MetricsServer) -> None:
        """A counter changed after registration is what the next scrape reports."""
        tail = SimpleNamespace(stats=TailStats())
        server.add("tail", tail, path="/var/log/audit/audit.log")
        tail.stats.lag_bytes = 4096
        tail.stats.bytes_read = 100
        labels = (("component", "tail"), ("path", "/var/log/audit/audit.log"))
        first = scrape(server)
        tail.stats.bytes_read = 250
        second = scrape(server)
        assert 4096.0 == first[("armorwatch_lag_bytes", labels)]
        assert (100.0, 250.0) == (
            first[("armorwatch_tail_bytes_read_total", labels)],
            second[("armorwatch_tail_bytes_read_total", labels)],
        )

    def test_queue_depth_rejects_and_loss_by_kind(self, server: M.MetricsServer) -> None:
        """The collector's queue depth, rejects and per-kind loss dict are exported."""
        collector = SimpleNamespace(stats=CollectorStats(queue_depth=3, rejects=2))
        collector.stats.by_kind["kernel_lost"] = 9
        server.add("collector", collector)
        got = scrape(server)
        comp = (("component", "collector"),)
        assert (3.0, 2.0) == (
            got[("armorwatch_queue_depth", comp)],
            got[("armorwatch_rejects_total", comp)],
        )
        assert 9.0 == got[("armorwatch_collector_by_kind_total", (*comp, ("key", "kernel_lost")))]

    def test_webhook_deliveries_and_failures(self, server: M.MetricsServer) -> None:
        """Webhook delivered / dead-lettered counts become deliveries / failures."""
        server.add("webhook", SimpleNamespace(stats=WebhookStats(delivered=5, dead_lettered=1)))
        got = scrape(server)
        comp = (("component", "webhook"),)
        assert (5.0, 1.0) == (
            got[("armorwatch_webhook_deliveries_total", comp)],
            got[("armorwatch_webhook_failures_total", comp)],
        )

    def test_port_in_use_is_a_clear_error(self, server: M.MetricsServer) -> None:
        """A second endpoint on a taken port fails with MetricsError naming the address."""
        with pytest.raises(M.MetricsError, match=f"127.0.0.1:{server.port}"):
            M.MetricsServer(f"127.0.0.1:{server.port}")


class TestRecordCounter:
    def test_label_sets_are_capped(self) -> None:
        """Past max_series, new profiles are folded into '_other' and counted as dropped."""
        counter = M.RecordCounter(max_series=1)
        rows = [record(S.AA_DENIED, f"/p{i}") for i in range(3)]
        counter.count(S.batch_from_rows(rows))
        assert ({("/p0", "file"): 1, ("_other", "file"): 2}, 2) == (
            counter.denials,
            counter.series_dropped,
        )

    def test_forged_records_neither_count_as_denials_nor_as_signs_of_life(self) -> None:
        """A suspect record adds to records_total only: no denial series, no staleness time."""
        counter = M.RecordCounter()
        forged = record(S.AA_DENIED, "/usr/sbin/sshd")
        forged[S.SUSPECT] = S.SUSPECT_FROM_USERSPACE
        counter.count(S.batch_from_rows([forged]))
        assert (1, {}, {}) == (sum(counter.records.values()), counter.denials, counter.last_ts)

    def test_empty_batches_count_nothing(self) -> None:
        """An envelope with no rows adds no series."""
        counter = M.RecordCounter()
        counter.count(S.empty_batch(), S.empty_batch(S.LOSS_SCHEMA))
        assert ({}, {}, {}) == (counter.records, counter.denials, counter.loss)

    def test_component_without_stats_is_refused(self) -> None:
        """Adding an object without a stats attribute is a TypeError at wiring time."""
        with pytest.raises(TypeError, match="no stats"):
            M.StatsCollector().add("thing", object())


class TestAddress:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("127.0.0.1:9464", ("127.0.0.1", 9464)),
            ("[::1]:9100", ("::1", 9100)),
            (":9100", ("0.0.0.0", 9100)),
        ],
    )
    def test_forms(self, text: str, expected: tuple[str, int]) -> None:
        """HOST:PORT, [IPv6]:PORT and :PORT are accepted."""
        assert expected == M.parse_addr(text)

    def test_bad_address(self) -> None:
        """An address without a port is refused with an example."""
        with pytest.raises(M.MetricsError, match="HOST:PORT"):
            M.parse_addr("localhost")


def documented(srv: M.MetricsServer) -> dict[str, str]:
    """{family name: help text} of one scrape."""
    text = httpx.get(f"http://127.0.0.1:{srv.port}/metrics", timeout=10).text
    return {f.name: f.documentation for f in text_string_to_metric_families(text)}


class Refreshing:
    """A component whose figure is only current after refresh_stats (like a tailer)."""

    def __init__(self) -> None:
        self.stats = TailStats()
        self.file_size = 0

    def refresh_stats(self) -> None:
        """Recompute the lag from the 'file size' now."""
        self.stats.lag_bytes = self.file_size


@pytest.mark.integration
class TestObservability:
    def test_every_family_of_the_real_components_has_a_real_help_text(
        self, server: M.MetricsServer
    ) -> None:
        """No "collector stats.chunks."-style placeholder: docstrings or FIELD_HELP for all."""
        for kind, stats in (
            ("collector", CollectorStats()),
            ("source", TailStats()),
            ("source", JournaldStats()),
            ("kafka_sink", KafkaSinkStats()),
            ("kafka_source", KafkaSourceStats(lag_messages={"t/0": 1})),
            ("store", DuckDBStats()),
            ("webhook", WebhookStats()),
        ):
            server.add(kind, SimpleNamespace(stats=stats), type=type(stats).__name__)
        helps = documented(server)
        generic = re.compile(r"^[A-Z][a-z0-9 ]* of the [a-z ]+\.$")
        bad = {n: h for n, h in helps.items() if "stats." in h or generic.match(h) or not h}
        assert {} == bad
        assert helps["armorwatch_collector_chunks"].startswith("Chunks")

    def test_refresh_stats_runs_on_every_scrape(self, server: M.MetricsServer) -> None:
        """A blocked reader's lag is recomputed at scrape time, not frozen at its last read."""
        comp = Refreshing()
        server.add("source", comp, name="auditd")
        labels = (("component", "source"), ("name", "auditd"))
        comp.file_size = 10
        first = scrape(server)[("armorwatch_lag_bytes", labels)]
        comp.file_size = 4_300_000
        assert (10.0, 4_300_000.0) == (first, scrape(server)[("armorwatch_lag_bytes", labels)])

    def test_send_retries_of_collector_and_kafka_sink_share_one_family(
        self, server: M.MetricsServer
    ) -> None:
        """Collector send_retries and the Kafka sink's retries are armorwatch_send_retries."""
        server.add("collector", SimpleNamespace(stats=CollectorStats(send_retries=2)))
        server.add("kafka_sink", SimpleNamespace(stats=KafkaSinkStats(retries=7, messages=3)))
        got = scrape(server)
        assert (2.0, 7.0, 3.0) == (
            got[("armorwatch_send_retries_total", (("component", "collector"),))],
            got[("armorwatch_send_retries_total", (("component", "kafka_sink"),))],
            got[("armorwatch_kafka_sink_messages_total", (("component", "kafka_sink"),))],
        )

    def test_consumer_lag_per_partition(self, server: M.MetricsServer) -> None:
        """The processor's lag_messages dict is a gauge with a partition label."""
        stats = KafkaSourceStats(lag_messages={"aw/0": 40, "aw/1": 0})
        server.add("kafka_source", SimpleNamespace(stats=stats))
        got = scrape(server)
        comp = ("component", "kafka_source")
        assert (40.0, 0.0) == (
            got[("armorwatch_lag_messages", (comp, ("partition", "aw/0")))],
            got[("armorwatch_lag_messages", (comp, ("partition", "aw/1")))],
        )

    async def test_last_record_timestamp_per_host_and_source(self, server: M.MetricsServer) -> None:
        """The newest stored record's event time is exported per host and source."""
        await server.records.observe(envelope())
        got = scrape(server)
        name = "armorwatch_last_record_timestamp_seconds"
        assert TS.timestamp() == got[(name, (("host", "web-01"), ("source", "audit.log")))]
        assert TS.timestamp() == got[(name, (("host", "web-01"), ("source", "kern.log")))]

    def test_future_timestamps_are_clamped_to_now(self) -> None:
        """A forged record from next year cannot make a silent host look fresh later."""
        counter = M.RecordCounter()
        future = record(S.AA_DENIED, "/p")
        future[S.TS] = datetime(2999, 1, 1, tzinfo=UTC)
        counter.count(S.batch_from_rows([future]))
        assert counter.last_ts[("web-01", "audit.log")] <= time.time()
