"""Which AppArmor profiles are loaded on this host, in which mode: Prometheus gauges and
readings stored in the ``profile_state`` table.

``ProfileStatePoller`` reads securityfs (``ingest.securityfs``) every
``interval_s`` on a worker thread and keeps the last reading; its ``families()`` (and
``collect()``, so it is a prometheus_client collector) turn that reading into:

- ``apparmor_profile_loaded{namespace,profile,mode}`` = 1 per loaded profile, at most
  ``max_series`` of them (the rest counted in ``armorwatch_profile_state_not_exported``);
- ``apparmor_profiles_loaded{mode}``: how many are loaded, by mode (all of them);
- ``armorwatch_profile_state_up`` (1: the last reading worked),
  ``armorwatch_profile_state_last_success_timestamp_seconds``,
  ``armorwatch_profile_state_polls_total``, ``armorwatch_profile_state_errors_total``,
  ``armorwatch_profile_state_unparsed_lines`` (lines of ``profiles`` not understood).

A profile that is unloaded simply disappears from the next scrape; the PrometheusRule in
deploy/monitoring compares with the last hour to alert on that.

With a sink, each reading also goes to the store as an ``Envelope`` holding only
``profile_state`` rows (PROFILE_STATE_SCHEMA: time of reading, host, boot, namespace,
profile, mode), through the same transport as the records (in-process or Kafka, kind
``profile_state``): when the set of (namespace, profile, mode) changed since the last
reading sent, and every ``resend_s`` anyway, so the store knows a profile is still loaded.
The rows come only from this process's own securityfs read, never from log text. A
failed send is logged and retried at the next reading; it never stops the collector.

Wiring (in ``collect``, TOML ``[collect.profile_state]``)::

    async with profile_state.polling(endpoint, config.profile_state, sink, host):
        ...

Off by default: the kernel lets only root (user or group) or CAP_MAC_ADMIN read the
profile list, and the shipped collector runs as an unprivileged user; README's Monitoring
paragraph says how to grant it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from armorwatch import metrics
from armorwatch.config import ConfigError
from armorwatch.ingest.securityfs import DEFAULT_ROOT, LoadedProfile, SecurityfsError, read_profiles
from armorwatch.parsers import schema as S
from armorwatch.parsers.delivery import DeliveryError, Sink
from armorwatch.parsers.envelope import Envelope
from armorwatch.parsers.result import HostInfo

log = logging.getLogger(__name__)

DEFAULT_MAX_SERIES = 2000
DEFAULT_RESEND_S = 900.0
SOURCE_SECURITYFS = "securityfs"
FINAL_SEND_TIMEOUT_S = 10.0
"""Longest the exit waits to store a reading when none was stored during the run."""


@dataclasses.dataclass(frozen=True)
class ProfileStateConfig:
    """How often and where the collector reads the loaded profiles (``[collect.profile_state]``)."""

    interval_s: float = 0.0
    """Seconds between readings; 0 = off (the default: reading needs root group or
    CAP_MAC_ADMIN)."""
    root: Path = DEFAULT_ROOT
    """The AppArmor securityfs directory (or a copy of its ``profiles`` file's folder)."""
    max_series: int = DEFAULT_MAX_SERIES
    """At most this many ``apparmor_profile_loaded`` series; the rest are only counted."""
    resend_s: float = DEFAULT_RESEND_S
    """Seconds after which an unchanged reading is stored again (so the store knows the
    profiles are still loaded); a changed one is stored at once."""

    def __post_init__(self) -> None:
        check_interval(self.interval_s)
        if self.max_series < 1:
            raise ConfigError(f"profile_state.max_series: {self.max_series!r}: use >= 1")
        if math.isnan(self.resend_s) or math.isinf(self.resend_s) or self.resend_s <= 0:
            raise ConfigError(f"profile_state.resend_s: {self.resend_s!r}: use seconds > 0")


@dataclasses.dataclass
class ProfileStateStats:
    """Counters of the poller (also readable by ``endpoint.add``, which it does not need)."""

    polls: int = 0
    errors: int = 0
    """Readings that failed (securityfs missing or not readable)."""
    profiles: int = 0
    """Profiles loaded at the last successful reading."""
    not_exported: int = 0
    """Profiles beyond ``max_series`` at the last reading (counted, not exported)."""
    unparsed_lines: int = 0
    readings_sent: int = 0
    """Readings delivered to the store (changed, or due again after ``resend_s``)."""
    send_errors: int = 0
    """Readings the sink refused (retried at the next reading)."""


@dataclasses.dataclass(frozen=True)
class _Reading:
    profiles: tuple[LoadedProfile, ...]
    at: float


class ProfileStatePoller:
    """Polls the loaded AppArmor profiles and exports them at scrape time."""

    def __init__(
        self,
        root: Path = DEFAULT_ROOT,
        max_series: int = DEFAULT_MAX_SERIES,
        clock: Callable[[], float] = time.time,
        sink: Sink | None = None,
        host: HostInfo | None = None,
        resend_s: float = DEFAULT_RESEND_S,
    ) -> None:
        self.root = root
        self.max_series = max_series
        self.sink = sink
        self.host = host or HostInfo()
        self.resend_s = resend_s
        self._sent: frozenset[LoadedProfile] | None = None
        self._sent_at = -math.inf
        self.stats = ProfileStateStats()
        self._clock = clock
        self._last: _Reading | None = None
        self._up = False
        self._error: str | None = None
        self._lock = threading.Lock()  # scrapes run on the HTTP server's thread

    def poll(self) -> bool:
        """Read securityfs once; True when it worked (the reading replaces the last)."""
        try:
            profiles, bad = read_profiles(self.root)
        except SecurityfsError as e:
            with self._lock:
                self.stats.polls += 1
                self.stats.errors += 1
                self._up = False
                changed, self._error = self._error != str(e), str(e)
            if changed:  # once per distinct error, not once a minute
                log.warning("profile state: %s", e)
            return False
        with self._lock:
            self.stats.polls += 1
            self.stats.profiles = len(profiles)
            self.stats.not_exported = max(0, len(profiles) - self.max_series)
            self.stats.unparsed_lines = bad
            self._last = _Reading(tuple(profiles), self._clock())
            self._up = True
            recovered, self._error = self._error is not None, None
        if recovered:
            log.info("profile state: reading %s again (%d profiles)", self.root, len(profiles))
        return True

    async def run(self, interval_s: float, stop: asyncio.Event | None = None) -> None:
        """Poll now and then every ``interval_s`` until ``stop`` is set (or cancelled);
        with a sink, store the readings that are due (``send_due``)."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            if await asyncio.to_thread(self.poll) and self.sink is not None:
                await self.send_due()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)

    def reading_batch(self) -> pa.RecordBatch | None:
        """The last reading as PROFILE_STATE_SCHEMA rows, or None before the first one."""
        with self._lock:
            last = self._last
        if last is None:
            return None
        n, h = len(last.profiles), self.host
        columns: dict[str, list[Any]] = {
            S.TS: [int(last.at * 1000)] * n,  # epoch ms, cast to the schema's timestamp
            S.HOST: [h.host] * n,
            S.BOOT_ID: [h.boot_id] * n,
            S.NAMESPACE: [p.namespace for p in last.profiles],
            S.PROFILE: [p.name for p in last.profiles],
            S.MODE: [p.mode for p in last.profiles],
        }
        arrays = [
            pa.array(columns[f.name], pa.int64()).cast(f.type)
            if f.name == S.TS
            else pa.array(columns[f.name], f.type)
            for f in S.PROFILE_STATE_SCHEMA
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=S.PROFILE_STATE_SCHEMA)

    async def send_due(self) -> bool:
        """Deliver the last reading when its profiles changed since the last one delivered
        or ``resend_s`` passed; True when one was delivered. A sink error is logged and
        counted, and the reading is due again next time."""
        if self.sink is None:
            return False
        with self._lock:
            last = self._last
        if last is None:
            return False
        now = frozenset(last.profiles)
        if now == self._sent and last.at - self._sent_at < self.resend_s:
            return False
        batch = self.reading_batch()
        if batch is None or batch.num_rows == 0:  # nothing loaded: no row can say so
            return False
        meta = {"source": SOURCE_SECURITYFS}
        if self.host.host:
            meta["host"] = self.host.host
        try:
            await self.sink.send(Envelope(profile_state=batch, meta=meta))
        except DeliveryError as e:
            with self._lock:
                self.stats.send_errors += 1
            log.warning(
                "profile state: storing the reading failed (%s); retrying at the next one", e,
                extra={"_ratelimit": True},
            )  # fmt: skip
            return False
        self._sent, self._sent_at = now, last.at
        with self._lock:
            self.stats.readings_sent += 1
        return True

    def families(self) -> Iterator[Metric]:
        """The profile-state families, from the last reading."""
        with self._lock:
            last, up = self._last, self._up
            stats = dataclasses.replace(self.stats)
        loaded = GaugeMetricFamily(
            "apparmor_profile_loaded",
            "1 per AppArmor profile loaded in the kernel, with its policy namespace and mode.",
            labels=("namespace", "profile", "mode"),
        )
        by_mode: dict[str, int] = {}
        for i, p in enumerate(last.profiles if last else ()):
            by_mode[p.mode] = by_mode.get(p.mode, 0) + 1
            if i < self.max_series:
                loaded.add_metric([p.namespace, p.name, p.mode], 1)
        yield loaded
        count = GaugeMetricFamily(
            "apparmor_profiles_loaded",
            "AppArmor profiles loaded in the kernel, by mode (every namespace).",
            labels=("mode",),
        )
        for mode, n in sorted(by_mode.items()):
            count.add_metric([mode], n)
        yield count
        yield GaugeMetricFamily(
            "armorwatch_profile_state_up",
            "1 when the last reading of the loaded AppArmor profiles worked.",
            value=int(up),
        )
        if last is not None:
            yield GaugeMetricFamily(
                "armorwatch_profile_state_last_success_timestamp_seconds",
                "When the loaded AppArmor profiles were last read (Unix time).",
                value=last.at,
            )
        yield CounterMetricFamily(
            "armorwatch_profile_state_polls",
            "Readings of the loaded AppArmor profiles.",
            value=stats.polls,
        )
        yield CounterMetricFamily(
            "armorwatch_profile_state_errors",
            "Readings of the loaded AppArmor profiles that failed.",
            value=stats.errors,
        )
        yield GaugeMetricFamily(
            "armorwatch_profile_state_not_exported",
            "Loaded profiles beyond the series cap, not exported one by one.",
            value=stats.not_exported,
        )
        yield CounterMetricFamily(
            "armorwatch_profile_state_readings_sent",
            "Readings of the loaded AppArmor profiles delivered to the store.",
            value=stats.readings_sent,
        )
        yield CounterMetricFamily(
            "armorwatch_profile_state_send_errors",
            "Readings of the loaded AppArmor profiles the store refused (retried).",
            value=stats.send_errors,
        )
        yield GaugeMetricFamily(
            "armorwatch_profile_state_unparsed_lines",
            "Lines of the securityfs profiles file that were not understood.",
            value=stats.unparsed_lines,
        )

    def collect(self) -> Iterator[Metric]:
        """prometheus_client's collector protocol: the same as ``families()``."""
        return self.families()


def check_interval(interval_s: float) -> float:
    """``interval_s`` if it is a usable poll interval (0 = off); ConfigError otherwise."""
    if math.isnan(interval_s) or math.isinf(interval_s) or interval_s < 0:
        raise ConfigError(
            f"profile_state.interval_s: {interval_s!r}: use seconds >= 0 (0 = off)"
        )
    return interval_s


@contextlib.asynccontextmanager
async def polling(
    endpoint: metrics.MetricsServer | None,
    config: ProfileStateConfig,
    sink: Sink | None = None,
    host: HostInfo | None = None,
) -> AsyncIterator[ProfileStatePoller | None]:
    """Poll while the block runs: export on ``endpoint`` and store the readings through
    ``sink`` (the collector's transport; ``host`` names them). A no-op (None) with
    ``interval_s`` 0, or with neither an endpoint nor a sink."""
    if (endpoint is None and sink is None) or config.interval_s == 0:
        if config.interval_s > 0:  # set, but would silently do nothing
            log.warning(
                "[collect.profile_state] interval_s is set but there is neither "
                "--metrics-addr nor a store: the loaded profiles are not read."
            )
        yield None
        return
    poller = ProfileStatePoller(
        config.root, config.max_series, sink=sink, host=host, resend_s=config.resend_s
    )
    if endpoint is not None:
        # Registered beside StatsCollector, not through endpoint.add: it has its own names.
        endpoint.registry.register(poller)
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(config.interval_s, stop), name="profile-state")
    try:
        yield poller
    finally:
        # Stopped, not cancelled, first: a cancelled poll's thread would still finish and
        # count after the exit. A send blocked on the transport is cancelled after a while.
        stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), FINAL_SEND_TIMEOUT_S)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if sink is not None and poller.stats.readings_sent == 0:
            # A short run (collect --once) ends before the first reading was stored:
            # store one now, bounded so a transport that blocks cannot hold the exit.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_last_reading(poller), FINAL_SEND_TIMEOUT_S)
        if endpoint is not None:
            endpoint.registry.unregister(poller)


async def _last_reading(poller: ProfileStatePoller) -> None:
    if await asyncio.to_thread(poller.poll):
        await poller.send_due()
