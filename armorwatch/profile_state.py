"""Which AppArmor profiles are loaded on this host, in which mode, as Prometheus gauges.

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

Wiring (in ``collect``, TOML ``[collect.profile_state]``)::

    async with profile_state.polling(endpoint, config.profile_state):
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

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from armorwatch import metrics
from armorwatch.config import ConfigError
from ingest.securityfs import DEFAULT_ROOT, LoadedProfile, SecurityfsError, read_profiles

log = logging.getLogger(__name__)

DEFAULT_MAX_SERIES = 2000


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

    def __post_init__(self) -> None:
        check_interval(self.interval_s)
        if self.max_series < 1:
            raise ConfigError(f"profile_state.max_series: {self.max_series!r}: use >= 1")


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
    ) -> None:
        self.root = root
        self.max_series = max_series
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

    async def run(self, interval_s: float) -> None:
        """Poll now and then every ``interval_s`` until cancelled."""
        while True:
            await asyncio.to_thread(self.poll)
            await asyncio.sleep(interval_s)

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
    endpoint: metrics.MetricsServer | None, config: ProfileStateConfig
) -> AsyncIterator[ProfileStatePoller | None]:
    """Poll and export on ``endpoint`` while the block runs; a no-op (None) without an
    endpoint or with ``interval_s`` 0, since the reading has nowhere else to go yet."""
    if endpoint is None or config.interval_s == 0:
        if config.interval_s > 0:  # set, but would silently do nothing
            log.warning(
                "[collect.profile_state] interval_s is set but --metrics-addr is not: "
                "the loaded profiles are not read."
            )
        yield None
        return
    poller = ProfileStatePoller(config.root, config.max_series)
    # Registered beside StatsCollector, not through endpoint.add: it has its own names.
    endpoint.registry.register(poller)
    task = asyncio.create_task(poller.run(config.interval_s), name="profile-state")
    try:
        yield poller
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        endpoint.registry.unregister(poller)
