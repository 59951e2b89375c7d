"""Wiring of continuous alerting: stored envelopes → ``jobs.alerts`` → ``sinks.webhook``.

``AlertingObserver`` is an observer for ``armorwatch.pipeline.InProcessTransport``
(``observers=[observer]``), the collector's sink and the Kafka processor (wired by
``armorwatch.assembly.daemons.observing``): it is awaited with each envelope
*after* the store acknowledged it, evaluates the rules on that batch, and hands every
notification due to the ``WebhookSink`` outbox (durable) before recording it as sent in
the alert state. A background task checks dead-man timers every ``tick_s``.

Evaluation costs a few DuckDB queries (~10 ms each), so it runs at most every
``min_interval_s``: a batch arriving sooner is only added to the window and a
background evaluator runs the rules once the interval has passed. The latency from a
stored denial to the outbox is therefore at most ``min_interval_s`` plus one evaluation.

Order on each notification: outbox commit, then group state commit. A crash between
the two re-plans the same notification id after restart and the outbox ignores it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from armorwatch.config import ConfigError, from_mapping, load_toml
from armorwatch.jobs.alerts import (
    AlertEngine,
    AlertError,
    AlertRules,
    AlertState,
    Grouper,
    Notification,
    default_rules_text,
    evaluate,
)
from armorwatch.parsers.envelope import Envelope
from armorwatch.sinks.webhook import WebhookConfig, WebhookSink

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlertingConfig:
    """Continuous alerting: the ``[collect.alerts]`` or ``[process.alerts]`` table."""

    rules_file: Path | None = None
    """TOML rules file; None uses the bundled jobs/alert_rules.toml."""
    state_dir: Path = Path("state/alerts")
    """Directory of the alert state (groups, signatures, heartbeats)."""
    tick_s: float = 10.0
    """Seconds between dead-man checks."""
    min_interval_s: float = 0.25
    """Least seconds between two rule evaluations (batches in between are coalesced)."""
    max_future_s: float = 300.0
    """Event times further ahead of this machine's clock do not advance the windows."""
    window_max_rows: int = 500_000
    """Bound of each in-memory window table (oldest rows trimmed first, counted)."""
    webhook: WebhookConfig | None = None
    """Where notifications go; None only logs them."""


def load_rules(path: Path | None = None) -> AlertRules:
    """Rules from a TOML file, or the bundled defaults; ConfigError names what is wrong."""
    data: dict[str, Any] = load_toml(path) if path else tomllib.loads(default_rules_text())
    try:
        return from_mapping(AlertRules, data)
    except AlertError as e:
        raise ConfigError(f"{path or 'default rules'}: {e}") from None
    except ConfigError as e:
        raise ConfigError(f"{path or 'default rules'}: {e}") from None


class AlertingObserver:
    """Evaluates alert rules on each stored envelope and delivers what is due."""

    def __init__(
        self,
        engine: AlertEngine,
        sink: WebhookSink | None,
        *,
        tick_s: float = 10.0,
        min_interval_s: float = 0.25,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.sink = sink
        self.stats = engine.stats
        """The engine's counters (batches, evaluations, alerts, notifications, suppressed)."""
        self._tick_s = tick_s
        self._min_interval = min_interval_s
        self._clock = clock
        self._lock = asyncio.Lock()
        self._ticker: asyncio.Task[None] | None = None
        self._evaluator: asyncio.Task[None] | None = None
        self._kick = asyncio.Event()
        self._last_eval = float("-inf")
        self.sent: list[Notification] = []
        """Notifications handed off by this process (the latest 100; for CLI and tests)."""

    async def __call__(self, envelope: Envelope) -> None:
        """Observer entry point: evaluate one stored envelope."""
        async with self._lock:
            now = self._clock()
            if now - self._last_eval >= self._min_interval:
                planned = await asyncio.to_thread(
                    self.engine.observe, envelope.records, envelope.loss, now
                )
                self._last_eval = now
                await self._deliver(planned)
                return
            await asyncio.to_thread(self.engine.add, envelope.records, envelope.loss, now)
        if self.engine.dirty:
            if self._evaluator is None or self._evaluator.done():
                self._evaluator = asyncio.create_task(self._evaluate_later(), name="alerts-eval")
            self._kick.set()

    async def flush(self) -> None:
        """Evaluate rows added since the last evaluation now (shutdown, tests)."""
        async with self._lock:
            planned = await asyncio.to_thread(self.engine.evaluate, self._clock())
            self._last_eval = self._clock()
            await self._deliver(planned)

    async def tick(self) -> None:
        """Run the dead-man check once."""
        async with self._lock:
            planned = await asyncio.to_thread(self.engine.tick, self._clock())
            await self._deliver(planned)

    async def start(self) -> None:
        """Start the periodic dead-man check."""
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick_loop(), name="alerts-deadman")

    async def close(self) -> None:
        """Stop the ticker, close the sink, the window and the state."""
        # Under the lock no evaluation runs in a worker thread, so cancelling the
        # background tasks cannot leave one still using the window connection.
        async with self._lock:
            for task in (self._ticker, self._evaluator):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            self._ticker = self._evaluator = None
            try:
                planned = await asyncio.to_thread(self.engine.evaluate, self._clock())
                await self._deliver(planned)
            except Exception:
                log.exception("The final alert evaluation failed.")
        if self.sink is not None:
            await self.sink.close()
        self.engine.close()
        self.engine.state.close()

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self._tick_s)
            try:
                await self.tick()
            except Exception:
                log.exception("The dead-man alert check failed.")

    async def _evaluate_later(self) -> None:
        while True:
            await self._kick.wait()
            self._kick.clear()
            await asyncio.sleep(max(0.0, self._last_eval + self._min_interval - self._clock()))
            try:
                await self.flush()
            except Exception:
                log.exception("Alert evaluation failed.")

    async def _deliver(self, planned: list[tuple[str, Notification]]) -> None:
        for key, notification in planned:
            if self.sink is not None:
                await self.sink.send_alert(notification.as_message())
            else:
                log.warning("Alert (no webhook configured): %r", notification.summary)
            self.engine.grouper.commit(key, notification)
            self.sent.append(notification)
            del self.sent[:-100]


async def open_alerting(
    config: AlertingConfig, store: duckdb.DuckDBPyConnection | None = None
) -> AlertingObserver:
    """Build and start the observer (rules, state, webhook sink) from its config.

    ``store`` (e.g. ``DuckDBSink.connection()``) seeds the known denial signatures, so
    a first start does not report the whole history as new.
    """
    rules = load_rules(config.rules_file)
    state = AlertState(config.state_dir / "alerts.sqlite")
    engine = AlertEngine(
        rules, state, max_future_s=config.max_future_s, max_rows=config.window_max_rows
    )
    if store is not None:
        engine.seed_signatures(store)
    sink = None
    if config.webhook is not None:
        sink = WebhookSink(config.webhook)
        await sink.open()
    observer = AlertingObserver(
        engine,
        sink,
        tick_s=config.tick_s,
        min_interval_s=config.min_interval_s,
    )
    await observer.start()
    return observer


def plan(
    con: duckdb.DuckDBPyConnection, rules: AlertRules, until: datetime | None
) -> list[Notification]:
    """The notifications one evaluation produces, grouped with fresh state."""
    state = AlertState()
    alerts = evaluate(con, rules, until=until, state=state)
    now = datetime.now(UTC).timestamp()
    return [n for _, n in Grouper(rules, state).plan(alerts, now)]
